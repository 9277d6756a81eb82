//! The connections of `dsapi serve`: one thread waits on every idle or half-read connection with
//! poll(2), so a slow client holds a buffer, never a worker; a request read whole goes to the
//! worker pool, and its connection comes back here after the answer (keep-alive). Each request
//! must arrive within `request_timeout` of its first byte and an idle connection is closed after
//! `idle_timeout`; at most `max_connections` are open (the rest wait in the kernel's backlog).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use super::http::{Limits, Parsed, Reader, Request, Response};
use super::stream::{Listener, Stream};

#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub limits: Limits,
    /// Whether callers not on this host are answered (else only their `/healthz`).
    pub allow_remote_callers: bool,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// A connection and the bytes read from it that no request has taken yet.
pub struct Connection {
    pub stream: Stream,
    buffer: Vec<u8>,
    reader: Reader,
    /// Whether the caller is on this host (`Stream::is_local`), decided once at accept.
    pub local: bool,
}

/// A request read whole, for a worker.
pub struct Job {
    pub connection: Connection,
    pub request: Request,
}

/// A connection's way back from a worker: `connection` is `None` when the worker closed it.
pub struct Returned {
    pub connection: Option<Connection>,
    pub local: bool,
}

/// Wakes the poller (a worker returned a connection, or shutdown began).
#[derive(Clone)]
pub struct Waker(Arc<UnixStream>);

impl Waker {
    pub fn wake(&self) {
        let _ = (&*self.0).write(&[1]);
    }
}

struct Waiting {
    connection: Connection,
    deadline: Instant,
    continued: bool,
}

/// The poller's state: the listener (None once shutdown began), the connections it waits on,
/// and how many are with workers.
pub struct Poller {
    listener: Option<Listener>,
    waiting: Vec<Waiting>,
    busy: usize,
    bounds: Bounds,
    jobs: Sender<Job>,
    returns: Receiver<Returned>,
    wake_read: UnixStream,
    stopping: Arc<AtomicBool>,
    /// Connections open from callers not on this host: at most an eighth of the slots.
    remote: usize,
    /// After the process ran out of descriptors, accepting waits until then (no busy loop).
    accept_paused_until: Option<Instant>,
}

