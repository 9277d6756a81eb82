//! `dsapi`: the library from the command line. Call a configured API like curl, print its
//! authorization header or a token's expiry, list what each credential loaded into, and check a
//! configuration in a deployment pipeline. Built on the Rust API, so it behaves exactly as the
//! shared library does; nothing it prints is a secret unless asked for with `token --show` or
//! `header`.

// The doc comments of this binary are clap's --help text, not rustdoc: `[Unauthenticated]` is a
// route name, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

mod arguments;
mod body;
mod call;
mod exit;
mod identity;
mod manual;
mod report;
mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};
use downstream_api::DownstreamApi;
use downstream_api::log::Level;
use serde_json::json;

use exit::{EXIT_CODES, Failure};

#[derive(Parser)]
#[command(
    name = "dsapi",
    version = concat!(env!("CARGO_PKG_VERSION"), " (downstream-api library)"),
    about = "Call downstream APIs configured in an appsettings.json (Microsoft.Identity.Web's \
             DownstreamApis), with mTLS or app tokens",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// The configuration file
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        value_name = "FILE",
        default_value = "appsettings.json"
    )]
    config: PathBuf,
    /// Write to stderr what the library does: the credential selected (thumbprint, subject,
    /// expiry), the protocol, retries, token cache hits. Never a secret
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Call a configured API and print its body (like curl)
    #[command(after_help = EXIT_CODES)]
    Call(Box<call::CallArgs>),
    /// Print the Authorization header value a call to a Bearer API would carry (for a user or
    /// an agent with the same options as call)
    #[command(after_help = EXIT_CODES)]
    Header {
        /// The API's name in DownstreamApis
        api: String,
        #[command(flatten)]
        identity: identity::IdentityArgs,
    },
    /// Acquire an app token for scopes and print its expiry (the token itself only with --show)
    #[command(after_help = EXIT_CODES)]
    Token {
        /// A scope to request, e.g. api://orders/.default (repeat for several)
        #[arg(short, long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// The tenant to request the token in, instead of the configured one
        #[arg(long)]
        tenant: Option<String>,
        /// Skip the token cache
        #[arg(long)]
        force_refresh: bool,
        /// Also print the access token (a secret: mind where the output goes)
        #[arg(long)]
        show: bool,
    },
    /// List every ClientCredentials entry: what it loaded into, or why it failed
    #[command(after_help = EXIT_CODES)]
    Credentials {
        /// Print the description as JSON (the format of dsapi_client_describe_credentials)
        #[arg(long)]
        json: bool,
    },
    /// Serve Microsoft's identity sidecar interface (its routes, names and statuses) over HTTP on
    /// this host: /healthz, /Validate, /AuthorizationHeader[Unauthenticated]/API,
    /// /DownstreamApi[Unauthenticated]/API, and ours: /DownstreamApiRaw[Unauthenticated]/API.
    /// SIGTERM drains, SIGHUP re-reads the configuration
    Serve(Box<serve::ServeArgs>),
    /// Validate the configuration and load every credential: exit 0 only when every API has
    /// what it needs (no request is sent)
    #[command(after_help = EXIT_CODES)]
    Check,
    /// Print the man page dsapi.1 (roff), or write every page into a folder (scripts/install.sh)
    #[command(hide = true)]
    Man(manual::ManArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell)
    #[command(hide = true)]
    Completions(manual::CompletionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    install_log_sink(cli.common.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Warnings always reach stderr; with -v, everything the library logs.
fn install_log_sink(verbose: bool) {
    let level = if verbose { Level::Debug } else { Level::Warn };
    downstream_api::log::set_sink(
        Some(Arc::new(|level: Level, message: &str| {
            let tag = match level {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info | Level::Debug => "*",
            };
            eprintln!("{tag} {message}");
        })),
        level,
    );
}

fn run(cli: Cli) -> Result<(), Failure> {
    // Each command checks its own arguments before the configuration is read.
    let config = cli.common.config;
    let client = || DownstreamApi::from_file(&config);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Call(args) => call::run(&args, client, cli.common.verbose, &mut out),
        Command::Header { api, identity } => header(&api, &identity, client, &mut out),
        Command::Token {
            scopes,
            tenant,
            force_refresh,
            show,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let mut options = json!({"ForceRefresh": force_refresh});
            if let Some(tenant) = tenant {
                options["Tenant"] = json!(tenant);
            }
            let token = client()?.acquire_token(&scopes, Some(&options.to_string()))?;
            let mut text = format!(
                "expires_on: {} (in {} s)\n",
                token.expires_on_utc(),
                token.expires_in()
            );
            if show {
                text += &format!("access_token: {}\n", token.token);
            }
            out.write_all(text.as_bytes()).map_err(Failure::Output)
        }
        Command::Credentials { json } => report::credentials(&client()?, json, &mut out),
        Command::Check => report::check(&client()?, &mut out),
        Command::Serve(args) => serve::run(&args, &config),
        Command::Man(args) => manual::run_man(&args, Cli::command(), &mut out),
        Command::Completions(args) => manual::run_completions(&args, Cli::command(), &mut out),
    }
}

/// `header`: the Authorization header value of a call to `api`, as the app, a user or an agent.
fn header(
    api: &str,
    identity: &identity::IdentityArgs,
    client: impl FnOnce() -> downstream_api::Result<DownstreamApi>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let overrides = identity
        .agent_options("header")?
        .map(|agent| json!({"AcquireTokenOptions": agent}).to_string());
    let user_token = identity.user_token("header")?;
    let client = client()?;
    let header = match &user_token {
        Some(token) => client.authorization_header_for_user(api, token, overrides.as_deref())?,
        None => client.authorization_header(api, overrides.as_deref())?,
    };
    writeln!(out, "{header}").map_err(Failure::Output)
}

/// A malformed value of `subcommand`'s arguments, reported as clap reports its own (with usage).
pub fn argument_error(subcommand: &str, message: &str) -> Failure {
    let mut command = Cli::command();
    command.build();
    let command = command
        .find_subcommand_mut(subcommand)
        .expect("a subcommand of dsapi");
    Failure::Arguments(command.error(clap::error::ErrorKind::ValueValidation, message))
}
