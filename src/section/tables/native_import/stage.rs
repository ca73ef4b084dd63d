//! Staging for ImportTable: the chosen tables' items, read from the archive (owner
//! fields rewritten as for batch writes), become gzip'd DynamoDB JSON lines
//! (`{"Item":{…}}`, what ImportTable's DYNAMODB_JSON format reads) in objects under
//! `<run prefix>/<Model>/`. Memory stays bounded whatever the table's size: the archive
//! is read on a blocking thread, each table's current object grows to at most
//! [`OBJECT_BYTES`] compressed, and a finished object waits in a channel of
//! [`OBJECTS_IN_FLIGHT`] for its PutObject.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::sync::mpsc;

use crate::archive::{item_to_json, DecryptionKey};
use crate::aws::s3::S3;
use crate::error::{Error, Result};
use crate::section::tables::read::{for_each_item, Selection};
use crate::stop::StopSignal;

/// A staging object is cut once its gzip'd size reaches this (S3 PutObject takes up
/// to 5 GiB; ImportTable up to 50,000 objects per import).
pub(super) const OBJECT_BYTES: usize = 64 << 20;
/// Finished objects waiting for their upload.
const OBJECTS_IN_FLIGHT: usize = 2;

/// One table's lines, cut into gzip'd objects of about `limit` bytes.
pub(super) struct Cutter {
    encoder: Option<GzEncoder<Vec<u8>>>,
    limit: usize,
    /// Objects finished so far.
    pub parts: u32,
    /// Lines written so far.
    pub items: u64,
}

impl Cutter {
    pub(super) fn new(limit: usize) -> Self {
        Cutter {
            encoder: None,
            limit,
            parts: 0,
            items: 0,
        }
    }

    /// Adds one line (with its newline); returns a finished object (its number from
    /// 1, and its bytes) when the current one reached the limit.
    pub(super) fn push(&mut self, line: &[u8]) -> std::io::Result<Option<(u32, Vec<u8>)>> {
        let encoder = self
            .encoder
            .get_or_insert_with(|| GzEncoder::new(Vec::new(), Compression::fast()));
        encoder.write_all(line)?;
        self.items += 1;
        if encoder.get_ref().len() >= self.limit {
            return self.finish();
        }
        Ok(None)
    }

    /// Finishes the current object, if it has any line.
    pub(super) fn finish(&mut self) -> std::io::Result<Option<(u32, Vec<u8>)>> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(None);
        };
        self.parts += 1;
        Ok(Some((self.parts, encoder.finish()?)))
    }
}

/// `<run prefix>/<Model>/part-000001.json.gz`.
pub(super) fn object_key(run_prefix: &str, model: &str, part: u32) -> String {
    format!("{run_prefix}/{model}/part-{part:06}.json.gz")
}

/// Uploads the selected models' items under `run_prefix`; returns the items staged
/// per model.
pub(super) async fn stage(
    s3: &S3,
    run_prefix: &str,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    stop: &StopSignal,
) -> Result<BTreeMap<String, u64>> {
    let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(OBJECTS_IN_FLIGHT);
    let models = selection.models.to_vec();
    let (limit, pick, owners) = (
        selection.limit,
        selection.pick.cloned(),
        selection.owners.cloned(),
    );
    let (snapshot, key, stop) = (snapshot.to_path_buf(), key.clone(), stop.clone());
    let prefix = run_prefix.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let selection = Selection {
            models: &models,
            limit,
            pick: pick.as_ref(),
            owners: owners.as_ref(),
        };
        let send = |model: &str, (part, bytes): (u32, Vec<u8>)| {
            tx.blocking_send((object_key(&prefix, model, part), Bytes::from(bytes)))
                .map_err(|_| Error::Failed("the staging upload stopped".into()))
        };
        let gzip = |e: std::io::Error| Error::Failed(format!("gzip: {e}"));
        let mut cutters: BTreeMap<String, Cutter> = BTreeMap::new();
        for_each_item(&snapshot, &key, selection, |model, item, _| {
            if stop.is_stopped() {
                return Err(Error::Interrupted(
                    "interrupted while staging items for ImportTable; no table was created by it"
                        .into(),
                ));
            }
            let cutter = cutters
                .entry(model.to_owned())
                .or_insert_with(|| Cutter::new(OBJECT_BYTES));
            let line = format!("{{\"Item\":{}}}\n", item_to_json(&item));
            if let Some(object) = cutter.push(line.as_bytes()).map_err(gzip)? {
                send(model, object)?;
            }
            Ok(())
        })?;
        let mut items = BTreeMap::new();
        for (model, mut cutter) in cutters {
            if let Some(object) = cutter.finish().map_err(gzip)? {
                send(&model, object)?;
            }
            items.insert(model, cutter.items);
        }
        Ok::<_, Error>(items)
    });
    let mut uploaded: std::result::Result<(), Error> = Ok(());
    while let Some((object, body)) = rx.recv().await {
        if let Err(e) = s3.put_bytes(&object, body).await {
            uploaded = Err(Error::Failed(format!("staging for ImportTable: {e}")));
            // Dropping the receiver stops the reader at its next object.
            break;
        }
    }
    drop(rx);
    let read = reader
        .await
        .map_err(|e| Error::Failed(format!("staging reader: {e}")))?;
    uploaded?;
    read
}
