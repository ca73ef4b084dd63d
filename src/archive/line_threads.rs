//! Which thread checks and hashes an entry's lines while the entry streams into (or out
//! of) the archive: the calling thread for small entries, helper threads for the rest.
//!
//! Why helpers: checking and hashing every item costs about as much as everything else
//! the calling thread does (reading, hashing the entry, feeding zstd, encrypting). On
//! the 1 GiB pack data set it is ~1.5 CPU-s against the calling thread's ~1.4
//! (docs/performance.md § Pack on more CPUs than this machine has), so one helper puts
//! it beside the calling thread on two CPUs. On more CPUs one helper would be a pack's
//! longest chain of work (about as long as the stock pipeline's busiest zstd worker),
//! so the lines are shared out to up to [`MAX_HELPERS`] helpers and the extra cores take
//! the extra hashing.
//!
//! Sharing out is possible because what the lines yield is order-independent: a count
//! and a digest that is a sum (docs/format.md § table digest). The calling thread cuts
//! the stream into shares of whole lines, helpers check them in any order, and the
//! results are added in entry order, which also numbers a bad line within the entry.
//! The asset manifest is ordered (each key must follow the last), so it keeps one
//! helper. No crate is used for the pool: it is a queue, a few scoped threads and a
//! results channel from std, and the splitting by lines is this format's own.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use super::canonical::TableDigest;
use super::error::ArchiveError;
use super::lines::{LineMode, LineObserver, MAX_LINE_BYTES};

/// Entries at least this large are observed on helper threads (when the machine has
/// more than one CPU); smaller ones are not worth a thread.
const THREAD_MIN_BYTES: u64 = 1 << 20;
/// Helpers are handed the entry in chunks of this size…
const CHUNK_BYTES: usize = 256 * 1024;
/// …and at most this many chunks wait per helper. A queued share holds at most two
/// chunks' worth (its chunk, and the start of its first line up to one chunk long:
/// longer lines are checked by the calling thread, see [`Splitter`]), so with H helpers
/// at most (5·H + 1) × 512 KiB wait or are being checked, 8 MiB with three.
const CHUNKS_IN_FLIGHT: usize = 4;
/// The most helpers this machine's CPU count chooses ([`set_line_helpers`] may set
/// more, up to [`MAX_SET_HELPERS`]). Beyond three the calling thread's own work
/// (~1.4 CPU-s per GiB packed: reading, the entry's SHA-256, tar, encryption) is the
/// longer chain, so a fourth would only wait.
const MAX_HELPERS: usize = 3;

/// The most helpers [`set_line_helpers`] accepts.
pub const MAX_SET_HELPERS: usize = 8;

static HELPERS: OnceLock<usize> = OnceLock::new();

/// Sets the helpers per large entry for this process (0: the calling thread checks
/// every line), in place of the count [`helpers_for_this_machine`] would choose; at most
/// [`MAX_SET_HELPERS`]. For measurements and tests (the binary's
/// `RTSNAP_LINE_HELPERS`): a machine with two CPUs can then run, and a test can prove,
/// what a larger one does. Only the first call counts, and only before any entry was
/// read or written; returns whether it counted.
pub fn set_line_helpers(helpers: usize) -> bool {
    HELPERS.set(helpers.min(MAX_SET_HELPERS)).is_ok()
}

/// Helpers for one large entry: none on one CPU, else one fewer than the CPUs (the
/// calling thread keeps one busy), at most [`MAX_HELPERS`]; or what
/// [`set_line_helpers`] said.
fn helpers_for_this_machine() -> usize {
    *HELPERS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.saturating_sub(1).min(MAX_HELPERS)
    })
}

