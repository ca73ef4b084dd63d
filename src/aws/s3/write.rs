//! Writing objects: PutObject and multipart uploads with SHA-256 checksums (the
//! algorithm is always named, so S3 stores the checksum and a later HeadObject returns
//! it), server-side copies (CopyObject up to 5 GiB, UploadPartCopy above).

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, MetadataDirective,
};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use super::{full_object_sha256, S3};

/// Sets an object's headers and user metadata, as the snapshot recorded them, on any
/// request builder that takes them (PutObject, CreateMultipartUpload, CopyObject: the
/// SDK's builders share the setter names but no trait).
macro_rules! with_headers {
    ($builder:expr, $object:expr) => {
        $builder
            .set_content_type($object.content_type.clone())
            .set_cache_control($object.cache_control.clone())
            .set_content_encoding($object.content_encoding.clone())
            .set_content_disposition($object.content_disposition.clone())
            .set_content_language($object.content_language.clone())
            .set_metadata(metadata($object))
    };
}
use crate::archive::assets::AssetObject;
use crate::aws::{retrying, service_error, AwsError};

/// CopyObject copies at most 5 GiB; larger objects are copied in parts.
pub const COPY_OBJECT_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// The part size of a multipart copy (S3 allows 5 MiB to 5 GiB per part and 10,000
/// parts; 512 MiB parts cover ~4.9 TiB, and larger objects get larger parts).
pub const COPY_PART_BYTES: u64 = 512 * 1024 * 1024;

/// A call's configuration for a body of `bytes` (see `aws::upload_timeouts`).
fn upload_config(bytes: usize) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(crate::aws::upload_timeouts(bytes))
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
    pub checksum: Option<String>,
}

impl S3 {
    /// Writes an object in one request, with its headers, metadata and SHA-256 (S3
    /// refuses the body if it does not match).
    pub async fn put(&self, object: &AssetObject, body: Bytes) -> Result<(), AwsError> {
        let checksum = hex_to_base64(&object.sha256)?;
        retrying(|| async {
            with_headers!(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&object.key)
                    .content_length(body.len() as i64)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(&checksum),
                object
            )
            .body(ByteStream::from(body.clone()))
            .customize()
            .config_override(upload_config(body.len()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| service_error("PutObject", self.object_name(&object.key), e))
        })
        .await
    }

