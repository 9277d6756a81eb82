//! A process-wide log sink with levels. The library logs what it selected, retried and reused, never
//! secrets, keys, tokens or passwords. With no sink installed, a log call costs one atomic load.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::RwLock;

/// Severity, ordered: a sink installed at `Info` also receives `Warn` and `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    /// A call or a credential failed.
    Error = 1,
    /// Something was wrong but the call went on (a skipped credential, a retry).
    Warn = 2,
    /// What happened once per call or less (a certificate selected, a token acquired).
    Info = 3,
    /// Details for troubleshooting (never a secret, token or key).
    Debug = 4,
}

/// A callback receiving log messages ([`set_sink`]).
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// 0 means no sink; otherwise the most verbose level delivered.
static MAX_LEVEL: AtomicU32 = AtomicU32::new(0);
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Installs (or with `None`, removes) the process-wide sink.
pub fn set_sink(sink: Option<Sink>, max_level: Level) {
    let mut slot = SINK.write();
    MAX_LEVEL.store(
        if sink.is_some() { max_level as u32 } else { 0 },
        Ordering::Release,
    );
    *slot = sink;
}

thread_local! {
    /// Lines this thread keeps instead of sending them, while [`collecting`].
    static COLLECTED: RefCell<Option<Vec<(Level, String)>>> = const { RefCell::new(None) };
}

/// Runs `body` keeping the lines it logs on this thread, and returns them with its result: for
/// work done while a lock is held that the sink, calling back into the library, could need.
/// The caller sends them with [`replay`] once the lock is released. Nests.
pub(crate) fn collecting<T>(body: impl FnOnce() -> T) -> (T, Vec<(Level, String)>) {
    let outer = COLLECTED.with(|kept| kept.borrow_mut().replace(Vec::new()));
    /// Puts back the outer collection even if `body` unwinds.
    struct Restore(Option<Option<Vec<(Level, String)>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                COLLECTED.with(|kept| *kept.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let result = body();
    let lines = COLLECTED.with(|kept| kept.borrow_mut().take().unwrap_or_default());
    if let Some(outer) = restore.0.take() {
        COLLECTED.with(|kept| *kept.borrow_mut() = outer);
    }
    (result, lines)
}

/// Sends lines kept by [`collecting`] (on this thread or another), in order; while this thread
/// is collecting, they join its lines instead.
pub(crate) fn replay(lines: Vec<(Level, String)>) {
    for (level, line) in lines {
        emit(level, || line);
    }
}

fn emit(level: Level, message: impl FnOnce() -> String) {
    if (level as u32) > MAX_LEVEL.load(Ordering::Acquire) {
        return;
    }
    let kept = COLLECTED.with(|kept| {
        let mut kept = kept.borrow_mut();
        match kept.as_mut() {
            Some(lines) => {
                lines.push((level, message()));
                None
            }
            None => Some(message),
        }
    });
    let Some(message) = kept else {
        return;
    };
    let sink = SINK.read().clone();
    if let Some(sink) = sink {
        sink(level, &message());
    }
}

/// Emits a warning; `message` is only called when a sink takes warnings.
pub fn warn(message: impl FnOnce() -> String) {
    emit(Level::Warn, message)
}

/// Emits an information message; `message` is only called when a sink takes them.
pub fn info(message: impl FnOnce() -> String) {
    emit(Level::Info, message)
}

/// Emits a debug message; `message` is only called when a sink takes them.
pub fn debug(message: impl FnOnce() -> String) {
    emit(Level::Debug, message)
}
