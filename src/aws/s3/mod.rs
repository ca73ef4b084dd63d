//! S3: list a bucket, read objects' headers and bytes, delete objects; writing them
//! (PutObject, multipart uploads, server-side copies) is [`write`].
//!
//! Checksums are the point of this file: every object rtsnap writes carries its
//! SHA-256 (`x-amz-checksum-sha256`), so S3 itself refuses a body that does not match,
//! and a later HeadObject can return it without reading the object again. Objects
//! that hold no full-object SHA-256 (uploaded without one, or multipart, whose stored
//! checksum is a checksum of part checksums) are read and hashed instead.
//!
//! Every call goes through [`super::retrying`] (S3's `SlowDown` is throttling); the
//! SDK's own retries cover transient network and 5xx errors underneath.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, Delete, EncodingType, ObjectIdentifier};
use aws_sdk_s3::Client;
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// GetObject of an object in an archive storage class (Glacier Flexible Retrieval,
/// Deep Archive) not restored: S3 cannot read it, so neither its bytes nor (without a
/// stored checksum) its SHA-256 can go into a snapshot. Says what the operator can do.
fn archived(object: String) -> AwsError {
    AwsError::Service {
        operation: "GetObject",
        resource: object,
        code: Some("InvalidObjectState".into()),
        message: "the object is archived (GLACIER or DEEP_ARCHIVE storage class) and cannot \
                  be read: restore it first (aws s3api restore-object), or leave assets out \
                  with --only (models and `users` only)"
            .into(),
        transient: false,
    }
}

/// An [`ObjectHead`] without its SHA-256 from a HeadObject or GetObject answer (the
/// SDK's two output types share the getter names but no trait).
macro_rules! object_head {
    ($out:expr) => {
        ObjectHead {
            size: $out.content_length().unwrap_or(0).max(0) as u64,
            etag: $out.e_tag().unwrap_or_default().to_owned(),
            content_type: $out.content_type().map(str::to_owned),
            cache_control: $out.cache_control().map(str::to_owned),
            content_encoding: $out.content_encoding().map(str::to_owned),
            content_disposition: $out.content_disposition().map(str::to_owned),
            content_language: $out.content_language().map(str::to_owned),
            metadata: sorted($out.metadata()),
            last_modified: $out
                .last_modified()
                .and_then(super::rfc3339)
                .unwrap_or_default(),
            sha256: None,
            archived: archived_class($out.storage_class().map(|c| c.as_str()))
                && !$out.restore().is_some_and(restored),
        }
    };
}

/// Storage classes S3 cannot read (nor copy from) until the object is restored.
fn archived_class(class: Option<&str>) -> bool {
    matches!(class, Some("GLACIER" | "DEEP_ARCHIVE"))
}

/// An `x-amz-restore` header saying a restored copy is ready.
fn restored(header: &str) -> bool {
    header.contains("ongoing-request=\"false\"")
}

mod write;

pub use write::{UploadedPart, COPY_OBJECT_MAX, COPY_PART_BYTES};

use super::{retrying, service_error, AwsError};
use crate::archive::assets::AssetObject;

/// DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;
/// An S3 client for one bucket.
#[derive(Clone)]
pub struct S3 {
    client: Client,
    bucket: String,
}

/// An object as ListObjectsV2 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// In an archive storage class (restored or not: a listing does not say).
    pub archive_class: bool,
}

/// An object's headers (HeadObject or GetObject), and its full-object SHA-256 when S3
/// holds one.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub last_modified: String,
    /// Lowercase hex, only when S3's stored checksum covers the whole object.
    pub sha256: Option<String>,
    /// In GLACIER or DEEP_ARCHIVE and not restored: S3 can neither read nor copy it.
    pub archived: bool,
}

impl ObjectHead {
    /// The manifest line for `key`, with its SHA-256 (known or computed).
    pub fn to_object(&self, key: &str, sha256: String) -> AssetObject {
        AssetObject {
            key: key.to_owned(),
            size: self.size,
            etag: self.etag.clone(),
            sha256,
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            content_encoding: self.content_encoding.clone(),
            content_disposition: self.content_disposition.clone(),
            content_language: self.content_language.clone(),
            metadata: self.metadata.clone(),
            last_modified: self.last_modified.clone(),
            embedded: false,
        }
    }
}

