//! The commands that check rather than move data (`analyze`, `verify --against`,
//! `list`, `check`): each runs the library, prints its report, and turns a finding
//! (an import that would be refused, a difference, a failed snapshot, a dangling
//! reference) into a non-zero exit after the report is out.

use std::path::Path;

use rtsnap::config::Config;
use rtsnap::error::Error;

use crate::{
    render, render_analyze, render_check, resolve_snapshot, runtime, terminal, Globals, Output,
};

/// `analyze ENV [--target ENV]`: the human table goes to stderr (design §2); stdout
/// holds only JSON.
pub(crate) fn analyze(
    globals: &Globals,
    out: &Output,
    env: &str,
    target: Option<&str>,
    exact: bool,
) -> Result<(), Error> {
    let config = Config::discover(globals.config.as_deref())?;
    let source = config.environment(env)?;
    let target = target.map(|t| config.environment(t)).transpose()?;
    let progress = terminal::TerminalProgress::new(globals.no_progress, globals.quiet);
    let options = rtsnap::command::analyze::AnalyzeOptions { exact };
    let report = runtime()?.block_on(rtsnap::command::analyze::analyze(
        &source,
        target.as_ref(),
        options,
        &progress,
    ))?;
    if out.json {
        out.emit(&report, String::new)?;
    } else if !out.quiet {
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

/// `verify FILE --against ENV`: the environment's content against the snapshot's.
pub(crate) fn verify_against(
    globals: &Globals,
    out: &Output,
    file: &Path,
    env: &str,
) -> Result<(), Error> {
    let config = Config::discover(globals.config.as_deref())?;
    let environment = config.environment(env)?;
    let file = resolve_snapshot(file, &config.snapshot_dir());
    let key = rtsnap::keys::require_decryption_key(globals.identity.as_deref())?;
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

/// `list [ENV] [--contents]`: with `--contents`, every snapshot is opened and checked.
pub(crate) fn list(
    globals: &Globals,
    out: &Output,
    env: Option<&str>,
    contents: bool,
) -> Result<(), Error> {
    let config = Config::discover(globals.config.as_deref())?;
    let report = rtsnap::command::list::list(&config.snapshot_dir(), env)?;
    if !contents {
        return out.emit(&report, || render::list_text(&report));
    }
    let key = rtsnap::keys::require_decryption_key(globals.identity.as_deref())?;
    let report = rtsnap::command::list::with_contents(report, &key);
    out.emit(&report, || render::list_contents_text(&report))?;
    if !report.all_verified() {
        return Err(Error::Failed(
            "some snapshots failed their check (see above)".into(),
        ));
    }
    Ok(())
}

/// `check SOURCE`: the referential integrity of a snapshot file or of an environment
/// (a name that is neither an existing file nor ends in `.rtsnap` is an environment).
pub(crate) fn check(
    globals: &Globals,
    out: &Output,
    source: &str,
    suggest: bool,
) -> Result<(), Error> {
    let config = Config::discover(globals.config.as_deref())?;
    let snapshot = resolve_snapshot(Path::new(source), &config.snapshot_dir());
    // A configured environment's name means the environment, even beside a file or
    // folder of that name (`rtsnap unpack x.rtsnap staging` makes one); `./staging`
    // names the file.
    let names_environment = config.environments.contains_key(source);
    let is_file = !names_environment && (snapshot.exists() || source.ends_with(".rtsnap"));
    let key;
    let environment;
    let target = if is_file {
        key = rtsnap::keys::require_decryption_key(globals.identity.as_deref())?;
        rtsnap::command::check::CheckSource::Snapshot {
            path: snapshot,
            key: &key,
        }
    } else {
        environment = config.environment(source)?;
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
