//! SIGTERM, SIGINT and SIGHUP as bytes on a pipe (the self-pipe trick): the handler only writes
//! the signal's number, which is async-signal-safe; `dsapi serve`'s main thread reads them.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Relaxed);
    let byte = signal as u8;
    // SAFETY: write(2) on a pipe is async-signal-safe; a full pipe drops the byte, and the
    // signals already waiting in it are enough for the reader.
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
}

/// What the server is asked to do.
#[derive(Debug, PartialEq)]
pub enum Signal {
    Stop,
    Reload,
}

pub struct Signals(File);

impl Signals {
    /// Installs the handlers; from now on these signals reach `next`.
    pub fn install() -> std::io::Result<Signals> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The read end blocks: the main thread waits on it.
        // SAFETY: fds[0] is the pipe's read end, just made and owned by nobody else.
        unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
        WRITE_END.store(fds[1], Ordering::Relaxed);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction with a handler that only calls write(2).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        // SAFETY: fds[0] is owned by the File from here on.
        Ok(Signals(unsafe { File::from_raw_fd(fds[0]) }))
    }

    /// Blocks until the next signal.
    pub fn next(&mut self) -> Signal {
        let mut byte = [0u8; 1];
        loop {
            match self.0.read(&mut byte) {
                Ok(1) if i32::from(byte[0]) == libc::SIGHUP => return Signal::Reload,
                Ok(1) => return Signal::Stop,
                Ok(_) => return Signal::Stop,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Signal::Stop,
            }
        }
    }
}
