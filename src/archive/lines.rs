//! Looks at JSONL entries line by line as they stream past, so that item counts and
//! table digests are computed on the way into (and out of) the archive without a
//! second pass and without holding an entry in memory.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, OnceLock};

use sha2::{Digest as _, Sha256};

use super::canonical::TableDigest;
use super::error::ArchiveError;
use super::line_hash::LineHasher;

/// A line longer than this is refused: DynamoDB items are at most 400 KB, so anything
/// far larger is garbage, and refusing it keeps memory bounded.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// What to do with each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineMode {
    /// DynamoDB items: parse, count and digest.
    Items,
    /// Other JSONL (users, groups): check it is JSON, count.
    Json,
    /// The asset manifest: each line an object with a valid key and SHA-256, keys in
    /// strictly increasing byte order; embedded objects are remembered as claims that
    /// the archive's blob entries must match.
    Assets,
}

/// An asset manifest line's claim about its embedded blob: path, size, SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobClaim {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Accumulates counts (and for items the digest) over one entry.
pub(crate) struct LineObserver {
    mode: LineMode,
    path: String,
    partial: Vec<u8>,
    pub(crate) lines: u64,
    pub(crate) digest: TableDigest,
    error: Option<ArchiveError>,
    hasher: LineHasher,
    pub(crate) claims: Vec<BlobClaim>,
    last_key: Option<String>,
}

impl LineObserver {
    pub(crate) fn new(mode: LineMode, path: &str) -> Self {
        LineObserver {
            mode,
            path: path.to_owned(),
            partial: Vec::new(),
            lines: 0,
            digest: TableDigest::default(),
            error: None,
            hasher: LineHasher::default(),
            claims: Vec::new(),
            last_key: None,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ArchiveError> {
        while let Some(at) = memchr::memchr(b'\n', bytes) {
            if self.partial.is_empty() {
                self.line(&bytes[..at])?;
            } else {
                self.partial.extend_from_slice(&bytes[..at]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line)?;
            }
            bytes = &bytes[at + 1..];
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() > MAX_LINE_BYTES {
            return Err(self.bad(self.lines + 1, "line longer than 8 MiB".into()));
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let number = self.lines + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(self.bad(number, "blank line".into()));
        }
        match self.mode {
            LineMode::Items => {
                let hash = self
                    .hasher
                    .hash(line)
                    .map_err(|e| self.bad(number, e.to_string()))?;
                self.digest.add_hash(&hash);
            }
            LineMode::Json => {
                serde_json::from_slice::<serde::de::IgnoredAny>(line)
                    .map_err(|e| self.bad(number, format!("not JSON: {e}")))?;
                // The users section's digest: the same order-independent sum as a
                // table's, over each line's bytes (these documents have one spelling).
                let hash: [u8; 32] = Sha256::digest(line).into();
                self.digest.add_hash(&hash);
            }
            LineMode::Assets => self.asset_line(number, line)?,
        }
        self.lines = number;
        Ok(())
    }

    fn asset_line(&mut self, number: u64, line: &[u8]) -> Result<(), ArchiveError> {
        let object: super::assets::AssetObject = serde_json::from_slice(line)
            .map_err(|e| self.bad(number, format!("not an asset line: {e}")))?;
        object.check().map_err(|e| self.bad(number, e))?;
        if self
            .last_key
            .as_ref()
            .is_some_and(|last| *last >= object.key)
        {
            return Err(self.bad(
                number,
                format!("key {:?} is out of order or repeated", object.key),
            ));
        }
        if object.embedded {
            self.claims.push(BlobClaim {
                path: super::assets::blob_path(&object.key),
                size: object.size,
                sha256: object.sha256,
            });
        }
        self.last_key = Some(object.key);
        Ok(())
    }

    fn bad(&self, line: u64, reason: String) -> ArchiveError {
        ArchiveError::BadLine {
            path: self.path.clone(),
            line,
            reason,
        }
    }

    /// Ends the entry. Every line ends in `\n` (docs/format.md §4.2): a last line
    /// without one is what a truncated file looks like, so it is refused.
    pub(crate) fn finish(&mut self) -> Result<(), ArchiveError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.partial.is_empty() {
            return Err(self.bad(
                self.lines + 1,
                "the last line has no newline (truncated?)".into(),
            ));
        }
        Ok(())
    }

    /// The error that stopped a read, if the observer stopped it.
    fn take_error(&mut self) -> Option<ArchiveError> {
        self.error.take()
    }
}

/// Entries at least this large are observed on a helper thread (when the machine has
/// more than one CPU); smaller ones are not worth a thread.
const THREAD_MIN_BYTES: u64 = 1 << 20;
/// The helper thread is handed the entry in chunks of this size…
const CHUNK_BYTES: usize = 256 * 1024;
/// …and at most this many chunks wait for it, so memory stays bounded.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Runs `body` with a reader over `inner` of which `observer` sees every byte, and
/// returns `body`'s result, unless the observer rejected a line: that error wins over
/// whatever it made `body` fail with (on the helper thread the observer may have seen up
/// to one chunk more than `body` read). The caller still calls [`LineObserver::finish`].
///
/// Why a helper thread: hashing every item is as much work as everything else the
/// calling thread does (reading, hashing the entry, feeding zstd, encrypting), so on two
/// or more CPUs it runs beside them; the chunks are shared, not copied
/// (docs/performance.md).
pub(crate) fn observe<T, E>(
    observer: Option<&mut LineObserver>,
    size: u64,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> Result<Result<T, E>, ArchiveError> {
    static MANY_CPUS: OnceLock<bool> = OnceLock::new();
    let many_cpus =
        *MANY_CPUS.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1));
    let threaded = size >= THREAD_MIN_BYTES && many_cpus;
    match observer {
        Some(observer) if threaded => observe_on_helper(observer, inner, body),
        observer => {
            let mut observed = ObservedReader { inner, observer };
            let result = body(&mut observed);
            match observed.observer.and_then(LineObserver::take_error) {
                Some(error) => Err(error),
                None => Ok(result),
            }
        }
    }
}

fn observe_on_helper<T, E>(
    observer: &mut LineObserver,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> Result<Result<T, E>, ArchiveError> {
    let rejected = AtomicBool::new(false);
    let flag = &rejected;
    let (sender, chunks) = sync_channel::<Arc<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let helper = scope.spawn(move || {
            for chunk in chunks {
                if observer.error.is_none() {
                    if let Err(e) = observer.feed(&chunk) {
                        observer.error = Some(e);
                        flag.store(true, Ordering::Release);
                    }
                }
            }
            observer
        });
        let mut tee = TeeReader {
            inner,
            sender,
            chunk: Arc::new(Vec::new()),
            at: 0,
            rejected: flag,
            pending: None,
        };
        let result = body(&mut tee);
        drop(tee); // closes the channel: the helper finishes the queued chunks and ends
        let Ok(observer) = helper.join() else {
            return Err(ArchiveError::Invalid(
                "the line checker stopped unexpectedly".into(),
            ));
        };
        match observer.take_error() {
            Some(error) => Err(error),
            None => Ok(result),
        }
    })
}

