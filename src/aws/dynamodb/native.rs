//! DynamoDB's own bulk path (design §6): point-in-time recovery windows and
//! `ExportTableToPointInTime`. The export runs inside DynamoDB, reads no capacity
//! and writes gzip'd DynamoDB JSON to S3; `section::tables::native` streams it back.
//!
//! Where moto 5.2 differs from AWS (checked against a running moto_server):
//! - the export folder holds only `data/<uuid>.gz`: no `manifest-summary.json`,
//!   `manifest-files.json` or `_started`, and `ExportManifest` is absent from
//!   DescribeExport, so callers must be able to list the data files instead;
//! - `ExportTime` is accepted but ignored (moto exports the table as it is now), and
//!   `LatestRestorableDateTime` stays at the moment PITR was enabled;
//! - a missing bucket is not refused by the call: the export is created `FAILED`
//!   (`S3NoSuchBucket`), as AWS reports it asynchronously too.

use aws_sdk_dynamodb::primitives::DateTime;
use aws_sdk_dynamodb::types::{ExportFormat, ExportStatus, PointInTimeRecoveryStatus};

use super::Dynamo;
use crate::aws::{retrying, service_error, AwsError};

/// A table's point-in-time recovery window, in Unix seconds: exports may ask for
/// any time in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitrWindow {
    pub earliest: i64,
    pub latest: i64,
}

/// Where an export stands, as DescribeExport says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportState {
    InProgress,
    /// Done: the item count DynamoDB exported, and the summary manifest's key in the
    /// bucket when the service names it (AWS does; moto does not).
    Completed {
        item_count: u64,
        manifest: Option<String>,
    },
    /// The service's failure code and message.
    Failed(String),
}

impl Dynamo {
    /// The table's ARN (exports are requested by ARN).
    pub async fn table_arn(&self, table: &str) -> Result<String, AwsError> {
        let out = retrying(|| async {
            self.client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| service_error("DescribeTable", table, e))
        })
        .await?;
        out.table()
            .and_then(|t| t.table_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Invalid(format!("DescribeTable {table}: no TableArn")))
    }

    /// The PITR window, or `None` when point-in-time recovery is off (then DynamoDB
    /// refuses to export the table).
    pub async fn pitr_window(&self, table: &str) -> Result<Option<PitrWindow>, AwsError> {
        let out = retrying(|| async {
            self.client
                .describe_continuous_backups()
                .table_name(table)
                .send()
                .await
                .map_err(|e| service_error("DescribeContinuousBackups", table, e))
        })
        .await?;
        let Some(pitr) = out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
        else {
            return Ok(None);
        };
        if pitr.point_in_time_recovery_status() != Some(&PointInTimeRecoveryStatus::Enabled) {
            return Ok(None);
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(Some(PitrWindow {
            earliest: pitr.earliest_restorable_date_time().map_or(0, |t| t.secs()),
            latest: pitr.latest_restorable_date_time().map_or(now, |t| t.secs()),
        }))
    }

    /// Starts a DYNAMODB_JSON export of the table as it was at `export_time` (Unix
    /// seconds) into `s3://bucket/prefix`; returns the export's ARN.
    pub async fn start_export(
        &self,
        table_arn: &str,
        bucket: &str,
        prefix: &str,
        export_time: i64,
    ) -> Result<String, AwsError> {
        // Not retried by rtsnap: a second call after a lost answer would start a
        // second export (the SDK's own retries use an idempotency token).
        let out = self
            .client
            .export_table_to_point_in_time()
            .table_arn(table_arn)
            .s3_bucket(bucket)
            .s3_prefix(prefix)
            .export_format(ExportFormat::DynamodbJson)
            .export_time(DateTime::from_secs(export_time))
            .send()
            .await
            .map_err(|e| service_error("ExportTableToPointInTime", table_arn, e))?;
        out.export_description()
            .and_then(|d| d.export_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::Invalid(format!(
                    "ExportTableToPointInTime {table_arn}: no ExportArn"
                ))
            })
    }

    /// Where the export stands.
    pub async fn describe_export(&self, export_arn: &str) -> Result<ExportState, AwsError> {
        let out = retrying(|| async {
            self.client
                .describe_export()
                .export_arn(export_arn)
                .send()
                .await
                .map_err(|e| service_error("DescribeExport", export_arn, e))
        })
        .await?;
        let Some(d) = out.export_description() else {
            return Err(AwsError::Invalid(format!(
                "DescribeExport {export_arn}: no description"
            )));
        };
        Ok(match d.export_status() {
            Some(ExportStatus::Completed) => ExportState::Completed {
                item_count: d.item_count().unwrap_or(0).max(0) as u64,
                manifest: d.export_manifest().map(str::to_owned),
            },
            Some(ExportStatus::Failed) => ExportState::Failed(format!(
                "{}: {}",
                d.failure_code().unwrap_or("FAILED"),
                d.failure_message().unwrap_or("no message")
            )),
            _ => ExportState::InProgress,
        })
    }
}
