//! The tables section's apply step (import phase 6): create the missing tables, then stream the snapshot once more
//! and write every item the plan says differs, then delete what the snapshot lacks
//! (found by scanning the table again: the plan's index keeps no keys).
//!
//! The archive is read on a blocking thread that cuts batches (at most 25 requests, no
//! two on one key) into a bounded channel; async writers send them, as many at once as
//! the client's adaptive write window allows (it narrows on throttling, widens on clean
//! answers), each retrying throttling and `UnprocessedItems`. Nothing is ever dropped: if a batch
//! runs out of retries, the import stops sending new batches, lets the ones in flight
//! finish, and fails saying how many planned items are unwritten.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::index::{key_bytes, TargetIndex};
use super::plan::TablePlan;
use super::read::{for_each_item, Selection};
use crate::archive::limits::approximate_bytes;
use crate::archive::schema::TableSchema;
use crate::archive::{item_hash, DecryptionKey, Item};
use crate::aws::dynamodb::{Dynamo, WriteOp, BATCH_SIZE};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::stop::StopSignal;

/// Writer tasks: as many as the client's adaptive write window may ever let through
/// (`Dynamo`'s window decides how many of them send at once; aws/window.rs).
const WRITERS: usize = crate::aws::dynamodb::WRITE_WINDOW.1;
/// Batches cut and waiting for a writer (as before the window: 2 × its first size).
const QUEUED_BATCHES: usize = 16;
/// Item bytes (DynamoDB's count, about) of the batches queued and in flight, in KiB.
/// Counting batches alone let 24 batches of 25 items of 100 KB wait at once (60 MB of
/// items, each held again by the SDK while it serialises the request): importing
/// 2,000 such items peaked at 165 MB. With 8 MiB it peaks at 69-75 MB in the same
/// 5.6 s (16 MiB: 98-106 MB; docs/performance.md); 3 such batches still overlap, and
/// batches of small items (25 × 300 B) never reach the budget.
const QUEUED_KIB: u32 = 8 * 1024;

/// What phase 6 did.
pub struct WriteOutcome {
    pub written: u64,
    pub deleted: u64,
    pub created: Vec<String>,
}

