//! `dsapi man` and `dsapi completions`: the man pages and the shell completions, generated from
//! the same clap definitions that parse the arguments, so they cannot describe other options than
//! the command takes. Hidden commands: scripts/install.sh runs them to install
//! `share/man/man1/dsapi.1` (and `dsapi-<command>.1`) and the bash, zsh and fish completions.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Command};
use clap_complete::Shell;
use clap_mangen::Man;

use crate::exit::{EXIT_CODES, Failure};

#[derive(Args)]
pub struct ManArgs {
    /// Write dsapi.1 and one page per command (dsapi-call.1, ...) into this folder instead of
    /// printing dsapi.1
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// What a reader of `man dsapi` needs beyond the options: where the configuration comes from and
/// where the guides are.
const SEE_ALSO: &str = "\
.SH FILES
.TP
\\fIappsettings.json\\fR
The configuration, read as Microsoft.Identity.Web reads it: the AzureAd (or MicrosoftIdentity),
DownstreamApis, Http and TokenCache sections. Environment variables override it in .NET's style
(AzureAd__ClientId, DownstreamApis__Orders__BaseUrl).
.SH \"SEE ALSO\"
The guides of the downstream-api project: docs/guide/command.md (this command),
docs/guide/configuration.md and docs/guide/sidecar.md (dsapi serve).
";

/// `dsapi man`: dsapi.1 on standard output, or every page into `--out-dir`.
pub fn run_man(args: &ManArgs, command: Command, out: &mut impl Write) -> Result<(), Failure> {
    // `help` is a command of the terminal, not a page.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    match &args.out_dir {
        None => out
            .write_all(&page(&command, true).map_err(Failure::Output)?)
            .map_err(Failure::Output),
        Some(dir) => write_pages(&command, dir).map_err(Failure::Output),
    }
}

/// `dsapi.1` and `dsapi-<command>.1` for every command a user may type.
fn write_pages(command: &Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("dsapi.1"), page(command, true)?)?;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("{}.1", sub.get_display_name().unwrap_or(sub.get_name()));
        std::fs::write(dir.join(name), page(sub, false)?)?;
    }
    Ok(())
}

/// One page in roff: clap_mangen's sections, its "EXTRA" (our exit codes, from `after_help`)
/// under the heading man pages use for them, and the files and guides on the main page.
fn page(command: &Command, main: bool) -> std::io::Result<Vec<u8>> {
    let man = Man::new(command.clone()).manual("downstream-api");
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(&mut roff)?;
    }
    if command.get_after_help().is_some() {
        roff.extend_from_slice(exit_status_section().as_bytes());
    }
    if main {
        roff.extend_from_slice(SEE_ALSO.as_bytes());
    }
    if command.get_version().is_some() {
        man.render_version_section(&mut roff)?;
    }
    Ok(roff)
}

/// The exit codes `--help` lists (`after_help`), as a roff list: clap_mangen would fill the
/// aligned text into one paragraph.
fn exit_status_section() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES.lines().skip(1) {
        let text = line.trim().replace('\\', "\\e");
        match text.split_once(char::is_whitespace) {
            Some((code, rest)) if code.chars().all(|c| c.is_ascii_digit()) => {
                roff += &format!(".TP\n\\fB{code}\\fR\n{}\n", rest.trim());
            }
            _ => roff += &format!("{text}\n"),
        }
    }
    roff
}

/// `dsapi completions SHELL`: the completion script on standard output.
pub fn run_completions(
    args: &CompletionsArgs,
    mut command: Command,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // Into memory first: clap_complete panics on a failed write (`| head`), ours is reported.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "dsapi", &mut script);
    out.write_all(&script).map_err(Failure::Output)
}
