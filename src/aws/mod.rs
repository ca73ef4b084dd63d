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
    #[error("{operation}{}: {message}", on(resource))]
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

/// ` resource`, or nothing for calls on no resource (ListTables).
fn on(resource: &str) -> String {
    if resource.is_empty() {
        String::new()
    } else {
        format!(" {resource}")
    }
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
    use aws_sdk_dynamodb::error::SdkError;
    let transient = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        other => other
            .raw_response()
            .is_some_and(|r| r.status().as_u16() >= 500),
    };
    let (code, message) = match err.as_service_error().filter(|s| s.code().is_some()) {
        Some(service) => (
            service.code().map(str::to_owned),
            service
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| service.code().unwrap_or("service error").to_owned()),
        ),
        None => (None, failure_text(&err)),
    };
    AwsError::Service {
        operation,
        resource: resource.into(),
        code,
        message: crate::mask::mask_secrets(&message),
        transient,
    }
}

/// What went wrong with a call that got no service error, in one line that says what
/// to check. The SDK's own text nests every layer's debug output over several lines
/// (hundreds of characters for a refused connection); the innermost cause is the one
/// that names the problem.
fn failure_text<E>(err: &aws_sdk_dynamodb::error::SdkError<E>) -> String
where
    E: std::error::Error + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    let cause = innermost_cause(err);
    // The SDK's text for a missing identity lists every provider it tried, one clause
    // each (and trips the secret mask on `WebIdentityToken: the …`); what helps is
    // where credentials come from. Matched by text: the error type lives in a crate
    // rtsnap does not otherwise need.
    if cause.contains("no credentials found") || cause.contains("failed to load credentials") {
        return "no AWS credentials found: set AWS_PROFILE (or `profile` for the environment \
                in rtsnap.toml), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            .into();
    }
    let text = match err {
        SdkError::TimeoutError(_) => format!(
            "no answer within {} s ({}); check endpoint_url and the network",
            answer_timeout().as_secs(),
            "RTSNAP_ANSWER_TIMEOUT_SECS sets the wait"
        ),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => format!(
            "no answer within {} s: {cause}; check endpoint_url and the network",
            answer_timeout().as_secs()
        ),
        SdkError::DispatchFailure(_) => format!(
            "could not send the request: {cause}; check endpoint_url, region, credentials and the network"
        ),
        SdkError::ResponseError(_) => format!(
            "the answer could not be read: {cause} (with endpoint_url set: is it an AWS endpoint?)"
        ),
        // HEAD requests (HeadBucket, HeadObject) get answers without a body, so no
        // code: the status says what happened.
        SdkError::ServiceError(context) => match context.raw().status().as_u16() {
            403 => "access denied (HTTP 403): check the credentials' permissions".into(),
            301 => "the resource is in another region (HTTP 301): check the environment's region".into(),
            status => format!(
                "HTTP {status} without an AWS error code: {cause} (with endpoint_url set: is it an AWS endpoint?)"
            ),
        },
        _ => format!("the request could not be built: {cause}"),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The deepest error in `err`'s source chain, displayed.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = err;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    deepest.to_string()
}