impl S3 {
    /// A client for `bucket`. Path-style addressing when an endpoint is overridden (a
    /// local emulator does not resolve `<bucket>.127.0.0.1`). Checksums only when an
    /// operation requires them: rtsnap sends its own SHA-256 where it matters.
    pub fn new(config: &aws_config::SdkConfig, bucket: &str) -> Self {
        let overridden =
            config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(overridden)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .interceptor(crate::aws::CountRetries)
            .build();
        S3 {
            client: Client::from_conf(s3),
            bucket: bucket.to_owned(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Fails when the bucket does not exist or these credentials cannot reach it.
    pub async fn check_bucket(&self) -> Result<(), AwsError> {
        retrying(|| async {
            self.client
                .head_bucket()
                .bucket(&self.bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("HeadBucket", &self.bucket, e))
        })
        .await
    }

    /// One page (up to 1,000 objects) under `prefix`, and the token of the next.
    pub async fn list_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<ListedObject>, Option<String>), AwsError> {
        let out = retrying(|| async {
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .encoding_type(EncodingType::Url)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| service_error("ListObjectsV2", &self.bucket, e))
        })
        .await?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ListedObject {
                    key: decode_listed_key(o.key()?),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().to_owned(),
                    archive_class: archived_class(o.storage_class().map(|c| c.as_str())),
                })
            })
            .collect();
        let next = match out.is_truncated() {
            Some(true) => out.next_continuation_token().map(str::to_owned),
            _ => None,
        };
        Ok((objects, next))
    }

    /// Every object under `prefix` (all pages), in key order.
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<ListedObject>, AwsError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = self.list_page(prefix, token).await?;
            all.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// An object's headers; `Ok(None)` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectHead>, AwsError> {
        let out = retrying(|| async {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
            {
                Ok(out) => Ok(Some(out)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
                Err(e) => Err(service_error("HeadObject", self.object_name(key), e)),
            }
        })
        .await?;
        Ok(out.map(|o| ObjectHead {
            sha256: full_object_sha256(o.checksum_sha256())
                .filter(|_| !is_composite(o.e_tag(), o.checksum_type())),
            ..object_head!(o)
        }))
    }

    /// Opens an object for reading: its headers and its body, as a stream of chunks.
    /// `Ok(None)` when it does not exist (deleted since it was listed).
    pub async fn get(&self, key: &str) -> Result<Option<(ObjectHead, ObjectBody)>, AwsError> {
        self.get_if(key, None).await
    }

    /// [`S3::get`], only if the object still has ETag `etag` (S3 refuses otherwise:
    /// an object replaced between two calls is never mixed up with its predecessor).
    pub async fn get_if(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Option<(ObjectHead, ObjectBody)>, AwsError> {
        let out = retrying(|| async {
            match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_if_match(etag.map(str::to_owned))
                .send()
                .await
            {
                Ok(out) => Ok(Some(out)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_invalid_object_state()) =>
                {
                    Err(archived(self.object_name(key)))
                }
                Err(e) => Err(service_error("GetObject", self.object_name(key), e)),
            }
        })
        .await?;
        let Some(out) = out else {
            return Ok(None);
        };
        let head = ObjectHead {
            sha256: None,
            ..object_head!(out)
        };
        Ok(Some((
            head,
            ObjectBody {
                name: self.object_name(key),
                stream: out.body,
            },
        )))
    }

    /// The object's SHA-256 (hex): S3's stored one when it covers the whole object,
    /// else computed by reading the object. `Ok(None)` when the object is gone.
    pub async fn sha256(&self, key: &str) -> Result<Option<(ObjectHead, String)>, AwsError> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        if let Some(sha) = head.sha256.clone() {
            return Ok(Some((head, sha)));
        }
        let Some((_, mut body)) = self.get_if(key, Some(&head.etag)).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next_chunk().await? {
            hasher.update(&chunk);
        }
        Ok(Some((head, hex::encode(hasher.finalize()))))
    }

    /// Deletes `keys` (batches of 1,000); any key S3 refuses to delete is an error
    /// naming it.
    pub async fn delete(&self, keys: &[String]) -> Result<(), AwsError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::Invalid(format!("DeleteObjects: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| AwsError::Invalid(format!("DeleteObjects: {e}")))?;
            let out = retrying(|| async {
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("DeleteObjects", &self.bucket, e))
            })
            .await?;
            if let Some(failed) = out.errors().first() {
                return Err(AwsError::Service {
                    operation: "DeleteObjects",
                    resource: self.object_name(failed.key().unwrap_or_default()),
                    code: failed.code().map(str::to_owned),
                    message: failed.message().unwrap_or("not deleted").to_owned(),
                    transient: false,
                });
            }
        }
        Ok(())
    }

    /// `s3://bucket/key`, for messages.
    /// Control characters in the key are escaped (`\n`), so that a message naming an
    /// object stays one line.
    fn object_name(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, printable(key))
    }
}

