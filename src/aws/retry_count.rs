//! Counting the SDK's own retries. The SDK retries throttling and transient failures
//! itself (adaptive mode, see `aws::sdk_config`), invisibly to rtsnap's code; this
//! interceptor, installed on every client, counts each attempt after the first and
//! each throttled answer, so that the summary and `--json` can say how hard the
//! service pushed back.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct CountRetries;

impl Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "rtsnap::CountRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            super::count_retry(false);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(response) = context.response() {
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("x-amzn-ErrorType")
                .unwrap_or_default();
            let throttled = status == 429
                || (status == 503 && !kind.contains("ServiceUnavailable"))
                || [
                    "Throttl",
                    "ProvisionedThroughputExceeded",
                    "TooManyRequests",
                    "RequestLimitExceeded",
                    "SlowDown",
                ]
                .iter()
                .any(|t| kind.contains(t));
            if throttled {
                super::count_throttle();
            }
        }
        Ok(())
    }
}
