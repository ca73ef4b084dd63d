//! The import report as text: the plan (a dry run) or what was written, per section,
//! with the backup and the rollback command.

use crate::render::{name_width, retries_line};

pub fn import_text(report: &rtsnap::command::import::ImportReport) -> String {
    use rtsnap::section::tables::native_import::IMPORT_TABLE;
    let verb = if report.dry_run {
        "plan (dry run, nothing written)"
    } else {
        "imported"
    };
    let mut text = format!(
        "{verb}: {} (from `{}`) into `{}`, mode {}\n",
        report.snapshot.display(),
        report.source_env,
        report.target,
        report.mode
    );
    let width = name_width(report.tables.keys());
    if !report.tables.is_empty() {
        text.push_str(&format!(
            "  {:<width$}  {:>8} {:>8} {:>8} {:>9}\n",
            "model", "put", "update", "delete", "unchanged"
        ));
    }
    for (model, plan) in &report.tables {
        text.push_str(&format!(
            "  {model:<width$}  {:>8} {:>8} {:>8} {:>9}{}\n",
            plan.put,
            plan.update,
            plan.delete,
            plan.unchanged,
            match (plan.create, report.dry_run, plan.path == IMPORT_TABLE) {
                (true, true, false) => "  (table will be created)",
                (true, false, false) => "  (table created)",
                (true, true, true) => "  (table will be created and loaded by ImportTable)",
                (true, false, true) => "  (table created and loaded by ImportTable)",
                _ => "",
            }
        ));
    }
    for (model, plan) in &report.tables {
        if let Some(why) = &plan.path_why {
            text.push_str(&format!("  {model}: {}: {why}\n", plan.path));
        }
    }
    if let Some(native) = &report.native {
        text.push_str(&format!(
            "ImportTable via s3://{}/{} ({}): {}\n",
            native.bucket,
            native.staging_prefix,
            if native.staging_kept {
                "staging objects kept"
            } else {
                "staging objects removed"
            },
            native
                .tables
                .iter()
                .map(|(m, t)| format!("{m} {} items ({})", t.items, t.import_arn))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let rewrites: u64 = report.tables.values().map(|p| p.owner_rewrites).sum();
    let unknown: u64 = report.tables.values().map(|p| p.owner_unknown).sum();
    if rewrites + unknown > 0 {
        text.push_str(&format!(
            "owner fields: {rewrites} values rewritten to the target's user subs, {unknown} naming no snapshot user left as they are\n"
        ));
    }
    if let Some(sample) = &report.sample {
        let items: u64 = sample.values().sum();
        text.push_str(&format!(
            "sample with related items: {items} items in {} models, closed under the declared relations
",
            sample.values().filter(|n| **n > 0).count()
        ));
    }
    if let Some(integrity) = &report.integrity {
        crate::render_check::integrity_lines(&mut text, integrity, false);
    }
    if let Some(users) = &report.users {
        users_plan_text(&mut text, users);
    }
    if let Some(assets) = &report.assets {
        assets_plan_text(&mut text, assets);
    }
    if !report.sections_not_restored.is_empty() {
        text.push_str(&format!(
            "not restored: {}\n",
            report.sections_not_restored.join(", ")
        ));
    }
    if !report.dry_run {
        text.push_str(&format!(
            "written {} items, deleted {}\n",
            report.written, report.deleted
        ));
        if let Some(users) = &report.users_applied {
            text.push_str(&format!(
                "users: {} created (no invitations sent), {} updated, {} deleted; {} group and {} membership changes\n",
                users.created, users.updated, users.deleted, users.groups, users.memberships
            ));
        }
        if let Some(assets) = &report.assets_applied {
            text.push_str(&format!(
                "assets: {} uploaded from the archive, {} copied from the source bucket ({}), {} deleted\n",
                assets.uploaded,
                assets.copied,
                rtsnap::snapshot::human_bytes(assets.bytes),
                assets.deleted
            ));
        }
        if let Some(backup) = &report.backup {
            text.push_str(&format!("backup: {}\n", backup.display()));
        }
        if let Some(command) = &report.rollback_command {
            text.push_str(&format!("to undo: {command}\n"));
        }
        for (model, verdict) in &report.verification {
            text.push_str(&format!("  verify {model}: {verdict}\n"));
        }
        retries_line(&mut text, &report.retries);
    }
    text
}

/// The users plan: counts per action, then the first users or groups of each.
fn users_plan_text(text: &mut String, plan: &rtsnap::section::users::UsersPlan) {
    text.push_str(&format!(
        "  users (pool {}): {} create, {} update, {} unchanged, {} delete, {} kept (absent from the snapshot)\n",
        plan.pool, plan.create, plan.update, plan.unchanged, plan.delete, plan.kept
    ));
    if plan.federated > 0 {
        text.push_str(&format!(
            "  federated users (Google, SAML, …): {} not restored; Cognito creates each again at its next sign-in\n",
            plan.federated
        ));
    }
    text.push_str(&format!(
        "  groups: {} create, {} update, {} delete; memberships: {} add, {} remove\n",
        plan.groups_create,
        plan.groups_update,
        plan.groups_delete,
        plan.memberships_add,
        plan.memberships_remove
    ));
    for (action, keys) in &plan.first {
        text.push_str(&format!("    {action}: {}\n", keys.join(", ")));
    }
}

/// The assets plan: counts and bytes per action, then the first keys of each.
fn assets_plan_text(text: &mut String, plan: &rtsnap::section::assets::AssetsPlan) {
    let bytes = rtsnap::snapshot::human_bytes;
    text.push_str(&format!(
        "  assets (s3://{}): {} copy ({}: {} from the archive, {} from {}), {} unchanged, {} delete ({}), {} kept (absent from the snapshot)\n",
        plan.bucket,
        plan.copy,
        bytes(plan.copy_bytes),
        plan.from_archive,
        plan.from_source,
        plan.source_bucket.as_deref().map_or("-".to_owned(), |b| format!("s3://{b}")),
        plan.unchanged,
        plan.delete,
        bytes(plan.delete_bytes),
        plan.kept
    ));
    if plan.outside_prefixes > 0 {
        text.push_str(&format!(
            "    {} snapshot objects lie outside this environment's asset_prefixes: not restored\n",
            plan.outside_prefixes
        ));
    }
    if !plan.first_copies.is_empty() {
        text.push_str(&format!("    copy: {}\n", plan.first_copies.join(", ")));
    }
    if !plan.first_deletes.is_empty() {
        text.push_str(&format!("    delete: {}\n", plan.first_deletes.join(", ")));
    }
}
