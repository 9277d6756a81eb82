//! A process-wide log sink with levels. The library logs what it selected, retried and reused, never
//! secrets, keys, tokens or passwords. With no sink installed, a log call costs one atomic load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::RwLock;

/// Severity, ordered: a sink installed at `Info` also receives `Warn` and `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

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

fn emit(level: Level, message: impl FnOnce() -> String) {
    if (level as u32) > MAX_LEVEL.load(Ordering::Acquire) {
        return;
    }
    let sink = SINK.read().clone();
    if let Some(sink) = sink {
        sink(level, &message());
    }
}

pub fn warn(message: impl FnOnce() -> String) {
    emit(Level::Warn, message)
}

pub fn info(message: impl FnOnce() -> String) {
    emit(Level::Info, message)
}

pub fn debug(message: impl FnOnce() -> String) {
    emit(Level::Debug, message)
}
