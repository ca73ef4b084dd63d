//! `SnapshotWriter`: streams a snapshot into an `.rtsnap` archive.
//!
//! Layers, outside in: age → zstd → tar. Entries are hashed as they pass and
//! `MANIFEST.json` is written last by [`SnapshotWriter::finish`], which also closes
//! every layer in order. Like age's own `StreamWriter`, a `SnapshotWriter` **must be
//! finished**: dropping it leaves a truncated archive that no reader accepts (which is
//! safe, but the snapshot is lost).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::canonical::TableDigest;
use super::crypto::EncryptionKey;
use super::encoded::EncodedItems;
use super::error::ArchiveError;
use super::hashing::HashingReader;
use super::header::{
    AssetsSummary, Header, IntegritySummary, Manifest, ManifestEntry, TableSummary, UsersSummary,
    FORMAT_VERSION,
};
use super::item::{item_to_json, Item};
use super::layout::{items_path, order_key, schema_path, EntryKind, HEADER_PATH, MANIFEST_PATH};
use super::line_threads::observe;
use super::lines::{LineMode, LineObserver};

type Compressed<W> = zstd::Encoder<'static, age::stream::StreamWriter<W>>;

/// zstd level: 3 is zstd's default and the measured sweet spot (build-notes).
const ZSTD_LEVEL: i32 = 3;
/// Input per zstd worker job (multithreaded compression); see `with_header_bytes`.
const ZSTD_JOB_BYTES: u32 = 2 << 20;

/// Writes one snapshot. See the module docs: call [`SnapshotWriter::finish`].
pub struct SnapshotWriter<W: Write> {
    tar: tar::Builder<Compressed<W>>,
    mtime: u64,
    last_order: (u8, String, u32),
    entries: Vec<ManifestEntry>,
    tables: BTreeMap<String, TableSummary>,
    table_digests: BTreeMap<String, TableDigest>,
    users: Option<UsersSummary>,
    users_digest: TableDigest,
    assets: Option<AssetsSummary>,
    integrity: Option<IntegritySummary>,
    open_table: Option<OpenTable>,
    /// The chunk buffer, kept between chunks and tables (see [`chunk_buffer`]).
    spare: Vec<u8>,
}

/// A table whose items are being streamed in with [`SnapshotWriter::write_item`].
struct OpenTable {
    model: String,
    chunk: u32,
    buffer: Vec<u8>,
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts an archive on `output` and writes the header entry.
    pub fn new(output: W, key: &EncryptionKey, header: &Header) -> Result<Self, ArchiveError> {
        let mut bytes = serde_json::to_vec_pretty(header)
            .map_err(|e| ArchiveError::Invalid(format!("header: {e}")))?;
        bytes.push(b'\n');
        Self::with_header_bytes(output, key, &bytes)
    }

