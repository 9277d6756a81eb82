//! Debian's `redis-server` for the tests, on 127.0.0.1 with a free port and no persistence, started
//! as a child process and killed with its guard. It can be stopped and started again on the same
//! port (a Redis outage and its end), and read directly, as an operator would with `redis-cli`.

use std::path::PathBuf;
use std::process::Command;

use crate::TempDir;
use crate::external::{ServerProcess, require_tool, start_on_free_port};

pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    dir: TempDir,
    process: Option<ServerProcess>,
    executable: PathBuf,
}

impl RedisServer {
    /// Starts a server; with `password`, clients must authenticate (`requirepass`).
    pub fn start(password: Option<&str>) -> RedisServer {
        let executable = require_tool("redis-server", "redis-server");
        let dir = TempDir::new("redis");
        let (process, port) = start_on_free_port("redis-server", dir.path(), |port| {
            command(&executable, &dir, port, password)
        });
        RedisServer {
            port,
            password: password.map(str::to_string),
            dir,
            process: Some(process),
            executable,
        }
    }

    /// `redis://127.0.0.1:<port>/0`, with the password when one is required.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
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

fn command(executable: &PathBuf, dir: &TempDir, port: u16, password: Option<&str>) -> Command {
    let mut command = Command::new(executable);
    command
        .arg("--port")
        .arg(port.to_string())
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
