//! `call`'s request body, read as curl reads `-d`: text, `@FILE` for a file's bytes, `-` or `@-`
//! for standard input; at most `--max-body-bytes` (64 MiB by default, like the response cap
//! `Http.MaxResponseBytes`). A file or standard input is read no further than one byte past the
//! cap, so a larger body, `/dev/zero` or a pipe that never ends is refused, not held in memory.

use std::io::Read;

use crate::arguments::shown;
use crate::exit::Failure;

/// The default of `--max-body-bytes`.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// The body `data` gives, `option` (`-d/--data`, `--json`) naming it in messages.
pub fn read(option: &str, data: &str, cap: u64) -> Result<Vec<u8>, Failure> {
    read_capped_by(
        option,
        data,
        cap,
        "the body",
        "the cap --max-body-bytes sets",
    )
}

/// What `data` gives (text, `@FILE`, `-`), read no further than one byte past `cap`; a message
/// refusing more calls it `what` ("the body") and says who set the cap (`cap_source`).
pub fn read_capped_by(
    option: &str,
    data: &str,
    cap: u64,
    what: &str,
    cap_source: &str,
) -> Result<Vec<u8>, Failure> {
    let (source, bytes) = match data {
        "-" | "@-" => {
            let source = "standard input".to_string();
            let bytes = unbuffered_stdin()
                .and_then(|stdin| read_capped(stdin, cap, 0))
                .map_err(|e| Failure::Usage(format!("{option}: cannot read {source}: {e}")))?;
            (source, bytes)
        }
        _ => match data.strip_prefix('@') {
            Some(path) => {
                let source = format!("the file {}", shown(path));
                let bytes = read_file(path, cap)
                    .map_err(|e| Failure::Usage(format!("{option}: cannot read {source}: {e}")))?;
                (source, bytes)
            }
            None => ("the command line".to_string(), data.as_bytes().to_vec()),
        },
    };
    if bytes.len() as u64 > cap {
        return Err(Failure::Usage(format!(
            "{option}: {what} from {source} is larger than {cap} bytes, {cap_source}"
        )));
    }
    Ok(bytes)
}

/// Standard input, unbuffered: `Stdin`'s buffer would take up to 8 KiB past the cap from a pipe.
#[cfg(unix)]
fn unbuffered_stdin() -> std::io::Result<impl Read> {
    use std::os::fd::AsFd;
    let descriptor = std::io::stdin().as_fd().try_clone_to_owned()?;
    Ok(std::fs::File::from(descriptor))
}

/// Elsewhere `Stdin` as it is: its buffer may take up to 8 KiB more, dropped with the process.
#[cfg(not(unix))]
fn unbuffered_stdin() -> std::io::Result<impl Read> {
    Ok(std::io::stdin().lock())
}

/// Up to `cap + 1` bytes of the file at `path` (a regular file, a device or a pipe).
fn read_file(path: &str, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    // A device or a pipe reports no length: it is read as it comes, up to the cap.
    let expected = file.metadata().map(|m| m.len()).unwrap_or(0);
    read_capped(file, cap, expected)
}

/// At most `cap + 1` bytes of `reader`, with room for `expected` of them made at once.
fn read_capped(reader: impl Read, cap: u64, expected: u64) -> std::io::Result<Vec<u8>> {
    let limit = cap.saturating_add(1);
    let mut bytes = Vec::new();
    // Only a hint: when it cannot be had, reading grows the buffer (or fails) as it goes.
    let _ = bytes.try_reserve(usize::try_from(expected.min(limit)).unwrap_or(0));
    reader.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}