/// How long a call waits for the first byte of an answer before it counts as failed
/// (and is retried within the retry budget): `RTSNAP_ANSWER_TIMEOUT_SECS`, else 60 s;
/// calls that upload a body get more ([`upload_timeouts`]).
/// Without it a server that accepts the connection and never answers would hang every
/// command for ever, the retry budget never starting. AWS answers in milliseconds; S3
/// copies start their answer at once and then keep it alive.
pub(crate) fn answer_timeout() -> Duration {
    static TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TIMEOUT.get_or_init(|| {
        std::env::var("RTSNAP_ANSWER_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|secs| *secs > 0)
            .map_or(Duration::from_secs(60), Duration::from_secs)
    })
}

/// How long connecting may take: a TCP (and TLS) handshake, never longer than the
/// wait for an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The slowest upstream rtsnap waits for: 64 KiB/s (512 kbit/s).
const SLOWEST_UPLOAD_BYTES_PER_SEC: u64 = 64 * 1024;

/// Timeouts for a call that sends `bytes` of body (PutObject, UploadPart,
/// BatchWriteItem). The SDK's read timeout runs from the start of the request until
/// the answer's first byte, which S3 and DynamoDB send only once the whole body has
/// arrived; so the wait is [`answer_timeout`] plus the body's time at
/// [`SLOWEST_UPLOAD_BYTES_PER_SEC`] (a 64 MiB staging object: 17 minutes more), else a
/// slow uplink would time out every large upload and retry it in vain.
pub(crate) fn upload_timeouts(bytes: usize) -> aws_config::timeout::TimeoutConfig {
    let sending = Duration::from_secs(bytes as u64 / SLOWEST_UPLOAD_BYTES_PER_SEC);
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(answer_timeout()))
        .read_timeout(answer_timeout() + sending)
        .operation_attempt_timeout(attempt_timeout() + sending)
        .build()
}

/// The slowest server-side copy rtsnap waits for: 4 MiB/s. S3 starts a copy's answer at
/// once and keeps it open (whitespace) until the copy is done; the call ends then.
const SLOWEST_COPY_BYTES_PER_SEC: u64 = 4 << 20;

/// Timeouts for a server-side copy of `bytes` (CopyObject, UploadPartCopy): the whole
/// attempt may take the copy's time at [`SLOWEST_COPY_BYTES_PER_SEC`] on top of the
/// usual one (a 5 GiB CopyObject: 21 minutes more).
pub(crate) fn copy_timeouts(bytes: u64) -> aws_config::timeout::TimeoutConfig {
    let copying = Duration::from_secs(bytes / SLOWEST_COPY_BYTES_PER_SEC);
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(answer_timeout()))
        .read_timeout(answer_timeout())
        .operation_attempt_timeout(attempt_timeout() + copying)
        .build()
}

/// How long one attempt of a call may take in all, answer included: five times the
/// wait for its first byte (5 minutes by default). A server that answers at once and
/// then trickles the rest (a stalled proxy) would otherwise hold a call for ever, as
/// one that never answers did. Object bodies read as streams have their own wait per
/// chunk (`s3::ObjectBody::next_chunk`).
pub(crate) fn attempt_timeout() -> Duration {
    answer_timeout() * 5
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
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(answer_timeout()))
        .read_timeout(answer_timeout())
        .operation_attempt_timeout(attempt_timeout())
        .build();
    loader
        .retry_config(retry)
        .timeout_config(timeouts)
        .load()
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The review of 2026-12-01: the read timeout runs until the answer's first byte,
    /// after the whole body is sent, so a flat 60 s failed 64 MiB uploads below
    /// ~9 Mbit/s. Bodies get their sending time at 512 kbit/s on top.
    #[test]
    fn uploads_get_their_sending_time_on_top_of_the_answer_wait() {
        let small = upload_timeouts(1024);
        assert_eq!(small.read_timeout(), Some(answer_timeout()));
        let staging = upload_timeouts(64 << 20);
        let expected = answer_timeout() + Duration::from_secs(1024);
        assert_eq!(staging.read_timeout(), Some(expected));
        assert_eq!(
            staging.connect_timeout(),
            Some(CONNECT_TIMEOUT.min(answer_timeout()))
        );
        let attempt = attempt_timeout() + Duration::from_secs(1024);
        assert_eq!(staging.operation_attempt_timeout(), Some(attempt));
        let copy = copy_timeouts(5 << 30);
        let copying = Duration::from_secs((5u64 << 30) / SLOWEST_COPY_BYTES_PER_SEC);
        assert_eq!(
            copy.operation_attempt_timeout(),
            Some(attempt_timeout() + copying)
        );
    }
}
