//! `analyze <ENV> [--target ENV2] [--exact]`: what an environment holds and how it is
//! shaped, read live and without exporting anything: per model its table, item count
//! and size, keys, indexes and billing mode; the required models it lacks; its users,
//! groups and assets. With a target: the same for the target, whether import would
//! refuse it (the rule import itself applies: `section::tables::compatible`, and the
//! users section's pool check), the models only one side has, and how long an export
//! and an import would take. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::aws::cognito::Cognito;
use crate::aws::dynamodb::Dynamo;
use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::section::assets::{count_bucket, AssetsCount};
use crate::section::tables::analyze::{analyze_tables, Measure, TableAnalysis};
use crate::section::tables::estimate::{scan_time, ScanEstimate, IMPORT_EXPORT_RATIO};
use crate::section::tables::{check_schema, KeylessSchema};
use crate::section::users::{compatibility, count_users, UsersCount};

/// `--exact`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalyzeOptions {
    /// Count items by Scan and users by listing, instead of taking the services'
    /// estimates.
    pub exact: bool,
}

/// The whole analysis.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzeReport {
    pub source: EnvironmentAnalysis,
    pub target: Option<EnvironmentAnalysis>,
    /// With a target: what import would refuse or note.
    pub compatibility: Option<Compatibility>,
    /// With a target: export and import times.
    pub estimate: Option<Estimate>,
}

impl AnalyzeReport {
    /// Whether an import from the source into the target would be refused (exit 4).
    pub fn import_refused(&self) -> bool {
        self.compatibility
            .as_ref()
            .is_some_and(|c| c.import_refused)
    }
}

/// One environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentAnalysis {
    pub env: String,
    pub backend_suffix: String,
    pub tables: BTreeMap<String, TableAnalysis>,
    /// `required_models` without a table: export would refuse (exit 2).
    pub missing_required: Vec<String>,
    pub users: Option<UsersCount>,
    pub assets: Option<AssetsCount>,
    /// Sections not analysed, and why.
    pub not_analyzed: Vec<String>,
}

/// Source against target.
#[derive(Debug, Clone, Serialize)]
pub struct Compatibility {
    /// Some refusal below: import would stop in its phase 2 (exit 4).
    pub import_refused: bool,
    /// Every model of either side.
    pub models: BTreeMap<String, ModelCompatibility>,
    pub only_in_source: Vec<String>,
    pub only_in_target: Vec<String>,
    /// Why the target pool cannot hold the source's users, if it cannot.
    pub users_refusals: Vec<String>,
}

/// One model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCompatibility {
    /// `compatible`, `refused`, `missing in target` or `only in target`.
    pub status: String,
    pub refusals: Vec<String>,
    pub notes: Vec<String>,
}

/// Export and import times of the tables, and how they were computed.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub export_seconds: f64,
    pub import_seconds: f64,
    /// The source's tables, as export would scan them.
    pub export_tables: BTreeMap<String, ScanEstimate>,
    /// The target's existing tables of the source's models, which import scans twice.
    pub target_tables: BTreeMap<String, ScanEstimate>,
    pub import_export_ratio: f64,
    /// How the figures were computed, in words.
    pub method: Vec<String>,
}

/// Analyses `source`, and `target` against it.
pub async fn analyze(
    source: &Environment,
    target: Option<&Environment>,
    options: AnalyzeOptions,
    progress: &dyn Progress,
) -> Result<AnalyzeReport> {
    let measure = Measure {
        exact: options.exact,
        sample: target.is_some(),
    };
    progress.note(&format!("analysing `{}`", source.name));
    let source_analysis = analyze_env(source, measure, progress).await?;
    let Some(target) = target else {
        return Ok(AnalyzeReport {
            source: source_analysis,
            target: None,
            compatibility: None,
            estimate: None,
        });
    };
    progress.note(&format!("analysing `{}`", target.name));
    let target_analysis = analyze_env(target, measure, progress).await?;
    let compatibility = compare(&source_analysis, &target_analysis)?;
    let estimate = estimate(&source_analysis, &target_analysis);
    Ok(AnalyzeReport {
        source: source_analysis,
        target: Some(target_analysis),
        compatibility: Some(compatibility),
        estimate: Some(estimate),
    })
}

async fn analyze_env(
    env: &Environment,
    measure: Measure,
    progress: &dyn Progress,
) -> Result<EnvironmentAnalysis> {
    let sdk = crate::aws::sdk_config(env).await;
    let dynamo = Dynamo::new(&sdk);
    let tables = analyze_tables(&dynamo, env, measure, progress).await?;
    let mut not_analyzed = Vec::new();
    let users = match &env.user_pool_id {
        Some(pool) => Some(count_users(&Cognito::new(&sdk, pool), measure.exact).await?),
        None => {
            not_analyzed.push(format!("users (`{}` has no user_pool_id)", env.name));
            None
        }
    };
    let assets = match &env.bucket {
        Some(bucket) => Some(count_bucket(&S3::new(&sdk, bucket), &env.asset_prefixes).await?),
        None => {
            not_analyzed.push(format!("assets (`{}` has no bucket)", env.name));
            None
        }
    };
    Ok(EnvironmentAnalysis {
        env: env.name.clone(),
        backend_suffix: env.backend_suffix.clone(),
        tables: tables.tables,
        missing_required: tables.missing_required,
        users,
        assets,
        not_analyzed,
    })
}

