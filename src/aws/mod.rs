//! The only place that knows the AWS SDK. Each service has its own file; everything
//! else in rtsnap sees domain types (`TableSchema`, `Item`) and [`AwsError`].

pub mod cognito;
pub mod dynamodb;
pub mod s3;

/// The retry policy shared by every service: rtsnap retries only what is worth
/// retrying (throttling, `UnprocessedItems`, Cognito's rate limits), with capped
/// exponential backoff and full jitter; the SDK's own retries cover transient
/// network and 5xx errors underneath.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Environment;

/// An AWS call failed. The message names the operation and the resource, and carries
/// the service's error code and message (which never contain credentials).
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} {resource}: {message}")]
    Service {
        operation: &'static str,
        resource: String,
        code: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl AwsError {
    /// The service error code (`ResourceNotFoundException`, …), if the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => code.as_deref(),
            AwsError::Invalid(_) => None,
        }
    }

    /// Throttling and capacity errors: the only ones worth backing off and retrying.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "SlowDown"
            )
        )
    }
}

/// Builds an `AwsError` from any SDK error, keeping its code and message.
pub(crate) fn service_error<E>(
    operation: &'static str,
    resource: impl Into<String>,
    err: aws_sdk_dynamodb::error::SdkError<E>,
) -> AwsError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_dynamodb::error::DisplayErrorContext;
    let (code, message) = match err.as_service_error() {
        Some(service) => (
            service.code().map(str::to_owned),
            service
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| service.code().unwrap_or("service error").to_owned()),
        ),
        None => (None, DisplayErrorContext(&err).to_string()),
    };
    AwsError::Service {
        operation,
        resource: resource.into(),
        code,
        message: crate::mask::mask_secrets(&message),
    }
}

/// The SDK configuration for one environment: its region, profile and endpoint
/// override (`endpoint_url` in rtsnap.toml, or `AWS_ENDPOINT_URL` through the SDK).
pub async fn sdk_config(env: &Environment) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &env.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &env.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &env.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An SDK timestamp as RFC 3339 UTC to the second (`2025-08-12T09:30:00Z`), as the
/// archive records times.
pub(crate) fn rfc3339(t: &aws_sdk_s3::primitives::DateTime) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(t.secs()).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Capped exponential backoff with full jitter: uniform in [0, min(cap, base·2^n)].
pub(crate) fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let fraction = (hasher.finish() % 10_000) as f64 / 10_000.0;
    ceiling.mul_f64(fraction)
}

/// Attempts of one call before a throttled operation gives up (about a minute of
/// backoff at the cap).
const THROTTLED_ATTEMPTS: u32 = 16;

/// Runs `call` until it succeeds, fails with an error that is not throttling, or has
/// been throttled [`THROTTLED_ATTEMPTS`] times, sleeping [`backoff`] between attempts.
pub(crate) async fn retrying<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_throttling() && attempt + 1 < THROTTLED_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}
