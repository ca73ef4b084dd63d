//! The `rtsnap` command: parses arguments, calls the library, prints the report (text,
//! or one JSON document on stdout with `--json`), and maps errors to exit codes
//! (design §2). All the work lives in the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod import;
mod render;
mod render_analyze;
mod render_check;
mod render_import;
mod setup;
mod terminal;

use args::{Cli, Command};

use render::{export_text, verify_text};
use rtsnap::config::Config;
use rtsnap::error::{exit, Error};
use serde::Serialize;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            // A script that asked for --json gets its one document even when the
            // command line itself is wrong (clap never got as far as parsing it).
            if code != exit::OK && std::env::args_os().skip(1).any(|a| a == "--json") {
                // clap's text: the error, a blank line, usage; the error on one line.
                let text = e.to_string();
                let error = text.split("\n\n").next().unwrap_or_default();
                let words: Vec<&str> = error.split_whitespace().collect();
                let message = words.join(" ");
                let message = rtsnap::mask::mask_secrets(message.trim_start_matches("error: "));
                println!(
                    "{}",
                    serde_json::json!({ "error": message, "exit_code": code })
                );
            }
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    setup::init_logging(cli.verbose, cli.quiet);
    setup::line_helpers_from_env();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            if json && !REPORT_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
                let message = rtsnap::mask::mask_secrets(&err.to_string());
                let mut doc = serde_json::json!({ "error": message, "exit_code": code });
                if let Error::AfterBackup {
                    backup, rollback, ..
                } = &err
                {
                    doc["backup"] = serde_json::json!(backup);
                    doc["rollback_command"] = serde_json::json!(rollback);
                }
                println!("{doc}");
            }
            eprintln!(
                "rtsnap: error: {}",
                rtsnap::mask::mask_secrets(&err.to_string())
            );
            ExitCode::from(code)
        }
    }
}

