//! Human text for each command's report (the `--json` form is the report itself, so
//! the two cannot disagree). Binary-only: the library returns data, not prose.

use std::path::Path;

pub fn export_text(report: &rtsnap::command::export::ExportReport) -> String {
    let mut text = format!(
        "exported `{}`: {} items in {} tables\n{} ({})\nsha256 {}  (sidecar {})\n",
        report.env,
        report.total_items,
        report.tables.len(),
        report.file.display(),
        rtsnap::snapshot::human_bytes(report.size),
        report.sha256,
        report.sidecar.display()
    );
    let width = report.tables.keys().map(String::len).max().unwrap_or(0);
    for (model, items) in &report.tables {
        text.push_str(&format!("  {model:<width$}  {items:>9}\n"));
    }
    if let Some(users) = &report.users {
        text.push_str(&format!(
            "users: {} users, {} groups\n",
            users.users, users.groups
        ));
    }
    if let Some(assets) = &report.assets {
        text.push_str(&format!(
            "assets: {} objects listed, {} embedded\n",
            assets.objects, assets.blobs
        ));
    }
    if let Some(integrity) = &report.integrity {
        crate::render_check::integrity_lines(&mut text, integrity, false);
    }
    if let Some(native) = &report.native {
        text.push_str(&format!(
            "native export of {} tables at {} via s3://{}/{} ({})\n",
            native.tables.len(),
            native.export_time,
            native.bucket,
            native.staging_prefix,
            if native.staging_kept {
                "staging kept"
            } else {
                "staging removed"
            }
        ));
    }
    retries_line(&mut text, &report.retries);
    text
}

/// `retries: N (M for throttling)`, when there were any.
/// The width of a column of model names: the longest, and at least "model"'s.
pub(crate) fn name_width<'a>(names: impl Iterator<Item = &'a String>) -> usize {
    names.map(String::len).max().unwrap_or(5).max(5)
}

pub(crate) fn retries_line(text: &mut String, stats: &rtsnap::aws::RetryStats) {
    if stats.retries > 0 {
        text.push_str(&format!(
            "retries: {} AWS calls retried ({} for throttling), none given up\n",
            stats.retries, stats.throttled
        ));
    }
    let narrowed = [
        ("batch writes", stats.narrowest_write_window),
        ("scan pages", stats.narrowest_scan_window),
    ];
    for (what, narrowest) in narrowed {
        if let Some(n) = narrowest {
            text.push_str(&format!(
                "throttled: at most {n} {what} in flight at the worst point (rtsnap's window follows DynamoDB's answers)\n"
            ));
        }
    }
}

pub fn pack_text(dir: &Path, report: &rtsnap::command::pack::PackReport) -> String {
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
}

pub fn unpack_text(report: &rtsnap::command::pack::UnpackReport) -> String {
    let mut text = format!(
        "verified and unpacked {} files into {}\n",
        report.files,
        report.dir.display()
    );
    report.summary.render(&mut text, false);
    text
}

pub fn inspect_text(report: &rtsnap::command::inspect::InspectReport) -> String {
    let mut text = format!(
        "{} ({}), sidecar: {}, all entries verified\n",
        report.file.display(),
        rtsnap::snapshot::human_bytes(report.size),
        sidecar_text(&report.sidecar)
    );
    report.summary.render(&mut text, true);
    text
}

pub fn sidecar_text(status: &rtsnap::command::inspect::SidecarStatus) -> &'static str {
    match status {
        rtsnap::command::inspect::SidecarStatus::Matches => "matches",
        rtsnap::command::inspect::SidecarStatus::Missing => "missing",
    }
}

pub fn verify_text(file: &Path, report: &rtsnap::command::inspect::VerifyReport) -> String {
    let mut text = format!(
        "{}: sidecar {}",
        file.display(),
        sidecar_text(&report.sidecar)
    );
    match (&report.entries_verified, &report.summary) {
        (Some(n), Some(summary)) => {
            text.push_str(&format!(
                "; all {n} entries verified against MANIFEST.json\n"
            ));
            summary.render(&mut text, true);
        }
        _ => text.push_str(" (no key given: entries not checked)\n"),
    }
    text
}

