//! ImportTable (design §6, issue #11 §5): DynamoDB creates a **new** table and loads
//! it from gzip'd DynamoDB JSON objects in S3 inside the service, using no write
//! capacity. Only what `TableCreationParameters` takes is set by the call (keys,
//! attribute definitions, billing, throughput, GSIs); TTL and the stream are set
//! afterwards, as `create_table` sets TTL after CreateTable. LSIs cannot be created
//! this way at all, so callers keep such tables on the batch-write path.
//!
//! Where moto 5.2 differs from AWS (checked against its source and a running server):
//! - the table is created by a background thread a moment after the call returns
//!   (AWS shows it `CREATING` at once), and is `ACTIVE` while its items load;
//! - an item it cannot put makes the import `FAILED` with `ErrorCount` > 0 (AWS
//!   completes, logging the bad items to CloudWatch); `CloudWatchLogGroupArn` and
//!   `InputFormatOptions` are ignored;
//! - a missing bucket is not refused by the call: the import ends `FAILED`
//!   (`S3NoSuchBucket`).

use aws_sdk_dynamodb::types::{
    BillingMode, ImportStatus, InputCompressionType, InputFormat, S3BucketSource,
    TableCreationParameters, TableStatus,
};

use super::convert::{
    attribute_definitions_to_sdk, gsis_to_sdk, key_schema_to_sdk, stream_to_sdk, throughput_to_sdk,
};
use super::Dynamo;
use crate::archive::schema::TableSchema;
use crate::aws::{retrying, service_error, AwsError};

/// Where an import stands, as DescribeImport says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportState {
    InProgress,
    Completed,
    /// FAILED or CANCELLED: the service's status, code and message.
    Failed(String),
}

/// DescribeImport's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProgress {
    pub state: ImportState,
    pub processed: u64,
    pub imported: u64,
    pub errors: u64,
    /// Where AWS logs the items it could not import.
    pub log_group: Option<String>,
}

impl Dynamo {
    /// Starts an import of every gzip'd DYNAMODB_JSON object under
    /// `s3://bucket/prefix` into a new table `table` shaped as `schema` (without its
    /// LSIs, TTL and stream; see the module docs). `client_token` makes a repeated call
    /// (after a lost answer) the same import. Returns the import's ARN.
    pub async fn import_table(
        &self,
        table: &str,
        schema: &TableSchema,
        bucket: &str,
        prefix: &str,
        client_token: &str,
    ) -> Result<String, AwsError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| {
            AwsError::Invalid(format!("schema of {}: {e}", schema.model))
        };
        let provisioned = schema.billing_mode == "PROVISIONED";
        let mut parameters = TableCreationParameters::builder()
            .table_name(table)
            .set_key_schema(Some(
                key_schema_to_sdk(&schema.key_schema).map_err(invalid)?,
            ))
            .set_attribute_definitions(Some(
                attribute_definitions_to_sdk(&schema.attribute_definitions).map_err(invalid)?,
            ))
            .billing_mode(if provisioned {
                BillingMode::Provisioned
            } else {
                BillingMode::PayPerRequest
            });
        if let Some(t) = schema
            .provisioned_throughput
            .as_ref()
            .filter(|_| provisioned)
        {
            parameters = parameters.provisioned_throughput(throughput_to_sdk(t).map_err(invalid)?);
        }
        let gsis = gsis_to_sdk(&schema.global_secondary_indexes, provisioned).map_err(invalid)?;
        parameters = parameters.set_global_secondary_indexes(gsis);
        let parameters = parameters.build().map_err(invalid)?;
        let source = S3BucketSource::builder()
            .s3_bucket(bucket)
            .s3_key_prefix(prefix)
            .build()
            .map_err(invalid)?;
        let out = retrying(|| async {
            self.client
                .import_table()
                .client_token(client_token)
                .s3_bucket_source(source.clone())
                .input_format(InputFormat::DynamodbJson)
                .input_compression_type(InputCompressionType::Gzip)
                .table_creation_parameters(parameters.clone())
                .send()
                .await
                .map_err(|e| service_error("ImportTable", table, e))
        })
        .await?;
        out.import_table_description()
            .and_then(|d| d.import_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Invalid(format!("ImportTable {table}: no ImportArn")))
    }

    /// Where the import stands.
    pub async fn describe_import(&self, import_arn: &str) -> Result<ImportProgress, AwsError> {
        let out = retrying(|| async {
            self.client
                .describe_import()
                .import_arn(import_arn)
                .send()
                .await
                .map_err(|e| service_error("DescribeImport", import_arn, e))
        })
        .await?;
        let d = out.import_table_description().ok_or_else(|| {
            AwsError::Invalid(format!("DescribeImport {import_arn}: no description"))
        })?;
        let state = match d.import_status() {
            Some(ImportStatus::Completed) => ImportState::Completed,
            Some(
                status
                @ (ImportStatus::Failed | ImportStatus::Cancelled | ImportStatus::Cancelling),
            ) => ImportState::Failed(format!(
                "{} ({}: {})",
                status.as_str(),
                d.failure_code().unwrap_or("no failure code"),
                d.failure_message().unwrap_or("no message")
            )),
            _ => ImportState::InProgress,
        };
        Ok(ImportProgress {
            state,
            processed: d.processed_item_count().max(0) as u64,
            imported: d.imported_item_count().max(0) as u64,
            errors: d.error_count().max(0) as u64,
            log_group: d.cloud_watch_log_group_arn().map(str::to_owned),
        })
    }

    /// The table's status (`ACTIVE`, `CREATING`, …), or `None` when it does not exist.
    pub async fn table_status(&self, table: &str) -> Result<Option<String>, AwsError> {
        let out = retrying(|| async {
            match self.client.describe_table().table_name(table).send().await {
                Ok(out) => Ok(Some(out)),
                Err(e) => {
                    let err = service_error("DescribeTable", table, e);
                    if err.code() == Some("ResourceNotFoundException") {
                        Ok(None)
                    } else {
                        Err(err)
                    }
                }
            }
        })
        .await?;
        Ok(out.map(|o| {
            o.table()
                .and_then(|t| t.table_status())
                .map_or(String::from("UNKNOWN"), |s| s.as_str().to_owned())
        }))
    }

    /// After a completed import: waits for the table to be ACTIVE, then enables the
    /// schema's TTL and stream, which ImportTable cannot set.
    pub async fn finish_imported_table(
        &self,
        table: &str,
        schema: &TableSchema,
    ) -> Result<(), AwsError> {
        self.wait_active(table).await?;
        if let Some(attribute) = &schema.time_to_live_attribute {
            self.enable_ttl(table, attribute).await?;
        }
        let stream = stream_to_sdk(schema)
            .map_err(|e| AwsError::Invalid(format!("schema of {}: {e}", schema.model)))?;
        if let Some(spec) = stream {
            retrying(|| async {
                self.client
                    .update_table()
                    .table_name(table)
                    .stream_specification(spec.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("UpdateTable", table, e))
            })
            .await?;
            self.wait_active(table).await?;
        }
        Ok(())
    }
}

/// Whether `status` (from [`Dynamo::table_status`]) is one a table leaves by itself
/// (an import or a creation under way, a deletion): wait rather than use it.
pub fn is_settling(status: &str) -> bool {
    status == TableStatus::Creating.as_str() || status == TableStatus::Deleting.as_str()
}
