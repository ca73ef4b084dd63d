//! The `rtsnap` command: parses arguments, calls the library, prints the report (text,
//! or one JSON document on stdout with `--json`), and maps errors to exit codes
//! (design §2). All the work lives in the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

mod args;
mod render;
mod render_analyze;
mod render_check;
mod terminal;

use args::{Cli, Command};

use render::{export_text, import_text, list_text, sidecar_text, verify_text};
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
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    init_logging(cli.verbose, cli.quiet);
    line_helpers_from_env();
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
            let config = Config::discover(cli.config.as_deref())?;
            let source = config.environment(&env)?;
            let target = target.map(|t| config.environment(&t)).transpose()?;
            let progress = terminal::TerminalProgress::new(globals.no_progress, cli.quiet);
            let options = rtsnap::command::analyze::AnalyzeOptions { exact };
            let report = runtime()?.block_on(rtsnap::command::analyze::analyze(
                &source,
                target.as_ref(),
                options,
                &progress,
            ))?;
            // The human table goes to stderr (design §2); stdout holds only JSON.
            if cli.json {
                out.emit(&report, String::new)?;
            } else if !cli.quiet {
                eprint!("{}", render_analyze::analyze_text(&report));
            }
            match target.filter(|_| report.import_refused()) {
                Some(target) => Err(Error::Refused(format!(
                    "an import from `{env}` into `{}` would be refused (see above)",
                    target.name
                ))),
                None => Ok(()),
            }
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
                temp_password: temp_password(),
            };
            run_import(&globals, &out, Some(file), &target, options)
        }
        Command::Rollback { env, confirm, yes } => {
            let options = rtsnap::command::import::ImportOptions {
                confirm,
                yes,
                backup_label: "pre-rollback",
                // A rollback is exact: users and objects the import added are removed again.
                prune_users: true,
                prune_assets: true,
                temp_password: temp_password(),
                ..Default::default()
            };
            run_import(&globals, &out, None, &env, options)
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
            out.emit(&report, || {
                let mut text = format!(
                    "packed {} → {} ({})\nsha256 {}  (sidecar {})\n",
                    dir.display(),
                    report.file.display(),
                    rtsnap::snapshot::human_bytes(report.size),
                    report.sha256,
                    report.sidecar.display()
                );
                report.summary.render(&mut text, false);
                text
            })
        }
        Command::Unpack {
            file,
            dir,
            allow_in_repo,
        } => {
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::command::pack::unpack(&file, &dir, &key, allow_in_repo)?;
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
            let report = rtsnap::command::inspect::inspect(&file, &key)?;
            out.emit(&report, || {
                let mut text = format!(
                    "{} ({}), sidecar: {}, all entries verified\n",
                    report.file.display(),
                    rtsnap::snapshot::human_bytes(report.size),
                    sidecar_text(&report.sidecar)
                );
                report.summary.render(&mut text, true);
                text
            })
        }
        Command::Verify {
            file,
            against: Some(env),
        } => {
            let config = Config::discover(cli.config.as_deref())?;
            let environment = config.environment(&env)?;
            let file = resolve_snapshot(&file, &config.snapshot_dir());
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let report = runtime()?.block_on(rtsnap::command::verify::verify_against(
                &file,
                &environment,
                &key,
                &config.owner_fields,
            ))?;
            out.emit(&report, || render::against_text(&report))?;
            if !report.equal {
                return Err(Error::Failed(format!(
                    "`{env}` does not equal {} (see the differing keys above)",
                    file.display()
                )));
            }
            Ok(())
        }
        Command::Verify {
            file,
            against: None,
        } => {
            let key = rtsnap::keys::decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::command::inspect::verify(&file, key.as_ref())?;
            out.emit(&report, || verify_text(&file, &report))
        }
        Command::List { env, contents } => {
            let config = Config::discover(cli.config.as_deref())?;
            let report = rtsnap::command::list::list(&config.snapshot_dir(), env.as_deref())?;
            if !contents {
                return out.emit(&report, || list_text(&report));
            }
            let key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
            let report = rtsnap::command::list::with_contents(report, &key);
            out.emit(&report, || render::list_contents_text(&report))?;
            if !report.all_verified() {
                return Err(Error::Failed(
                    "some snapshots failed their check (see above)".into(),
                ));
            }
            Ok(())
        }
        Command::Check { source, suggest } => {
            let config = Config::discover(cli.config.as_deref())?;
            let snapshot = resolve_snapshot(Path::new(&source), &config.snapshot_dir());
            let is_file = snapshot.exists() || source.ends_with(".rtsnap");
            let key;
            let environment;
            let target = if is_file {
                key = rtsnap::keys::require_decryption_key(cli.identity.as_deref())?;
                rtsnap::command::check::CheckSource::Snapshot {
                    path: snapshot,
                    key: &key,
                }
            } else {
                environment = config.environment(&source)?;
                rtsnap::command::check::CheckSource::Environment(&environment)
            };
            let report = runtime()?.block_on(rtsnap::command::check::check(
                target,
                &config.relations,
                suggest,
            ))?;
            out.emit(&report, || render_check::check_text(&report))?;
            if report.dangling() > 0 {
                return Err(Error::Failed(format!(
                    "{} dangling references in {} (see above)",
                    report.dangling(),
                    report.source
                )));
            }
            Ok(())
        }
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