pub fn list_text(report: &rtsnap::command::list::ListReport) -> String {
    if report.snapshots.is_empty() {
        return format!("no snapshots in {}\n", report.dir.display());
    }
    let mut text = format!("snapshots in {}:\n", report.dir.display());
    for s in &report.snapshots {
        text.push_str(&listed_line(s));
    }
    imports_text(&mut text, &report.imports);
    text
}

/// The journal's imports and rollbacks: when, into where, from what, in which state.
fn imports_text(text: &mut String, imports: &[rtsnap::snapshot::journal::RunRecord]) {
    use rtsnap::snapshot::journal::{RunKind, RunState};
    if imports.is_empty() {
        return;
    }
    text.push_str("imports (journal):\n");
    for run in imports {
        let kind = match run.kind {
            RunKind::Import => "import",
            RunKind::Rollback => "rollback",
        };
        let state = match run.state {
            RunState::Unfinished => "UNFINISHED (re-run it to resume, or roll back)",
            RunState::Finished => "finished",
            RunState::RolledBack => "rolled back",
        };
        let file = |p: &std::path::Path| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        };
        let backup = run
            .backup
            .as_deref()
            .map_or("no backup".to_owned(), |b| format!("backup {}", file(b)));
        text.push_str(&format!(
            "  {}  {kind:<8} {} into `{}`  {state}; {backup}\n",
            run.started_at,
            file(&run.snapshot),
            run.target
        ));
    }
}

/// `list --contents`: each file's line, then what it holds or why it failed.
pub fn list_contents_text(report: &rtsnap::command::list::ContentsReport) -> String {
    use rtsnap::command::list::ListedContents;
    if report.listing.snapshots.is_empty() {
        return list_text(&report.listing);
    }
    let mut text = format!("snapshots in {}:\n", report.listing.dir.display());
    for (s, contents) in report.listing.snapshots.iter().zip(&report.contents) {
        text.push_str(&listed_line(s));
        match contents {
            ListedContents::Verified { summary } => {
                text.push_str(&format!("      verified: {}\n", contents_line(summary)));
            }
            ListedContents::Unreadable { error } => {
                text.push_str(&format!("      FAILED: {error}\n"));
            }
        }
    }
    text
}

/// `3 tables, 1,234 items, 155 users, 3 groups, 40 asset objects`.
fn contents_line(s: &rtsnap::snapshot::SnapshotSummary) -> String {
    let mut parts = vec![
        format!("{} tables", s.tables.len()),
        format!("{} items", s.total_items),
    ];
    if let (Some(users), Some(groups)) = (s.users, s.groups) {
        parts.push(format!("{users} users"));
        parts.push(format!("{groups} groups"));
    }
    if let Some(objects) = s.asset_objects {
        parts.push(format!("{objects} asset objects"));
    }
    parts.join(", ")
}

fn listed_line(s: &rtsnap::command::list::ListedSnapshot) -> String {
    let kind = match s.kind {
        rtsnap::command::list::SnapshotKind::Export => "export",
        rtsnap::command::list::SnapshotKind::PreImportBackup => "pre-import backup",
        rtsnap::command::list::SnapshotKind::PreRollbackBackup => "pre-rollback backup",
        rtsnap::command::list::SnapshotKind::Other => "other",
    };
    format!(
        "  {}  {:>10}  {}  {}{}\n",
        s.modified,
        rtsnap::snapshot::human_bytes(s.size),
        kind,
        s.name,
        if s.has_sidecar { "" } else { "  (no sidecar)" }
    )
}

