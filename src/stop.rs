//! Stopping an operation cleanly from outside (Ctrl-C, SIGTERM). The CLI owns the
//! signal handling; the library only asks [`StopSignal::is_stopped`] at points where
//! stopping leaves a state a re-run can finish: between write batches, never inside
//! one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared "please stop" flag, and whether the operation is writing to a target (only
/// then is a stop deferred to a safe point); clones share both.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    stop: Arc<AtomicBool>,
    writing: Arc<AtomicBool>,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop at its next safe point.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Marks the span in which the target is being written (import phase 6): a stop
    /// asked outside it can abort at once, since nothing is half-written.
    pub fn set_writing(&self, writing: bool) {
        self.writing.store(writing, Ordering::SeqCst);
    }

    pub fn is_writing(&self) -> bool {
        self.writing.load(Ordering::SeqCst)
    }
}
