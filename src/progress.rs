//! Progress reporting as the library sees it: a trait the operations call, so that the
//! library never draws anything itself. The CLI implements it with progress bars on a
//! terminal; tests and `--no-progress` use [`NoProgress`].

/// Receives progress from long operations.
pub trait Progress: Send + Sync {
    /// A unit of work starts (a table being scanned or written). `total` is known or
    /// estimated size in items.
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask>;
    /// Like [`Progress::start`], for work measured in bytes (object transfers): a
    /// terminal shows sizes and bytes per second.
    fn start_bytes(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask> {
        self.start(label, total)
    }
    /// A line of narrative ("phase 3/7: plan").
    fn note(&self, text: &str);
}

/// One unit of work.
pub trait ProgressTask: Send + Sync {
    fn advance(&self, items: u64);
    fn finish(&self, summary: &str);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: Option<u64>) -> Box<dyn ProgressTask> {
        Box::new(NoProgress)
    }
    fn note(&self, _text: &str) {}
}

impl ProgressTask for NoProgress {
    fn advance(&self, _items: u64) {}
    fn finish(&self, _summary: &str) {}
}