    /// Starts an archive with a header given as its exact bytes (packing a snapshot
    /// directory keeps `rtsnap.json` byte for byte). The header is validated first.
    pub fn with_header_bytes(
        output: W,
        key: &EncryptionKey,
        header_bytes: &[u8],
    ) -> Result<Self, ArchiveError> {
        let header = super::reader::parse_header(header_bytes)?;
        let encrypted = key.wrap(output)?;
        let mut zstd =
            zstd::Encoder::new(encrypted, ZSTD_LEVEL).map_err(ArchiveError::io("starting zstd"))?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u32;
        if workers > 1 {
            // Multithreaded compression only changes speed, never the format.
            zstd.multithread(workers)
                .map_err(ArchiveError::io("starting zstd workers"))?;
            // zstd's default job at level 3 is 8 MiB, and its buffers hold (workers
            // + 3) jobs: 42 MB with 2 workers, the largest single allocation of an
            // export. Smaller jobs compress with less context. Measured on the 1 GiB
            // pack data set (docs/performance.md): 1 MiB jobs 231.9 MB of archive,
            // 2 MiB 224.0, 4 MiB 218.6 (stock zstd -3: 216.5); pack's peak RSS 23 /
            // 29 / 41 MB, export's at 200,000 items 84.6 / 88.9 MB (4 MiB: ~100, by
            // pack's difference). 2 MiB keeps export well under its 100 MB goal.
            zstd.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_BYTES))
                .map_err(ArchiveError::io("setting the zstd job size"))?;
        }
        let mtime = created_at_epoch(&header.created_at);
        let mut writer = SnapshotWriter {
            tar: tar::Builder::new(zstd),
            mtime,
            last_order: (0, String::new(), 0),
            entries: Vec::new(),
            tables: BTreeMap::new(),
            table_digests: BTreeMap::new(),
            users: None,
            users_digest: TableDigest::default(),
            assets: None,
            integrity: None,
            open_table: None,
            spare: Vec::new(),
        };
        writer.append(
            HEADER_PATH,
            header_bytes.len() as u64,
            &mut &header_bytes[..],
            true,
        )?;
        Ok(writer)
    }

    /// Adds one entry of `size` bytes read from `data` (a file of a snapshot directory,
    /// a schema, a JSONL document). Entries must come in layout order (header, tables
    /// model by model, users, assets); `size` must be exact.
    pub fn add_entry(
        &mut self,
        path: &str,
        size: u64,
        data: impl Read,
    ) -> Result<(), ArchiveError> {
        self.close_table()?;
        if path == HEADER_PATH || path == MANIFEST_PATH {
            return Err(ArchiveError::Invalid(format!(
                "{path} is written by rtsnap itself"
            )));
        }
        let mut data = data;
        self.append(path, size, &mut data, false)
    }

    /// Adds a small entry from memory.
    pub fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.add_entry(path, bytes.len() as u64, bytes)
    }

    /// Starts a table whose items will be streamed with [`Self::write_item`]: writes
    /// its schema now; items are cut into chunks of at most 16 MiB.
    pub fn begin_table(&mut self, model: &str, schema_json: &[u8]) -> Result<(), ArchiveError> {
        self.add_bytes(&schema_path(model), schema_json)?;
        self.table_digests.entry(model.to_owned()).or_default();
        let buffer = chunk_buffer(std::mem::take(&mut self.spare));
        self.open_table = Some(OpenTable {
            model: model.to_owned(),
            chunk: 1,
            buffer,
        });
        Ok(())
    }

    /// Appends one item to the open table.
    pub fn write_item(&mut self, item: &Item) -> Result<(), ArchiveError> {
        let line = item_to_json(item);
        let model = self.open_model("write_item")?;
        let digest = self.table_digests.entry(model.clone()).or_default();
        digest
            .add_item(item)
            .map_err(|e| ArchiveError::Invalid(format!("{model}: {e}")))?;
        self.tables.entry(model).or_default().items += 1;
        self.append_line(line.as_bytes())
    }

    /// Appends a page of items encoded elsewhere (see [`EncodedItems`]) to the open
    /// table: the same chunks, counts and digest as writing them one by one.
    pub fn write_encoded(&mut self, page: &EncodedItems) -> Result<(), ArchiveError> {
        let model = self.open_model("write_encoded")?;
        self.table_digests
            .entry(model.clone())
            .or_default()
            .merge(page.digest());
        self.tables.entry(model).or_default().items += page.len();
        page.lines().try_for_each(|line| self.append_line(line))
    }

    fn open_model(&self, caller: &str) -> Result<String, ArchiveError> {
        match &self.open_table {
            Some(open) => Ok(open.model.clone()),
            None => Err(ArchiveError::Invalid(format!(
                "{caller} without begin_table"
            ))),
        }
    }

    /// Adds one item line to the open table's chunk, flushing the chunk first when
    /// the line would take it past [`CUT_CHUNK_BYTES`].
    fn append_line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let full = self.open_table.as_ref().is_some_and(|t| {
            !t.buffer.is_empty() && t.buffer.len() + line.len() + 1 > CUT_CHUNK_BYTES
        });
        if full {
            self.flush_chunk()?;
        }
        if let Some(open) = self.open_table.as_mut() {
            open.buffer.extend_from_slice(line);
            open.buffer.push(b'\n');
        }
        Ok(())
    }

    /// Ends the open table (also done implicitly by the next entry or by `finish`).
    pub fn end_table(&mut self) -> Result<(), ArchiveError> {
        self.close_table()
    }

    fn close_table(&mut self) -> Result<(), ArchiveError> {
        if self.open_table.is_some() {
            self.flush_chunk()?;
            if let Some(open) = self.open_table.take() {
                self.spare = open.buffer;
            }
        }
        Ok(())
    }

    /// Writes the open table's buffered items as the next chunk. Items were already
    /// counted and digested by `write_item`, so the chunk passes unobserved.
    fn flush_chunk(&mut self) -> Result<(), ArchiveError> {
        let Some(open) = self.open_table.as_mut() else {
            return Ok(());
        };
        let mut buffer = std::mem::take(&mut open.buffer);
        let path = items_path(&open.model, open.chunk);
        open.chunk += 1;
        let appended = self.append(&path, buffer.len() as u64, &mut &buffer[..], true);
        buffer.clear();
        if let Some(open) = self.open_table.as_mut() {
            open.buffer = buffer;
        }
        appended
    }

    /// Writes one tar entry, hashing it and, unless `pre_counted`, observing its lines.
    fn append(
        &mut self,
        path: &str,
        size: u64,
        data: &mut dyn Read,
        pre_counted: bool,
    ) -> Result<(), ArchiveError> {
        let kind = EntryKind::classify(path)?;
        kind.check_size(path, size).map_err(ArchiveError::Invalid)?;
        self.check_order(path, &kind)?;
        let mode = match &kind {
            EntryKind::TableItems { .. } => Some(LineMode::Items),
            EntryKind::Groups | EntryKind::Users => Some(LineMode::Json),
            EntryKind::AssetManifest => Some(LineMode::Assets),
            _ => None,
        };
        let mut observer = mode
            .filter(|_| !pre_counted)
            .map(|m| LineObserver::new(m, path));
        let mut hashing = HashingReader::new(data.take(size));
        observe(observer.as_mut(), size, &mut hashing, |observed| {
            self.append_tar(path, size, observed)
        })?
        .map_err(ArchiveError::io(format!("writing {path} into the archive")))?;
        if let Some(observer) = observer.as_mut() {
            observer.finish()?;
            if kind == EntryKind::AssetManifest {
                super::assets::check_claims(&observer.claims, &self.entries)?;
            }
        }
        let (sha256, written) = hashing.finish();
        if written != size {
            return Err(ArchiveError::Invalid(format!(
                "{path}: expected {size} bytes, got {written} (did the file change while packing?)"
            )));
        }
        self.account(&kind, observer.as_ref(), pre_counted);
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            size,
            sha256,
        });
        Ok(())
    }

    fn append_tar(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        if header.set_path(path).is_err() {
            // Too long for ustar: a pax extended header carries the real path.
            self.append_pax_path(path)?;
            header.set_path(pax_placeholder(path))?;
        }
        header.set_cksum();
        self.tar.append(&header, data)
    }

    fn append_pax_path(&mut self, path: &str) -> io::Result<()> {
        let record = pax_record("path", path);
        let mut header = tar::Header::new_ustar();
        header.set_size(record.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_path("PaxHeader")?;
        header.set_cksum();
        self.tar.append(&header, record.as_bytes())
    }

    /// Entries must come in layout order, each path once, chunks numbered 1, 2, 3…
    fn check_order(&mut self, path: &str, kind: &EntryKind) -> Result<(), ArchiveError> {
        let key = order_key(kind);
        let first = self.entries.is_empty();
        if first != (*kind == EntryKind::Header) || (!first && key <= self.last_order) {
            return Err(ArchiveError::Invalid(format!(
                "{path} is out of order (entries go: header, tables model by model, users, assets)"
            )));
        }
        if let EntryKind::TableItems { model, chunk } = kind {
            let previous = self.tables.get(model).map_or(0, |t| t.chunks);
            let has_schema = self.last_order.1 == *model;
            if !has_schema || *chunk != previous + 1 {
                return Err(ArchiveError::Invalid(format!(
                    "{path}: a table's chunks follow its schema.json and are numbered from 1 without gaps"
                )));
            }
        }
        self.last_order = key;
        Ok(())
    }

    fn account(&mut self, kind: &EntryKind, observer: Option<&LineObserver>, pre_counted: bool) {
        let lines = observer.map_or(0, |o| o.lines);
        match kind {
            EntryKind::TableSchema { model } => {
                self.tables.entry(model.clone()).or_default();
                self.table_digests.entry(model.clone()).or_default();
            }
            EntryKind::TableItems { model, .. } => {
                let table = self.tables.entry(model.clone()).or_default();
                table.chunks += 1;
                if !pre_counted {
                    table.items += lines;
                    if let Some(o) = observer {
                        self.table_digests
                            .entry(model.clone())
                            .or_default()
                            .merge(&o.digest);
                    }
                }
            }
            EntryKind::UserPool => {
                self.users.get_or_insert_with(Default::default);
            }
            EntryKind::Groups | EntryKind::Users => {
                let users = self.users.get_or_insert_with(Default::default);
                if *kind == EntryKind::Groups {
                    users.groups += lines;
                } else {
                    users.users += lines;
                }
                if let Some(o) = observer {
                    self.users_digest.merge(&o.digest);
                }
            }
            EntryKind::AssetManifest => {
                self.assets.get_or_insert_with(Default::default).objects += lines
            }
            EntryKind::AssetBlob { .. } => {
                self.assets.get_or_insert_with(Default::default).blobs += 1
            }
            EntryKind::Header | EntryKind::Manifest => {}
        }
    }

    /// Records the exporter's referential-integrity result in `MANIFEST.json`.
    pub fn set_integrity(&mut self, summary: IntegritySummary) {
        self.integrity = Some(summary);
    }

    /// Writes `MANIFEST.json` and closes tar, zstd and age in that order, then flushes
    /// the output. Returns the output and the manifest. Every table must have at least
    /// one items chunk (an empty table has one empty chunk).
    pub fn finish(mut self) -> Result<(W, Manifest), ArchiveError> {
        self.close_table()?;
        let missing: Vec<&str> = self
            .tables
            .iter()
            .filter(|(_, t)| t.chunks == 0)
            .map(|(m, _)| m.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ArchiveError::Invalid(format!(
                "tables without an items chunk: {}",
                missing.join(", ")
            )));
        }
        for (model, digest) in &self.table_digests {
            if let Some(table) = self.tables.get_mut(model) {
                table.digest = digest.to_hex();
            }
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            entries: std::mem::take(&mut self.entries),
            tables: std::mem::take(&mut self.tables),
            users: self.users.take().map(|mut u| {
                u.digest = self.users_digest.to_hex();
                u
            }),
            assets: self.assets.take(),
            integrity: self.integrity.take(),
        };
        let mut bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArchiveError::Invalid(format!("manifest: {e}")))?;
        bytes.push(b'\n');
        self.append_tar(MANIFEST_PATH, bytes.len() as u64, &bytes[..])
            .map_err(ArchiveError::io("writing MANIFEST.json"))?;
        let close = ArchiveError::io("closing the archive");
        let zstd = self
            .tar
            .into_inner()
            .map_err(ArchiveError::io("closing tar"))?;
        let age = zstd.finish().map_err(ArchiveError::io("closing zstd"))?;
        let mut output = age.finish().map_err(ArchiveError::io("closing age"))?;
        output.flush().map_err(close)?;
        Ok((output, manifest))
    }
}