/// An object's bytes as they arrive.
pub struct ObjectBody {
    name: String,
    stream: ByteStream,
}

impl ObjectBody {
    /// `s3://bucket/key`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next chunk, `None` at the end.
    /// The next chunk of the body, or an error if none comes within the answer wait
    /// (a stalled transfer fails instead of holding the import for ever).
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, AwsError> {
        let wait = super::answer_timeout();
        match tokio::time::timeout(wait, self.stream.try_next()).await {
            Ok(chunk) => {
                chunk.map_err(|e| AwsError::Invalid(format!("reading {}: {e}", self.name)))
            }
            Err(_) => Err(AwsError::Invalid(format!(
                "reading {}: no data for {} s (RTSNAP_ANSWER_TIMEOUT_SECS)",
                self.name,
                wait.as_secs()
            ))),
        }
    }
}

/// Whether an object's stored checksum covers its parts rather than its bytes: a
/// multipart upload (ETag `"<md5>-<parts>"`) unless S3 says `FULL_OBJECT`. (Some
/// servers return a composite checksum without its `-<parts>` suffix, so the ETag is
/// the signal that does not depend on it.)
fn is_composite(etag: Option<&str>, kind: Option<&ChecksumType>) -> bool {
    match kind {
        Some(ChecksumType::FullObject) => false,
        Some(ChecksumType::Composite) => true,
        _ => etag.is_some_and(|e| e.contains('-')),
    }
}

/// S3's stored SHA-256 as hex, when it is a full-object one: a multipart upload's
/// checksum is a checksum of the parts' checksums, written `<base64>-<parts>`.
fn full_object_sha256(stored: Option<&str>) -> Option<String> {
    let stored = stored?;
    if stored.contains('-') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

/// `key` with its control characters escaped as Rust would (`\n`, `\u{1}`); every
/// other character, unicode included, as it is.
pub fn printable(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Keys listed with `encoding-type=url` (so that keys with control characters still
/// make valid XML): `+` is a space and `%XX` a byte, as in a form-encoded value.
fn decode_listed_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn sorted(metadata: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    metadata
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_keys_escape_only_control_characters() {
        assert_eq!(printable("a\nb\u{1}é/中"), "a\\nb\\u{1}é/中");
    }

    #[test]
    fn listed_keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(decode_listed_key("a+b%2Bc%25d%20e/%C3%A9"), "a b+c%d e/é");
    }

    #[test]
    fn multipart_checksums_are_composite_whatever_their_spelling() {
        assert!(is_composite(Some("\"abc-13\""), None));
        assert!(!is_composite(Some("\"abc\""), None));
        assert!(!is_composite(
            Some("\"abc-13\""),
            Some(&ChecksumType::FullObject)
        ));
    }

    #[test]
    fn only_full_object_checksums_are_sha256s() {
        let full = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(
            full_object_sha256(Some(&full)),
            Some(hex::encode([7u8; 32]))
        );
        assert_eq!(full_object_sha256(Some(&format!("{full}-3"))), None);
        assert_eq!(full_object_sha256(None), None);
    }
}
