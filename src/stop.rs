//! Stopping an operation cleanly from outside (Ctrl-C, SIGTERM). The CLI owns the
//! signal handling; the library only asks [`StopSignal::is_stopped`] at points where
//! stopping leaves a state a re-run can finish: between write batches, never inside
//! one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared "please stop" flag; clones share it.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop at its next safe point.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
