//! What `dsapi serve` listens on and talks over: a TCP port or a Unix socket, behind one type.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

/// Where to listen: `http://HOST:PORT` (ASP.NET's `+` and `*` mean every address) or
/// `unix:/path/to/socket`.
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses one URL of `--urls` / `ASPNETCORE_URLS`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                return Err(format!("'{url}': a Unix socket needs a path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "'{url}': only http://HOST:PORT or unix:PATH (this server speaks plain HTTP to \
                 its own pod or host; TLS is for the APIs it calls)"
            ));
        };
        let authority = rest.trim_end_matches('/');
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("'{url}': no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{url}': the port is not a number"))?;
        let ip = match host.trim_start_matches('[').trim_end_matches(']') {
            "+" | "*" | "0.0.0.0" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            other => other
                .parse()
                .map_err(|_| format!("'{url}': '{other}' is not an IP address or localhost"))?,
        };
        Ok(Endpoint::Tcp(SocketAddr::new(ip, port)))
    }
}

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds `endpoint`; a Unix socket is made with mode 0600 (only this user may connect), and
    /// a stale socket file left by a previous run is replaced.
    pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
        let listener = match endpoint {
            Endpoint::Tcp(address) => Listener::Tcp(TcpListener::bind(address)?),
            Endpoint::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(path)?;
                }
                // SAFETY: umask only changes this process's file creation mask; it is restored
                // at once, before any other thread of ours exists.
                let previous = unsafe { libc::umask(0o177) };
                let bound = UnixListener::bind(path);
                unsafe { libc::umask(previous) };
                Listener::Unix(bound?, path.clone())
            }
        };
        listener.set_nonblocking()?;
        Ok(listener)
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(true),
            Listener::Unix(l, _) => l.set_nonblocking(true),
        }
    }

    /// The address a client connects to, as a URL.
    pub fn url(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(address) => format!("http://{address}"),
                Err(_) => "http://?".to_string(),
            },
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// A connection waiting to be accepted, or `WouldBlock`.
    pub fn accept(&self) -> io::Result<Stream> {
        let stream = match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                let _ = stream.set_nodelay(true);
                Stream::Tcp(stream, peer.ip())
            }
            Listener::Unix(l, _) => Stream::Unix(l.accept()?.0),
        };
        stream.set_nonblocking(true)?;
        Ok(stream)
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One client connection.
pub enum Stream {
    Tcp(TcpStream, IpAddr),
    Unix(UnixStream),
}

impl Stream {
    /// Whether the caller is on this host as the sidecar's rule means it: a Unix socket, or
    /// exactly 127.0.0.1 or ::1 (not the rest of 127.0.0.0/8: docs/guide/sidecar.md says why).
    pub fn is_local(&self) -> bool {
        match self {
            Stream::Unix(_) => true,
            Stream::Tcp(_, IpAddr::V4(ip)) => *ip == Ipv4Addr::LOCALHOST,
            Stream::Tcp(_, IpAddr::V6(ip)) => {
                *ip == Ipv6Addr::LOCALHOST || ip.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
            }
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s, _) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    pub fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s, _) => s.set_write_timeout(Some(timeout)),
            Stream::Unix(s) => s.set_write_timeout(Some(timeout)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s, _) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s, _) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s, _) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_aspnetcore_urls_gives_them() {
        let tcp = |s: &str| Endpoint::Tcp(s.parse().unwrap());
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:5000"),
            Ok(tcp("127.0.0.1:5000"))
        );
        assert_eq!(Endpoint::parse("http://+:8080/"), Ok(tcp("0.0.0.0:8080")));
        assert_eq!(
            Endpoint::parse("http://localhost:1"),
            Ok(tcp("127.0.0.1:1"))
        );
        assert_eq!(Endpoint::parse("http://[::1]:5000"), Ok(tcp("[::1]:5000")));
        assert_eq!(
            Endpoint::parse("unix:/run/dsapi.sock"),
            Ok(Endpoint::Unix("/run/dsapi.sock".into()))
        );
        for bad in [
            "https://127.0.0.1:1",
            "http://127.0.0.1",
            "http://host.example:1",
            "unix:",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