impl Poller {
    /// A poller for `listener` and its waker.
    pub fn new(
        listener: Listener,
        bounds: Bounds,
        jobs: Sender<Job>,
        returns: Receiver<Returned>,
        stopping: Arc<AtomicBool>,
    ) -> std::io::Result<(Poller, Waker)> {
        let (wake_read, wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        wake_write.set_nonblocking(true)?;
        let poller = Poller {
            listener: Some(listener),
            waiting: Vec::new(),
            busy: 0,
            bounds,
            jobs,
            returns,
            wake_read,
            stopping,
            remote: 0,
            accept_paused_until: None,
        };
        Ok((poller, Waker(Arc::new(wake_write))))
    }

    /// Serves until shutdown began and every request with a worker was answered (or `drain`
    /// passed since shutdown began).
    pub fn run(mut self, drain: Duration) {
        let mut drain_until = None;
        loop {
            if self.stopping.load(Ordering::SeqCst) && drain_until.is_none() {
                drain_until = Some(Instant::now() + drain);
                self.listener = None; // new connections are refused from now on
                self.waiting.clear();
            }
            if let Some(until) = drain_until
                && (self.busy == 0 || Instant::now() >= until)
            {
                return;
            }
            let ready = self.poll(drain_until);
            self.take_returns();
            if ready.listener {
                self.accept_all();
            }
            self.read_ready(&ready.connections);
            self.expire();
        }
    }

    fn poll(&mut self, drain_until: Option<Instant>) -> Ready {
        let mut fds = vec![pollfd(self.wake_read.as_raw_fd())];
        if self
            .accept_paused_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.accept_paused_until = None;
        }
        let accepting = self.listener.is_some()
            && self.accept_paused_until.is_none()
            && self.waiting.len() + self.busy < self.bounds.max_connections;
        if let (true, Some(listener)) = (accepting, &self.listener) {
            fds.push(pollfd(listener.as_raw_fd()));
        }
        let first = fds.len();
        fds.extend(
            self.waiting
                .iter()
                .map(|w| pollfd(w.connection.stream.as_raw_fd())),
        );
        let next = self
            .waiting
            .iter()
            .map(|w| w.deadline)
            .chain(drain_until)
            .chain(self.accept_paused_until)
            .min();
        let timeout = next.map_or(1000, |at| {
            at.saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, 1000) as i32
        });
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures for the whole call.
        let count = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if count <= 0 {
            return Ready::default();
        }
        let readable = |fd: &libc::pollfd| fd.revents != 0;
        Ready {
            listener: accepting && readable(&fds[1]),
            connections: (first..fds.len())
                .filter(|&i| readable(&fds[i]))
                .map(|i| i - first)
                .collect(),
        }
    }

    /// Connections the workers are done with: back to waiting, or a next pipelined request.
    fn take_returns(&mut self) {
        let mut wake = [0u8; 64];
        while matches!((&self.wake_read).read(&mut wake), Ok(n) if n > 0) {}
        while let Ok(returned) = self.returns.try_recv() {
            self.busy -= 1;
            let Some(connection) = returned.connection else {
                self.remote -= usize::from(!returned.local);
                continue;
            };
            if self.stopping.load(Ordering::SeqCst) {
                continue;
            }
            // A request already begun (pipelined) has the request's time, not an idle one's.
            let wait = if connection.buffer.is_empty() {
                self.bounds.idle_timeout
            } else {
                self.bounds.request_timeout
            };
            let deadline = Instant::now() + wait;
            self.waiting.push(Waiting {
                connection,
                deadline,
                continued: false,
            });
            let last = self.waiting.len() - 1;
            if !self.waiting[last].connection.buffer.is_empty() {
                self.advance(last);
            }
        }
    }

    fn accept_all(&mut self) {
        while self.waiting.len() + self.busy < self.bounds.max_connections {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok(stream) => self.admit(stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Out of descriptors (or a connection reset before it was accepted): the
                // listener stays readable, so polling it again at once would spin.
                Err(_) => {
                    self.accept_paused_until = Some(Instant::now() + Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    /// A new connection, unless it is one more than an eighth of the slots from callers not on
    /// this host (they may only ask for /healthz: they must not starve the local application).
    fn admit(&mut self, stream: Stream) {
        let local = stream.is_local() || self.bounds.allow_remote_callers;
        if !local {
            if self.remote >= (self.bounds.max_connections / 8).max(1) {
                return; // dropped: closed at once
            }
            self.remote += 1;
        }
        self.waiting.push(Waiting {
            connection: Connection {
                stream,
                buffer: Vec::new(),
                reader: Reader::default(),
                local,
            },
            deadline: Instant::now() + self.bounds.request_timeout,
            continued: false,
        });
    }

    /// Removes connection `index` from those waiting, closing it.
    fn close(&mut self, index: usize) -> Waiting {
        let waiting = self.waiting.swap_remove(index);
        self.remote -= usize::from(!waiting.connection.local);
        waiting
    }

    /// Reads what each ready connection has; those done with (closed, refused, dispatched) are
    /// removed, highest index first so the others keep theirs.
    fn read_ready(&mut self, ready: &[usize]) {
        for &index in ready.iter().rev() {
            let mut chunk = [0u8; 16 * 1024];
            let waiting = &mut self.waiting[index];
            match waiting.connection.stream.read(&mut chunk) {
                Ok(0) => {
                    self.close(index);
                }
                Ok(n) => {
                    if waiting.connection.buffer.is_empty() {
                        waiting.deadline = Instant::now() + self.bounds.request_timeout;
                    }
                    waiting.connection.buffer.extend_from_slice(&chunk[..n]);
                    self.advance(index);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => {
                    self.close(index);
                }
            }
        }
    }

    /// Parses the bytes of connection `index`: a whole request goes to a worker, a refused one is
    /// answered and closed, a head expecting 100-continue gets it. A caller not on this host may
    /// send no body (it could only be refused): its body is never read, and its connection closes
    /// after the answer.
    fn advance(&mut self, index: usize) {
        let waiting = &mut self.waiting[index];
        let connection = &mut waiting.connection;
        let limits = if connection.local {
            self.bounds.limits
        } else {
            Limits {
                max_body_bytes: 0,
                ..self.bounds.limits
            }
        };
        match connection.reader.advance(&connection.buffer, &limits) {
            Parsed::Incomplete { expects_continue } => {
                if expects_continue && !waiting.continued {
                    waiting.continued = true;
                    let _ = connection.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
            }
            Parsed::Complete(mut request, used) => {
                // Still counted as remote while a worker has it (see take_returns).
                let mut waiting = self.waiting.swap_remove(index);
                waiting.connection.buffer.drain(..used);
                request.keep_alive &= waiting.connection.local;
                let job = Job {
                    connection: waiting.connection,
                    request: *request,
                };
                if self.jobs.send(job).is_ok() {
                    self.busy += 1;
                }
            }
            Parsed::Refused(status, why) => {
                let mut waiting = self.close(index);
                if waiting.connection.local {
                    refuse(&mut waiting.connection.stream, status, why);
                } else {
                    let forbidden =
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    let _ = waiting.connection.stream.write(forbidden);
                }
            }
        }
    }

    /// Closes connections past their deadline: 408 to one that had begun a request.
    fn expire(&mut self) {
        let now = Instant::now();
        let mut index = 0;
        while index < self.waiting.len() {
            if self.waiting[index].deadline > now {
                index += 1;
                continue;
            }
            let mut waiting = self.close(index);
            if !waiting.connection.buffer.is_empty() {
                refuse(
                    &mut waiting.connection.stream,
                    408,
                    "the request took too long to arrive",
                );
            }
        }
    }
}

#[derive(Default)]
struct Ready {
    listener: bool,
    connections: Vec<usize>,
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// A best-effort answer to a request refused before any worker saw it; the connection closes.
/// One non-blocking write: the poller never waits on a client that does not read.
fn refuse(stream: &mut Stream, status: u16, why: &str) {
    let problem = super::problem::Problem::new(status, why);
    let _ = stream.write(&problem.response().to_bytes(false, false));
}

/// Writes `response` on the job's connection within `write_timeout` in all (a client that reads
/// a byte now and then cannot hold the worker longer); returns the connection when it stays open.
pub fn answer(job: Job, response: &Response, stopping: bool, write_timeout: Duration) -> Returned {
    let Job {
        mut connection,
        request,
    } = job;
    let keep_alive = request.keep_alive && !stopping;
    let bytes = response.to_bytes(keep_alive, request.method == "HEAD");
    let stream = &mut connection.stream;
    let deadline = Instant::now() + write_timeout;
    let written = stream
        .set_nonblocking(false)
        .and_then(|()| write_by(stream, &bytes, deadline))
        .and_then(|()| stream.set_nonblocking(true));
    let local = connection.local;
    Returned {
        connection: (written.is_ok() && keep_alive).then_some(connection),
        local,
    }
}

/// `write_all` that gives up at `deadline`.
fn write_by(stream: &mut Stream, mut bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(left)?;
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
