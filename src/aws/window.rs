//! How many requests of one kind rtsnap keeps in flight against one service: a window
//! that adapts to what the service answers instead of a fixed count (issue #11 §4).
//!
//! A fixed count is wrong in both directions: 8 batch writes in flight leave most of
//! an on-demand table's capacity unused, and the same 8 keep hammering a throttled
//! table whose answers say "slow down". The window grows by one after each clean
//! answer to a full-size request (a batch of 25, a Scan page cut at 1 MB) while it is
//! in use, unless that answer took over twice as long as the fastest such answer (it
//! waited in a queue: more requests would only queue more); answers to smaller requests
//! count as progress but are no yardstick. It halves on each answer that says the
//! service is overloaded: a throttling error, a `BatchWriteItem` with
//! `UnprocessedItems`, a 5xx, or any answer slower than [`SLOW_ANSWER`], clean or not
//! (the SDK's own quick retries of a throttled call show up as a slow answer). Retries
//! then wait their backoff *outside* the window, so a throttled table sees fewer
//! requests, not the same ones later.
//!
//! The algorithm is tower-acc's AIMD. The gate around it (a semaphore resized when
//! the algorithm's limit moves) is written here because tower-acc keeps its own gate
//! private behind a tower `Service`, which cannot tell its current limit, and rtsnap
//! reports how far a window narrowed (`--json`'s `retries`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// tokio's clock, not std's: it is std's in production, and tests can pause it.
use tokio::time::Instant;
use tower_acc::{Aimd, Algorithm};

/// An answer slower than this counts as overload. A DynamoDB batch write or a 1 MB
/// Scan page takes tens to hundreds of milliseconds; an SDK retry after a throttled
/// attempt adds its backoff (up to seconds).
pub(crate) const SLOW_ANSWER: Duration = Duration::from_secs(2);

/// What a window governs; each kind reports how far it narrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WindowKind {
    /// `BatchWriteItem` attempts.
    Writes = 0,
    /// `Scan` pages, across segments and tables.
    Scans = 1,
}

/// The narrowest each kind's windows were in this process (`usize::MAX`: never
/// narrowed), for the summary.
static NARROWEST: [AtomicUsize; 2] = [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)];

/// The narrowest a window of `kind` was in this process, if one ever narrowed below
/// where it started.
pub(crate) fn narrowest(kind: WindowKind) -> Option<usize> {
    let n = NARROWEST[kind as usize].load(Ordering::Relaxed);
    (n != usize::MAX).then_some(n)
}

/// An adaptive limit on requests in flight; clones share it.
#[derive(Clone)]
pub(crate) struct RequestWindow {
    shared: Arc<Shared>,
}

struct Shared {
    kind: WindowKind,
    initial: usize,
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    algorithm: Aimd,
    /// The places the window grants now (in flight + free).
    granted: usize,
    /// The fastest clean answer to a full-size request so far: the service's latency
    /// when nothing queues.
    fastest: Option<Duration>,
    /// When the last clean answer (of any size) came.
    last_clean: Option<Instant>,
}

impl State {
    /// Whether a clean answer that took `elapsed` waited behind others; records the
    /// fastest answer.
    fn queued(&mut self, elapsed: Duration) -> bool {
        let fastest = self.fastest.map_or(elapsed, |f| f.min(elapsed));
        self.fastest = Some(fastest);
        elapsed > (fastest * QUEUEING_FACTOR).max(fastest + QUEUEING_SLACK)
    }
}

/// A clean answer slower than this many times the fastest one (and by more than
/// [`QUEUEING_SLACK`]) waited in a queue: the window does not grow on it.
const QUEUEING_FACTOR: u32 = 2;
/// Jitter below this is not queueing (answers of a few milliseconds vary by that much).
const QUEUEING_SLACK: Duration = Duration::from_millis(5);

/// How an attempt went, for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Answered in full, to a full-size request (a batch of 25, a Scan page cut at
    /// 1 MB): its time says whether requests queue.
    Clean,
    /// Answered in full, to a smaller request (a short batch, a segment's last page):
    /// progress, but its time is no yardstick for the others'.
    Small,
    /// Throttled, answered in part (`UnprocessedItems`), a 5xx or a dropped connection.
    Overloaded,
    /// A refusal that says nothing about load (validation, missing table): no change.
    Neutral,
}

/// One request's place in the window. Tell the window how it went with
/// [`WindowPermit::answered`]; dropped without an answer (the request was cancelled),
/// it frees its place and teaches the window nothing.
pub(crate) struct WindowPermit {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    started: Instant,
    answer: Answer,
}

impl RequestWindow {
    /// A window of `initial` requests that may grow to `ceiling` and shrink to one.
    pub(crate) fn new(kind: WindowKind, initial: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(initial).max(1);
        let initial = initial.clamp(1, ceiling);
        let algorithm = Aimd::builder()
            .initial_limit(initial)
            .min_limit(1)
            .max_limit(ceiling)
            .backoff_ratio(0.5)
            .timeout(SLOW_ANSWER)
            .build();
        RequestWindow {
            shared: Arc::new(Shared {
                kind,
                initial,
                semaphore: Arc::new(Semaphore::new(initial)),
                state: Mutex::new(State {
                    algorithm,
                    granted: initial,
                    fastest: None,
                    last_clean: None,
                }),
            }),
        }
    }

