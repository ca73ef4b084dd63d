//! The `rtsnap` command: parses arguments, calls the library, prints the report (text,
//! or one JSON document on stdout with `--json`), and maps errors to exit codes
//! (design §2). All the work lives in the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rtsnap::config::Config;
use rtsnap::error::{exit, Error};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "rtsnap",
    version,
    about = "Export, import and verify AWS Amplify Gen 2 environments as encrypted .rtsnap archives"
)]
struct Cli {
    /// Configuration file (default ./rtsnap.toml, then $RTSNAP_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// age identity file to open snapshots with (or RTSNAP_IDENTITY; RTSNAP_PASSPHRASE for passphrase snapshots).
    #[arg(long, global = true, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// Print one JSON document on stdout and nothing else there.
    #[arg(long, global = true)]
    json: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    no_progress: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack a snapshot directory into an encrypted .rtsnap archive (and its .sha256 sidecar).
    Pack {
        dir: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Allow writing the archive inside a git work tree.
        #[arg(long)]
        allow_in_repo: bool,
    },
    /// Verify and unpack an archive into a new snapshot directory.
    Unpack { file: PathBuf, dir: PathBuf },
    /// Show a snapshot's header, counts, sizes and digests (verifies it completely).
    Inspect { file: PathBuf },
    /// Check a snapshot: the sidecar without a key; every entry against MANIFEST with one.
    Verify { file: PathBuf },
    /// List the snapshots in the snapshot directory.
    List {
        /// Only this environment's snapshots.
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
    },
    /// Create a new age identity; prints its recipient (public key).
    Keygen {
        /// Write the identity here (mode 0600) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            if json {
                let doc = serde_json::json!({ "error": err.to_string(), "exit_code": code });
                println!("{doc}");
            }
            eprintln!("rtsnap: error: {err}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Pack {
            dir,
            output,
            allow_in_repo,
        } => {
            let config = Config::discover(cli.config.as_deref())?;
            let key = rtsnap::keys::encryption_key(&config)?;
            let dest = rtsnap::pack::Destination {
                path: output,
                explicit: true,
                allow_in_repo,
            };
            let report = rtsnap::pack::pack(&dir, &dest, &key)?;
            out.emit(&report, || {
                let mut text = format!(
                    "packed {} → {} ({})\nsha256 {}  (sidecar {})\n",
                    dir.display(),
                    report.file.display(),
                    rtsnap::report::human_bytes(report.size),
                    report.sha256,
                    report.sidecar.display()
                );
                report.summary.render(&mut text, false);
                text
            })
        }
        Command::Unpack { file, dir } => {
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::pack::unpack(&file, &dir, &key)?;
            out.emit(&report, || {
                let mut text = format!(
                    "verified and unpacked {} files into {}\n",
                    report.files,
                    report.dir.display()
                );
                report.summary.render(&mut text, false);
                text
            })
        }
        Command::Inspect { file } => {
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::inspect::inspect(&file, &key)?;
            out.emit(&report, || {
                let mut text = format!(
                    "{} ({}), sidecar: {}, all entries verified\n",
                    report.file.display(),
                    rtsnap::report::human_bytes(report.size),
                    sidecar_text(&report.sidecar)
                );
                report.summary.render(&mut text, true);
                text
            })
        }
        Command::Verify { file } => {
            let key = rtsnap::keys::decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::inspect::verify(&file, key.as_ref())?;
            out.emit(&report, || verify_text(&file, &report))
        }
        Command::List { env } => {
            let config = Config::discover(cli.config.as_deref())?;
            let report = rtsnap::list::list(&config.snapshot_dir(), env.as_deref())?;
            out.emit(&report, || list_text(&report))
        }
        Command::Keygen { output } => keygen(&out, output.as_deref()),
    }
}

fn keygen(out: &Output, output: Option<&Path>) -> Result<(), Error> {
    if output.is_none() && out.json {
        return Err(Error::Usage(
            "keygen --json needs -o FILE (the identity is a secret and is not put in JSON)".into(),
        ));
    }
    let (report, identity_text) = rtsnap::keygen::keygen(output)?;
    if let Some(text) = identity_text {
        // Like age-keygen: the identity to stdout, the recipient to stderr.
        print!("{text}");
        if std::io::stdout().is_terminal() {
            eprintln!("(store this identity safely; anyone holding it can open your snapshots)");
        }
        eprintln!("Public key: {}", report.recipient);
        return Ok(());
    }
    out.emit(&report, || {
        format!(
            "wrote identity {} (mode 0600)\nrecipient (add to rtsnap.toml [snapshots] recipients): {}\n",
            report.identity_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            report.recipient
        )
    })
}

fn sidecar_text(status: &rtsnap::inspect::SidecarStatus) -> &'static str {
    match status {
        rtsnap::inspect::SidecarStatus::Matches => "matches",
        rtsnap::inspect::SidecarStatus::Missing => "missing",
    }
}

fn verify_text(file: &Path, report: &rtsnap::inspect::VerifyReport) -> String {
    let mut text = format!(
        "{}: sidecar {}",
        file.display(),
        sidecar_text(&report.sidecar)
    );
    match (&report.entries_verified, &report.summary) {
        (Some(n), Some(summary)) => {
            text.push_str(&format!("; {n} entries verified against MANIFEST.json\n"));
            summary.render(&mut text, true);
        }
        _ => text.push_str(" (no key given: entries not checked)\n"),
    }
    text
}

fn list_text(report: &rtsnap::list::ListReport) -> String {
    if report.snapshots.is_empty() {
        return format!("no snapshots in {}\n", report.dir.display());
    }
    let mut text = format!("snapshots in {}:\n", report.dir.display());
    for s in &report.snapshots {
        let kind = match s.kind {
            rtsnap::list::SnapshotKind::Export => "export",
            rtsnap::list::SnapshotKind::PreImportBackup => "pre-import backup",
            rtsnap::list::SnapshotKind::Other => "other",
        };
        text.push_str(&format!(
            "  {}  {:>10}  {}  {}{}\n",
            s.modified,
            rtsnap::report::human_bytes(s.size),
            kind,
            s.name,
            if s.has_sidecar { "" } else { "  (no sidecar)" }
        ));
    }
    text
}

/// Where results go: one JSON document on stdout, or text on stdout.
struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    fn emit<T: Serialize>(&self, report: &T, text: impl FnOnce() -> String) -> Result<(), Error> {
        let mut stdout = std::io::stdout().lock();
        let written = if self.json {
            serde_json::to_string_pretty(report)
                .map_err(|e| Error::Failed(format!("encoding JSON: {e}")))
                .map(|doc| writeln!(stdout, "{doc}"))?
        } else if self.quiet {
            Ok(())
        } else {
            write!(stdout, "{}", text())
        };
        written.map_err(Error::io("writing to stdout"))
    }
}
