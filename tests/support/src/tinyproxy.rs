//! Debian's `tinyproxy` for the tests: an HTTP proxy on 127.0.0.1 with a free port, optionally
//! asking for Basic authentication, its log in a test's `TempDir` so a test can see what went
//! through it (`CONNECT host:port` only, for a tunnel).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::external::{ServerProcess, require_tool, start_on_free_port};

pub struct Tinyproxy {
    pub port: u16,
    dir: TempDir,
    _process: ServerProcess,
}

impl Tinyproxy {
    /// Starts a proxy; with `credentials` (user, password), it answers 407 without them.
    pub fn start(credentials: Option<(&str, &str)>) -> Tinyproxy {
        let executable = require_tool("tinyproxy", "tinyproxy");
        let dir = TempDir::new("tinyproxy");
        let log = dir.path().join("tinyproxy.log");
        let (process, port) = start_on_free_port("tinyproxy", dir.path(), |port| {
            let mut config = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\n\
                 MaxClients 100\n",
                log.display()
            );
            if let Some((user, password)) = credentials {
                config.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            let path = dir.write(&format!("tinyproxy-{port}.conf"), config);
            let mut command = Command::new(&executable);
            command.args(["-d", "-c", &path]);
            command
        });
        Tinyproxy {
            port,
            dir,
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }

    /// The request lines the proxy received ("CONNECT 127.0.0.1:443 HTTP/1.1", ...), waiting a
    /// little for its log to catch up with at least `count` of them.
    pub fn requests(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines: Vec<String> = self
                .log()
                .lines()
                .filter_map(|line| {
                    line.split_once("): ")
                        .map(|(_, request)| request.to_string())
                })
                .filter(|request| {
                    ["CONNECT ", "GET ", "POST ", "PUT ", "DELETE "]
                        .iter()
                        .any(|method| request.starts_with(method))
                })
                .collect();
            if lines.len() >= count || started.elapsed() > Duration::from_secs(3) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