    /// Writes `body` to `key` in one request, with its SHA-256 (staging objects, which
    /// carry no headers of their own).
    pub async fn put_bytes(&self, key: &str, body: Bytes) -> Result<(), AwsError> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
        retrying(|| async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(body.len() as i64)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .body(ByteStream::from(body.clone()))
                .customize()
                .config_override(upload_config(body.len()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("PutObject", self.object_name(key), e))
        })
        .await
    }

    /// Starts a multipart upload of `object` with SHA-256 part checksums.
    pub async fn start_multipart(&self, object: &AssetObject) -> Result<String, AwsError> {
        let out = retrying(|| async {
            with_headers!(
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&object.key)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256),
                object
            )
            .send()
            .await
            .map_err(|e| service_error("CreateMultipartUpload", self.object_name(&object.key), e))
        })
        .await?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            AwsError::Invalid(format!(
                "CreateMultipartUpload {}: no upload id in the answer",
                self.object_name(&object.key)
            ))
        })
    }

    /// Uploads part `number` (from 1) with its SHA-256.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, AwsError> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
        let out = retrying(|| async {
            self.client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(body.len() as i64)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .body(ByteStream::from(body.clone()))
                .customize()
                .config_override(upload_config(body.len()))
                .send()
                .await
                .map_err(|e| service_error("UploadPart", self.object_name(key), e))
        })
        .await?;
        Ok(UploadedPart {
            number,
            etag: out.e_tag().unwrap_or_default().to_owned(),
            checksum: Some(out.checksum_sha256().map_or(checksum, str::to_owned)),
        })
    }

    /// Completes a multipart upload from its parts (in any order).
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        mut parts: Vec<UploadedPart>,
    ) -> Result<(), AwsError> {
        parts.sort_by_key(|p| p.number);
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(&p.etag)
                            .set_checksum_sha256(p.checksum.clone())
                            .build()
                    })
                    .collect(),
            ))
            .build();
        retrying(|| async {
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(completed.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("CompleteMultipartUpload", self.object_name(key), e))
        })
        .await
    }

    /// Abandons a multipart upload (after a failed part), so no parts linger billed.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), AwsError> {
        retrying(|| async {
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("AbortMultipartUpload", self.object_name(key), e))
        })
        .await
    }

    /// Copies `object` server-side from `source_bucket` into this bucket, with the
    /// snapshot's headers and metadata (not whatever the source holds now): one
    /// CopyObject up to 5 GiB, asking S3 for the copy's SHA-256 (returned, hex, when S3
    /// gives one); a multipart copy in [`COPY_PART_BYTES`] parts above.
    pub async fn copy_from(
        &self,
        source_bucket: &str,
        object: &AssetObject,
    ) -> Result<Option<String>, AwsError> {
        if object.size > COPY_OBJECT_MAX {
            let part = COPY_PART_BYTES.max(object.size.div_ceil(10_000));
            self.copy_in_parts(source_bucket, object, part).await?;
            return Ok(None);
        }
        let source = copy_source(source_bucket, &object.key);
        let out = retrying(|| async {
            with_headers!(
                self.client
                    .copy_object()
                    .bucket(&self.bucket)
                    .key(&object.key)
                    .copy_source(&source)
                    // Only the snapshot's version of the source object.
                    .copy_source_if_match(&object.etag)
                    .metadata_directive(MetadataDirective::Replace)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256),
                object
            )
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default()
                    .timeout_config(crate::aws::copy_timeouts(object.size)),
            )
            .send()
            .await
            .map_err(|e| {
                service_error(
                    "CopyObject",
                    format!("s3://{source_bucket}/{} → {}", object.key, self.bucket),
                    e,
                )
            })
        })
        .await?;
        Ok(full_object_sha256(
            out.copy_object_result().and_then(|r| r.checksum_sha256()),
        ))
    }

    /// Copies `object` from `source_bucket` with UploadPartCopy, `part_bytes` at a time
    /// (for objects CopyObject cannot copy). The upload is aborted if a part fails.
    pub async fn copy_in_parts(
        &self,
        source_bucket: &str,
        object: &AssetObject,
        part_bytes: u64,
    ) -> Result<(), AwsError> {
        let source = copy_source(source_bucket, &object.key);
        let id = self.start_multipart(object).await?;
        let ranges: Vec<(i32, u64, u64)> = (0..object.size.div_ceil(part_bytes))
            .map(|n| {
                let first = n * part_bytes;
                let last = (first + part_bytes).min(object.size) - 1;
                (n as i32 + 1, first, last)
            })
            .collect();
        let copied: Result<Vec<UploadedPart>, AwsError> = futures_util::stream::iter(ranges)
            .map(|(number, first, last)| {
                let (source, id) = (&source, &id);
                async move {
                    let out = retrying(|| async {
                        self.client
                            .upload_part_copy()
                            .bucket(&self.bucket)
                            .key(&object.key)
                            .upload_id(id)
                            .part_number(number)
                            .copy_source(source)
                            .copy_source_if_match(&object.etag)
                            .copy_source_range(format!("bytes={first}-{last}"))
                            .customize()
                            .config_override(
                                aws_sdk_s3::config::Builder::default()
                                    .timeout_config(crate::aws::copy_timeouts(last + 1 - first)),
                            )
                            .send()
                            .await
                            .map_err(|e| {
                                service_error("UploadPartCopy", self.object_name(&object.key), e)
                            })
                    })
                    .await?;
                    let result = out.copy_part_result();
                    Ok(UploadedPart {
                        number,
                        etag: result
                            .and_then(|r| r.e_tag())
                            .unwrap_or_default()
                            .to_owned(),
                        checksum: result.and_then(|r| r.checksum_sha256()).map(str::to_owned),
                    })
                }
            })
            .buffer_unordered(4)
            .try_collect()
            .await;
        match copied {
            Ok(parts) => self.complete_multipart(&object.key, &id, parts).await,
            Err(e) => {
                // Best effort: S3 would otherwise keep (and bill) the copied parts.
                let _ = self.abort_multipart(&object.key, &id).await;
                Err(e)
            }
        }
    }
}

/// `x-amz-copy-source`: `bucket/key` with the key URL-encoded (every byte but the
/// unreserved ones and `/`), as S3 requires.
fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    format!("{bucket}/{}", utf8_percent_encode(key, KEEP))
}

fn hex_to_base64(sha256: &str) -> Result<String, AwsError> {
    let bytes = hex::decode(sha256)
        .map_err(|_| AwsError::Invalid(format!("{sha256} is not a hex SHA-256")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn metadata(object: &AssetObject) -> Option<HashMap<String, String>> {
    (!object.metadata.is_empty()).then(|| {
        object
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_everything_but_slashes_and_unreserved() {
        assert_eq!(
            copy_source("b", "public/a b+c%d/é.txt"),
            "b/public/a%20b%2Bc%25d/%C3%A9.txt"
        );
    }
}
