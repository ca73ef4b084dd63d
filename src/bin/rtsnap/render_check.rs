//! Text for referential integrity: `check`'s report, and the integrity lines that
//! export and import add to theirs.

use rtsnap::archive::header::IntegritySummary;
use rtsnap::command::check::CheckReport;

/// `check`: one line per relation, its first dangling keys, then any suggestions.
pub fn check_text(report: &CheckReport) -> String {
    let mut text = format!("{}: {} items read\n", report.source, report.items);
    integrity_lines(&mut text, &report.integrity, true);
    if let Some(toml) = &report.suggestions_toml {
        if toml.is_empty() {
            text.push_str("\nno relations to suggest: no `…Id` field holds ids of a model\n");
        } else {
            text.push_str("\n# suggested [[relations]] (paste into rtsnap.toml)\n");
            text.push_str(toml);
        }
    }
    text
}

/// One line per relation; `all`: also the relations that hold (otherwise only a
/// count of them).
pub fn integrity_lines(text: &mut String, integrity: &IntegritySummary, all: bool) {
    let width = integrity
        .relations
        .iter()
        .map(|r| r.from.len() + r.to.len() + 4)
        .max()
        .unwrap_or(0);
    let mut holding = 0;
    for r in &integrity.relations {
        let pair = format!("{} -> {}", r.from, r.to);
        let status = match (&r.skipped, r.dangling) {
            (Some(why), _) => format!("not checked: {why}"),
            (None, 0) => {
                holding += 1;
                if !all {
                    continue;
                }
                format!("ok ({} references)", r.references)
            }
            (None, n) => format!("{n} of {} references dangling", r.references),
        };
        text.push_str(&format!("  {pair:<width$}  {status}\n"));
        for first in &r.first_dangling {
            text.push_str(&format!("      {first}\n"));
        }
    }
    let dangling = integrity.dangling();
    let skipped = integrity
        .relations
        .iter()
        .filter(|r| r.skipped.is_some())
        .count();
    let mut verdict = if integrity.relations.is_empty() {
        "referential integrity: no [[relations]] declared".to_owned()
    } else if dangling == 0 {
        "referential integrity: every reference resolves".to_owned()
    } else {
        format!("referential integrity: {dangling} dangling references")
    };
    if skipped > 0 {
        verdict.push_str(&format!(
            "; {skipped} relations not checked (a table is missing)"
        ));
    }
    if !all && !integrity.relations.is_empty() {
        verdict.push_str(&format!(
            " ({holding} of {} relations hold)",
            integrity.relations.len()
        ));
    }
    text.push_str(&format!("{verdict}\n"));
}
