//! A few Redis connections shared by the process's threads, so that one slow operation does not
//! queue every other behind it. A thread takes an idle connection, or opens one while fewer than
//! [`MAX_CONNECTIONS`] are open, or waits for one to come back — never past its operation's end:
//! then Redis is skipped for that operation (the token comes from the token endpoint).

use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use redis::{ConnectionLike, RedisError, RedisResult};

use super::connection::BoundedConnection;

/// Enough for the few operations of concurrent token misses; each is a file descriptor and, over
/// TLS, a session.
pub const MAX_CONNECTIONS: usize = 4;

#[derive(Default)]
pub struct Pool {
    state: Mutex<State>,
    returned: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<BoundedConnection>,
    open: usize,
}

/// What taking a connection came to.
pub enum Taken {
    Ready(BoundedConnection),
    /// Every connection stayed in use until the operation's end.
    Busy,
    /// Opening a new one failed.
    Failed(RedisError),
}

impl Pool {
    /// An idle connection, a new one made by `connect`, or one given back before `until`.
    pub fn take(
        &self,
        until: Instant,
        connect: impl FnOnce() -> RedisResult<BoundedConnection>,
    ) -> Taken {
        let mut state = self.state.lock();
        loop {
            if let Some(connection) = state.idle.pop() {
                return Taken::Ready(connection);
            }
            if state.open < MAX_CONNECTIONS {
                state.open += 1;
                drop(state);
                return match connect() {
                    Ok(connection) => Taken::Ready(connection),
                    Err(error) => {
                        self.closed();
                        Taken::Failed(error)
                    }
                };
            }
            if self.returned.wait_until(&mut state, until).timed_out() {
                return Taken::Busy;
            }
        }
    }

    /// Gives a connection back; one that failed mid-operation is closed instead.
    pub fn put(&self, connection: BoundedConnection) {
        if !connection.is_open() {
            return self.closed();
        }
        self.state.lock().idle.push(connection);
        self.returned.notify_one();
    }

    /// A connection taken from the pool was dropped.
    pub fn closed(&self) {
        let mut state = self.state.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    /// Closes the idle connections: after Redis failed they most likely failed with it.
    pub fn clear(&self) {
        let mut state = self.state.lock();
        let dropped = state.idle.len();
        state.idle.clear();
        state.open = state.open.saturating_sub(dropped);
        drop(state);
        self.returned.notify_all();
    }
}
