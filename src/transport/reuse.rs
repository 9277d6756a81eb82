//! Whether a failed request went out on a reused connection and got no byte back. Then the server
//! closed a keep-alive connection under the request (typically its idle timeout racing it), and
//! the request is resent once — what curl and .NET's HttpClient do. A request that tried to open a
//! connection (refused, reset in the handshake, closed unanswered), or that read any byte of an
//! answer, is never resent.
//!
//! ureq does not say which connection a request used, so the agents' connector counts the
//! connections it tries to open and wraps each in a transport that counts the reads that brought
//! bytes, per thread (ureq runs a request on the calling thread).

use std::cell::Cell;
use std::time::{Duration, Instant};

use ureq::Error;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

thread_local! {
    static CONNECTIONS_TRIED: Cell<u64> = const { Cell::new(0) };
    static READS_WITH_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    counter.with(|count| count.set(count.get() + 1));
}

fn read(counter: &'static std::thread::LocalKey<Cell<u64>>) -> u64 {
    counter.with(Cell::get)
}

/// A connector observed: an agent's chain (proxy tunnel, TCP, TLS: [`super::connector`]).
#[derive(Debug)]
pub(super) struct ObservedConnector<C>(pub(super) C);

impl<C: Connector<()>> Connector<()> for ObservedConnector<C> {
    type Out = ObservedTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<ObservedTransport>, Error> {
        // Counted before connecting: a connection that fails to open is a fresh one too.
        bump(&CONNECTIONS_TRIED);
        let transport = self.0.connect(details, chained)?;
        Ok(transport.map(|inner| ObservedTransport {
            inner: inner.boxed(),
            probed_open_at: None,
        }))
    }
}

/// A connection whose reads are counted; everything else is the inner transport's, except that a
/// fresh probe is not repeated (see [`PROBE_HOLDS_FOR`]).
#[derive(Debug)]
pub(super) struct ObservedTransport {
    inner: Box<dyn Transport>,
    /// When a probe last found the connection open, if nothing was sent or read since.
    probed_open_at: Option<Instant>,
}

/// ureq probes a connection when it goes back to the pool (bytes the server sent past the answer
/// mean it must not be reused) and again when it is taken out (the server may have closed it
/// while idle): three system calls each, a sixth of a kept-alive call's. Taken out within this
/// time of the probe that put it back, with no I/O since, it is not probed again. Should the
/// server close it in that window, the request fails unanswered on a reused connection and is
/// resent once (above), as after any idle-timeout race.
const PROBE_HOLDS_FOR: Duration = Duration::from_millis(1);

impl Transport for ObservedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.probed_open_at = None;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.probed_open_at = None;
        let progress = self.inner.await_input(timeout)?;
        if progress {
            bump(&READS_WITH_BYTES);
        }
        Ok(progress)
    }

    fn is_open(&mut self) -> bool {
        if let Some(at) = self.probed_open_at.take()
            && at.elapsed() < PROBE_HOLDS_FOR
        {
            return true;
        }
        let open = self.inner.is_open();
        self.probed_open_at = open.then(Instant::now);
        open
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// What this thread's connections had done when a request started.
pub(super) struct Attempt {
    tried: u64,
    reads: u64,
}

impl Attempt {
    pub(super) fn start() -> Attempt {
        Attempt {
            tried: read(&CONNECTIONS_TRIED),
            reads: read(&READS_WITH_BYTES),
        }
    }

    /// True when the request tried to open no connection (it used a pooled one) and read no byte.
    pub(super) fn reused_and_unanswered(&self) -> bool {
        read(&CONNECTIONS_TRIED) == self.tried && read(&READS_WITH_BYTES) == self.reads
    }
}
