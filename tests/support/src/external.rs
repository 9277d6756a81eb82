//! Independent TLS servers for the tests: OpenSSL's `s_server` and Debian's nginx, each started as
//! a child process on 127.0.0.1 with a free port and its files in a test's `TempDir`, waited for
//! until it accepts connections, and killed when its guard is dropped.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::Issued;
use crate::{TempDir, free_port};

/// How long a server may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a server to write what the test expects into its logs.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts with a new port when another process took the one picked.
const PORT_ATTEMPTS: usize = 5;

/// The path of a required tool, found in `PATH` or in the usual directories (`/usr/sbin` is not in
/// every user's `PATH`). A missing tool fails the test: CI installs it, so skipping would hide a
/// broken CI image.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let fallback = [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ];
    path_dirs
        .into_iter()
        .chain(fallback.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` was not found in PATH nor in {fallback:?}: these tests need it \
                 (install it with `apt-get install -y {package}`); they fail rather than skip"
            )
        })
}

/// A child process killed (and reaped) on drop, with its output going to files.
pub struct ServerProcess {
    name: &'static str,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl ServerProcess {
    pub(crate) fn spawn(
        name: &'static str,
        mut command: Command,
        dir: &Path,
        attempt: usize,
    ) -> ServerProcess {
        let stdout = dir.join(format!("{name}-{attempt}.stdout"));
        let stderr = dir.join(format!("{name}-{attempt}.stderr"));
        command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create stdout file"))
            .stderr(File::create(&stderr).expect("create stderr file"));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        ServerProcess {
            name,
            child,
            stdout,
            stderr,
        }
    }

    /// What the process printed so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.name,
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            self.name,
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `port` accepts a TCP connection. `Err` with the process's output when it exited
    /// first (for example because the port was taken) or did not listen in time.
    pub(crate) fn wait_until_accepting(&mut self, port: u16) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!(
                    "{} exited with {status}\n{}",
                    self.name,
                    self.output()
                ));
            }
            if TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "{} did not accept connections on 127.0.0.1:{port} within {START_TIMEOUT:?}\n{}",
                    self.name,
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server built by `command(port)` on a free port, trying again with another port when it
/// exits before accepting (a port picked as free can be taken by another test meanwhile).
pub(crate) fn start_on_free_port(
    name: &'static str,
    dir: &Path,
    command: impl Fn(u16) -> Command,
) -> (ServerProcess, u16) {
    let mut failures = Vec::new();
    for attempt in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut process = ServerProcess::spawn(name, command(port), dir, attempt);
        match process.wait_until_accepting(port) {
            Ok(()) => return (process, port),
            Err(failure) => failures.push(failure),
        }
    }
    panic!("{name} did not start:\n{}", failures.join("\n"));
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if started.elapsed() > timeout {
            eprintln!("gave up waiting for {what} after {timeout:?}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub enum TlsVersion {
    /// Offered by old servers only; OpenSSL needs security level 0 to speak them at all.
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn flags(self) -> &'static [&'static str] {
        match self {
            TlsVersion::Tls10 => &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
            TlsVersion::Tls11 => &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            TlsVersion::Tls12 => &["-tls1_2"],
            TlsVersion::Tls13 => &["-tls1_3"],
        }
    }

    /// How OpenSSL names the protocol, as in s_server's `-www` page.
    pub fn protocol_name(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLSv1",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// `openssl s_server -www` requiring a client certificate that chains to a given CA, restricted to
/// one TLS version. It serves one connection at a time and answers each with an HTML page about the
/// session (HTTP/1.0, connection closed after the answer). With `-verify_return_error` a client
/// certificate it cannot verify ends the handshake with a TLS alert.
pub struct SServer {
    process: ServerProcess,
    pub port: u16,
}

impl SServer {
    pub fn start(
        dir: &TempDir,
        server: &Issued,
        client_ca_pem: &str,
        version: TlsVersion,
    ) -> SServer {
        let openssl = require_tool("openssl", "openssl");
        let cert = dir.write("server.pem", &server.cert_pem);
        let key = dir.write("server.key", &server.key_pem);
        let client_ca = dir.write("clientca.pem", client_ca_pem);
        let (process, port) = start_on_free_port("s_server", dir.path(), |port| {
            let mut command = Command::new(&openssl);
            command.args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                &cert,
                "-key",
                &key,
                "-CAfile",
                &client_ca,
                "-Verify",
                "1",
                "-verify_return_error",
                "-www",
            ]);
            command.args(version.flags());
            command
        });
        SServer { process, port }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn output(&self) -> String {
        self.process.output()
    }

    /// How many client certificates s_server refused (one `verify error` line each).
    pub fn verify_errors(&self) -> usize {
        self.process.stderr_text().matches("verify error:").count()
    }

    pub fn wait_for_verify_errors(&self, count: usize) {
        let _ = wait_for("s_server verify errors", LOG_TIMEOUT, || {
            (self.verify_errors() >= count).then_some(())
        });
    }
}

// ---------------------------------------------------------------------------------------------

/// One line of the nginx access log written in the `mtls` format below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    /// `$connection`: the connection serial number, the same for requests on one connection.
    pub connection: u64,
    /// `$connection_requests`: 1 for the first request on a connection.
    pub connection_requests: u64,
    /// `$ssl_session_reused`: the handshake resumed a TLS session.
    pub session_reused: bool,
    pub status: u16,
    /// `$ssl_client_verify`: `SUCCESS`, `FAILED:<reason>` or `NONE`.
    pub verify: String,
    /// `$ssl_client_s_dn` (RFC 2253).
    pub client_dn: String,
    pub uri: String,
}

/// The access log format the parser below reads.
const LOG_FORMAT: &str = r#"'$connection $connection_requests $ssl_session_reused $status "$ssl_client_verify" "$ssl_client_s_dn" "$request"'"#;

impl AccessLine {
    pub fn parse(line: &str) -> Option<AccessLine> {
        let mut fields = line.splitn(5, ' ');
        let connection = fields.next()?.parse().ok()?;
        let connection_requests = fields.next()?.parse().ok()?;
        let session_reused = fields.next()? == "r";
        let status = fields.next()?.parse().ok()?;
        // The rest: three double-quoted fields; nginx escapes quotes inside values as \x22.
        let quoted: Vec<&str> = fields.next()?.split('"').collect();
        // `"a" "b" "c"` splits into ["", a, " ", b, " ", c, ""].
        if quoted.len() != 7 {
            return None;
        }
        let request = quoted[5];
        let uri = request.split(' ').nth(1)?.to_string();
        Some(AccessLine {
            connection,
            connection_requests,
            session_reused,
            status,
            verify: quoted[1].to_string(),
            client_dn: quoted[3].to_string(),
            uri,
        })
    }
}

/// nginx in the foreground as a single process (`master_process off`, so killing it leaves no
/// worker behind), with its own prefix, configuration, logs and temp paths in a test directory.
/// TLS on 127.0.0.1 with `ssl_verify_client on`; every request is answered with 200 and the client
/// certificate's subject and verification result.
pub struct Nginx {
    process: ServerProcess,
    pub port: u16,
    access_log: PathBuf,
    error_log: PathBuf,
}

impl Nginx {
    pub fn start(dir: &TempDir, server: &Issued, client_ca_pem: &str) -> Nginx {
        let nginx = require_tool("nginx", "nginx-light");
        let prefix = dir.path().join("nginx");
        std::fs::create_dir_all(prefix.join("tmp")).expect("nginx prefix");
        let p = |name: &str| prefix.join(name).to_string_lossy().into_owned();
        std::fs::write(p("server.pem"), &server.cert_pem).expect("server.pem");
        std::fs::write(p("server.key"), &server.key_pem).expect("server.key");
        std::fs::write(p("clientca.pem"), client_ca_pem).expect("clientca.pem");
        let access_log = prefix.join("access.log");
        let error_log = prefix.join("error.log");
        let (process, port) = start_on_free_port("nginx", dir.path(), |port| {
            let config = format!(
                r#"# written by tests/external/mod.rs
master_process off;
worker_processes 1;
pid {pid};
error_log {error_log} info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format mtls {format};
    access_log {access_log} mtls;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {client_ca};
        ssl_verify_client on;
        location / {{
            default_type text/plain;
            add_header X-Mtls-Verify $ssl_client_verify always;
            return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify\n";
        }}
    }}
}}
"#,
                pid = p("nginx.pid"),
                error_log = p("error.log"),
                tmp = p("tmp"),
                format = LOG_FORMAT,
                access_log = p("access.log"),
                cert = p("server.pem"),
                key = p("server.key"),
                client_ca = p("clientca.pem"),
            );
            std::fs::write(p("nginx.conf"), config).expect("nginx.conf");
            // A previous attempt's log would hold lines from another port's probe.
            let _ = std::fs::remove_file(p("access.log"));
            let mut command = Command::new(&nginx);
            command.args([
                "-p",
                &p(""),
                "-c",
                &p("nginx.conf"),
                "-e",
                &p("error.log"),
                "-g",
                "daemon off;",
            ]);
            command
        });
        Nginx {
            process,
            port,
            access_log,
            error_log,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The access log's lines so far. Panics on a line the parser does not read.
    pub fn access_log(&self) -> Vec<AccessLine> {
        std::fs::read_to_string(&self.access_log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                AccessLine::parse(line)
                    .unwrap_or_else(|| panic!("unexpected nginx access log line: {line}"))
            })
            .collect()
    }

    /// The access log once it has at least `count` lines (nginx writes a line after answering, so
    /// the test may read before it is there), or as it is after a timeout.
    pub fn wait_for_requests(&self, count: usize) -> Vec<AccessLine> {
        wait_for("nginx access log lines", LOG_TIMEOUT, || {
            let lines = self.access_log();
            (lines.len() >= count).then_some(lines)
        })
        .unwrap_or_else(|| self.access_log())
    }

    pub fn error_log(&self) -> String {
        format!(
            "--- nginx error.log ---\n{}{}",
            std::fs::read_to_string(&self.error_log).unwrap_or_default(),
            self.process.output()
        )
    }
}