pub fn against_text(report: &rtsnap::command::verify::AgainstReport) -> String {
    let verdict = if report.equal {
        "equals"
    } else {
        "DIFFERS from"
    };
    let mut text = format!("`{}` {verdict} {}\n", report.env, report.snapshot.display());
    let width = name_width(report.tables.keys());
    for (model, t) in &report.tables {
        text.push_str(&format!(
            "  {model:<width$}  {:<18} snapshot {:>7}  target {:>7}",
            t.status, t.snapshot_items, t.target_items
        ));
        if t.status == "differs" {
            text.push_str(&format!(
                "  missing {} different {} extra {}",
                t.missing, t.different, t.extra
            ));
        }
        text.push('\n');
        for (kind, keys) in [
            ("missing", &t.missing_keys),
            ("different", &t.different_keys),
            ("extra", &t.extra_keys),
        ] {
            for key in keys {
                text.push_str(&format!("      {kind:<9} {key}\n"));
            }
        }
    }
    if let Some(users) = &report.users {
        text.push_str(&format!(
            "  users (pool {}): {}  snapshot {}  target {}",
            users.pool, users.status, users.snapshot_users, users.target_users
        ));
        if users.status != "match" {
            text.push_str(&format!(
                "  missing {} different {} extra {}; groups missing {} different {} extra {}; memberships missing {} extra {}",
                users.missing,
                users.different,
                users.extra,
                users.groups_missing,
                users.groups_different,
                users.groups_extra,
                users.memberships_missing,
                users.memberships_extra
            ));
        }
        text.push('\n');
        for problem in &users.problems {
            text.push_str(&format!("      {problem}\n"));
        }
        for (kind, keys) in &users.keys {
            text.push_str(&format!("      {kind}: {}\n", keys.join(", ")));
        }
    }
    if let Some(assets) = &report.assets {
        text.push_str(&format!(
            "  assets (s3://{}): {}  snapshot {}  equal {}",
            assets.bucket, assets.status, assets.snapshot_objects, assets.equal_objects
        ));
        if assets.status != "match" {
            text.push_str(&format!(
                "  missing {} different {} extra {}",
                assets.missing, assets.different, assets.extra
            ));
        }
        text.push('\n');
        for (kind, keys) in [
            ("missing", &assets.missing_keys),
            ("different", &assets.different_keys),
            ("extra", &assets.extra_keys),
        ] {
            if !keys.is_empty() {
                text.push_str(&format!("      {kind}: {}\n", keys.join(", ")));
            }
        }
    }
    for section in &report.not_compared {
        text.push_str(&format!("  not compared: {section}\n"));
    }
    text
}

pub fn init_text(report: &rtsnap::command::init::InitReport) -> String {
    use rtsnap::command::init::FileChange;
    let verb = match report.file {
        FileChange::Created => "created",
        FileChange::Updated => "updated",
        FileChange::Unchanged => "unchanged (it already says all of this)",
    };
    let suffix = &report.backend_suffix;
    let how = if suffix.detected {
        format!(
            "the only backend with a table for each of the {} models",
            report.required_models.len()
        )
    } else {
        String::from("given with --suffix; every model's table found")
    };
    let none = || String::from("(none in the outputs)");
    let mut text = format!(
        "init `{}`: {} {}\n",
        report.env,
        report.config.display(),
        verb
    );
    for (key, value) in [
        ("region", report.region.clone().unwrap_or_else(none)),
        (
            "backend_suffix",
            format!("{}  ({how}; {} tables)", suffix.suffix, suffix.tables),
        ),
        (
            "user_pool_id",
            report.user_pool_id.clone().unwrap_or_else(none),
        ),
        ("bucket", report.bucket.clone().unwrap_or_else(none)),
        (
            "required_models",
            format!("{} models", report.required_models.len()),
        ),
        (
            "relations",
            format!(
                "{} in the outputs, {} added",
                report.relations.len(),
                report.relations_added.len()
            ),
        ),
        (
            "owner_fields",
            format!(
                "{} models, {} added{}",
                report.owner_fields.len(),
                report.owner_fields_added.len(),
                owner_groups(&report.owner_fields)
            ),
        ),
    ] {
        text.push_str(&format!("  {key:<16} {value}\n"));
    }
    for change in &report.changes {
        if let Some(old) = &change.old {
            text.push_str(&format!("  changed {}: was {old}\n", change.key));
        }
    }
    for warning in &report.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    text
}

/// `  (owner: Auth, Note; owner, editors: Todo)`: models grouped by their fields.
fn owner_groups(owner_fields: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    let mut groups: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (model, fields) in owner_fields {
        groups.entry(fields.join(", ")).or_default().push(model);
    }
    if groups.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(fields, models)| format!("{fields}: {}", models.join(", ")))
        .collect();
    format!("  ({})", parts.join("; "))
}
