//! The tables part of `analyze`: what a live environment's tables hold and how they
//! are shaped, without exporting them. Per table: DescribeTable's figures, which are
//! approximate (DynamoDB refreshes `ItemCount` and `TableSizeBytes` about every six
//! hours); with `exact`, a count by parallel Scan with `Select=COUNT` over the segments
//! export would use; with `sample`, one timed Scan page, from which
//! [`super::estimate`] derives how long an export takes.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::scan::{describe_all, list_env_tables};
use super::segments::{planned_segments, PROBED_SEGMENTS};
use crate::archive::schema::{KeyElement, SecondaryIndex, TableSchema};
use crate::aws::dynamodb::{DescribedTable, Dynamo};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// What to measure beyond DescribeTable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Count every table's items (reads every item: costs what an export's scan costs).
    pub exact: bool,
    /// Time one Scan page per table (for estimates).
    pub sample: bool,
}

/// An environment's tables.
#[derive(Debug, Clone, Serialize)]
pub struct TablesAnalysis {
    pub tables: BTreeMap<String, TableAnalysis>,
    /// `required_models` without a table: export would refuse (exit 2).
    pub missing_required: Vec<String>,
}

/// One table.
#[derive(Debug, Clone, Serialize)]
pub struct TableAnalysis {
    pub table: String,
    /// DescribeTable's `ItemCount` (refreshed by DynamoDB about every six hours).
    pub approximate_items: u64,
    /// DescribeTable's `TableSizeBytes` (same).
    pub approximate_bytes: u64,
    /// With `--exact`: counted by a parallel Scan with `Select=COUNT`.
    pub exact_items: Option<u64>,
    pub key_schema: Vec<KeyAttribute>,
    pub global_secondary_indexes: Vec<IndexSummary>,
    pub local_secondary_indexes: Vec<IndexSummary>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// Parallel scan segments export would use: DescribeTable's figures
    /// (`PROBED_SEGMENTS` when they say nothing), or at least `PROBED_SEGMENTS` when
    /// the sampled first page shows more pages follow.
    pub segments: i32,
    /// One timed Scan page, when measured.
    pub sample: Option<ScanSample>,
    /// The whole schema, as export would record it (compared by `compatible`).
    #[serde(skip)]
    pub schema: TableSchema,
}

impl TableAnalysis {
    /// The best item count known: exact if counted, else the sample's when it held the
    /// whole table, else DescribeTable's (never below what the sample saw).
    pub fn items(&self) -> u64 {
        match (&self.exact_items, &self.sample) {
            (Some(exact), _) => *exact,
            (None, Some(s)) if !s.more => s.items,
            (None, Some(s)) => self.approximate_items.max(s.items),
            (None, None) => self.approximate_items,
        }
    }
}

/// A key attribute: name, `HASH` or `RANGE`, and its type (`S`, `N`, `B`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: String,
    pub role: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A secondary index: its key and projection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IndexSummary {
    pub name: String,
    pub key_schema: Vec<KeyAttribute>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
}

/// The first page of a consistent Scan, timed.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSample {
    pub items: u64,
    /// More pages follow: the page was full (1 MB), so its time is a full page's.
    pub more: bool,
    pub seconds: f64,
}

/// Lists, describes and (as `measure` says) counts and samples the environment's tables.
pub async fn analyze_tables(
    dynamo: &Dynamo,
    env: &Environment,
    measure: Measure,
    progress: &dyn Progress,
) -> Result<TablesAnalysis> {
    let listed = list_env_tables(dynamo, env).await?;
    let missing_required = env
        .required_models
        .iter()
        .filter(|m| !listed.contains_key(*m))
        .cloned()
        .collect();
    let mut tables = BTreeMap::new();
    for (model, described) in describe_all(dynamo, &listed).await? {
        let mut analysis = describe_table(described);
        if measure.sample {
            // One at a time, after DescribeTable has opened the connection: the timing
            // is one Scan round trip, not a TLS handshake or other tables' scans.
            let started = Instant::now();
            let page = dynamo.first_page(&analysis.table).await?;
            analysis.sample = Some(ScanSample {
                items: page.items.len() as u64,
                more: page.more,
                seconds: started.elapsed().as_secs_f64(),
            });
            // As export decides (segments.rs): a table described as one page whose
            // first page says more follow is read in PROBED_SEGMENTS segments.
            if page.more {
                analysis.segments = analysis.segments.max(PROBED_SEGMENTS);
            }
        }
        if measure.exact {
            let task = progress.start(&format!("count {model}"), None);
            let count = count_items(dynamo, &analysis.table, analysis.segments).await?;
            task.finish(&format!("{count} items"));
            analysis.exact_items = Some(count);
        }
        tables.insert(model, analysis);
    }
    Ok(TablesAnalysis {
        tables,
        missing_required,
    })
}

/// A described table's figures and shape.
fn describe_table(described: DescribedTable) -> TableAnalysis {
    let schema = described.schema;
    let typed = |keys: &[KeyElement]| -> Vec<KeyAttribute> {
        keys.iter()
            .map(|k| KeyAttribute {
                name: k.attribute_name.clone(),
                role: k.key_type.clone(),
                kind: schema
                    .attribute_definitions
                    .iter()
                    .find(|d| d.attribute_name == k.attribute_name)
                    .map_or_else(|| "?".to_owned(), |d| d.attribute_type.clone()),
            })
            .collect()
    };
    let indexes = |list: &[SecondaryIndex]| -> Vec<IndexSummary> {
        list.iter()
            .map(|i| IndexSummary {
                name: i.index_name.clone(),
                key_schema: typed(&i.key_schema),
                projection: i.projection.projection_type.clone(),
            })
            .collect()
    };
    TableAnalysis {
        table: schema.table_name.clone(),
        approximate_items: described.item_count,
        approximate_bytes: described.size_bytes,
        exact_items: None,
        key_schema: typed(&schema.key_schema),
        global_secondary_indexes: indexes(&schema.global_secondary_indexes),
        local_secondary_indexes: indexes(&schema.local_secondary_indexes),
        billing_mode: schema.billing_mode.clone(),
        segments: planned_segments(described.size_bytes, described.item_count).unwrap_or(1),
        sample: None,
        schema,
    }
}

/// Counts a table's items: every segment at once, as export scans it.
pub async fn count_items(dynamo: &Dynamo, table: &str, segments: i32) -> Result<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    for segment in 0..segments {
        let (dynamo, table) = (dynamo.clone(), table.to_owned());
        tasks.spawn(async move { dynamo.count_segment(&table, segment, segments).await });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined
            .map_err(|e| Error::Failed(format!("count task: {e}")))?
            .map_err(Error::from)?;
    }
    Ok(total)
}