/// Every model of either side, checked by import's own rules.
fn compare(source: &EnvironmentAnalysis, target: &EnvironmentAnalysis) -> Result<Compatibility> {
    let label = format!("`{}`", source.env);
    let models: BTreeSet<&String> = source.tables.keys().chain(target.tables.keys()).collect();
    let mut out = BTreeMap::new();
    let (mut only_in_source, mut only_in_target) = (Vec::new(), Vec::new());
    for model in models {
        let entry = match (source.tables.get(model), target.tables.get(model)) {
            (Some(s), Some(t)) => {
                let check =
                    check_schema(&t.table, &s.schema, &label, &t.schema).map_err(|e| match e {
                        KeylessSchema::Source(e) => Error::Failed(format!("{}: {e}", s.table)),
                        KeylessSchema::Target(e) => Error::Failed(format!("{}: {e}", t.table)),
                    })?;
                let status = if check.refusals.is_empty() {
                    "compatible"
                } else {
                    "refused"
                };
                ModelCompatibility {
                    status: status.into(),
                    refusals: check.refusals,
                    notes: check.notes,
                }
            }
            (Some(_), None) => {
                only_in_source.push(model.clone());
                let table = format!("{model}-{}-NONE", target.backend_suffix);
                ModelCompatibility {
                    status: "missing in target".into(),
                    refusals: Vec::new(),
                    notes: vec![format!(
                        "{table} does not exist: import refuses it unless --create-missing, which creates it with {label}'s schema"
                    )],
                }
            }
            (None, Some(t)) => {
                only_in_target.push(model.clone());
                ModelCompatibility {
                    status: "only in target".into(),
                    refusals: Vec::new(),
                    notes: vec![format!(
                        "{} has no counterpart in {label}: import leaves it alone",
                        t.table
                    )],
                }
            }
            (None, None) => continue,
        };
        out.insert(model.clone(), entry);
    }
    let users_refusals = match (&source.users, &target.users) {
        (Some(s), Some(t)) => compatibility(&s.settings, &t.settings),
        _ => Vec::new(),
    };
    let import_refused = out.values().any(|m| !m.refusals.is_empty()) || !users_refusals.is_empty();
    Ok(Compatibility {
        import_refused,
        models: out,
        only_in_source,
        only_in_target,
        users_refusals,
    })
}

/// Export: the sum of the source tables' scan times (tables go one after another:
/// export reads ahead only a few pages). Import: export × the measured ratio, plus
/// twice the scan of the target's existing tables (the plan and the pre-import backup
/// read them; an empty target, as measured, has nothing there).
fn estimate(source: &EnvironmentAnalysis, target: &EnvironmentAnalysis) -> Estimate {
    let export_tables: BTreeMap<String, ScanEstimate> = source
        .tables
        .iter()
        .filter_map(|(m, t)| scan_time(t).map(|e| (m.clone(), e)))
        .collect();
    let target_tables: BTreeMap<String, ScanEstimate> = target
        .tables
        .iter()
        .filter(|(m, _)| source.tables.contains_key(*m))
        .filter_map(|(m, t)| scan_time(t).map(|e| (m.clone(), e)))
        .collect();
    let export_seconds: f64 = export_tables.values().map(|e| e.seconds).sum();
    let target_scan: f64 = target_tables.values().map(|e| e.seconds).sum();
    let import_seconds = export_seconds * IMPORT_EXPORT_RATIO + 2.0 * target_scan;
    let method = vec![
        format!(
            "tables only (users and assets not included); one consistent Scan page per table was timed in `{}` and in `{}`",
            source.env, target.env
        ),
        "a table's scan: a page that ends the table is the whole scan; a full page (1 MB) holds as many items as every other page, so the table takes items / items-per-page pages, spread over the parallel segments export uses, each as long as the timed page".into(),
        "export: the sum of the tables' scans (export takes tables one after another)".into(),
        format!(
            "import: export x {IMPORT_EXPORT_RATIO} (import/export wall-time ratio into an empty target, measured on the local emulators: docs/performance.md) + 2 x the scan of the target's existing tables (the plan and the pre-import backup read them)"
        ),
        "round trips only: fixed costs (starting, describing each table, writing the archive) are left out, so small environments take longer than estimated (the demo's 35 tables of 2,058 items: about twice as long)".into(),
        "item counts: exact with --exact, else DescribeTable's (refreshed about every six hours) or the sampled page's when it held the whole table".into(),
    ];
    Estimate {
        export_seconds,
        import_seconds,
        export_tables,
        target_tables,
        import_export_ratio: IMPORT_EXPORT_RATIO,
        method,
    }
}
