//! DynamoDB: table discovery, schema capture and creation, parallel scans, and batch
//! writes that never drop an item.
//!
//! Batch writes are in `write.rs`; counting and sampling for `analyze` in `count.rs`;
//! point-in-time exports (design §6) in `native.rs`; ImportTable from S3 in
//! `import_table.rs`.
//!
//! Retries follow one rule: back off (capped exponential, full jitter) only on
//! throttling and on `UnprocessedItems`; every other error fails at once with the
//! service's own message.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{self as ddb, AttributeValue, BillingMode, Select, TableStatus};
use aws_sdk_dynamodb::Client;
use tokio::sync::mpsc;

mod convert;
mod count;
mod import_table;
mod native;
mod write;

use convert::{
    attribute_definitions_to_sdk, gsis_to_sdk, key_schema_to_sdk, projection_to_sdk,
    schema_from_description, stream_to_sdk, throughput_to_sdk,
};
pub use convert::{item_from_sdk, item_to_sdk};
pub use count::FirstPage;
pub use import_table::{is_settling, ImportProgress, ImportState};
pub use native::{ExportState, PitrWindow};
pub use write::{BatchWriteError, WriteOp};

use super::{retrying, service_error, Answer, AwsError, RequestWindow, WindowKind};
use crate::archive::item::Item;
use crate::archive::schema::TableSchema;

/// BatchWriteItem's limit.
pub const BATCH_SIZE: usize = 25;

/// `BatchWriteItem`s in flight at first, and at most (aws/window.rs). 8 was the fixed
/// count before the window; 32 lets an unthrottled table take 4 times that.
pub const WRITE_WINDOW: (usize, usize) = (8, 32);
/// `Scan` requests in flight at first, and at most, across every segment and table
/// this client reads (up to 16 segments per table, 4 tables at once).
const SCAN_WINDOW: (usize, usize) = (16, 64);

/// A DynamoDB client for one environment. Clones share its client and its request
/// windows.
#[derive(Clone)]
pub struct Dynamo {
    client: Client,
    writes: RequestWindow,
    scans: RequestWindow,
}

/// A described table: its schema and DynamoDB's (approximate) size figures.
#[derive(Debug, Clone)]
pub struct DescribedTable {
    pub schema: TableSchema,
    pub item_count: u64,
    pub size_bytes: u64,
}