struct Batch {
    table: String,
    model: String,
    ops: Vec<WriteOp>,
    deletes: bool,
    /// Its share of [`QUEUED_KIB`], given back when the batch is dropped (puts only:
    /// deletes carry keys alone).
    _budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

#[allow(clippy::too_many_arguments)]
pub async fn apply(
    dynamo: &Dynamo,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    schemas: &BTreeMap<String, TableSchema>,
    target: &Environment,
    plans: &BTreeMap<String, TablePlan>,
    deletes_allowed: bool,
    progress: &dyn Progress,
    stop: &StopSignal,
) -> Result<WriteOutcome> {
    let created = create_tables(dynamo, plans, schemas, progress).await?;
    let planned: u64 = plans.values().map(TablePlan::changes).sum();
    let tasks: BTreeMap<String, Box<dyn crate::progress::ProgressTask>> = plans
        .iter()
        .filter(|(_, p)| p.changes() > 0)
        .map(|(m, p)| {
            (
                m.clone(),
                progress.start(&format!("write {m}"), Some(p.changes())),
            )
        })
        .collect();
    let tasks = Arc::new(tasks);
    let written = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Batch>(QUEUED_BATCHES);
    let budget = Arc::new(tokio::sync::Semaphore::new(QUEUED_KIB as usize));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = tokio::task::JoinSet::new();
    // Set when a writer gives up: the others then send no batch they have not begun.
    let giving_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..WRITERS {
        let (dynamo, rx, written, deleted, tasks, stop) = (
            dynamo.clone(),
            Arc::clone(&rx),
            Arc::clone(&written),
            Arc::clone(&deleted),
            Arc::clone(&tasks),
            stop.clone(),
        );
        let giving_up = Arc::clone(&giving_up);
        workers.spawn(async move {
            loop {
                let Some(batch) = rx.lock().await.recv().await else {
                    return Ok(());
                };
                if stop.is_stopped() {
                    // Asked to stop: this batch is not sent; the ones in flight
                    // finish; the producer stops cutting batches.
                    rx.lock().await.close();
                    return Ok(());
                }
                let n = batch.ops.len() as u64;
                let go_on = || !stop.is_stopped() && !giving_up.load(Ordering::Relaxed);
                if let Err(e) = dynamo.batch_write(&batch.table, batch.ops, go_on).await {
                    // Closing the channel makes the producer stop cutting batches; the
                    // other writers send no batch they have not begun.
                    giving_up.store(true, Ordering::Relaxed);
                    rx.lock().await.close();
                    // Left unsent because of a stop or another writer's failure, which
                    // is what gets reported.
                    return if e.abandoned { Ok(()) } else { Err(e) };
                }
                let counter = if batch.deletes { &deleted } else { &written };
                counter.fetch_add(n, Ordering::Relaxed);
                if let Some(task) = tasks.get(&batch.model) {
                    task.advance(n);
                }
            }
        });
    }
    let produced = produce_batches(
        dynamo,
        snapshot,
        key,
        selection,
        indexes,
        target,
        deletes_allowed,
        (tx, budget),
    )
    .await;
    let mut failure: Option<String> = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e.last_error)),
            Err(e) => failure = failure.or(Some(format!("writer task: {e}"))),
        }
    }
    let done = written.load(Ordering::Relaxed) + deleted.load(Ordering::Relaxed);
    if stop.is_stopped() && failure.is_none() {
        return Err(Error::Interrupted(format!(
            "interrupted: {} items written and {} deleted of {planned} planned; {} unwritten",
            written.load(Ordering::Relaxed),
            deleted.load(Ordering::Relaxed),
            planned.saturating_sub(done)
        )));
    }
    if let Some(reason) = failure {
        return Err(Error::Failed(format!(
            "writing stopped: {reason}; {} of {planned} planned items are unwritten. Re-run the same import to finish (it writes only what still differs)",
            planned.saturating_sub(done)
        )));
    }
    produced?;
    for (model, task) in tasks.iter() {
        task.finish(&format!("{} written", plans[model].changes()));
    }
    Ok(WriteOutcome {
        written: written.load(Ordering::Relaxed),
        deleted: deleted.load(Ordering::Relaxed),
        created,
    })
}

/// Tables created at once: DynamoDB accepts many concurrent CreateTable calls, and
/// each takes a while to become ACTIVE, so creating them one by one is slow.
const CONCURRENT_CREATES: usize = 16;

/// Creates the tables the plan marks, several at once, each waited on until ACTIVE.
async fn create_tables(
    dynamo: &Dynamo,
    plans: &BTreeMap<String, TablePlan>,
    schemas: &BTreeMap<String, TableSchema>,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let wanted: Vec<(String, TableSchema)> = plans
        .iter()
        .filter(|(_, p)| p.create)
        .map(|(m, p)| (p.table.clone(), schemas[m].clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    progress.note(&format!("creating {} tables", wanted.len()));
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CREATES));
    let mut tasks = tokio::task::JoinSet::new();
    for (table, schema) in wanted {
        let (dynamo, limit) = (dynamo.clone(), Arc::clone(&limit));
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            dynamo.create_table(&table, &schema).await.map(|()| table)
        });
    }
    let mut created = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let table = joined
            .map_err(|e| Error::Failed(format!("create task: {e}")))?
            .map_err(Error::from)?;
        created.push(table);
    }
    created.sort();
    Ok(created)
}

