//! The only place that knows the AWS SDK. Each service has its own file; everything
//! else in rtsnap sees domain types (`TableSchema`, `Item`) and [`AwsError`].

pub mod cognito;
pub mod dynamodb;
mod retry_count;
pub mod s3;
pub(crate) mod window;

pub(crate) use retry_count::CountRetries;
pub(crate) use window::{Answer, RequestWindow, WindowKind};

/// The retry policy shared by every service. Two layers:
/// - the SDK's own, in adaptive mode ([`sdk_config`]): quick retries of throttling and
///   transient errors on every call, with a client-side rate limiter that every client
///   built from one configuration shares (so eight writers back off together);
/// - rtsnap's, [`retrying`] and the batch writer: capped exponential backoff with full
///   jitter for as long as a time budget allows (10 minutes without progress by
///   default, `RTSNAP_RETRY_BUDGET_SECS`), retrying throttling, `UnprocessedItems`, 5xx
///   answers, resets and timeouts, never a request the service refused.
///
/// Every retry and throttle is counted ([`retry_stats`]) and reported.
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
        /// A 5xx answer, a connection reset or a timeout: worth trying again.
        transient: bool,
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

    /// Worth another attempt: throttling, or a transient failure.
    pub fn is_retryable(&self) -> bool {
        self.is_throttling()
            || matches!(
                self,
                AwsError::Service {
                    transient: true,
                    ..
                }
            )
    }
}

/// How often AWS calls were retried in this process (the SDK's attempts and rtsnap's),
/// and how many answers were throttling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetryStats {
    pub retries: u64,
    pub throttled: u64,
    /// How few `BatchWriteItem`s were let in flight at the worst point, when throttling
    /// narrowed the adaptive window (see `aws/window.rs`); `None`: never narrowed.
    pub narrowest_write_window: Option<usize>,
    /// The same for `Scan` pages.
    pub narrowest_scan_window: Option<usize>,
}

static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static THROTTLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The retries so far, both layers.
pub fn retry_stats() -> RetryStats {
    use std::sync::atomic::Ordering::Relaxed;
    RetryStats {
        retries: RETRIES.load(Relaxed),
        throttled: THROTTLED.load(Relaxed),
        narrowest_write_window: window::narrowest(WindowKind::Writes),
        narrowest_scan_window: window::narrowest(WindowKind::Scans),
    }
}

/// Counts one retry (and, with `throttled`, one throttled answer).
pub(crate) fn count_retry(throttled: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    RETRIES.fetch_add(1, Relaxed);
    if throttled {
        count_throttle();
    }
}

/// Counts one throttled answer.
pub(crate) fn count_throttle() {
    THROTTLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How long rtsnap keeps retrying without progress: `RTSNAP_RETRY_BUDGET_SECS`, else
/// 10 minutes (long enough for a throttled table's capacity to scale up).
pub(crate) fn retry_budget() -> Duration {
    static BUDGET: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var("RTSNAP_RETRY_BUDGET_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(600), Duration::from_secs)
    })
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
    use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
    let transient = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        other => other
            .raw_response()
            .is_some_and(|r| r.status().as_u16() >= 500),
    };
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
        transient,
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
    let retry = aws_config::retry::RetryConfig::adaptive().with_max_attempts(SDK_ATTEMPTS);
    loader.retry_config(retry).load().await
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

/// The SDK's attempts per call (its quick layer; see the module's retry policy).
const SDK_ATTEMPTS: u32 = 4;

/// Runs `call` until it succeeds, fails with an error not worth retrying, or the
/// [`retry_budget`] has passed since its first failure, sleeping [`backoff`] between
/// attempts.
pub(crate) async fn retrying<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 0;
    let mut first_failure: Option<std::time::Instant> = None;
    loop {
        match call().await {
            Err(e) if e.is_retryable() => {
                let since = *first_failure.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= retry_budget() {
                    return Err(e);
                }
                count_retry(e.is_throttling());
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}
