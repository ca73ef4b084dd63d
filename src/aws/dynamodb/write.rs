//! Batch writes that never drop an item: each batch retried (throttling,
//! `UnprocessedItems`, transient failures) until every operation is written or the retry
//! budget passed without progress, inside the client's adaptive write window.

use aws_sdk_dynamodb::types as ddb;

use super::{item_to_sdk, window_answer, Dynamo, BATCH_SIZE};
use crate::archive::item::Item;
use crate::aws::{backoff, count_retry, retry_budget, service_error, Answer};

/// One write of a batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put(Item),
    /// The key attributes of the item to delete.
    Delete(Item),
}

/// A batch write that ran out of retries, or was never sent: how many of its items are
/// unwritten.
#[derive(Debug, thiserror::Error)]
#[error("{unwritten} items unwritten: {last_error}")]
pub struct BatchWriteError {
    pub unwritten: usize,
    pub last_error: String,
    /// Not sent at all: the caller said to stop before its first attempt.
    pub abandoned: bool,
}

impl Dynamo {
    /// Writes at most 25 operations (no two on the same key), retrying throttling,
    /// `UnprocessedItems` and transient failures with capped exponential backoff and
    /// jitter until every one is written, or no progress was made for the retry budget
    /// (time spent waiting for a place in the write window counts: a narrowed window
    /// must not stretch the budget). `go_on` is asked once a place is free, before the
    /// first attempt only: a batch that was never sent can be left unsent when the
    /// caller is stopping, one already partly written is finished.
    pub async fn batch_write(
        &self,
        table: &str,
        ops: Vec<WriteOp>,
        go_on: impl Fn() -> bool,
    ) -> Result<(), BatchWriteError> {
        let mut pending: Vec<ddb::WriteRequest> = ops
            .into_iter()
            .map(write_request)
            .collect::<Result<_, _>>()
            .map_err(|e| BatchWriteError {
                unwritten: BATCH_SIZE,
                last_error: e.to_string(),
                abandoned: false,
            })?;
        let mut last_progress = std::time::Instant::now();
        let mut attempt = 0u32;
        let mut sent = false;
        loop {
            let Some(place) = self.write_place(&mut last_progress).await else {
                return Err(BatchWriteError {
                    unwritten: pending.len(),
                    last_error: format!(
                        "{} items not sent after {:.0} s without progress (throttled: waiting for a place in the write window)",
                        pending.len(),
                        last_progress.elapsed().as_secs_f64()
                    ),
                    abandoned: false,
                });
            };
            let full = pending.len() == BATCH_SIZE;
            if !sent && !go_on() {
                return Err(BatchWriteError {
                    unwritten: pending.len(),
                    last_error: "not sent: writing is stopping".into(),
                    abandoned: true,
                });
            }
            sent = true;
            let result = self
                .client
                .batch_write_item()
                .request_items(table, pending.clone())
                .customize()
                .config_override(
                    aws_sdk_dynamodb::config::Builder::default()
                        .timeout_config(crate::aws::upload_timeouts(request_bytes(&pending))),
                )
                .send()
                .await;
            let throttled = match result {
                Ok(out) => {
                    let left = out
                        .unprocessed_items()
                        .and_then(|u| u.get(table))
                        .cloned()
                        .unwrap_or_default();
                    if left.is_empty() {
                        place.answered(if full { Answer::Clean } else { Answer::Small });
                        return Ok(());
                    }
                    // DynamoDB returns unprocessed items when the table is throttled.
                    place.answered(Answer::Overloaded);
                    if left.len() < pending.len() {
                        last_progress = std::time::Instant::now();
                        attempt = 0;
                    }
                    pending = left;
                    true
                }
                Err(e) => {
                    let err = service_error("BatchWriteItem", table, e);
                    place.answered(window_answer(&err));
                    if !err.is_retryable() || last_progress.elapsed() >= retry_budget() {
                        return Err(BatchWriteError {
                            unwritten: pending.len(),
                            last_error: format!(
                                "{err} (after {:.0} s without progress)",
                                last_progress.elapsed().as_secs_f64()
                            ),
                            abandoned: false,
                        });
                    }
                    err.is_throttling()
                }
            };
            if last_progress.elapsed() >= retry_budget() {
                return Err(BatchWriteError {
                    unwritten: pending.len(),
                    last_error: format!(
                        "{} items still unprocessed after {:.0} s without progress",
                        pending.len(),
                        last_progress.elapsed().as_secs_f64()
                    ),
                    abandoned: false,
                });
            }
            count_retry(throttled);
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// A place in the write window, or `None` once the retry budget has passed since
    /// `last_progress` while the whole window made none either. Waiting behind other
    /// writers that are being answered is not "no progress": `last_progress` moves on.
    async fn write_place(
        &self,
        last_progress: &mut std::time::Instant,
    ) -> Option<crate::aws::window::WindowPermit> {
        loop {
            let left = retry_budget().saturating_sub(last_progress.elapsed());
            match tokio::time::timeout(left, self.writes.enter()).await {
                Ok(place) => return Some(place),
                Err(_) if self.writes.progressed_since(*last_progress) => {
                    *last_progress = std::time::Instant::now();
                }
                Err(_) => return None,
            }
        }
    }
}

fn write_request(op: WriteOp) -> Result<ddb::WriteRequest, aws_sdk_dynamodb::error::BuildError> {
    Ok(match op {
        WriteOp::Put(item) => ddb::WriteRequest::builder()
            .put_request(
                ddb::PutRequest::builder()
                    .set_item(Some(item_to_sdk(&item)))
                    .build()?,
            )
            .build(),
        WriteOp::Delete(key) => ddb::WriteRequest::builder()
            .delete_request(
                ddb::DeleteRequest::builder()
                    .set_key(Some(item_to_sdk(&key)))
                    .build()?,
            )
            .build(),
    })
}

/// About the bytes a batch sends as JSON (names and values, twice over for the
/// encoding): enough to size its timeout (`aws::upload_timeouts`).
fn request_bytes(requests: &[ddb::WriteRequest]) -> usize {
    let raw: usize = requests
        .iter()
        .map(|r| {
            let item = r
                .put_request()
                .map(|p| p.item())
                .or_else(|| r.delete_request().map(|d| d.key()));
            item.map_or(0, |i| i.iter().map(|(k, v)| k.len() + value_bytes(v)).sum())
        })
        .sum();
    raw * 2
}

fn value_bytes(value: &ddb::AttributeValue) -> usize {
    use ddb::AttributeValue as V;
    match value {
        V::S(s) | V::N(s) => s.len(),
        V::B(b) => b.as_ref().len(),
        V::Ss(v) | V::Ns(v) => v.iter().map(String::len).sum(),
        V::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        V::L(v) => 1 + v.iter().map(value_bytes).sum::<usize>(),
        V::M(m) => {
            1 + m
                .iter()
                .map(|(k, v)| k.len() + value_bytes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}
