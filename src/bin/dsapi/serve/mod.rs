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
use settings::ServerSettings;
use signals::{Signal, Signals};
use stream::{Endpoint, Listener};

/// Where the sidecar listens when neither a flag, the environment nor the file says.
const DEFAULT_URL: &str = "http://127.0.0.1:5000";

#[derive(Args)]
pub struct ServeArgs {
    /// Where to listen: http://HOST:PORT (ASP.NET's http://+:PORT is every address) or
    /// unix:PATH (a socket only this user may open). Default: $ASPNETCORE_URLS, else
    /// $ASPNETCORE_HTTP_PORTS (every address), else the file's "Urls", else
    /// http://127.0.0.1:5000
    #[arg(long, value_name = "URL")]
    urls: Option<String>,
    /// Worker threads answering requests, each may wait on a downstream call (Sidecar.Workers;
    /// default 32)
    #[arg(long, value_name = "N")]
    workers: Option<u64>,
    /// Connections open at once; more wait in the kernel's backlog (Sidecar.MaxConnections;
    /// default 1024)
    #[arg(long, value_name = "N")]
    max_connections: Option<u64>,
    /// The largest request body, in bytes (Sidecar.MaxRequestBodyBytes; default Kestrel's,
    /// 30000000)
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<u64>,
    /// Seconds a request may take to arrive whole, from its first byte
    /// (Sidecar.RequestTimeoutSeconds; default 30)
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<u64>,
    /// Seconds an idle keep-alive connection stays open (Sidecar.IdleTimeoutSeconds; default
    /// Kestrel's, 130)
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// Seconds SIGTERM waits for the requests in progress (Sidecar.DrainTimeoutSeconds; default 30)
    #[arg(long, value_name = "SECONDS")]
    drain_timeout: Option<u64>,
    /// Answer callers that are not on this host (Sidecar.AllowRemoteCallers); by default only
    /// /healthz is answered to them
    #[arg(long)]
    allow_remote_callers: bool,
}

/// The server's options: a flag, else the configuration file, else the default.
struct Options {
    url: String,
    workers: usize,
    bounds: Bounds,
    drain: Duration,
}

impl Options {
    fn resolve(
        args: &ServeArgs,
        file: &ServerSettings,
        allow_remote_callers: bool,
    ) -> Result<Options, Failure> {
        let pick = |flag: Option<u64>, setting: Option<u64>, default: u64, name: &str| match flag
            .or(setting)
            .unwrap_or(default)
        {
            0 => Err(crate::argument_error(
                "serve",
                &format!("--{name} must be at least 1"),
            )),
            n => Ok(n),
        };
        // ASP.NET's order: the command line, the file, then the ASPNETCORE_ variables (a
        // container image's inherited ASPNETCORE_HTTP_PORTS never overrides the file's Urls).
        let url = args
            .urls
            .clone()
            .or_else(|| file.urls.clone())
            .or_else(|| std::env::var("ASPNETCORE_URLS").ok())
            .or_else(|| {
                std::env::var("ASPNETCORE_HTTP_PORTS")
                    .ok()
                    .map(|p| http_ports(&p))
            })
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let seconds = |flag, setting, default, name| {
            pick(flag, setting, default, name).map(Duration::from_secs)
        };
        Ok(Options {
            url,
            workers: pick(args.workers, file.workers, 32, "workers")? as usize,
            bounds: Bounds {
                limits: Limits {
                    max_head_bytes: 32 * 1024,
                    max_headers: 100,
                    max_body_bytes: pick(
                        args.max_body_bytes,
                        file.max_request_body_bytes,
                        30_000_000,
                        "max-body-bytes",
                    )? as usize,
                },
                allow_remote_callers,
                request_timeout: seconds(
                    args.request_timeout,
                    file.request_timeout_seconds,
                    30,
                    "request-timeout",
                )?,
                idle_timeout: seconds(
                    args.idle_timeout,
                    file.idle_timeout_seconds,
                    130,
                    "idle-timeout",
                )?,
                max_connections: pick(
                    args.max_connections,
                    file.max_connections,
                    default_max_connections(),
                    "max-connections",
                )? as usize,
            },
            drain: seconds(
                args.drain_timeout,
                file.drain_timeout_seconds,
                30,
                "drain-timeout",
            )?,
        })
    }
}

