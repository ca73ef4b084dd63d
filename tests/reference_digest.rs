//! rtsnap's table digests against an independent implementation of docs/format.md §6:
//! `scripts/digest_reference.py`, written from the document alone. Both must agree on
//! every fixture table and on a table of hand-written edge cases (control characters,
//! non-BMP keys and set members, odd number spellings, binary sets, deep nesting).
//! Needs `python3` (the project's test setup does anyway); no network, no emulator.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// model → (items, digest)
type Tables = BTreeMap<String, (u64, String)>;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir() -> PathBuf {
    manifest_dir().join("fixtures/demo")
}

fn reference_script() -> PathBuf {
    manifest_dir().join("scripts/digest_reference.py")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn python(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(reference_script())
        .args(args)
        .output()
        .expect("python3 must be installed to run this test")
}

/// A scratch folder with an identity and a config naming its recipient.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        let ws = Workspace {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = ws.run(&["keygen", "-o", "id.txt", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let recipient = doc["recipient"].as_str().unwrap().to_owned();
        fs::write(
            ws.path("rtsnap.toml"),
            format!("[snapshots]\nrecipients = [\"{recipient}\"]\n"),
        )
        .unwrap();
        ws
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs rtsnap in the workspace with a clean environment (no inherited keys).
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtsnap"));
        cmd.args(args).current_dir(self.dir.path());
        for (name, _) in std::env::vars() {
            if name.starts_with("RTSNAP_") || name.starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RTSNAP_HOME", self.path("home"));
        cmd.output().unwrap()
    }

    /// Packs a snapshot directory and returns the tables `rtsnap inspect --json` reports.
    fn rtsnap_tables(&self, snapshot: &Path, name: &str) -> Tables {
        let out = self.run(&["pack", snapshot.to_str().unwrap(), "-o", name]);
        assert_eq!(out.status.code(), Some(0), "pack: {}", text(&out.stderr));
        let out = self.run(&["inspect", name, "--identity", "id.txt", "--json"]);
        assert_eq!(out.status.code(), Some(0), "inspect: {}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        tables_of(&doc["tables"], "rtsnap inspect")
    }
}

/// Reads `{"<Model>": {"items": N, "digest": "..."}, ...}`.
fn tables_of(doc: &serde_json::Value, who: &str) -> Tables {
    let map = doc
        .as_object()
        .unwrap_or_else(|| panic!("{who}: no tables object in {doc}"));
    map.iter()
        .map(|(model, t)| {
            let items = t["items"]
                .as_u64()
                .unwrap_or_else(|| panic!("{who}: {model}: items"));
            let digest = t["digest"]
                .as_str()
                .unwrap_or_else(|| panic!("{who}: {model}: digest"))
                .to_owned();
            assert!(
                digest.len() == 64
                    && digest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{who}: {model}: digest {digest:?} is not 64 lowercase hex digits"
            );
            (model.clone(), (items, digest))
        })
        .collect()
}

/// What the reference implementation computes for a snapshot directory.
fn reference_tables(snapshot: &Path) -> Tables {
    let out = python(&[snapshot.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "digest_reference.py {}: {}",
        snapshot.display(),
        text(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    tables_of(&doc, "digest_reference.py")
}

/// Equal maps, or a failure listing every model on which the two disagree.
fn assert_same_tables(reference: &Tables, rtsnap: &Tables) {
    let mut problems = Vec::new();
    for model in reference.keys().chain(rtsnap.keys()) {
        let (r, s) = (reference.get(model), rtsnap.get(model));
        if r != s && !problems.iter().any(|p: &String| p.starts_with(model)) {
            problems.push(format!("{model}: reference {r:?}, rtsnap {s:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "reference and rtsnap disagree:\n{}",
        problems.join("\n")
    );
    assert_eq!(reference, rtsnap);
}

#[test]
fn reference_passes_its_self_test() {
    let out = python(&["--self-test"]);
    assert!(
        out.status.success(),
        "self-test failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn reference_and_rtsnap_agree_on_every_fixture_table() {
    let reference = reference_tables(&fixture_dir());
    assert_eq!(reference.len(), 35, "the fixture has 35 models");
    // Empty tables included: their digest is 64 zeros on both sides.
    assert!(reference.values().any(|(items, _)| *items > 100));
    let ws = Workspace::new();
    let rtsnap = ws.rtsnap_tables(&fixture_dir(), "demo.rtsnap");
    assert_eq!(rtsnap.len(), 35);
    assert_same_tables(&reference, &rtsnap);
}

/// Hand-written items, one per line, each exercising §6 where implementations may slip.
/// Stored spellings are deliberately non-canonical (key order, number spelling, JSON
/// escapes for characters that the canonical form writes raw, and the reverse).
fn tricky_items() -> Vec<String> {
    let mut items: Vec<String> = [
        // Control characters: \u0001 and \u001f must become lowercase \u00XX, \u007f
        // (DEL) raw; the short escapes; `/` raw even when stored escaped; NUL.
        r#"{"id":{"S":"ctl-1"},"ctl":{"S":"a\u0001b\u001fc\u007fd"},"short":{"S":"\b\f\n\r\t\"\\\/"},"vt_nul":{"S":"\u000B\u0000\u001F"}}"#,
        // A non-BMP character next to BMP ones, in keys and in an SS set: UTF-8 byte
        // order puts U+FF5E before U+1F600, UTF-16 order the other way round. One key is
        // stored as a surrogate-pair escape.
        r#"{"😀":{"S":"grin"},"～":{"S":"fullwidth tilde"},"\ud83d\ude01":{"S":"escaped pair"},"é":{"S":"e-acute"},"z":{"S":"z"},"id":{"S":"emoji-1"},"tags":{"SS":["😀","～","é","z","A","\uE000"]}}"#,
        // Number spellings, including 38 digits and long fractions (no floats!).
        r#"{"id":{"S":"num-1"},"a":{"N":"-0.0"},"b":{"N":"1E+2"},"c":{"N":"0.000100"},"d":{"N":"12345678901234567890123456789012345678"},"e":{"N":"-1234567890123456789012345678901234567.8e-3"},"f":{"N":".5"},"g":{"N":"5."},"h":{"N":"+007.2500e003"},"i":{"N":"1e-130"},"j":{"N":"9.9999999999999999999999999999999999999E+125"}}"#,
        // NS with negative numbers: sorted by the canonical strings' bytes, not by value.
        r#"{"ns":{"NS":["-1","-10","10","-0.5","2.50","1e2","0.001","-2","+3"]},"id":{"S":"ns-1"}}"#,
        // BS: sorted by raw bytes (00, 00 00, 01 02 03, 80, ff), not by base64 text.
        r#"{"id":{"S":"bs-1"},"bs":{"BS":["/w==","gA==","AQID","AAA=","AA=="]},"b":{"B":"3q2+7w=="}}"#,
        // M inside L inside M, with empty M and L deep down and list order preserved.
        r#"{"outer":{"M":{"list":{"L":[{"M":{"z":{"N":"1.0"},"a":{"L":[{"M":{}},{"L":[]}]}}},{"S":""},{"NULL":true},{"N":"3"},{"N":"1"}]},"b":{"BOOL":true}}},"id":{"S":"nest-1"}}"#,
        // Empty string S, empty L and M.
        r#"{"id":{"S":"empty-1"},"s":{"S":""},"l":{"L":[]},"m":{"M":{}}}"#,
        // The same item again, respelled: a multiset counts it twice.
        r#"{"m":{"M":{}},"l":{"L":[]},"s":{"S":""},"id":{"S":"empty-1"}}"#,
        // Keys needing escapes, line/paragraph separators and CJK written raw.
        r#"{"id":{"S":"uni-1"},"k\"q\\":{"S":"quote key"},"s":{"S":"line\u2028sep\u2029 \ud83d\ude00 中文 / slash"},"K":{"BOOL":false}}"#,
        // Zero spellings, a tiny negative, SS with case and accents.
        r#"{"id":{"S":"num-2"},"zero":{"N":"000.000"},"neg":{"N":"-17.0"},"tiny":{"N":"-0.00000000000000000000000000000000000001"},"ss":{"SS":["b","B","a","ä","😀","～"]}}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A raw DEL byte and a raw non-BMP character in the stored line (not escaped).
    items.push(format!(
        "{{\"id\":{{\"S\":\"raw-1\"}},\"del\":{{\"S\":\"x{}y\"}},\"\u{10FFFF}\":{{\"S\":\"max\"}},\"\u{FFFF}\":{{\"S\":\"bmp max\"}}}}",
        '\u{7f}'
    ));
    items
}

/// A snapshot directory with the fixture's header and, for each table, the Contact
/// schema: `Tricky` holds every tricky item, `TrickyNN` item NN alone (so that a
/// disagreement names the item).
fn write_tricky_snapshot(root: &Path) -> usize {
    fs::create_dir_all(root).unwrap();
    fs::copy(fixture_dir().join("rtsnap.json"), root.join("rtsnap.json")).unwrap();
    let schema = fixture_dir().join("tables/Contact/schema.json");
    let items = tricky_items();
    let write_table = |model: &str, lines: &[String]| {
        let dir = root.join("tables").join(model);
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&schema, dir.join("schema.json")).unwrap();
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        fs::write(dir.join("items-000001.jsonl"), body).unwrap();
    };
    write_table("Tricky", &items);
    for (i, item) in items.iter().enumerate() {
        write_table(&format!("Tricky{:02}", i + 1), std::slice::from_ref(item));
    }
    items.len()
}

#[test]
fn reference_and_rtsnap_agree_on_tricky_items() {
    let ws = Workspace::new();
    let snapshot = ws.path("tricky");
    let count = write_tricky_snapshot(&snapshot);
    let reference = reference_tables(&snapshot);
    assert_eq!(reference.len(), count + 1);
    assert_eq!(reference["Tricky"].0, count as u64);
    // The respelled duplicate hashes like its original, and both count.
    assert_eq!(reference["Tricky07"], reference["Tricky08"]);
    let rtsnap = ws.rtsnap_tables(&snapshot, "tricky.rtsnap");
    assert_same_tables(&reference, &rtsnap);
}

/// Tables over 1 MiB are digested on a helper thread, mostly by the one-pass scanner
/// (canonical-shaped lines) and partly by the parser (the tricky items): both sides of
/// rtsnap (pack and inspect) must still agree with the reference.
#[test]
fn reference_and_rtsnap_agree_on_a_table_digested_on_a_helper_thread() {
    let ws = Workspace::new();
    let snapshot = ws.path("big");
    let dir = snapshot.join("tables/Big");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(
        fixture_dir().join("rtsnap.json"),
        snapshot.join("rtsnap.json"),
    )
    .unwrap();
    fs::copy(
        fixture_dir().join("tables/Contact/schema.json"),
        dir.join("schema.json"),
    )
    .unwrap();
    let tricky = tricky_items();
    let mut body = String::new();
    for entry in fs::read_dir(fixture_dir().join("tables")).unwrap() {
        let items = fs::read_to_string(entry.unwrap().path().join("items-000001.jsonl")).unwrap();
        for (i, line) in items.lines().enumerate() {
            body.push_str(line);
            body.push('\n');
            if i % 50 == 0 {
                body.push_str(&tricky[i / 50 % tricky.len()]);
                body.push('\n');
            }
        }
    }
    assert!(
        body.len() > 1 << 20,
        "{} bytes: below the thread threshold",
        body.len()
    );
    fs::write(dir.join("items-000001.jsonl"), &body).unwrap();
    let reference = reference_tables(&snapshot);
    assert_eq!(reference["Big"].0, body.lines().count() as u64);
    let rtsnap = ws.rtsnap_tables(&snapshot, "big.rtsnap");
    assert_same_tables(&reference, &rtsnap);
}