/// Set once a report is on stdout: `--json` promises one document, so an error after
/// a printed report (verify --against finding differences) adds nothing to stdout.
static REPORT_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn run(cli: Cli) -> Result<(), Error> {
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
    };
    let globals = Globals {
        config: cli.config.clone(),
        identity: cli.identity.clone(),
        no_progress: cli.no_progress || cli.json,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Analyze { env, target, exact } => {
            commands::analyze(&globals, &out, &env, target.as_deref(), exact)
        }
        Command::Export {
            env,
            output,
            only,
            with_assets,
            allow_in_repo,
            native_via,
            native_min_items,
            no_native,
            keep_staging,
        } => {
            let config = Config::discover(cli.config.as_deref())?;
            let environment = config.environment(&env)?;
            let key = rtsnap::keys::encryption_key(&config)?;
            let options = rtsnap::command::export::ExportOptions {
                only,
                output,
                allow_in_repo,
                with_assets,
                relations: config.relations.clone(),
                native_via,
                native_min_items,
                no_native,
                keep_staging,
            };
            let progress = terminal::TerminalProgress::new(cli.no_progress || cli.json, cli.quiet);
            let report = runtime()?.block_on(rtsnap::command::export::export(
                &environment,
                &config.snapshot_dir(),
                &key,
                &options,
                &progress,
            ))?;
            out.emit(&report, || export_text(&report))
        }
        Command::Import {
            file,
            target,
            dry_run,
            merge,
            only,
            limit,
            create_missing,
            no_backup,
            prune_users,
            prune_assets,
            confirm,
            yes,
            strict,
            with_related,
            native_via,
            native_min_items,
            no_native,
            keep_staging,
        } => {
            let options = rtsnap::command::import::ImportOptions {
                native_via,
                native_min_items,
                no_native,
                keep_staging,
                strict,
                with_related,
                dry_run,
                merge,
                only,
                limit,
                create_missing,
                no_backup,
                prune_users,
                prune_assets,
                confirm,
                yes,
                backup_label: "pre-import",
                rollback_of: None,
                temp_password: import::temp_password(),
            };
            import::run_import(&globals, &out, Some(file), &target, options)
        }
        Command::Rollback { env, confirm, yes } => {
            let options = rtsnap::command::import::ImportOptions {
                confirm,
                yes,
                backup_label: "pre-rollback",
                // A rollback is exact: users and objects the import added are removed again.
                prune_users: true,
                prune_assets: true,
                temp_password: import::temp_password(),
                ..Default::default()
            };
            import::run_import(&globals, &out, None, &env, options)
        }
        Command::Pack {
            dir,
            output,
            allow_in_repo,
        } => {
            let config = Config::discover(cli.config.as_deref())?;
            let key = rtsnap::keys::encryption_key(&config)?;
            let dest = rtsnap::command::pack::Destination {
                path: output,
                explicit: true,
                allow_in_repo,
            };
            let report = rtsnap::command::pack::pack(&dir, &dest, &key)?;
            out.emit(&report, || render::pack_text(&dir, &report))
        }
        Command::Unpack {
            file,
            dir,
            allow_in_repo,
        } => {
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let file = locate_snapshot(&file, cli.config.as_deref());
            let report = rtsnap::command::pack::unpack(&file, &dir, &key, allow_in_repo)?;
            out.emit(&report, || render::unpack_text(&report))
        }
        Command::Inspect { file } => {
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let file = locate_snapshot(&file, cli.config.as_deref());
            let report = rtsnap::command::inspect::inspect(&file, &key)?;
            out.emit(&report, || render::inspect_text(&report))
        }
        Command::Verify {
            file,
            against: Some(env),
        } => commands::verify_against(&globals, &out, &file, &env),
        Command::Verify {
            file,
            against: None,
        } => {
            let key = rtsnap::keys::decryption_key(cli.identity.as_deref())?;
            let file = locate_snapshot(&file, cli.config.as_deref());
            let report = rtsnap::command::inspect::verify(&file, key.as_ref())?;
            out.emit(&report, || verify_text(&file, &report))
        }
        Command::List { env, contents } => commands::list(&globals, &out, env.as_deref(), contents),
        Command::Check { source, suggest } => commands::check(&globals, &out, &source, suggest),
        Command::Keygen { output } => keygen(&out, output.as_deref()),
        Command::Init {
            env,
            outputs,
            suffix,
        } => {
            let options = rtsnap::command::init::InitOptions {
                env,
                outputs,
                suffix,
                config: cli.config.clone(),
            };
            let report = runtime()?.block_on(rtsnap::command::init::init(&options))?;
            out.emit(&report, || render::init_text(&report))
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the async runtime"))
}

/// A bare file name that is not in the working directory is looked up in the snapshot
/// directory, where export and backups put snapshots.
/// [`resolve_snapshot`] for the commands that need no configuration otherwise
/// (`unpack`, `inspect`, `verify`): the snapshot directory comes from the configuration
/// when there is one, only for a bare name that is not a file here.
fn locate_snapshot(file: &Path, config: Option<&Path>) -> PathBuf {
    if file.components().count() != 1 || file.exists() {
        return file.to_path_buf();
    }
    match Config::discover(config) {
        Ok(config) => resolve_snapshot(file, &config.snapshot_dir()),
        Err(_) => file.to_path_buf(),
    }
}

pub(crate) fn resolve_snapshot(file: &Path, snapshot_dir: &Path) -> PathBuf {
    let bare = file.components().count() == 1;
    if bare && !file.exists() && snapshot_dir.join(file).exists() {
        return snapshot_dir.join(file);
    }
    file.to_path_buf()
}

/// The global flags an operation needs beyond its own arguments.
pub(crate) struct Globals {
    pub(crate) config: Option<PathBuf>,
    pub(crate) identity: Option<PathBuf>,
    /// `--no-progress`, or `--json` (which keeps the terminal quiet too).
    pub(crate) no_progress: bool,
    pub(crate) quiet: bool,
}

fn keygen(out: &Output, output: Option<&Path>) -> Result<(), Error> {
    if output.is_none() && out.json {
        return Err(Error::Usage(
            "keygen --json needs -o FILE (the identity is a secret and is not put in JSON)".into(),
        ));
    }
    let (report, identity_text) = rtsnap::command::keygen::keygen(output)?;
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

/// Where results go: one JSON document on stdout, or text on stdout.
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl Output {
    pub(crate) fn emit<T: Serialize>(
        &self,
        report: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Error> {
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
        REPORT_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
        written.map_err(Error::io("writing to stdout"))
    }
}