/// Runs `body` with a reader over `inner` of which `observer` sees every byte, and
/// returns `body`'s result, unless the observer rejected a line: that error wins over
/// whatever it made `body` fail with (on helper threads the observer may have seen the
/// rest of the chunk `body` was reading). The caller still calls [`LineObserver::finish`].
pub(crate) fn observe<T, E>(
    observer: Option<&mut LineObserver>,
    size: u64,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> Result<Result<T, E>, ArchiveError> {
    let helpers = if size >= THREAD_MIN_BYTES {
        helpers_for_this_machine()
    } else {
        0
    };
    match observer {
        Some(observer) if helpers > 0 => {
            observe_on_helpers(observer, inner, body, helpers, CHUNK_BYTES)
        }
        observer => {
            let mut observed = ObservedReader { inner, observer };
            let result = body(&mut observed);
            unless_rejected(observed.observer.and_then(LineObserver::take_error), result)
        }
    }
}

/// The body's result, unless a line was rejected: that error wins.
fn unless_rejected<T>(rejected: Option<ArchiveError>, result: T) -> Result<T, ArchiveError> {
    rejected.map_or(Ok(result), Err)
}

/// [`observe`] on `helpers` threads (one for the ordered asset manifest), reading
/// `inner` in chunks of `chunk_bytes`.
fn observe_on_helpers<T, E>(
    observer: &mut LineObserver,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    helpers: usize,
    chunk_bytes: usize,
) -> Result<Result<T, E>, ArchiveError> {
    if helpers <= 1 || observer.mode == LineMode::Assets {
        observe_on_one_helper(observer, inner, body, chunk_bytes)
    } else {
        observe_on_shares(observer, inner, body, helpers, chunk_bytes)
    }
}

/// Helpers carry a name, so that `top -H` and `perf` (scripts/pack-threads.sh) can tell
/// them from zstd's workers and the calling thread.
fn helper_thread() -> std::thread::Builder {
    std::thread::Builder::new().name("rtsnap-lines".into())
}

fn helper_stopped() -> ArchiveError {
    ArchiveError::Invalid("the line checker stopped unexpectedly".into())
}

/// One helper sees every chunk in order, exactly as the calling thread would.
fn observe_on_one_helper<T, E>(
    observer: &mut LineObserver,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    chunk_bytes: usize,
) -> Result<Result<T, E>, ArchiveError> {
    let rejected = AtomicBool::new(false);
    let flag = &rejected;
    let (sender, chunks) = sync_channel::<Arc<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let helper = helper_thread().spawn_scoped(scope, move || {
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
        let helper = helper.map_err(ArchiveError::io("starting a line checker thread"))?;
        let mut tee = TeeReader::new(inner, sender, flag, chunk_bytes);
        let result = body(&mut tee);
        drop(tee); // closes the channel: the helper finishes the queued chunks and ends
        let observer = helper.join().map_err(|_| helper_stopped())?;
        unless_rejected(observer.take_error(), result)
    })
}

/// Several helpers check shares of whole lines; their counts and digests are added in
/// entry order.
fn observe_on_shares<T, E>(
    observer: &mut LineObserver,
    inner: &mut dyn Read,
    body: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    helpers: usize,
    chunk_bytes: usize,
) -> Result<Result<T, E>, ArchiveError> {
    let rejected = AtomicBool::new(false);
    let flag = &rejected;
    let (sender, shares) = sync_channel::<Share>(CHUNKS_IN_FLIGHT * helpers);
    // Shared by the helpers alone: if every one of them stopped, the queue's receiver
    // is dropped and the tee's next send fails instead of waiting forever.
    let shares = Arc::new(Mutex::new(shares));
    let (results, checked) = channel::<Checked>();
    let mode = observer.mode;
    let path = observer.path().to_owned();
    std::thread::scope(|scope| {
        // A machine short of threads still gets the work done by those that started;
        // only when none did is it an error.
        let mut workers = Vec::with_capacity(helpers);
        for _ in 0..helpers {
            let (shares, results) = (Arc::clone(&shares), results.clone());
            let checker = LineObserver::new(mode, &path);
            let spawned = helper_thread().spawn_scoped(scope, move || {
                check_shares(checker, &shares, &results, flag)
            });
            match spawned {
                Ok(worker) => workers.push(worker),
                Err(e) if workers.is_empty() => {
                    return Err(ArchiveError::io("starting a line checker thread")(e))
                }
                Err(_) => break,
            }
        }
        drop(shares);
        let splitter = Splitter {
            sender,
            results,
            checker: LineObserver::new(mode, &path),
            long_head: chunk_bytes,
            carry: Vec::new(),
            next: 0,
            rejected: flag,
        };
        let mut tee = TeeReader::new(inner, splitter, flag, chunk_bytes);
        let result = body(&mut tee);
        let TeeReader { sink, .. } = tee;
        // Closing the queue ends the helpers once it is empty. Every helper is joined
        // before any is reported: an unjoined one that panicked would make the scope
        // panic on this thread.
        let carry = sink.finish();
        let joined: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        if joined.iter().any(Result::is_err) {
            return Err(helper_stopped());
        }
        add_in_entry_order(observer, &checked)?;
        if observer.error.is_none() {
            observer.partial = carry;
        }
        unless_rejected(observer.take_error(), result)
    })
}

/// A helper's loop: takes shares from the queue until it closes.
fn check_shares(
    mut checker: LineObserver,
    shares: &Mutex<Receiver<Share>>,
    results: &Sender<Checked>,
    rejected: &AtomicBool,
) {
    loop {
        // The lock is held only while waiting for the next share.
        let next = match shares.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return, // another helper panicked; its join reports it
        };
        let Ok(share) = next else { return };
        let (lines, digest, error) =
            checker.check_share(share.head, &share.chunk[share.start..share.end]);
        let checked = Checked {
            index: share.index,
            lines,
            digest,
            error,
        };
        if checked.error.is_some() {
            rejected.store(true, Ordering::Release);
        }
        if results.send(checked).is_err() {
            return;
        }
    }
}

