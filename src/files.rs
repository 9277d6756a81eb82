//! Reading the files a configuration names — the configuration itself, certificates, CA bundles,
//! signed assertions — safely: only regular files (a FIFO, socket, device or directory is refused
//! before anything blocks), opened without blocking, and never more than a cap suited to what the
//! file holds, so `/dev/zero` or a runaway file cannot hang the host or exhaust its memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::encoding::quote;

/// What a file holds, and so how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An `appsettings.json`.
    Configuration,
    /// A PEM or PFX file with a certificate chain and its key.
    Certificate,
    /// PEM CA certificates (`Http.CaBundlePath`, `SSL_CERT_FILE`).
    CaBundle,
    /// A signed assertion (a JWT) for workload identity federation.
    Assertion,
    /// The key file an Azure Arc challenge names.
    ArcKey,
    /// The token cache's encryption key (`TokenCache.Distributed.EncryptionKeyFile`).
    CacheKey,
}

impl FileKind {
    /// The largest file accepted: generous for real files, small enough to refuse a mistake.
    pub const fn limit(self) -> u64 {
        match self {
            // Large appsettings.json files stay far below this.
            FileKind::Configuration => 4 * 1024 * 1024,
            // A PFX with a long chain is tens of KiB.
            FileKind::Certificate => 1024 * 1024,
            // The Mozilla bundle is about 220 KiB.
            FileKind::CaBundle => 16 * 1024 * 1024,
            // A JWT is a few KiB.
            FileKind::Assertion => 64 * 1024,
            // MSAL's limit: the agent's keys are far smaller.
            FileKind::ArcKey => 4096,
            // 32 bytes, or their hex or base64 with a newline.
            FileKind::CacheKey => 1024,
        }
    }
}

/// Reads the regular file at `path`, at most `kind.limit()` bytes. Errors say what was wrong with
/// the file (not a regular file, too large, unreadable) and name its path.
pub fn read_regular_file(path: &Path, kind: FileKind) -> Result<Vec<u8>, String> {
    let shown = quote(&path.to_string_lossy());
    let file = open_without_blocking(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    check_metadata(&metadata, &shown, kind)?;
    let limit = kind.limit();
    let too_large = || format!("{shown} is larger than {} KiB", limit / 1024);
    let mut data = Vec::with_capacity(metadata.len() as usize);
    // The file may grow between the size check and the read: read one byte past the limit at most.
    file.take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if data.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(data)
}

/// Checks, without reading it, that `path` is a regular file within `kind`'s limit (for files a
/// library of ours reads itself, such as `SSL_CERT_FILE`).
pub fn check_regular_file(path: &Path, kind: FileKind) -> Result<(), String> {
    let shown = quote(&path.to_string_lossy());
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    check_metadata(&metadata, &shown, kind)
}

/// A regular file no larger than `kind`'s limit; `shown` is the path as messages quote it.
fn check_metadata(metadata: &std::fs::Metadata, shown: &str, kind: FileKind) -> Result<(), String> {
    if !metadata.is_file() {
        return Err(format!(
            "{shown} is {}, not a regular file",
            describe_type(metadata)
        ));
    }
    if metadata.len() > kind.limit() {
        return Err(format!(
            "{shown} is larger than {} KiB",
            kind.limit() / 1024
        ));
    }
    Ok(())
}

/// Opening a FIFO for reading blocks until a writer appears; with `O_NONBLOCK` it returns at once,
/// and the type check then refuses it. For regular files the flag changes nothing.
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn describe_type(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dsapi-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_regular_files_within_the_limit() {
        let dir = temp_dir("regular");
        let path = dir.join("a.json");
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(
            read_regular_file(&path, FileKind::Configuration).unwrap(),
            b"{}"
        );
        let big = dir.join("big.jwt");
        std::fs::write(&big, vec![b'a'; 64 * 1024 + 1]).unwrap();
        let error = read_regular_file(&big, FileKind::Assertion).unwrap_err();
        assert!(error.contains("larger than 64 KiB"), "{error}");
        let error = read_regular_file(&dir, FileKind::Certificate).unwrap_err();
        assert!(error.contains("is a directory"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let error = read_regular_file(Path::new("/dev/zero"), FileKind::CaBundle).unwrap_err();
        assert!(error.contains("a device"), "{error}");
        let error = check_regular_file(Path::new("/dev/urandom"), FileKind::CaBundle).unwrap_err();
        assert!(error.contains("a device"), "{error}");
        let dir = temp_dir("fifo");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let error = read_regular_file(&fifo, FileKind::Certificate).unwrap_err();
        assert!(error.contains("a FIFO"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
