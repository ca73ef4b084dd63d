//! Applying an assets plan (import phase 6): upload the objects whose bytes are in the
//! archive, copy the others server-side from the source bucket, then delete what the
//! plan prunes.
//!
//! Uploads stream: one thread walks the archive and cuts each wanted blob into bodies
//! (the whole object up to [`PART_BYTES`], else parts of that size for a multipart
//! upload); the async side uploads many at once. Every body holds permits of a
//! byte budget ([`BYTES_IN_FLIGHT`]) until S3 has taken it, so memory stays bounded
//! whatever the object sizes. Each body carries its SHA-256, so S3 refuses one that
//! does not match.
//!
//! A failed transfer (after the retries) does not stop the others: every failure is
//! collected and reported by key, and the import fails; a re-run copies what is left.
//! A stop (Ctrl-C) is honoured between objects: the transfers in flight finish (a
//! multipart upload under way completes), no new one starts, and the prune is not run.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::plan::AssetsActions;
use crate::archive::assets::{blob_path, AssetObject};
use crate::archive::DecryptionKey;
use crate::aws::s3::{UploadedPart, S3};
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressTask};
use crate::stop::StopSignal;

/// Objects up to this size go up in one PutObject; larger ones in parts of this size
/// (S3's minimum part is 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of object bodies in memory at once, across all transfers (at least one
/// part of the largest object, whose parts grow past 8 MiB beyond ~78 GiB).
const BYTES_IN_FLIGHT: usize = 4 * PART_BYTES;
/// S3's limit on the parts of one upload.
const MAX_PARTS: u64 = 10_000;
/// The budget's unit: one permit per KiB.
const PERMIT_BYTES: usize = 1024;
/// Server-side copies in flight.
const COPIES_IN_FLIGHT: usize = 16;
/// How many failed keys an error names.
const FAILURES_NAMED: usize = 10;

/// What phase 6 did to the bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetsApplied {
    pub uploaded: u64,
    pub copied: u64,
    pub bytes: u64,
    pub deleted: u64,
}

/// Applies `actions` to `target`: uploads from `archive`, copies from `source`, then
/// deletes.
pub async fn apply_assets(
    target: &S3,
    source: Option<&S3>,
    archive: &Path,
    key: &DecryptionKey,
    actions: &AssetsActions,
    progress: &dyn Progress,
    stop: &StopSignal,
) -> Result<AssetsApplied> {
    let total: u64 = actions.copy.iter().map(|o| o.size).sum();
    let task = progress.start_bytes(&format!("assets to {}", target.bucket()), Some(total));
    let mut applied = AssetsApplied::default();
    let mut failures: Vec<String> = Vec::new();
    let embedded: HashMap<String, AssetObject> = actions
        .copy
        .iter()
        .filter(|o| o.embedded)
        .map(|o| (blob_path(&o.key), o.clone()))
        .collect();
    if !embedded.is_empty() {
        let uploaded = upload_blobs(target, archive, key, embedded, &*task, stop).await?;
        applied.uploaded = uploaded.done;
        applied.bytes += uploaded.bytes;
        failures.extend(uploaded.failures);
    }
    let from_source: Vec<&AssetObject> = actions.copy.iter().filter(|o| !o.embedded).collect();
    if !from_source.is_empty() {
        let source = source.ok_or_else(|| {
            Error::Failed("objects to copy but no source bucket (the plan checks this)".into())
        })?;
        let copied = copy_objects(target, source, &from_source, &*task, stop).await;
        applied.copied = copied.done;
        applied.bytes += copied.bytes;
        failures.extend(copied.failures);
    }
    task.finish("assets written");
    if stop.is_stopped() && failures.is_empty() {
        let written = applied.uploaded + applied.copied;
        return Err(Error::Interrupted(format!(
            "interrupted during the assets: {written} of {} objects written, {} not; the plan's deletes were not run",
            actions.copy.len(),
            actions.copy.len() as u64 - written
        )));
    }
    if !failures.is_empty() {
        return Err(Error::Failed(format!(
            "{} objects could not be written to s3://{} ({}{}); every other object was written, and the plan's deletes were not run: re-run the import to finish",
            failures.len(),
            target.bucket(),
            failures[..failures.len().min(FAILURES_NAMED)].join("; "),
            if failures.len() > FAILURES_NAMED { "; …" } else { "" }
        )));
    }
    if !actions.delete.is_empty() {
        target.delete(&actions.delete).await?;
        applied.deleted = actions.delete.len() as u64;
    }
    Ok(applied)
}

/// Transfers done, their bytes, and the failures by key.
#[derive(Default)]
struct Transferred {
    done: u64,
    bytes: u64,
    failures: Vec<String>,
}