/// Adds the helpers' results to `observer` in entry order, up to the first bad line,
/// which is renumbered from its share's start to the entry's.
fn add_in_entry_order(
    observer: &mut LineObserver,
    checked: &Receiver<Checked>,
) -> Result<(), ArchiveError> {
    let mut all: Vec<Checked> = checked.try_iter().collect();
    all.sort_unstable_by_key(|c| c.index);
    for (expected, share) in all.into_iter().enumerate() {
        if share.index != expected {
            return Err(helper_stopped()); // a share was lost: never trust a partial count
        }
        let before = observer.lines;
        // As on one thread, the lines before a bad one are counted.
        observer.lines += share.lines;
        observer.digest.merge(&share.digest);
        if let Some(mut error) = share.error {
            if let ArchiveError::BadLine { line, .. } = &mut error {
                *line += before;
            }
            observer.error = Some(error);
            return Ok(());
        }
    }
    Ok(())
}

/// One share of an entry, numbered in entry order: whole lines, `head` (the start of
/// the first line, from earlier chunks; at most a chunk long) then `chunk[start..end]`,
/// which ends with a newline.
struct Share {
    index: usize,
    head: Vec<u8>,
    chunk: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

/// What a helper (or the splitter) found in one share.
struct Checked {
    index: usize,
    lines: u64,
    digest: TableDigest,
    error: Option<ArchiveError>,
}

/// Where the tee sends each chunk it reads.
trait ChunkSink {
    /// Takes the next chunk; false once nobody is checking any more.
    fn take(&mut self, chunk: &Arc<Vec<u8>>) -> bool;
}

impl ChunkSink for SyncSender<Arc<Vec<u8>>> {
    fn take(&mut self, chunk: &Arc<Vec<u8>>) -> bool {
        self.send(Arc::clone(chunk)).is_ok()
    }
}

/// Cuts the chunks into shares of whole lines: a share ends at its chunk's last
/// newline, and the rest (the start of a line) is carried into the next share. A line
/// that spans more than a chunk is checked here, on the calling thread, as a share of
/// its own: queued shares then hold at most about two chunks each, however long the
/// lines (DynamoDB items are at most 400 KB, so such lines are rare and few).
struct Splitter<'a> {
    sender: SyncSender<Share>,
    /// For the shares checked here.
    results: Sender<Checked>,
    checker: LineObserver,
    /// Heads longer than this are checked here.
    long_head: usize,
    carry: Vec<u8>,
    next: usize,
    rejected: &'a AtomicBool,
}

