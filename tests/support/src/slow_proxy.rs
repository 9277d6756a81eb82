//! A TCP proxy on 127.0.0.1 that slows what a server answers: each answer held back for a fixed
//! delay (a slow but correct Redis), or trickled one byte at a time (a Redis that never quite
//! stops talking). Requests go through untouched. Stops when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// How the proxy slows the server's answers.
#[derive(Debug, Clone, Copy)]
pub enum Slowness {
    /// Every chunk the server sends is held back this long, then passed on whole.
    Delay(Duration),
    /// Every byte the server sends is passed on alone, one per interval.
    Trickle(Duration),
}

pub struct SlowProxy {
    pub port: u16,
    stopped: Arc<AtomicBool>,
}

impl SlowProxy {
    /// A proxy to `127.0.0.1:target_port`.
    pub fn start(target_port: u16, slowness: Slowness) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the slow proxy");
        let port = listener.local_addr().expect("local address").port();
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                forward(client, server, slowness);
            }
        });
        SlowProxy { port, stopped }
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Client → server as is, server → client slowed, each direction on its own thread.
fn forward(client: TcpStream, server: TcpStream, slowness: Slowness) {
    let (Ok(mut client_reader), Ok(mut server_writer)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut server_writer);
        let _ = server_writer.shutdown(Shutdown::Write);
    });
    thread::spawn(move || slow_copy(server, client, slowness));
}

fn slow_copy(mut from: TcpStream, mut to: TcpStream, slowness: Slowness) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let written = match slowness {
            Slowness::Delay(delay) => {
                thread::sleep(delay);
                to.write_all(&buffer[..read])
            }
            Slowness::Trickle(interval) => buffer[..read].iter().try_for_each(|byte| {
                thread::sleep(interval);
                to.write_all(std::slice::from_ref(byte))
            }),
        };
        if written.is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}
