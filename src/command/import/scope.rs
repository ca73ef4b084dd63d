//! What an import covers and how to repeat it: the models `--only` selects, the
//! refusal (or warning) for dangling references, and the exact command that re-runs
//! the import, which the journal turns into a resume. Kept apart from the phases in
//! `mod.rs`, which only call them.

use std::path::Path;

use super::ImportOptions;
use crate::archive::header::IntegritySummary;
use crate::archive::Manifest;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// `path` as one word of a POSIX shell command line (quoted when it holds spaces or
/// shell characters), so a printed command can be pasted as it is.
pub(super) fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text).map_or(text.clone(), |quoted| quoted.into_owned())
}

/// The command that re-runs this import (and so resumes it: see the journal).
pub(super) fn resume_command(
    snapshot: &Path,
    target: &Environment,
    options: &ImportOptions,
) -> String {
    let mut command = format!(
        "rtsnap import {} --target {}",
        shell_word(snapshot),
        target.name
    );
    let flags = [
        (options.merge, "--merge"),
        (options.with_related, "--with-related"),
        (options.create_missing, "--create-missing"),
        (options.prune_users, "--prune-users"),
        (options.prune_assets, "--prune-assets"),
        (options.strict, "--strict"),
        (options.no_native, "--no-native"),
        (options.keep_staging, "--keep-staging"),
    ];
    if let Some(only) = &options.only {
        command.push_str(&format!(" --only {}", only.join(",")));
    }
    if let Some(limit) = options.limit {
        command.push_str(&format!(" --limit {limit}"));
    }
    if let Some(via) = &options.native_via {
        command.push_str(&format!(" --native-via {via}"));
    }
    if let Some(min) = options.native_min_items {
        command.push_str(&format!(" --native-min-items {min}"));
    }
    for (on, flag) in flags {
        if on {
            command.push(' ');
            command.push_str(flag);
        }
    }
    if let Some(confirm) = &options.confirm {
        command.push_str(&format!(" --confirm {confirm}"));
    }
    command
}

/// Dangling references are a warning, or with `--strict` a refusal (nothing written).
pub(super) fn refuse_dangling(
    integrity: &IntegritySummary,
    strict: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let dangling: Vec<String> = integrity
        .relations
        .iter()
        .filter(|r| r.dangling > 0)
        .map(|r| {
            format!(
                "{} -> {}: {} dangling (first: {})",
                r.from,
                r.to,
                r.dangling,
                r.first_dangling.first().map_or("", String::as_str)
            )
        })
        .collect();
    if dangling.is_empty() {
        return Ok(());
    }
    if strict {
        return Err(Error::Refused(format!(
            "--strict: the snapshot has dangling references ({}); nothing was written",
            dangling.join("; ")
        )));
    }
    for line in &dangling {
        progress.note(&format!("warning: {line}"));
    }
    Ok(())
}

pub(super) fn select_models(manifest: &Manifest, only: Option<&[String]>) -> Result<Vec<String>> {
    let all: Vec<String> = manifest.tables.keys().cloned().collect();
    let Some(only) = only else {
        return Ok(all);
    };
    let unknown: Vec<&str> = only
        .iter()
        .filter(|m| !all.contains(m))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Usage(format!(
            "--only names models the snapshot does not have: {}",
            unknown.join(", ")
        )));
    }
    Ok(all.into_iter().filter(|m| only.contains(m)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The QA re-check of 2026-12-01: a printed resume or undo command with a space in
    /// its path broke when pasted into a shell.
    #[test]
    fn printed_paths_survive_a_shell() {
        let odd = Path::new("/home/ops/my snapshots/prod's.rtsnap");
        let word = shell_word(odd);
        assert_eq!(shlex::split(&word), Some(vec![odd.display().to_string()]));
        let plain = Path::new("/home/ops/snapshots/prod-2025-08-12.rtsnap");
        assert_eq!(shell_word(plain), plain.display().to_string());
    }
}