impl Splitter<'_> {
    fn index(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    /// Checks the line `head` + `rest` here, as the next share.
    fn check_here(&mut self, head: Vec<u8>, rest: &[u8]) -> bool {
        let (lines, digest, error) = self.checker.check_share(head, rest);
        self.report(lines, digest, error)
    }

    fn report(&mut self, lines: u64, digest: TableDigest, error: Option<ArchiveError>) -> bool {
        if error.is_some() {
            self.rejected.store(true, Ordering::Release);
        }
        let index = self.index();
        let checked = Checked {
            index,
            lines,
            digest,
            error,
        };
        self.results.send(checked).is_ok()
    }

    /// Closes the queue and returns the bytes after the last newline (a last line
    /// without one, which [`LineObserver::finish`] refuses).
    fn finish(self) -> Vec<u8> {
        self.carry
    }
}

impl ChunkSink for Splitter<'_> {
    fn take(&mut self, chunk: &Arc<Vec<u8>>) -> bool {
        if let Some(last) = memchr::memrchr(b'\n', chunk) {
            let mut head = std::mem::take(&mut self.carry);
            let mut start = 0;
            if head.len() > self.long_head {
                let first = memchr::memchr(b'\n', &chunk[..=last]).unwrap_or(last);
                if !self.check_here(std::mem::take(&mut head), &chunk[..=first]) {
                    return false;
                }
                start = first + 1;
            }
            self.carry.extend_from_slice(&chunk[last + 1..]);
            if start <= last {
                let share = Share {
                    index: self.index(),
                    head,
                    chunk: Arc::clone(chunk),
                    start,
                    end: last + 1,
                };
                if self.sender.send(share).is_err() {
                    return false;
                }
            }
        } else {
            self.carry.extend_from_slice(chunk);
        }
        if self.carry.len() > MAX_LINE_BYTES {
            // As on one thread: the line is refused once it passes the limit, and
            // nothing after it is looked at.
            self.carry = Vec::new();
            let error = self.checker.overlong(1);
            return self.report(0, TableDigest::default(), Some(error));
        }
        true
    }
}

/// Reads `inner` a chunk at a time, hands each chunk to the helper(s) and serves it to
/// the caller. Stops with an error at the next chunk once a helper rejected a line.
struct TeeReader<'a, S: ChunkSink> {
    inner: &'a mut dyn Read,
    sink: S,
    chunk: Arc<Vec<u8>>,
    at: usize,
    rejected: &'a AtomicBool,
    /// A read error that came after some bytes of the current chunk.
    pending: Option<io::Error>,
    chunk_bytes: usize,
}

impl<'a, S: ChunkSink> TeeReader<'a, S> {
    fn new(inner: &'a mut dyn Read, sink: S, rejected: &'a AtomicBool, chunk_bytes: usize) -> Self {
        TeeReader {
            inner,
            sink,
            chunk: Arc::new(Vec::new()),
            at: 0,
            rejected,
            pending: None,
            chunk_bytes,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        if self.rejected.load(Ordering::Acquire) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid line"));
        }
        let mut chunk = Vec::with_capacity(self.chunk_bytes);
        // On an error, read_to_end keeps what it read before: those bytes are still
        // served and observed, and the error comes at the next fill.
        let read = (&mut self.inner)
            .take(self.chunk_bytes as u64)
            .read_to_end(&mut chunk);
        self.chunk = Arc::new(chunk);
        self.at = 0;
        if !self.chunk.is_empty() && !self.sink.take(&self.chunk) {
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

impl<S: ChunkSink> Read for TeeReader<'_, S> {
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
mod tests;
