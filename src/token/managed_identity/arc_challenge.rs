//! Azure Arc's challenge: the first token request is answered 401 with
//! `WWW-Authenticate: Basic realm=<path>`, naming a key file the local agent just wrote; the
//! request is resent with `Authorization: Basic <contents>`. Whoever can read the file is the
//! machine's administrator, which is the proof. The path comes from a local HTTP answer, so it is
//! believed only when it is a `.key` file directly in the agent's folder (as MSAL checks) and the
//! file is at most 4096 bytes.

use std::path::{Path, PathBuf};

use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, read_regular_file};
use crate::transport::Response;

/// The `Authorization` value answering the challenge of `response`.
pub fn answer(response: &Response, key_directory: Option<&Path>) -> Result<String> {
    let refused = |why: String| {
        Error::new(
            ErrorKind::TokenAcquisition,
            format!("Azure Arc's challenge: {why}"),
        )
    };
    let challenge = response
        .header("www-authenticate")
        .ok_or_else(|| refused("HTTP 401 without a WWW-Authenticate header".to_string()))?;
    let path = challenge
        .split_once('=')
        .filter(|(scheme, _)| scheme.trim().eq_ignore_ascii_case("Basic realm"))
        .map(|(_, path)| path.trim().trim_matches('"'))
        .filter(|path| !path.is_empty())
        .ok_or_else(|| refused(format!("{} is not 'Basic realm=<file>'", quote(challenge))))?;
    let directory = key_directory.ok_or_else(|| {
        refused("this operating system has no Azure Arc agent folder".to_string())
    })?;
    let path = Path::new(path);
    if !is_key_file_in(path, directory) {
        return Err(refused(format!(
            "the key file {} is not a .key file in {}",
            quote(&path.to_string_lossy()),
            quote(&directory.to_string_lossy())
        )));
    }
    let key = read_regular_file(path, FileKind::ArcKey).map_err(refused)?;
    let key = String::from_utf8(key)
        .map_err(|_| refused(format!("{} is not text", quote(&path.to_string_lossy()))))?;
    Ok(format!("Basic {}", key.trim()))
}

/// Whether `path` is exactly `<directory>/<name>.key`: no other folder, no `..`.
fn is_key_file_in(path: &Path, directory: &Path) -> bool {
    let (Some(stem), Some("key")) = (path.file_stem(), path.extension().and_then(|e| e.to_str()))
    else {
        return false;
    };
    let mut expected = PathBuf::from(directory);
    expected.push(stem);
    expected.set_extension("key");
    path == expected
        && path
            .components()
            .all(|c| c != std::path::Component::ParentDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_files_directly_in_the_folder() {
        let folder = Path::new("/var/opt/azcmagent/tokens");
        assert!(is_key_file_in(
            Path::new("/var/opt/azcmagent/tokens/a1.key"),
            folder
        ));
        for outside in [
            "/etc/shadow",
            "/var/opt/azcmagent/tokens/a1.txt",
            "/var/opt/azcmagent/tokens/sub/a1.key",
            "/var/opt/azcmagent/tokens/../a1.key",
            "/var/opt/azcmagent/a1.key",
            "a1.key",
        ] {
            assert!(!is_key_file_in(Path::new(outside), folder), "{outside}");
        }
    }
}
