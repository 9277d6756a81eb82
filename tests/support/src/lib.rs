//! Test support shared by the integration tests, the demo and the benchmarks: certificates made
//! with rcgen, temporary directories, an in-process HTTPS server with client-certificate
//! verification on 127.0.0.1, a fake token endpoint that verifies what it receives, and the
//! external servers (openssl s_server, nginx) the tests start, and a fake Key Vault. Everything
//! listens on loopback.

pub mod credentials;
pub mod external;
pub mod identity_endpoint;
pub mod key_vault;
pub mod pki;
pub mod redis_server;
pub mod request_log;
pub mod server;
pub mod slow_proxy;
pub mod tinyproxy;
pub mod token_server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dsapi-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` inside the directory and returns the full path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of a committed fixture file (RSA keys and PFX files made by tests/fixtures/generate.sh).
pub fn fixture(name: &str) -> String {
    // This crate lives in tests/support; the fixtures beside it in tests/fixtures.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The password of every encrypted fixture.
pub const FIXTURE_PASSWORD: &str = "fixture-pass";

/// A port on 127.0.0.1 that was free a moment ago (nothing listens there now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// JSON string literal for `text` (paths may hold characters that need escaping).
pub fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}