/// Reads the snapshot on a blocking thread and cuts batches of what differs, then
/// batches of deletes. Returns when every batch is handed over (or the writers quit).
#[allow(clippy::too_many_arguments)]
async fn produce_batches(
    dynamo: &Dynamo,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    target: &Environment,
    deletes_allowed: bool,
    (tx, budget): (mpsc::Sender<Batch>, Arc<tokio::sync::Semaphore>),
) -> Result<()> {
    let models = selection.models.to_vec();
    let limit = selection.limit;
    let pick = selection.pick.cloned();
    let owners = selection.owners.cloned();
    let snapshot = snapshot.to_path_buf();
    let key = key.clone();
    let owned = std::mem::take(indexes);
    let target_env = target.clone();
    let puts = tx.clone();
    let result = tokio::task::spawn_blocking(move || {
        let selection = Selection {
            models: &models,
            limit,
            pick: pick.as_ref(),
            owners: owners.as_ref(),
        };
        let mut batcher = Batcher::new(&puts, &target_env, budget);
        let streamed = for_each_item(&snapshot, &key, selection, |model, item, _| {
            let write = match owned.get(model) {
                None => true,
                Some(index) => {
                    let k = key_bytes(&item, &index.key).map_err(Error::Failed)?;
                    let hash = item_hash(&item).map_err(|e| Error::Failed(e.to_string()))?;
                    !index.holds(&k, &hash)?
                }
            };
            if write {
                let primary = owned.get(model).map(|i| i.key.clone());
                batcher.put(model, item, primary)?;
            }
            Ok(())
        });
        streamed?;
        batcher.flush_all()?;
        Ok::<_, Error>(owned)
    })
    .await
    .map_err(|e| Error::Failed(format!("reader task: {e}")))?;
    *indexes = result?;
    if deletes_allowed {
        for (model, index) in indexes.iter() {
            send_deletes(dynamo, model, index, target, &tx).await?;
        }
    }
    Ok(())
}

/// Cuts batches of deletes (keys from a scan are distinct) for the target items the
/// snapshot lacks, each named by its key as the target spells it.
async fn send_deletes(
    dynamo: &Dynamo,
    model: &str,
    index: &TargetIndex,
    target: &Environment,
    tx: &mpsc::Sender<Batch>,
) -> Result<()> {
    let (keys_tx, mut keys) = mpsc::channel(2);
    let scan = index.unseen_pages(dynamo, keys_tx);
    let send = async {
        let mut ops = Vec::with_capacity(BATCH_SIZE);
        while let Some(page) = keys.recv().await {
            for key in page {
                ops.push(WriteOp::Delete(key));
                if ops.len() == BATCH_SIZE {
                    send_batch(tx, target, model, std::mem::take(&mut ops), true).await?;
                }
            }
        }
        if !ops.is_empty() {
            send_batch(tx, target, model, ops, true).await?;
        }
        Ok::<_, Error>(())
    };
    let (scanned, sent) = tokio::join!(scan, send);
    sent?;
    scanned
}

async fn send_batch(
    tx: &mpsc::Sender<Batch>,
    target: &Environment,
    model: &str,
    ops: Vec<WriteOp>,
    deletes: bool,
) -> Result<()> {
    let batch = Batch {
        table: target.table_name(model),
        model: model.to_owned(),
        ops,
        deletes,
        _budget: None,
    };
    tx.send(batch)
        .await
        .map_err(|_| Error::Failed("the writers stopped".into()))
}

/// Cuts per-table batches of at most 25 with no repeated key, each taking its share
/// of the queue's byte budget before it is queued.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Batch>,
    target: &'a Environment,
    budget: Arc<tokio::sync::Semaphore>,
    open: BTreeMap<String, OpenBatch>,
}

/// A batch of puts being filled: its operations, their keys, and its items'
/// approximate bytes.
type OpenBatch = (Vec<WriteOp>, HashSet<Vec<u8>>, u64);

impl<'a> Batcher<'a> {
    fn new(
        tx: &'a mpsc::Sender<Batch>,
        target: &'a Environment,
        budget: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        Batcher {
            tx,
            target,
            budget,
            open: BTreeMap::new(),
        }
    }

