//! Human text for `analyze` (stderr; `--json` prints the report itself on stdout).

use rtsnap::command::analyze::{AnalyzeReport, Compatibility, EnvironmentAnalysis, Estimate};
use rtsnap::section::tables::analyze::{IndexSummary, KeyAttribute, TableAnalysis};
use rtsnap::snapshot::human_bytes;

use crate::render::name_width;

pub fn analyze_text(report: &AnalyzeReport) -> String {
    let mut text = String::new();
    env_text(&mut text, &report.source);
    if let Some(target) = &report.target {
        env_text(&mut text, target);
    }
    if let (Some(target), Some(compatibility)) = (&report.target, &report.compatibility) {
        compatibility_text(&mut text, &report.source, target, compatibility);
    }
    if let Some(estimate) = &report.estimate {
        estimate_text(&mut text, estimate);
    }
    text
}

/// One environment: a line per model, then users, assets and what is missing.
fn env_text(text: &mut String, env: &EnvironmentAnalysis) {
    let exact = env.tables.values().any(|t| t.exact_items.is_some());
    let items: u64 = env
        .tables
        .values()
        .map(|t| t.exact_items.unwrap_or(t.approximate_items))
        .sum();
    text.push_str(&format!(
        "`{}` (suffix {}): {} tables, {}{items} items ({})\n",
        env.env,
        env.backend_suffix,
        env.tables.len(),
        if exact { "" } else { "~" },
        if exact {
            "exact: Scan with Select=COUNT"
        } else {
            "approximate: DescribeTable, refreshed about every six hours"
        }
    ));
    let width = name_width(env.tables.keys());
    let table_width = env
        .tables
        .values()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5);
    let key_width = env
        .tables
        .values()
        .map(|t| keys(&t.key_schema).len())
        .max()
        .unwrap_or(3);
    if !env.tables.is_empty() {
        text.push_str(&format!(
            "  {:<width$}  {:<table_width$}  {:>9}  {:>10}  {:<key_width$}  {:<15}  indexes\n",
            "model", "table", "items", "size", "key", "billing"
        ));
    }
    for (model, t) in &env.tables {
        let count = match t.exact_items {
            Some(n) => n.to_string(),
            None => format!("~{}", t.approximate_items),
        };
        text.push_str(&format!(
            "  {model:<width$}  {:<table_width$}  {count:>9}  {:>10}  {:<key_width$}  {:<15}  {}\n",
            t.table,
            format!("~{}", human_bytes(t.approximate_bytes)),
            keys(&t.key_schema),
            t.billing_mode,
            indexes(t)
        ));
    }
    if !env.missing_required.is_empty() {
        text.push_str(&format!(
            "  required models missing: {} (export refuses: exit 2)\n",
            env.missing_required.join(", ")
        ));
    }
    if let Some(users) = &env.users {
        text.push_str(&format!(
            "  users (pool {}): {} users (counted by {}), {} groups\n",
            users.pool, users.users, users.users_counted_by, users.groups
        ));
    }
    if let Some(assets) = &env.assets {
        let scope = if assets.prefixes.is_empty() {
            "whole bucket".to_owned()
        } else {
            format!("prefixes {}", assets.prefixes.join(", "))
        };
        text.push_str(&format!(
            "  assets (s3://{}, {scope}): {} objects, {} (listed: ListObjectsV2)\n",
            assets.bucket,
            assets.objects,
            human_bytes(assets.bytes)
        ));
    }
    for section in &env.not_analyzed {
        text.push_str(&format!("  not analysed: {section}\n"));
    }
}

