//! Debian's `redis-server` for the tests, on 127.0.0.1 with a free port and no persistence, started
//! as a child process and killed with its guard. It can be stopped and started again on the same
//! port (a Redis outage and its end), and read directly, as an operator would with `redis-cli`
//! (plain servers only). A TLS server (`rediss://`) presents a test CA's certificate.

use std::path::PathBuf;
use std::process::Command;

use crate::TempDir;
use crate::external::{ServerProcess, require_tool, start_on_free_port};
use crate::pki::Issued;

pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    /// Over TLS only (`rediss://`): the server certificate and key files.
    tls: Option<(String, String)>,
    dir: TempDir,
    process: Option<ServerProcess>,
    executable: PathBuf,
}

impl RedisServer {
    /// Starts a server; with `password`, clients must authenticate (`requirepass`).
    pub fn start(password: Option<&str>) -> RedisServer {
        RedisServer::launch(password, None)
    }

    /// Starts a server that speaks TLS only, presenting `server` (no client certificate asked).
    pub fn start_tls(server: &Issued) -> RedisServer {
        RedisServer::launch(None, Some(server))
    }

    fn launch(password: Option<&str>, server: Option<&Issued>) -> RedisServer {
        let executable = require_tool("redis-server", "redis-server");
        let dir = TempDir::new("redis");
        let tls = server.map(|server| {
            (
                dir.write("server.pem", &server.cert_pem),
                dir.write("server.key", &server.key_pem),
            )
        });
        let (process, port) = start_on_free_port("redis-server", dir.path(), |port| {
            command(&executable, &dir, port, password, tls.as_ref())
        });
        RedisServer {
            port,
            password: password.map(str::to_string),
            tls,
            dir,
            process: Some(process),
            executable,
        }
    }

    /// `redis://127.0.0.1:<port>/0` (`rediss://` over TLS), with the password when one is
    /// required.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// Kills the server (an outage: connections drop, new ones are refused).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        let mut process = ServerProcess::spawn(
            "redis-server",
            command(
                &self.executable,
                &self.dir,
                self.port,
                self.password.as_deref(),
                self.tls.as_ref(),
            ),
            self.dir.path(),
            99,
        );
        process
            .wait_until_accepting(self.port)
            .unwrap_or_else(|failure| panic!("redis-server did not restart: {failure}"));
        self.process = Some(process);
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection())
            .expect("connect to the test redis-server")
    }

    /// The keys matching `pattern`.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.connection())
            .expect("KEYS")
    }

    /// A key's raw value.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        redis::cmd("GET")
            .arg(key)
            .query(&mut self.connection())
            .expect("GET")
    }

    /// Sets a key's raw value, with a lifetime.
    pub fn set(&self, key: &str, value: &[u8], milliseconds: u64) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(milliseconds)
            .exec(&mut self.connection())
            .expect("SET");
    }

    /// Empties the database.
    pub fn flush(&self) {
        redis::cmd("FLUSHALL")
            .exec(&mut self.connection())
            .expect("FLUSHALL");
    }
}

fn command(
    executable: &PathBuf,
    dir: &TempDir,
    port: u16,
    password: Option<&str>,
    tls: Option<&(String, String)>,
) -> Command {
    let mut command = Command::new(executable);
    match tls {
        Some((cert, key)) => command
            .args(["--port", "0", "--tls-port"])
            .arg(port.to_string())
            .args(["--tls-cert-file", cert, "--tls-key-file", key])
            .args(["--tls-auth-clients", "no"]),
        None => command.arg("--port").arg(port.to_string()),
    };
    command
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--save")
        .arg("")
        .arg("--appendonly")
        .arg("no")
        .arg("--dir")
        .arg(dir.path());
    if let Some(password) = password {
        command.arg("--requirepass").arg(password);
    }
    command
}