/// 1024, or fewer when the process may open fewer descriptors: each connection takes one, and
/// the downstream calls, the certificate files and the log need theirs (running out makes every
/// call fail).
fn default_max_connections() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit structure, which `limit` is.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    };
    (soft.saturating_sub(64) / 2).clamp(16, 1024)
}

/// ASPNETCORE_HTTP_PORTS ("8080" or "8080;8081", as .NET's container images set it): every
/// address on the first port.
fn http_ports(ports: &str) -> String {
    format!(
        "http://+:{}",
        ports.split(';').next().unwrap_or_default().trim()
    )
}

/// Serves until SIGTERM or SIGINT; SIGHUP re-reads `config`.
pub fn run(args: &ServeArgs, config: &Path) -> Result<(), Failure> {
    let shared = Arc::new(Shared::load(config, args.allow_remote_callers)?);
    let options = Options::resolve(
        args,
        &shared.server_settings(),
        shared.allows_remote_callers(),
    )?;
    // A list of URLs (ASPNETCORE_URLS may give several, separated by ';'): the first is served.
    let first = options
        .url
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let endpoint = Endpoint::parse(&first)
        .map_err(|why| crate::argument_error("serve", &format!("--urls: {why}")))?;
    let listener = Listener::bind(&endpoint)
        .map_err(|e| Failure::Usage(format!("cannot listen on {first}: {e}")))?;
    let mut signals = Signals::install().map_err(|e| Failure::Usage(format!("signals: {e}")))?;
    eprintln!("dsapi serve: listening on {}", listener.url());
    if let Endpoint::Tcp(address) = &endpoint
        && !address.ip().is_loopback()
    {
        eprintln!(
            "warning dsapi serve: listening on every address of {} ({first}): callers not on this \
             host get 403, except /healthz{}",
            address.ip(),
            if shared.allows_remote_callers() {
                "; --allow-remote-callers answers them all"
            } else {
                ""
            }
        );
    }
    serve(&options, shared, listener, config, &mut signals)
}

fn serve(
    options: &Options,
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
        options.bounds,
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
        write_timeout: options.bounds.request_timeout,
    };
    let workers = pool.start(options.workers, &handler);
    let drain = options.drain;
    let poller = std::thread::spawn(move || poller.run(drain));
    while signals.next() == Signal::Reload {
        reload(&shared, config);
    }
    eprintln!("dsapi serve: stopping: no new connections; answering the requests in progress");
    let drain_until = std::time::Instant::now() + drain;
    stopping.store(true, Ordering::SeqCst);
    waker.wake();
    let _ = poller.join(); // the poller drops the job queue: idle workers end at once
    // A worker still inside a downstream call at the drain's end is left to the process's exit
    // (idle ones get a moment to see the queue closed).
    let until = drain_until.max(std::time::Instant::now() + Duration::from_millis(200));
    while !workers.iter().all(std::thread::JoinHandle::is_finished)
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cut = workers.iter().filter(|w| !w.is_finished()).count();
    if cut > 0 {
        eprintln!(
            "warning dsapi serve: {cut} call(s) still in progress at the end of --drain-timeout \
             were cut"
        );
    }
    eprintln!("dsapi serve: stopped");
    Ok(())
}

/// SIGHUP: the configuration read anew; a file that does not load keeps the running one.
fn reload(shared: &Shared, config: &Path) {
    match shared.reload(config) {
        Ok(true) => eprintln!("dsapi serve: reloaded {}", config.display()),
        Ok(false) => eprintln!(
            "dsapi serve: {} is unchanged: the running configuration and its tokens stay",
            config.display()
        ),
        Err(why) => eprintln!(
            "warning dsapi serve: {} was not reloaded, the running configuration stays: {why}",
            config.display()
        ),
    }
}
