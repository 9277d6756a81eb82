//! `dsapi serve`: Microsoft's identity sidecar (Microsoft.Identity.Web.Sidecar) as a command of
//! this binary, with its HTTP interface, on the Rust API. The layers, each in its file:
//! `stream` (TCP or Unix socket), `http` (requests and responses as bytes), `connections` (one
//! poller thread for every waiting connection), `workers` (the pool that answers), `routes`
//! (the sidecar's routes), `metrics` (`GET /metrics`), `signals` (SIGTERM drains, SIGHUP reloads).

mod connections;
mod handlers;
mod http;
mod metrics;
mod overrides;
mod problem;
mod routes;
mod settings;
mod signals;
mod stream;
mod workers;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use clap::Args;

use crate::exit::Failure;
use connections::{Bounds, Poller};
use http::Limits;
use routes::Shared;
use signals::{Signal, Signals};
use stream::{Endpoint, Listener};

/// Where the sidecar listens when neither --urls nor ASPNETCORE_URLS says.
const DEFAULT_URL: &str = "http://127.0.0.1:5000";

#[derive(Args)]
pub struct ServeArgs {
    /// Where to listen: http://HOST:PORT (ASP.NET's http://+:PORT is every address) or
    /// unix:PATH (a socket only this user may open). Default: $ASPNETCORE_URLS, else
    /// http://127.0.0.1:5000
    #[arg(long, value_name = "URL")]
    urls: Option<String>,
    /// Worker threads answering requests (each may wait on a downstream call)
    #[arg(long, value_name = "N", default_value_t = 32)]
    workers: usize,
    /// Connections open at once; more wait in the kernel's backlog
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// The largest request body, in bytes (Kestrel's default)
    #[arg(long, value_name = "BYTES", default_value_t = 30_000_000)]
    max_body_bytes: usize,
    /// Seconds a request may take to arrive whole, from its first byte
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    request_timeout: u64,
    /// Seconds an idle keep-alive connection stays open (Kestrel's default)
    #[arg(long, value_name = "SECONDS", default_value_t = 130)]
    idle_timeout: u64,
    /// Seconds SIGTERM waits for the requests in progress to be answered
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    drain_timeout: u64,
    /// Answer callers that are not on this host (by default only /healthz is answered to them)
    #[arg(long)]
    allow_remote_callers: bool,
}

/// Serves until SIGTERM or SIGINT; SIGHUP re-reads `config`.
pub fn run(args: &ServeArgs, config: &Path) -> Result<(), Failure> {
    let url = args
        .urls
        .clone()
        .or_else(|| std::env::var("ASPNETCORE_URLS").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    // ASPNETCORE_URLS may list several, separated by ';': the first is served.
    let first = url.split(';').next().unwrap_or_default();
    let endpoint = Endpoint::parse(first)
        .map_err(|why| crate::argument_error("serve", &format!("--urls: {why}")))?;
    if args.workers == 0 || args.max_connections == 0 {
        return Err(crate::argument_error(
            "serve",
            "--workers and --max-connections must be at least 1",
        ));
    }
    let shared = Arc::new(Shared::load(config, args.allow_remote_callers)?);
    let listener = Listener::bind(&endpoint)
        .map_err(|e| Failure::Usage(format!("cannot listen on {first}: {e}")))?;
    let mut signals = Signals::install().map_err(|e| Failure::Usage(format!("signals: {e}")))?;
    eprintln!("dsapi serve: listening on {}", listener.url());
    serve(args, shared, listener, config, &mut signals)
}

fn serve(
    args: &ServeArgs,
    shared: Arc<Shared>,
    listener: Listener,
    config: &Path,
    signals: &mut Signals,
) -> Result<(), Failure> {
    let stopping = Arc::new(AtomicBool::new(false));
    let (jobs_in, jobs_out) = mpsc::channel();
    let (returns_in, returns_out) = mpsc::channel();
    let (poller, waker) = Poller::new(
        listener,
        bounds(args),
        jobs_in,
        returns_out,
        stopping.clone(),
    )
    .map_err(|e| Failure::Usage(format!("cannot start: {e}")))?;
    let handler: workers::Handler = {
        let shared = shared.clone();
        Arc::new(move |request, local| shared.answer(request, local))
    };
    let pool = workers::Pool {
        jobs: Arc::new(Mutex::new(jobs_out)),
        returns: returns_in,
        waker: waker.clone(),
        stopping: stopping.clone(),
        write_timeout: Duration::from_secs(args.request_timeout),
    };
    let workers = pool.start(args.workers, &handler);
    let drain = Duration::from_secs(args.drain_timeout);
    let poller = std::thread::spawn(move || poller.run(drain));
    while signals.next() == Signal::Reload {
        reload(&shared, config);
    }
    eprintln!("dsapi serve: stopping: no new connections; answering the requests in progress");
    stopping.store(true, Ordering::SeqCst);
    waker.wake();
    let _ = poller.join(); // the poller drops the job queue: the workers end
    for worker in workers {
        let _ = worker.join();
    }
    eprintln!("dsapi serve: stopped");
    Ok(())
}

fn bounds(args: &ServeArgs) -> Bounds {
    Bounds {
        limits: Limits {
            max_head_bytes: 32 * 1024,
            max_headers: 100,
            max_body_bytes: args.max_body_bytes,
        },
        request_timeout: Duration::from_secs(args.request_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections,
    }
}

/// SIGHUP: the configuration read anew; a file that does not load keeps the running one.
fn reload(shared: &Shared, config: &Path) {
    match shared.reload(config) {
        Ok(()) => eprintln!("dsapi serve: reloaded {}", config.display()),
        Err(why) => eprintln!(
            "warning dsapi serve: {} was not reloaded, the running configuration stays: {why}",
            config.display()
        ),
    }
}