/// Side by side per model, then what import would refuse and what it would only note.
fn compatibility_text(
    text: &mut String,
    source: &EnvironmentAnalysis,
    target: &EnvironmentAnalysis,
    c: &Compatibility,
) {
    let verdict = if c.import_refused {
        "import would be REFUSED (exit 4)"
    } else {
        "import would proceed"
    };
    text.push_str(&format!(
        "`{}` into `{}`: {verdict} (items: exact with --exact, else a timed Scan page's when it held the whole table, else DescribeTable's)\n",
        source.env, target.env
    ));
    let width = name_width(c.models.keys());
    let (s, t) = (source.env.as_str(), target.env.as_str());
    let side = s.len().max(t.len()).max(9);
    text.push_str(&format!(
        "  {:<width$}  {s:>side$}  {t:>side$}  import\n",
        "model"
    ));
    let count = |env: &EnvironmentAnalysis, model: &str| {
        env.tables
            .get(model)
            .map_or_else(|| "-".to_owned(), |t| t.items().to_string())
    };
    for (model, m) in &c.models {
        let status = match m.status.as_str() {
            "missing in target" => "missing in target (--create-missing creates it)",
            "compatible" if !m.notes.is_empty() => "compatible (see notes)",
            other => other,
        };
        text.push_str(&format!(
            "  {model:<width$}  {:>side$}  {:>side$}  {status}\n",
            count(source, model),
            count(target, model)
        ));
    }
    let refusals: Vec<&String> = c
        .models
        .values()
        .flat_map(|m| &m.refusals)
        .chain(&c.users_refusals)
        .collect();
    if !refusals.is_empty() {
        text.push_str("  import would refuse:\n");
        for r in refusals {
            text.push_str(&format!("    {r}\n"));
        }
    }
    let notes: Vec<&String> = c
        .models
        .iter()
        .filter(|(_, m)| m.status != "missing in target" && m.status != "only in target")
        .flat_map(|(_, m)| &m.notes)
        .collect();
    if !notes.is_empty() {
        text.push_str("  differences import accepts:\n");
        for n in notes {
            text.push_str(&format!("    {n}\n"));
        }
    }
    if !c.only_in_source.is_empty() {
        text.push_str(&format!(
            "  only in `{s}`: {} (import refuses these unless --create-missing, which creates them)\n",
            c.only_in_source.join(", ")
        ));
    }
    if !c.only_in_target.is_empty() {
        text.push_str(&format!(
            "  only in `{t}`: {} (import leaves them alone)\n",
            c.only_in_target.join(", ")
        ));
    }
}

fn estimate_text(text: &mut String, e: &Estimate) {
    text.push_str(&format!(
        "estimate (tables only): export {}, import {}\n",
        duration(e.export_seconds),
        duration(e.import_seconds)
    ));
    let slowest = e
        .export_tables
        .iter()
        .max_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds));
    if let Some((model, s)) = slowest {
        text.push_str(&format!(
            "  longest export scan: {model}, {} items in {} over {}: {} of {:.3} s = {}\n",
            s.items,
            plural(s.pages, "page"),
            plural(s.segments as u64, "segment"),
            plural(s.round_trips, "round trip"),
            s.page_seconds,
            duration(s.seconds)
        ));
    }
    text.push_str("  how:\n");
    for line in &e.method {
        text.push_str(&format!("    - {line}\n"));
    }
}

/// `id (S) + n (N)`.
fn keys(keys: &[KeyAttribute]) -> String {
    keys.iter()
        .map(|k| format!("{} ({})", k.name, k.kind))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// `byEmail: email (S); LSI byDate: id (S) + date (S)`, or `-`.
fn indexes(t: &TableAnalysis) -> String {
    let one = |prefix: &str, i: &IndexSummary| {
        let projection = if i.projection == "ALL" {
            String::new()
        } else {
            format!(", {}", i.projection)
        };
        format!("{prefix}{}: {}{projection}", i.name, keys(&i.key_schema))
    };
    let all: Vec<String> = t
        .global_secondary_indexes
        .iter()
        .map(|i| one("", i))
        .chain(t.local_secondary_indexes.iter().map(|i| one("LSI ", i)))
        .collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join("; ")
    }
}

/// `1 page`, `3 pages`.
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `0.04 s`, `12 s`, `3 min 20 s`, `2 h 5 min`.
fn duration(seconds: f64) -> String {
    if seconds < 10.0 {
        return format!("~{seconds:.2} s");
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("~{s} s"),
        60..=3599 => format!("~{} min {} s", s / 60, s % 60),
        _ => format!("~{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
