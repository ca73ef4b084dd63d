//! Export of the assets section: `assets/manifest.jsonl`, and with `--with-assets` the
//! objects' bytes as `assets/blobs/<sha256 of key>`.
//!
//! Two steps, because the archive is written in layout order. [`collect_assets`] runs
//! while the tables stream: it lists the bucket and describes every object that is
//! not embedded (HeadObject, bounded concurrency; objects without a stored SHA-256 are
//! read and hashed). [`send_assets`] runs after the users section: it streams each
//! embedded object from GetObject straight into its blob entry, a few chunks at a time
//! (never a whole object in memory), hashing the bytes on the way for the manifest
//! line; then it writes the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::archive::assets::{blob_path, to_json_line, AssetObject};
use crate::aws::s3::{ObjectBody, S3};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::write::{ArchiveSink, WriterMessage};

/// GetObject responses opened ahead of the one being streamed.
const BODIES_AHEAD: usize = 4;
/// Chunks of one object waiting for the archive writer (SDK chunks are ~8-64 KiB).
const CHUNKS_IN_FLIGHT: usize = 16;

/// Which objects' bytes go into the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Embed {
    /// None: import copies server-side from the source bucket.
    Nothing,
    /// Every object (`--with-assets`).
    All,
    /// These keys only (a pre-import backup embeds what the import will overwrite or
    /// delete, so that rollback can put it back).
    Keys(BTreeSet<String>),
}

impl Embed {
    fn includes(&self, key: &str) -> bool {
        match self {
            Embed::Nothing => false,
            Embed::All => true,
            Embed::Keys(keys) => keys.contains(key),
        }
    }
}

/// The bucket to export and how.
pub struct AssetsScope<'a> {
    pub s3: &'a S3,
    pub prefixes: &'a [String],
    pub embed: Embed,
}

/// The section after [`collect_assets`]: described objects, and the keys whose bytes
/// [`send_assets`] will stream, in blob order.
pub(crate) struct CollectedAssets {
    described: BTreeMap<String, AssetObject>,
    to_embed: Vec<String>,
}

/// Lists the bucket and describes every object that is not embedded.
pub(crate) async fn collect_assets(
    scope: &AssetsScope<'_>,
    progress: &dyn Progress,
) -> Result<CollectedAssets> {
    let listed = super::list_bucket(scope.s3, scope.prefixes).await?;
    let (mut to_embed, plain): (Vec<String>, Vec<String>) = listed
        .into_keys()
        .partition(|key| scope.embed.includes(key));
    let label = format!("assets of {}", scope.s3.bucket());
    let described = super::describe(scope.s3, plain, progress, &label).await?;
    // Blob entries go in the order of their names (layout order).
    to_embed.sort_by_cached_key(|key| blob_path(key));
    Ok(CollectedAssets {
        described,
        to_embed,
    })
}

/// Streams the embedded objects into their blobs, then writes the manifest.
pub(crate) async fn send_assets(
    collected: CollectedAssets,
    s3: &S3,
    sink: &ArchiveSink,
    progress: &dyn Progress,
) -> Result<()> {
    let CollectedAssets {
        mut described,
        to_embed,
    } = collected;
    if !to_embed.is_empty() {
        let task = progress.start_bytes(&format!("blobs of {}", s3.bucket()), None);
        let mut bodies = stream::iter(to_embed)
            .map(|key| async move { s3.get(&key).await.map(|found| (key, found)) })
            .buffered(BODIES_AHEAD);
        while let Some(opened) = bodies.next().await {
            let (key, found) = opened?;
            // Deleted since it was listed: it is not part of the bucket any more.
            let Some((head, body)) = found else { continue };
            let sha256 = stream_blob(&key, head.size, body, sink, &*task).await?;
            let mut object = head.to_object(&key, sha256);
            object.embedded = true;
            described.insert(key, object);
        }
        task.finish("embedded");
    }
    let manifest: Vec<u8> = described.values().flat_map(to_json_line).collect();
    sink.send(WriterMessage::Entry {
        path: "assets/manifest.jsonl".to_owned(),
        size: manifest.len() as u64,
        data: Box::new(io::Cursor::new(manifest)),
    })
    .await
}

/// Hands one object's bytes to the archive writer as they arrive; returns their
/// SHA-256 (hex).
async fn stream_blob(
    key: &str,
    size: u64,
    mut body: ObjectBody,
    sink: &ArchiveSink,
    task: &dyn crate::progress::ProgressTask,
) -> Result<String> {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    sink.send(WriterMessage::Entry {
        path: blob_path(key),
        size,
        data: Box::new(ChunkReader::new(rx)),
    })
    .await?;
    let body_name = body.name().to_owned();
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                read += chunk.len() as u64;
                task.advance(chunk.len() as u64);
                if tx.send(Ok(chunk)).await.is_err() {
                    return Err(Error::Failed("the archive writer stopped early".into()));
                }
            }
            Ok(None) => break,
            Err(e) => {
                // The writer fails this entry too; the snapshot is not finished.
                let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                return Err(e.into());
            }
        }
    }
    if read != size {
        return Err(Error::Failed(format!(
            "{} changed while it was read ({size} bytes announced, {read} received); export again",
            body_name
        )));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The writer thread's view of an object's bytes: a `Read` over the chunks the async
/// side sends (blocking on the channel, which is fine on the writer's own thread).
struct ChunkReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkReader {
    fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChunkReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}