impl Dynamo {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Dynamo {
            client: Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(super::CountRetries)
                    .build(),
            ),
            writes: RequestWindow::new(WindowKind::Writes, WRITE_WINDOW.0, WRITE_WINDOW.1),
            scans: RequestWindow::new(WindowKind::Scans, SCAN_WINDOW.0, SCAN_WINDOW.1),
        }
    }

    /// Every table name in the account and region (all pages).
    pub async fn list_tables(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| service_error("ListTables", "", e))?;
            names.extend(page.table_names().iter().cloned());
            match page.last_evaluated_table_name() {
                Some(last) => start = Some(last.to_owned()),
                None => return Ok(names),
            }
        }
    }

    /// Describes a table (and its TTL); `None` when it does not exist.
    pub async fn describe(
        &self,
        table: &str,
        model: &str,
    ) -> Result<Option<DescribedTable>, AwsError> {
        let out = match self.client.describe_table().table_name(table).send().await {
            Ok(out) => out,
            Err(e) => {
                let err = service_error("DescribeTable", table, e);
                if err.code() == Some("ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(err);
            }
        };
        let Some(desc) = out.table() else {
            return Err(AwsError::Invalid(format!(
                "DescribeTable {table}: no table in the answer"
            )));
        };
        let mut schema = schema_from_description(desc, model)?;
        schema.time_to_live_attribute = self.ttl_attribute(table).await?;
        Ok(Some(DescribedTable {
            schema,
            item_count: desc.item_count().unwrap_or(0).max(0) as u64,
            size_bytes: desc.table_size_bytes().unwrap_or(0).max(0) as u64,
        }))
    }

    /// The enabled TTL attribute, if any. Servers without the TTL API (dynalite)
    /// answer `UnknownOperationException`, which means "no TTL".
    async fn ttl_attribute(&self, table: &str) -> Result<Option<String>, AwsError> {
        match self
            .client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .time_to_live_description()
                .filter(|d| {
                    matches!(
                        d.time_to_live_status(),
                        Some(ddb::TimeToLiveStatus::Enabled | ddb::TimeToLiveStatus::Enabling)
                    )
                })
                .and_then(|d| d.attribute_name().map(str::to_owned))),
            Err(e) => {
                let err = service_error("DescribeTimeToLive", table, e);
                if err.code() == Some("UnknownOperationException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// A consistent Scan request for one segment of `table` (the whole table when
    /// there is one segment), from `start`: what export, its counts and its timing
    /// share.
    pub(crate) fn scan_request(
        &self,
        table: &str,
        segment: i32,
        total_segments: i32,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
        let request = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start);
        if total_segments > 1 {
            request.segment(segment).total_segments(total_segments)
        } else {
            request
        }
    }

    /// The pages of one consistent Scan segment, one request at a time (each retried
    /// like every rtsnap read): the one page loop that export, the plan's index and
    /// `analyze`'s counts share; `select` is `None` for items, `Some(Count)` to count.
    pub(crate) fn scan_pages<'a>(
        &'a self,
        table: &'a str,
        segment: i32,
        total_segments: i32,
        select: Option<Select>,
    ) -> ScanPages<'a> {
        ScanPages {
            dynamo: self,
            table,
            segment,
            total_segments,
            select,
            start: None,
            done: false,
        }
    }

    /// Scans one segment of a table with consistent reads, sending each page's items,
    /// made into a page by `encode` (on this task), to `pages`. Returns the number of
    /// items sent. Stops early (without error) if the receiver is gone.
    pub async fn scan_segment<P>(
        &self,
        table: &str,
        segment: i32,
        total_segments: i32,
        pages: mpsc::Sender<P>,
        encode: impl Fn(Vec<Item>) -> Result<P, AwsError>,
    ) -> Result<u64, AwsError> {
        let mut scan = self.scan_pages(table, segment, total_segments, None);
        let mut sent = 0u64;
        while let Some(page) = scan.next().await? {
            let items = page_items(page)?;
            if items.is_empty() {
                continue;
            }
            sent += items.len() as u64;
            if pages.send(encode(items)?).await.is_err() {
                break;
            }
        }
        Ok(sent)
    }

    /// Creates `table` from a snapshot schema and waits until it is ACTIVE; enables TTL
    /// where the schema has it and the server supports it.
    pub async fn create_table(&self, table: &str, schema: &TableSchema) -> Result<(), AwsError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| {
            AwsError::Invalid(format!("schema of {}: {e}", schema.model))
        };
        let mut request = self
            .client
            .create_table()
            .table_name(table)
            .set_key_schema(Some(
                key_schema_to_sdk(&schema.key_schema).map_err(invalid)?,
            ))
            .set_attribute_definitions(Some(
                attribute_definitions_to_sdk(&schema.attribute_definitions).map_err(invalid)?,
            ));
        let provisioned = schema.billing_mode == "PROVISIONED";
        request = request.billing_mode(if provisioned {
            BillingMode::Provisioned
        } else {
            BillingMode::PayPerRequest
        });
        if provisioned {
            if let Some(t) = &schema.provisioned_throughput {
                request = request.provisioned_throughput(throughput_to_sdk(t).map_err(invalid)?);
            }
        }
        let gsis = gsis_to_sdk(&schema.global_secondary_indexes, provisioned).map_err(invalid)?;
        request = request.set_global_secondary_indexes(gsis);
        if !schema.local_secondary_indexes.is_empty() {
            let lsis = schema
                .local_secondary_indexes
                .iter()
                .map(|i| {
                    ddb::LocalSecondaryIndex::builder()
                        .index_name(&i.index_name)
                        .set_key_schema(Some(key_schema_to_sdk(&i.key_schema)?))
                        .projection(projection_to_sdk(&i.projection))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            request = request.set_local_secondary_indexes(Some(lsis));
        }
        if let Some(spec) = stream_to_sdk(schema).map_err(invalid)? {
            request = request.stream_specification(spec);
        }
        request
            .send()
            .await
            .map_err(|e| service_error("CreateTable", table, e))?;
        self.wait_active(table).await?;
        if let Some(attribute) = &schema.time_to_live_attribute {
            self.enable_ttl(table, attribute).await?;
        }
        Ok(())
    }

    async fn wait_active(&self, table: &str) -> Result<(), AwsError> {
        for _ in 0..600 {
            let out = self
                .client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| service_error("DescribeTable", table, e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(AwsError::Invalid(format!(
            "{table} did not become ACTIVE within 2 minutes"
        )))
    }

    async fn enable_ttl(&self, table: &str, attribute: &str) -> Result<(), AwsError> {
        let spec = ddb::TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(attribute)
            .build()
            .map_err(|e| AwsError::Invalid(e.to_string()))?;
        match self
            .client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = service_error("UpdateTimeToLive", table, e);
                // Local servers without the TTL API: the table is still usable.
                if err.code() == Some("UnknownOperationException") {
                    tracing::warn!(
                        "{table}: this endpoint has no TTL API; TTL on {attribute} not enabled"
                    );
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// What a failed request tells a window: throttling and transient failures mean
/// overload; a refusal says nothing about load.
fn window_answer(err: &AwsError) -> Answer {
    if err.is_retryable() {
        Answer::Overloaded
    } else {
        Answer::Neutral
    }
}

/// A Scan page's items, moved out of the SDK's answer rather than cloned: each SDK
/// item is freed as it is converted, so a reader holds about one page, not two (a 1 MB
/// page of ~300 B items is several MB of maps).
pub(crate) fn page_items(
    page: aws_sdk_dynamodb::operation::scan::ScanOutput,
) -> Result<Vec<Item>, AwsError> {
    page.items
        .unwrap_or_default()
        .into_iter()
        .map(item_from_sdk)
        .collect()
}

/// A Scan segment's pages; see [`Dynamo::scan_pages`].
pub(crate) struct ScanPages<'a> {
    dynamo: &'a Dynamo,
    table: &'a str,
    segment: i32,
    total_segments: i32,
    select: Option<Select>,
    start: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl ScanPages<'_> {
    /// The next page, or `None` after the last one.
    pub(crate) async fn next(
        &mut self,
    ) -> Result<Option<aws_sdk_dynamodb::operation::scan::ScanOutput>, AwsError> {
        if self.done {
            return Ok(None);
        }
        let (from, table) = (self.start.take(), self.table);
        let page = retrying(|| {
            let mut request =
                self.dynamo
                    .scan_request(table, self.segment, self.total_segments, from.clone());
            if let Some(select) = &self.select {
                request = request.select(select.clone());
            }
            let scans = &self.dynamo.scans;
            async move {
                let place = scans.enter().await;
                let page = request
                    .send()
                    .await
                    .map_err(|e| service_error("Scan", table, e));
                place.answered(match &page {
                    // A page cut at 1 MB is the yardstick; a segment's last page is not.
                    Ok(p) if p.last_evaluated_key().is_some_and(|k| !k.is_empty()) => Answer::Clean,
                    Ok(_) => Answer::Small,
                    Err(err) => window_answer(err),
                });
                page
            }
        })
        .await?;
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => self.start = Some(key.clone()),
            _ => self.done = true,
        }
        Ok(Some(page))
    }
}
