//! The worker pool of `dsapi serve`: a fixed number of threads share one queue of requests read
//! whole by the poller; each answers, then hands its connection back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::connections::{self, Job, Returned, Waker};
use super::http::{Request, Response};

/// What answers a request; `local` is whether the caller is on this host (see `Stream::is_local`).
pub type Handler = Arc<dyn Fn(&Request, bool) -> Response + Send + Sync>;

pub struct Pool {
    pub jobs: Arc<Mutex<Receiver<Job>>>,
    pub returns: Sender<Returned>,
    pub waker: Waker,
    pub stopping: Arc<AtomicBool>,
    pub write_timeout: Duration,
}

impl Pool {
    /// Starts `count` workers answering with `handler`; they end when the queue closes.
    pub fn start(self, count: usize, handler: &Handler) -> Vec<JoinHandle<()>> {
        let pool = Arc::new(self);
        (0..count)
            .map(|i| {
                let pool = pool.clone();
                let handler = handler.clone();
                std::thread::Builder::new()
                    .name(format!("dsapi-serve-{i}"))
                    .spawn(move || pool.work(&handler))
                    .expect("start a worker thread")
            })
            .collect()
    }

    fn work(&self, handler: &Handler) {
        loop {
            let Ok(job) = self
                .jobs
                .lock()
                .map_err(|_| ())
                .and_then(|q| q.recv().map_err(|_| ()))
            else {
                return;
            };
            let local = job.connection.local;
            // A panic in a handler is a 500 for that request, never a dead worker.
            let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler(&job.request, local)
            }))
            .unwrap_or_else(|_| {
                super::problem::Problem::new(500, "the server failed on this request").response()
            });
            let stopping = self.stopping.load(Ordering::SeqCst);
            let returned = connections::answer(job, &response, stopping, self.write_timeout);
            let _ = self.returns.send(returned);
            self.waker.wake();
        }
    }
}