/// What the archive thread hands the uploaders.
enum Upload {
    /// A whole object (at most [`PART_BYTES`]).
    Whole(AssetObject, Bytes, OwnedSemaphorePermit),
    /// A multipart object starts; its parts follow, then `End`.
    Start(AssetObject),
    Part(i32, Bytes, OwnedSemaphorePermit),
    /// The last part was sent: `true` when the blob's bytes had the snapshot's
    /// SHA-256 (complete the upload), `false` when not (abort it).
    End(bool),
}

async fn upload_blobs(
    target: &S3,
    archive: &Path,
    key: &DecryptionKey,
    wanted: HashMap<String, AssetObject>,
    task: &dyn ProgressTask,
    stop: &StopSignal,
) -> Result<Transferred> {
    let largest = wanted
        .values()
        .map(|o| part_bytes(o.size))
        .max()
        .unwrap_or(0);
    let budget = Arc::new(Semaphore::new(BYTES_IN_FLIGHT.max(largest) / PERMIT_BYTES));
    let (tx, mut rx) = mpsc::channel::<Upload>(4);
    let reader = {
        let (archive, key, budget) = (archive.to_path_buf(), key.clone(), Arc::clone(&budget));
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            super::read::for_each_blob(&archive, &key, &wanted, |object, data| {
                cut_blob(object, data, &tx, &budget, &runtime)
            })
        })
    };
    let mut done = Transferred::default();
    let mut running: JoinSet<(String, u64, Result<()>)> = JoinSet::new();
    let mut multipart: Option<(AssetObject, Result<String>, JoinSet<Result<UploadedPart>>)> = None;
    while let Some(upload) = rx.recv().await {
        match upload {
            // Between objects: dropping the receiver stops the archive thread.
            Upload::Whole(..) | Upload::Start(..) if stop.is_stopped() => break,
            Upload::Whole(object, body, permit) => {
                let s3 = target.clone();
                running.spawn(async move {
                    let result = s3.put(&object, body).await.map_err(Error::from);
                    drop(permit);
                    (object.key, object.size, result)
                });
            }
            Upload::Start(object) => {
                let id = target.start_multipart(&object).await.map_err(Error::from);
                multipart = Some((object, id, JoinSet::new()));
            }
            Upload::Part(number, body, permit) => {
                if let Some((object, Ok(id), parts)) = multipart.as_mut() {
                    let (s3, key, id) = (target.clone(), object.key.clone(), id.clone());
                    parts.spawn(async move {
                        let part = s3.upload_part(&key, &id, number, body).await;
                        drop(permit);
                        part.map_err(Error::from)
                    });
                }
            }
            Upload::End(intact) => {
                if let Some((object, id, parts)) = multipart.take() {
                    let s3 = target.clone();
                    running.spawn(async move {
                        let result = finish_multipart(&s3, &object, id, parts, intact).await;
                        (object.key, object.size, result)
                    });
                }
            }
        }
        while let Some(finished) = running.try_join_next() {
            account(finished, &mut done, task);
        }
    }
    // The archive reader stopped inside a multipart object: abandon its upload.
    if let Some((object, id, parts)) = multipart.take() {
        let result = finish_multipart(target, &object, id, parts, false).await;
        account(Ok((object.key, object.size, result)), &mut done, task);
    }
    while let Some(finished) = running.join_next().await {
        account(finished, &mut done, task);
    }
    // A reader failure (the archive changed, a blob not intact) is one more failure:
    // the transfers already done are still counted and reported.
    drop(rx);
    match reader.await {
        Ok(Ok(())) => {}
        // The thread stopped because the uploads did: not a failure.
        Ok(Err(_)) if stop.is_stopped() => {}
        Ok(Err(e)) => done.failures.push(e.to_string()),
        Err(_) => done
            .failures
            .push("the archive reader thread panicked".into()),
    }
    Ok(done)
}

/// Completes a multipart upload once its parts are in, or aborts it (a part failed,
/// or the blob was not `intact`).
async fn finish_multipart(
    s3: &S3,
    object: &AssetObject,
    id: Result<String>,
    mut parts: JoinSet<Result<UploadedPart>>,
    intact: bool,
) -> Result<()> {
    let id = id?;
    let mut uploaded = Vec::new();
    let mut failed = (!intact).then(|| not_intact(object));
    while let Some(part) = parts.join_next().await {
        match part {
            Ok(Ok(part)) => uploaded.push(part),
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some(Error::Failed("an upload task panicked".into())),
        }
    }
    if let Some(e) = failed {
        // Best effort: S3 would otherwise keep (and bill) the uploaded parts.
        let _ = s3.abort_multipart(&object.key, &id).await;
        return Err(e);
    }
    s3.complete_multipart(&object.key, &id, uploaded)
        .await
        .map_err(Error::from)
}

