//! The import's native path (`--create-missing --native-via`, see
//! `section::tables::native_import`): which flags apply, the plan's per-table path
//! and the staging bucket's check (phase 3), and phase 6's split between ImportTable
//! for the chosen new tables and batch writes for the rest.

use std::collections::BTreeMap;

use std::path::Path;

use super::{ImportContext, ImportOptions, ImportReport};
use crate::archive::schema::TableSchema;
use crate::aws::dynamodb::Dynamo;
use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::Result;
use crate::section::tables::native_import::{
    check_staging, choose_paths, import_natively, resolve_via, sweep_staging, ImportVia,
    NativeFlags, NativeLoad,
};
use crate::section::tables::{Selection, TablePlan};

/// The staging area this import may use (usage errors for contradictory flags).
pub(super) fn via(options: &ImportOptions, target: &Environment) -> Result<Option<ImportVia>> {
    let flags = NativeFlags {
        native_via: options.native_via.as_deref(),
        native_min_items: options.native_min_items,
        no_native: options.no_native,
        keep_staging: options.keep_staging,
        create_missing: options.create_missing,
    };
    resolve_via(flags, target)
}

/// The chosen models and the staging bucket's client, once the bucket answered.
pub(super) struct Chosen {
    pub via: ImportVia,
    pub s3: S3,
    pub models: Vec<String>,
}

/// Phase 3: sets every table's path; refuses (before the backup and any write) when
/// a table goes through ImportTable and the staging bucket is unreachable.
pub(super) async fn plan_paths(
    sdk: &aws_config::SdkConfig,
    via: Option<ImportVia>,
    plans: &mut BTreeMap<String, TablePlan>,
    schemas: &BTreeMap<String, TableSchema>,
) -> Result<Option<Chosen>> {
    let models = choose_paths(plans, schemas, via.as_ref());
    let Some(via) = via.filter(|_| !models.is_empty()) else {
        return Ok(None);
    };
    let s3 = S3::new(sdk, &via.via.bucket);
    check_staging(&s3, &via).await?;
    Ok(Some(Chosen { via, s3, models }))
}

/// The plans without the models ImportTable loads (the batch writer's share).
pub(super) fn batch_share(
    plans: &BTreeMap<String, TablePlan>,
    models: &[String],
    native: &[String],
) -> (BTreeMap<String, TablePlan>, Vec<String>) {
    let plans = plans
        .iter()
        .filter(|(m, _)| !native.contains(m))
        .map(|(m, p)| (m.clone(), p.clone()))
        .collect();
    let models = models
        .iter()
        .filter(|m| !native.contains(m))
        .cloned()
        .collect();
    (plans, models)
}

/// What phase 6 shares with the native path.
pub(super) struct Phase6<'a> {
    pub dynamo: &'a Dynamo,
    pub target: &'a Environment,
    pub schemas: &'a BTreeMap<String, TableSchema>,
    pub options: &'a ImportOptions,
    pub ctx: &'a ImportContext<'a>,
    /// The import's journal id (names its staging prefix).
    pub run_id: &'a str,
}

/// Phase 6, first part: ImportTable creates and loads the chosen tables; the report
/// gets the summary, the tables created and the items imported.
pub(super) async fn apply(
    phase: &Phase6<'_>,
    chosen: &Chosen,
    snapshot: &Path,
    selection: Selection<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    let plans = report
        .tables
        .iter()
        .filter(|(m, _)| chosen.models.contains(m))
        .map(|(m, p)| (m.clone(), p.clone()))
        .collect();
    let load = NativeLoad {
        dynamo: phase.dynamo,
        s3: &chosen.s3,
        via: &chosen.via,
        target: phase.target,
        schemas: phase.schemas,
        plans: &plans,
        keep_staging: phase.options.keep_staging,
        run_id: phase.run_id,
        progress: phase.ctx.progress,
        stop: &phase.ctx.stop,
    };
    let natives = Selection {
        models: &chosen.models,
        ..selection
    };
    let summary = import_natively(&load, snapshot, phase.ctx.decrypt, natives).await?;
    report.written += summary.tables.values().map(|t| t.items).sum::<u64>();
    report.created_tables = summary.tables.values().map(|t| t.table.clone()).collect();
    report.native = Some(summary);
    Ok(())
}

/// Phase 6, end of a resumed run that loaded no table through ImportTable: removes
/// what an interrupted attempt of this migration left staged (see
/// [`sweep_staging`]). Nothing to do without a staging area.
pub(super) async fn sweep_resumed(
    sdk: &aws_config::SdkConfig,
    via: Option<&ImportVia>,
    phase: &Phase6<'_>,
) {
    if let Some(via) = via {
        let s3 = S3::new(sdk, &via.via.bucket);
        let (keep, progress) = (phase.options.keep_staging, phase.ctx.progress);
        sweep_staging(&s3, via, phase.run_id, keep, progress).await;
    }
}
