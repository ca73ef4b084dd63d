//! `import` and `rollback` (an exact import of the newest pre-import backup): the
//! snapshot and keys they need, the terminal's prompt and progress, and the signals
//! that stop a running import at a batch boundary.

use std::path::PathBuf;

use rtsnap::config::Config;
use rtsnap::error::Error;

use crate::render_import::import_text;
use crate::{resolve_snapshot, runtime, terminal, Globals, Output};

/// Import and rollback: rollback is an exact import of the newest pre-import backup.
pub(crate) fn run_import(
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
pub(crate) fn temp_password() -> Option<age::secrecy::SecretString> {
    std::env::var("RTSNAP_TEMP_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(age::secrecy::SecretString::from)
}