fn account(
    finished: std::result::Result<(String, u64, Result<()>), tokio::task::JoinError>,
    done: &mut Transferred,
    task: &dyn ProgressTask,
) {
    match finished {
        Ok((_, size, Ok(()))) => {
            done.done += 1;
            done.bytes += size;
            task.advance(size);
        }
        Ok((key, _, Err(e))) => done
            .failures
            .push(format!("{}: {e}", crate::aws::s3::printable(&key))),
        Err(_) => done.failures.push("an upload task panicked".into()),
    }
}

/// Runs on the archive thread: reads one blob into bodies within the byte budget.
fn cut_blob(
    object: &AssetObject,
    data: &mut dyn Read,
    tx: &mpsc::Sender<Upload>,
    budget: &Arc<Semaphore>,
    runtime: &tokio::runtime::Handle,
) -> Result<()> {
    let gone = || Error::Failed("the uploads stopped early".into());
    let take = |bytes: usize| -> Result<OwnedSemaphorePermit> {
        let permits = bytes.div_ceil(PERMIT_BYTES).max(1) as u32;
        runtime
            .block_on(Arc::clone(budget).acquire_many_owned(permits))
            .map_err(|_| gone())
    };
    // The archive's own check of this entry comes only at its end, after the
    // uploads; hashing here keeps other bytes from ever being completed in S3.
    let mut hasher = Sha256::new();
    let size = object.size as usize;
    let part_bytes = part_bytes(object.size);
    if size <= part_bytes {
        let permit = take(size)?;
        let body = read_exactly(data, size, &object.key)?;
        hasher.update(&body);
        if hex::encode(hasher.finalize()) != object.sha256 {
            return Err(not_intact(object));
        }
        return tx
            .blocking_send(Upload::Whole(object.clone(), body, permit))
            .map_err(|_| gone());
    }
    tx.blocking_send(Upload::Start(object.clone()))
        .map_err(|_| gone())?;
    let mut left = size;
    let mut number = 1;
    while left > 0 {
        let len = left.min(part_bytes);
        let permit = take(len)?;
        let body = match read_exactly(data, len, &object.key) {
            Ok(body) => body,
            Err(e) => {
                let _ = tx.blocking_send(Upload::End(false));
                return Err(e);
            }
        };
        hasher.update(&body);
        tx.blocking_send(Upload::Part(number, body, permit))
            .map_err(|_| gone())?;
        left -= len;
        number += 1;
    }
    let intact = hex::encode(hasher.finalize()) == object.sha256;
    tx.blocking_send(Upload::End(intact)).map_err(|_| gone())?;
    if intact {
        Ok(())
    } else {
        Err(not_intact(object))
    }
}

/// The part size for an object: [`PART_BYTES`], or larger for objects that would
/// otherwise need more than S3's 10,000 parts.
pub fn part_bytes(size: u64) -> usize {
    let needed = size.div_ceil(MAX_PARTS) as usize;
    needed.max(PART_BYTES)
}

fn not_intact(object: &AssetObject) -> Error {
    Error::Failed(format!(
        "the archive's bytes for {} do not have the SHA-256 its manifest records (did the file change since phase 1?); that object was not written",
        object.key
    ))
}

fn read_exactly(data: &mut dyn Read, len: usize, key: &str) -> Result<Bytes> {
    let mut body = vec![0u8; len];
    data.read_exact(&mut body).map_err(Error::io(format!(
        "reading the blob of {key} from the archive"
    )))?;
    Ok(Bytes::from(body))
}

/// Server-side copies, many at once; each result's SHA-256 (when S3 gives one) must
/// be the snapshot's.
async fn copy_objects(
    target: &S3,
    source: &S3,
    objects: &[&AssetObject],
    task: &dyn ProgressTask,
    stop: &StopSignal,
) -> Transferred {
    let mut copies = stream::iter(objects)
        .take_while(|_| std::future::ready(!stop.is_stopped()))
        .map(|object| async move {
            let result = match target.copy_from(source.bucket(), object).await {
                Ok(Some(sha)) if sha != object.sha256 => Err(Error::Failed(format!(
                    "the copy's SHA-256 is {sha}, the snapshot's {} (did the source change?)",
                    object.sha256
                ))),
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            };
            (object.key.clone(), object.size, result)
        })
        .buffer_unordered(COPIES_IN_FLIGHT);
    let mut done = Transferred::default();
    // Accounted as each copy lands, so the progress bar moves with them.
    while let Some(result) = copies.next().await {
        account(Ok(result), &mut done, task);
    }
    done
}