    fn put(
        &mut self,
        model: &str,
        item: Item,
        key: Option<crate::archive::schema::PrimaryKey>,
    ) -> Result<()> {
        let k = match &key {
            Some(primary) => key_bytes(&item, primary).map_err(Error::Failed)?,
            None => {
                crate::archive::canonical_item(&item).map_err(|e| Error::Failed(e.to_string()))?
            }
        };
        let bytes = approximate_bytes(&item);
        self.push(model, WriteOp::Put(item), k, bytes)
    }

    fn push(&mut self, model: &str, op: WriteOp, key: Vec<u8>, bytes: u64) -> Result<()> {
        let entry = self
            .open
            .entry(model.to_owned())
            .or_insert_with(|| (Vec::new(), HashSet::new(), 0));
        if entry.1.contains(&key) || entry.0.len() == BATCH_SIZE {
            self.flush(model)?;
        }
        let entry = self
            .open
            .entry(model.to_owned())
            .or_insert_with(|| (Vec::new(), HashSet::new(), 0));
        entry.0.push(op);
        entry.1.insert(key);
        entry.2 += bytes;
        Ok(())
    }

    /// Queues the model's open batch, once the byte budget has room for it (this runs
    /// on the snapshot reader's blocking thread, which may wait).
    fn flush(&mut self, model: &str) -> Result<()> {
        let Some((ops, _, bytes)) = self.open.remove(model) else {
            return Ok(());
        };
        if ops.is_empty() {
            return Ok(());
        }
        let kib = bytes.div_ceil(1024).clamp(1, QUEUED_KIB as u64) as u32;
        let budget = tokio::runtime::Handle::current()
            .block_on(Arc::clone(&self.budget).acquire_many_owned(kib))
            .map_err(|_| Error::Failed("the writers stopped".into()))?;
        let batch = Batch {
            table: self.target.table_name(model),
            model: model.to_owned(),
            ops,
            deletes: false,
            _budget: Some(budget),
        };
        self.tx
            .blocking_send(batch)
            .map_err(|_| Error::Failed("the writers stopped".into()))
    }

    fn flush_all(&mut self) -> Result<()> {
        let models: Vec<String> = self.open.keys().cloned().collect();
        for model in models {
            self.flush(&model)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::parse_item;

    fn big_item(i: u32) -> Item {
        let body = "x".repeat(100_000);
        let json = format!(r#"{{"id":{{"S":"b-{i}"}},"body":{{"S":"{body}"}}}}"#);
        parse_item(json.as_bytes()).expect("item")
    }

    /// Issue #11: batches of big items hold their bytes against the budget until the
    /// writer drops them, so the reader stops cutting batches when it is spent.
    #[tokio::test(flavor = "multi_thread")]
    async fn queued_batches_are_bounded_by_their_item_bytes() {
        let (tx, mut rx) = mpsc::channel::<Batch>(64);
        let budget = Arc::new(tokio::sync::Semaphore::new(QUEUED_KIB as usize));
        let reader_budget = Arc::clone(&budget);
        let reader = tokio::task::spawn_blocking(move || {
            let target = Environment::for_tests("t", "s");
            let mut batcher = Batcher::new(&tx, &target, reader_budget);
            for i in 0..200 {
                batcher.put("Doc", big_item(i), None)?;
            }
            batcher.flush_all()
        });
        // 25 items of ~100 KB per batch: ~2,442 KiB each, so 3 fit in 8 MiB; the
        // fourth waits for room.
        let spent = async {
            while budget.available_permits() >= 2_442 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), spent)
            .await
            .expect("the reader spends the budget");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut queued = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            queued.push(batch);
        }
        assert_eq!(queued.len(), 3, "batches queued while none was written");
        // Writing (dropping) them lets the reader go on to the end.
        drop(queued);
        let mut rest = 0;
        while let Some(batch) = rx.recv().await {
            assert_eq!(batch.ops.len(), 25);
            rest += 1;
        }
        reader.await.expect("reader").expect("batches");
        assert_eq!(rest, 8 - 3);
        assert_eq!(budget.available_permits(), QUEUED_KIB as usize);
    }
}