/// Reads `inner` a chunk at a time, hands each chunk to the helper thread and serves it
/// to the caller. Stops with an error at the next chunk once the helper rejected a line.
struct TeeReader<'a> {
    inner: &'a mut dyn Read,
    sender: SyncSender<Arc<Vec<u8>>>,
    chunk: Arc<Vec<u8>>,
    at: usize,
    rejected: &'a AtomicBool,
    /// A read error that came after some bytes of the current chunk.
    pending: Option<io::Error>,
}

impl TeeReader<'_> {
    fn fill(&mut self) -> io::Result<()> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        if self.rejected.load(Ordering::Acquire) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid line"));
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        // On an error, read_to_end keeps what it read before: those bytes are still
        // served and observed, and the error comes at the next fill.
        let read = (&mut self.inner)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut chunk);
        self.chunk = Arc::new(chunk);
        self.at = 0;
        if !self.chunk.is_empty() && self.sender.send(Arc::clone(&self.chunk)).is_err() {
            return Err(io::Error::other("the line checker stopped"));
        }
        match read {
            Err(error) if self.chunk.is_empty() => Err(error),
            Err(error) => {
                self.pending = Some(error);
                Ok(())
            }
            Ok(_) => Ok(()),
        }
    }
}

impl Read for TeeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            self.fill()?;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader that shows every byte to an optional observer on the calling thread. When
/// the observer rejects a line the read fails, and the observer keeps the precise error.
struct ObservedReader<'a, 'b> {
    inner: &'b mut dyn Read,
    observer: Option<&'a mut LineObserver>,
}