/// Logs go to stderr, masked. `-v` shows rtsnap's info lines; `RUST_LOG` overrides.
fn init_logging(verbose: bool, quiet: bool) {
    let default = if quiet {
        "error"
    } else if verbose {
        "rtsnap=info,warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr)
        .with_target(false)
        .try_init();
}

/// `RTSNAP_LINE_HELPERS=N`: threads that check and hash each large entry's lines
/// (default: one fewer than the CPUs, at most 3). For measuring on a small machine what
/// a larger one does (scripts/pack-threads.sh) and for the tests; a bad value is
/// reported and the default kept.
fn line_helpers_from_env() {
    let Ok(value) = std::env::var("RTSNAP_LINE_HELPERS") else {
        return;
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n <= rtsnap::archive::MAX_SET_HELPERS => {
            rtsnap::archive::set_line_helpers(n);
        }
        _ => tracing::warn!(
            %value,
            "RTSNAP_LINE_HELPERS is not a count from 0 to {}; using the default",
            rtsnap::archive::MAX_SET_HELPERS
        ),
    }
}

/// stderr, with every line passed through the secret mask.
struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(rtsnap::mask::mask_secrets(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the async runtime"))
}

/// The global flags an operation needs beyond its own arguments.
struct Globals {
    config: Option<PathBuf>,
    identity: Option<PathBuf>,
    /// `--no-progress`, or `--json` (which keeps the terminal quiet too).
    no_progress: bool,
    quiet: bool,
}

/// Import and rollback: rollback is an exact import of the newest pre-import backup.
fn run_import(
    globals: &Globals,
    out: &Output,
    file: Option<PathBuf>,
    target: &str,
    mut options: rtsnap::command::import::ImportOptions,
) -> Result<(), Error> {
    let (identity, no_progress, quiet) = (
        globals.identity.as_deref(),
        globals.no_progress,
        globals.quiet,
    );
    let config = Config::discover(globals.config.as_deref())?;
    let environment = config.environment(target)?;
    let snapshot_dir = config.snapshot_dir();
    let is_rollback = file.is_none();
    let file = match file {
        Some(file) => resolve_snapshot(&file, &snapshot_dir),
        None => {
            let source = rtsnap::command::import::rollback_source(&snapshot_dir, target)?;
            if !quiet {
                eprintln!(
                    "rollback: restoring `{target}` from {}: {}",
                    source.file.display(),
                    source.why
                );
            }
            options.rollback_of = source.import_id;
            source.file
        }
    };
    let decrypt = rtsnap::keys::require_decryption_key(identity)?;
    let encrypt = rtsnap::keys::encryption_key(&config)?;
    let progress = terminal::TerminalProgress::new(no_progress, quiet);
    let prompt = terminal::TerminalPrompt::if_interactive();
    let ctx = rtsnap::command::import::ImportContext {
        decrypt: &decrypt,
        encrypt: &encrypt,
        snapshot_dir: &snapshot_dir,
        progress: &progress,
        prompt: prompt
            .as_ref()
            .map(|p| p as &dyn rtsnap::command::import::Prompt),
        owner_fields: &config.owner_fields,
        // A rollback restores what the target held, whatever its relations.
        relations: if is_rollback { &[] } else { &config.relations },
        stop: rtsnap::stop::StopSignal::new(),
    };
    let runtime = runtime()?;
    runtime.spawn(stop_on_signals(ctx.stop.clone()));
    let report = runtime.block_on(rtsnap::command::import::import(
        &file,
        &environment,
        &options,
        &ctx,
    ))?;
    out.emit(&report, || import_text(&report))
}

/// Ctrl-C or SIGTERM while the target is being written asks the import to stop at the
/// next batch boundary (batches in flight finish, the report says what was written and
/// how to resume); a second one aborts at once. Before or after writing, the first one
/// aborts at once. Exit 130 on an abort, like a shell's interrupted command.
async fn stop_on_signals(stop: rtsnap::stop::StopSignal) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    if !stop.is_writing() {
        // Nothing is being written (planning, a prompt, the backup): stop now. A
        // backup's `.partial` left behind is removed by the next backup of the target.
        eprintln!("rtsnap: interrupted; nothing was written to the target");
        std::process::exit(130);
    }
    stop.stop();
    eprintln!("rtsnap: stopping after the batches in flight (interrupt again to abort at once)");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("rtsnap: aborted; re-run the same import to resume it");
    std::process::exit(130);
}

/// `RTSNAP_TEMP_PASSWORD`: the temporary password for users an import creates. Held
/// as a secret from here on: never printed, logged or stored.
fn temp_password() -> Option<age::secrecy::SecretString> {
    std::env::var("RTSNAP_TEMP_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(age::secrecy::SecretString::from)
}

/// A bare file name that is not in the working directory is looked up in the snapshot
/// directory, where export and backups put snapshots.
fn resolve_snapshot(file: &Path, snapshot_dir: &Path) -> PathBuf {
    let bare = file.components().count() == 1;
    if bare && !file.exists() && snapshot_dir.join(file).exists() {
        return snapshot_dir.join(file);
    }
    file.to_path_buf()
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
        REPORT_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
        written.map_err(Error::io("writing to stdout"))
    }
}