    /// Waits for a place in the window.
    pub(crate) async fn enter(&self) -> WindowPermit {
        let permit = Arc::clone(&self.shared.semaphore)
            .acquire_owned()
            .await
            // The semaphore is never closed.
            .ok();
        WindowPermit {
            shared: Arc::clone(&self.shared),
            permit,
            started: Instant::now(),
            answer: Answer::Neutral,
        }
    }

    /// Whether a request through this window was answered cleanly after `since`: the
    /// window is making progress, so a request waiting for a place is not stuck.
    pub(crate) fn progressed_since(&self, since: std::time::Instant) -> bool {
        let since = Instant::from_std(since);
        self.shared
            .state
            .lock()
            .is_ok_and(|s| s.last_clean.is_some_and(|at| at > since))
    }

    /// How many requests the window lets through now.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.shared.state.lock().map(|s| s.granted).unwrap_or(1)
    }
}

impl WindowPermit {
    /// Frees the place and moves the window by how the request went.
    pub(crate) fn answered(mut self, answer: Answer) {
        self.answer = answer;
    }
}

impl Drop for WindowPermit {
    fn drop(&mut self) {
        let shared = &self.shared;
        let Ok(mut state) = shared.state.lock() else {
            return;
        };
        let elapsed = self.started.elapsed();
        if matches!(self.answer, Answer::Clean | Answer::Small) {
            state.last_clean = Some(Instant::now());
            if elapsed > SLOW_ANSWER {
                // Likely the SDK's own retries of a throttled call, hidden in one answer.
                self.answer = Answer::Overloaded;
            }
        }
        if self.answer == Answer::Small || (self.answer == Answer::Clean && state.queued(elapsed)) {
            // A small request's time says nothing; a full one answered only after
            // waiting behind the others says a wider window would queue more, not go
            // faster (a single-threaded server, a saturated link).
            self.answer = Answer::Neutral;
        }
        let State {
            algorithm, granted, ..
        } = &mut *state;
        if self.answer != Answer::Neutral {
            // How full the window was when this answer came, this request included:
            // AIMD grows only a window that is in use.
            let in_flight = granted.saturating_sub(shared.semaphore.available_permits());
            let overloaded = self.answer == Answer::Overloaded;
            algorithm.update(elapsed, in_flight, overloaded, false);
        }
        let (previous, wanted) = (*granted, algorithm.max_concurrency());
        if wanted < *granted {
            // Withdraw this request's own place rather than free it: a freed place goes
            // straight to a waiting writer, so under load there is never a free place to
            // withdraw later. Then any free ones.
            if let Some(permit) = self.permit.take() {
                permit.forget();
                *granted -= 1;
            }
            *granted -= shared
                .semaphore
                .forget_permits(granted.saturating_sub(wanted));
        } else {
            drop(self.permit.take());
            if wanted > *granted {
                shared.semaphore.add_permits(wanted - *granted);
                *granted = wanted;
            }
        }
        if wanted != previous {
            tracing::debug!(kind = ?shared.kind, from = previous, to = wanted, "request window");
        }
        if wanted < shared.initial {
            NARROWEST[shared.kind as usize].fetch_min(wanted, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_all(window: &RequestWindow, n: usize, answer: Answer) {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(window.enter().await);
        }
        for permit in permits {
            permit.answered(answer);
        }
    }

    /// Issue #11 §4: overloaded answers halve the window down to one request; clean
    /// answers while it is full widen it again, one per answer, up to its ceiling.
    #[tokio::test(start_paused = true)]
    async fn issue_11_the_window_halves_on_overload_and_grows_on_clean_answers() {
        let window = RequestWindow::new(WindowKind::Writes, 8, 12);
        assert_eq!(window.limit(), 8);
        window.enter().await.answered(Answer::Overloaded);
        assert_eq!(window.limit(), 4);
        answer_all(&window, 4, Answer::Overloaded).await;
        assert_eq!(window.limit(), 1);
        assert_eq!(narrowest(WindowKind::Writes), Some(1));
        // Clean answers from a window in use widen it again, up to its ceiling.
        answer_all(&window, 1, Answer::Clean).await;
        assert_eq!(window.limit(), 2);
        let mut rounds = 0;
        while window.limit() < 12 {
            let before = window.limit();
            answer_all(&window, before, Answer::Clean).await;
            assert!(
                window.limit() > before,
                "a full window of clean answers grows"
            );
            rounds += 1;
            assert!(rounds < 12, "reaches its ceiling");
        }
        answer_all(&window, 12, Answer::Clean).await;
        assert_eq!(window.limit(), 12, "capped at the ceiling");
        // Refusals that say nothing about load leave it alone.
        answer_all(&window, 3, Answer::Neutral).await;
        assert_eq!(window.limit(), 12);
    }

    /// Issue #11 §4, latency: answers that come back much slower than the fastest one
    /// waited in a queue at the service, and a wider window would only queue more, so
    /// the window does not grow on them (dynalite answers one request at a time: 32
    /// batch writes in flight made its imports 3 % slower than 8).
    #[tokio::test(start_paused = true)]
    async fn issue_11_the_window_does_not_grow_on_answers_that_queued() {
        let window = RequestWindow::new(WindowKind::Writes, 2, 8);
        answer_all(&window, 2, Answer::Clean).await;
        let grown = window.limit();
        assert!(grown > 2, "fast answers from a full window grow it");
        let mut slow = Vec::new();
        for _ in 0..grown {
            slow.push(window.enter().await);
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        for place in slow {
            place.answered(Answer::Clean);
        }
        assert_eq!(window.limit(), grown, "slow answers leave it as it was");
    }

    /// The review of `8fa917e`: an answer slower than [`SLOW_ANSWER`] halves the window
    /// even when it came back clean (the SDK retried a throttled call inside it), and
    /// answers to small requests (a short batch, a last page) neither grow the window
    /// nor become the yardstick that makes every full-size answer look queued.
    #[tokio::test(start_paused = true)]
    async fn issue_11_slow_answers_halve_and_small_answers_say_nothing() {
        let window = RequestWindow::new(WindowKind::Writes, 8, 32);
        // A quick answer first sets the pace (one in flight of 8: no growth).
        window.enter().await.answered(Answer::Clean);
        assert_eq!(window.limit(), 8);
        let place = window.enter().await;
        tokio::time::sleep(SLOW_ANSWER + Duration::from_millis(1)).await;
        place.answered(Answer::Clean);
        assert_eq!(window.limit(), 4, "a clean but slow answer halves it");

        let window = RequestWindow::new(WindowKind::Writes, 2, 8);
        answer_all(&window, 2, Answer::Small).await;
        assert_eq!(window.limit(), 2, "small answers do not grow it");
        // Full-size answers taking 20 ms each still grow it: the instant small answers
        // did not set the pace.
        let mut full = Vec::new();
        for _ in 0..2 {
            full.push(window.enter().await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for place in full {
            place.answered(Answer::Clean);
        }
        assert!(window.limit() > 2, "full-size answers grow it");
        let since = std::time::Instant::now() - Duration::from_secs(1);
        assert!(window.progressed_since(since));
    }

    /// A narrowed window really holds requests back: with one place, a second request
    /// waits until the first is answered.
    #[tokio::test(start_paused = true)]
    async fn issue_11_a_narrowed_window_admits_one_request_at_a_time() {
        let window = RequestWindow::new(WindowKind::Scans, 2, 2);
        answer_all(&window, 2, Answer::Overloaded).await;
        assert_eq!(window.limit(), 1);
        let first = window.enter().await;
        let second = tokio::time::timeout(Duration::from_millis(50), window.enter()).await;
        assert!(second.is_err(), "the second request waits");
        first.answered(Answer::Clean);
        let second = tokio::time::timeout(Duration::from_secs(5), window.enter()).await;
        assert!(second.is_ok(), "admitted once the first is answered");
    }

    /// Under load a freed place goes straight to a waiting request, so the window must
    /// withdraw the places of overloaded answers themselves: with four requests in
    /// flight and four waiting, four overloaded answers let only one waiter through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_11_the_window_narrows_while_requests_wait_for_it() {
        let window = RequestWindow::new(WindowKind::Writes, 4, 4);
        let held = futures_util::future::join_all((0..4).map(|_| window.enter())).await;
        let admitted = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (window, admitted) = (window.clone(), Arc::clone(&admitted));
                tokio::spawn(async move {
                    let place = window.enter().await;
                    admitted.fetch_add(1, Ordering::SeqCst);
                    // Held until the test ends: each admitted waiter keeps its place.
                    std::mem::forget(place);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(admitted.load(Ordering::SeqCst), 0, "all four wait");
        for place in held {
            place.answered(Answer::Overloaded);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(window.limit(), 1);
        assert_eq!(admitted.load(Ordering::SeqCst), 1, "one place left");
        for waiter in waiters {
            waiter.abort();
        }
    }

    /// Places withdrawn while their requests were in flight are withdrawn as those
    /// requests finish, so the window never lets more through than its limit.
    #[tokio::test(start_paused = true)]
    async fn issue_11_shrinking_while_full_takes_effect_as_requests_finish() {
        let window = RequestWindow::new(WindowKind::Writes, 4, 4);
        let held: Vec<_> = futures_util::future::join_all((0..4).map(|_| window.enter())).await;
        let mut held = held.into_iter();
        // One overloaded answer: the limit halves to 2, but 3 places are still held.
        held.next().expect("permit").answered(Answer::Overloaded);
        for permit in held {
            permit.answered(Answer::Neutral);
        }
        assert_eq!(window.limit(), 2);
        assert_eq!(window.shared.semaphore.available_permits(), 2);
    }
}