impl Read for ObservedReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(observer) = self.observer.as_deref_mut() {
            if let Err(e) = observer.feed(&buf[..n]) {
                let message = e.to_string();
                observer.error = Some(e);
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// About 3 MiB of item lines (several helper-thread chunks), with `bad` (if any)
    /// as line `bad_at`.
    fn entry(bad: Option<(&str, usize)>) -> Vec<u8> {
        let mut out = Vec::new();
        for n in 1..=40_000 {
            match bad {
                Some((line, at)) if at == n => out.extend_from_slice(line.as_bytes()),
                _ => out.extend_from_slice(
                    format!(r#"{{"id":{{"S":"item-{n}"}},"n":{{"N":"{n}.50"}},"note":{{"S":"seventy-odd bytes of text"}}}}"#)
                        .as_bytes(),
                ),
            }
            out.push(b'\n');
        }
        out
    }

    /// Observes `data` on the helper thread while the body reads all of it.
    fn on_helper(data: &[u8]) -> (LineObserver, Result<Result<u64, io::Error>, ArchiveError>) {
        let mut observer = LineObserver::new(LineMode::Items, "tables/T/items-000001.jsonl");
        let mut input = data;
        let result = observe_on_helper(&mut observer, &mut input, |r| io::copy(r, &mut io::sink()));
        (observer, result)
    }

    #[test]
    fn the_helper_thread_counts_and_digests_like_the_calling_thread() {
        let data = entry(None);
        assert!(data.len() > 3 * CHUNK_BYTES);
        let (mut threaded, result) = on_helper(&data);
        assert_eq!(result.unwrap().unwrap(), data.len() as u64);
        threaded.finish().unwrap();
        let mut inline = LineObserver::new(LineMode::Items, "tables/T/items-000001.jsonl");
        let mut input = &data[..];
        observe(Some(&mut inline), 0, &mut input, |r| {
            io::copy(r, &mut io::sink())
        })
        .unwrap()
        .unwrap();
        inline.finish().unwrap();
        assert_eq!(
            (threaded.lines, threaded.digest),
            (inline.lines, inline.digest)
        );
        assert_eq!(threaded.lines, 40_000);
    }

    #[test]
    fn a_bad_line_found_on_the_helper_thread_is_the_error_with_its_line_number() {
        let data = entry(Some((r#"{"id":{"S":"x"},"n":{"N":"1.2.3"}}"#, 31_234)));
        let (_, result) = on_helper(&data);
        match result {
            Err(ArchiveError::BadLine { path, line, reason }) => {
                assert_eq!(
                    (path.as_str(), line),
                    ("tables/T/items-000001.jsonl", 31_234)
                );
                assert!(reason.contains("1.2.3"), "{reason}");
            }
            other => panic!("expected the bad line, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_last_newline_is_still_refused_after_the_helper_thread() {
        let mut data = entry(None);
        data.pop();
        let (mut observer, result) = on_helper(&data);
        result.unwrap().unwrap();
        let err = observer.finish().unwrap_err().to_string();
        assert!(
            err.contains("line 40000") && err.contains("no newline"),
            "{err}"
        );
    }

    /// Serves `data`, then fails (like a damaged archive read mid-entry).
    struct FailsAfter<'a>(&'a [u8]);

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.0.len()).min(10_000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn bytes_read_before_an_error_are_served_and_observed_then_the_error() {
        let data = entry(None);
        let cut = CHUNK_BYTES * 2 + 12_345; // mid-chunk
        let mut observer = LineObserver::new(LineMode::Items, "tables/T/items-000001.jsonl");
        let mut input = FailsAfter(&data[..cut]);
        let mut served = Vec::new();
        let result = observe_on_helper(&mut observer, &mut input, |r| r.read_to_end(&mut served));
        let error = result.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "the disk went away");
        assert_eq!(served, &data[..cut]);
        let whole_lines = data[..cut].iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(observer.lines, whole_lines);
    }

    #[test]
    fn a_body_that_stops_early_ends_the_helper_thread_and_keeps_its_own_error() {
        let data = entry(None);
        let mut observer = LineObserver::new(LineMode::Items, "tables/T/items-000001.jsonl");
        let mut input = &data[..];
        let result = observe_on_helper(&mut observer, &mut input, |r| {
            let mut first = vec![0u8; 100_000];
            r.read_exact(&mut first)?;
            Err::<(), io::Error>(io::Error::other("the archive's disk is full"))
        });
        let body_error = result.unwrap().unwrap_err();
        assert_eq!(body_error.to_string(), "the archive's disk is full");
        assert!(observer.lines > 0 && observer.lines < 40_000);
    }
}
