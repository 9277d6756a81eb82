//! Why a command failed, and the exit code each reason maps to (documented in `--help`).

use std::process::ExitCode;

use downstream_api::{Error, ErrorKind};

pub const EXIT_CODES: &str = "\
Exit codes:
  0   success (for call: a response was received, whatever its status)
  1   no response or token could be had: network, TLS, timeout, token endpoint
  2   bad arguments (the message names the argument)
  3   configuration: file missing or unreadable, invalid JSON or value, unknown API, unsupported
  4   credentials: none usable, or a certificate rejected; for check: an API lacks what it needs
  5   call --user-token or --agent-user: the user must act (MFA, consent, Conditional Access);
      the claims challenge is printed to stderr
  22  call --fail: the HTTP status was 400 or above";

pub enum Failure {
    /// The library's error, mapped by its kind.
    Library(Error),
    /// An argument clap could not judge (a -d file that cannot be read).
    Usage(String),
    /// A malformed argument, with the subcommand's usage.
    Arguments(clap::Error),
    /// `call --fail` and the status was >= 400.
    HttpStatus(u16),
    /// `check` found APIs that cannot be called (already printed).
    NotReady,
    /// Writing the output failed.
    Output(std::io::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Library(error)
    }
}

impl Failure {
    /// Prints the reason to stderr and gives the exit code.
    pub fn report(self) -> ExitCode {
        let (code, message) = match self {
            Failure::Library(error) if error.kind() == ErrorKind::UserInteractionRequired => {
                (5, user_interaction_message(&error))
            }
            Failure::Library(error) => (library_code(error.kind()), error.message().to_string()),
            Failure::Usage(message) => (2, message),
            Failure::Arguments(error) => {
                let _ = error.print();
                return ExitCode::from(2);
            }
            Failure::HttpStatus(status) => (22, format!("the API answered HTTP {status}")),
            Failure::NotReady => (4, "not every API can be called".to_string()),
            // A closed pipe (`dsapi call … | head`) is the reader's choice, not an error.
            Failure::Output(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                return ExitCode::SUCCESS;
            }
            Failure::Output(error) => (1, format!("cannot write the output: {error}")),
        };
        eprintln!("dsapi: {message}");
        ExitCode::from(code)
    }
}

fn library_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidArgument => 2,
        ErrorKind::Config | ErrorKind::Io | ErrorKind::UnknownApi | ErrorKind::Unsupported => 3,
        ErrorKind::CredentialUnavailable | ErrorKind::CertificateRejected => 4,
        _ => 1,
    }
}

/// Why the user must act, and the claims challenge their client must bring back (not a secret).
fn user_interaction_message(error: &Error) -> String {
    let mut message = format!(
        "the user must act (DSAPI_USER_INTERACTION_REQUIRED): {}",
        error.message()
    );
    match error.claims_challenge() {
        Some(claims) if !claims.is_empty() => {
            message += &format!("\ndsapi: claims challenge: {claims}");
        }
        _ => message += "\ndsapi: no claims challenge came with the refusal",
    }
    message
}