/// Where the writer cuts a table's items into chunks (readers accept up to
/// [`MAX_CHUNK_BYTES`](crate::archive::layout::MAX_CHUNK_BYTES)). A chunk is hashed and compressed once it is cut, so the last
/// one is the work left after a table's scan has ended: at 16 MiB that tail was ~0.1 s
/// of an export of 200,000 items (strace: the last 4 MB of output 0.1 s after the
/// previous), at 4 MiB it is a quarter, and the buffer is 12 MiB smaller.
pub(crate) const CUT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// The buffer a table's chunk is cut in: `spare` (the previous chunk's, emptied) or,
/// the first time, one allocation of the whole chunk limit. A chunk never outgrows
/// it (`write_item` flushes first), so the buffer is never reallocated: growing it
/// by doubling held the old and the new buffer at once (8 + 16 MiB), and a fresh
/// 16 MiB buffer per chunk let glibc's adaptive mmap threshold move those
/// allocations into the heap, whose freed space is not given back. Untouched pages
/// of the reservation cost no memory, so a small table stays small.
fn chunk_buffer(spare: Vec<u8>) -> Vec<u8> {
    if spare.capacity() >= CUT_CHUNK_BYTES {
        return spare;
    }
    Vec::with_capacity(CUT_CHUNK_BYTES)
}

/// One pax record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record
/// including its own digits.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

/// The ustar name stored next to a pax `path`: readers that ignore pax see a short,
/// still unique-looking name under the same top directory.
fn pax_placeholder(path: &str) -> String {
    let top = path.split('/').next().unwrap_or("entry");
    let digest = super::hashing::sha256_hex(path.as_bytes());
    format!("{top}/long-path-{}", &digest[..16])
}

/// Entry timestamps are the snapshot's creation time, so archives of the same data
/// taken at the same moment are identical apart from age's random keys.
fn created_at_epoch(created_at: &str) -> u64 {
    time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp().max(0) as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed snapshot directory whose items file is over the format's chunk limit
    /// would make an archive every reader refuses: the writer refuses it first.
    #[test]
    fn an_items_entry_over_the_chunk_limit_is_refused_before_it_is_written() {
        let (_, recipient) = super::super::crypto::generate_identity();
        let key = EncryptionKey::from_recipient_lines([recipient.as_str()]).unwrap();
        let header = br#"{"format":"rtsnap","format_version":1,"tool_version":"0.1.0","created_at":"2025-08-12T09:30:00Z","source":{"env":"t","backend_suffix":"s","region":"us-west-1","user_pool_id":null,"bucket":null},"sections":["tables"]}"#;
        let mut writer = SnapshotWriter::with_header_bytes(Vec::new(), &key, header).unwrap();
        writer
            .add_bytes("tables/Contact/schema.json", b"{}")
            .unwrap();
        let size = crate::archive::layout::MAX_CHUNK_BYTES as u64 + 1;
        let err = writer
            .add_entry("tables/Contact/items-000001.jsonl", size, std::io::empty())
            .unwrap_err();
        assert!(matches!(err, ArchiveError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("claims 16777217 bytes"), "{err}");
    }

    /// Chunks are cut in one buffer reserved at the chunk limit and reused: it
    /// never grows past it (no 8 + 16 MiB while doubling) and is not reallocated
    /// per chunk or per table.
    #[test]
    fn the_chunk_buffer_is_reserved_once_and_reused() {
        let (_, recipient) = super::super::crypto::generate_identity();
        let key = EncryptionKey::from_recipient_lines([recipient.as_str()]).unwrap();
        let header = br#"{"format":"rtsnap","format_version":1,"tool_version":"0.1.0","created_at":"2025-08-12T09:30:00Z","source":{"env":"t","backend_suffix":"s","region":"us-west-1","user_pool_id":null,"bucket":null},"sections":["tables"]}"#;
        let mut writer = SnapshotWriter::with_header_bytes(std::io::sink(), &key, header).unwrap();
        let text = "x".repeat(100_000);
        let buffer_of = |w: &SnapshotWriter<std::io::Sink>| {
            let b = &w.open_table.as_ref().unwrap().buffer;
            (b.as_ptr(), b.capacity())
        };
        writer.begin_table("A", b"{}").unwrap();
        let first = buffer_of(&writer);
        assert_eq!(first.1, CUT_CHUNK_BYTES);
        // ~20 MB of items: four chunks cut while writing, a fifth when the table ends.
        for i in 0..200 {
            let line = format!(r#"{{"id":{{"S":"{i}"}},"t":{{"S":"{text}"}}}}"#);
            writer
                .write_item(&crate::archive::parse_item(line.as_bytes()).unwrap())
                .unwrap();
            assert_eq!(buffer_of(&writer), first);
        }
        assert_eq!(writer.tables["A"].chunks, 4);
        writer.begin_table("B", b"{}").unwrap();
        assert_eq!(buffer_of(&writer), first);
        assert_eq!(writer.tables["A"].chunks, 5);
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("path", "a");
        assert_eq!(r, "9 path=a\n");
        assert_eq!(r.len(), 9);
        let long = "x".repeat(95);
        let r = pax_record("path", &long);
        assert_eq!(r.len().to_string(), r.split(' ').next().unwrap());
    }
}
