//! The `.rtsnap` format through the real binary: round trips of the fixture, stock-tool
//! compatibility, and the rule that every bad input (flipped byte, truncation, wrong
//! key or passphrase, future version, not an archive) gives exit 3, one clear line, and
//! writes nothing. No network: these tests need no emulator.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FAST_WORK_FACTOR: &str = "16";

/// A scratch folder with an identity, a config naming its recipient, and the binary.
struct Workspace {
    dir: tempfile::TempDir,
    recipient: String,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace {
            dir,
            recipient: String::new(),
        };
        let out = ws.run(&["keygen", "-o", "id.txt", "--json"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let recipient = doc["recipient"].as_str().unwrap().to_owned();
        fs::write(
            ws.path("rtsnap.toml"),
            format!("[snapshots]\nrecipients = [\"{recipient}\"]\n"),
        )
        .unwrap();
        Workspace { recipient, ..ws }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs rtsnap in the workspace with a clean environment (no inherited keys).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtsnap"));
        cmd.args(args).current_dir(self.dir.path());
        for (name, _) in std::env::vars() {
            if name.starts_with("RTSNAP_") || name.starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RTSNAP_HOME", self.path("home"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn pack_fixture(&self, name: &str) -> PathBuf {
        let out = self.run(&["pack", fixture_dir().to_str().unwrap(), "-o", name], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        self.path(name)
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 3, exactly one line on stderr, naming the problem.
fn assert_integrity_failure(out: &Output, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{what}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one line expected, got {err:?}"
    );
    assert!(err.starts_with("rtsnap: error: "), "{what}: {err}");
    err
}

/// Every file under `dir`, relative path → bytes.
fn read_tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn fixture_round_trips_byte_for_byte() {
    let ws = Workspace::new();
    ws.pack_fixture("demo.rtsnap");
    // Issue 10: not into a git work tree (snapshots hold personal data) unless asked.
    fs::create_dir_all(ws.path("repo/.git")).unwrap();
    let out = ws.run(
        &["unpack", "demo.rtsnap", "repo/out", "--identity", "id.txt"],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("git work tree"), "{}", stderr(&out));
    assert!(!ws.path("repo/out").exists());
    let out = ws.run(
        &[
            "unpack",
            "demo.rtsnap",
            "repo/out",
            "--identity",
            "id.txt",
            "--allow-in-repo",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = ws.run(
        &["unpack", "demo.rtsnap", "out", "--identity", "id.txt"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let original = read_tree(&fixture_dir());
    let mut unpacked = read_tree(&ws.path("out"));
    assert!(
        unpacked.remove("MANIFEST.json").is_some(),
        "unpack writes the manifest too"
    );
    assert_eq!(
        original.keys().collect::<Vec<_>>(),
        unpacked.keys().collect::<Vec<_>>()
    );
    let tables = original
        .keys()
        .filter(|k| k.ends_with(".jsonl") && k.starts_with("tables/"))
        .count();
    assert_eq!(tables, 35, "every fixture table has its items file");
    for (path, bytes) in &original {
        assert!(
            unpacked[path] == *bytes,
            "{path} differs after the round trip"
        );
    }
    // Re-packing the unpacked directory (MANIFEST.json included) gives the same contents.
    let out = ws.run(&["pack", "out", "-o", "again.rtsnap", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = ws.run(
        &["inspect", "demo.rtsnap", "--identity", "id.txt", "--json"],
        &[],
    );
    let second = ws.run(
        &["inspect", "again.rtsnap", "--identity", "id.txt", "--json"],
        &[],
    );
    let tables_of = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["tables"].clone()
    };
    assert_eq!(tables_of(&first), tables_of(&second));
}

#[test]
fn inspect_reports_the_fixture_counts_as_json() {
    let ws = Workspace::new();
    ws.pack_fixture("demo.rtsnap");
    let out = ws.run(
        &["inspect", "demo.rtsnap", "--identity", "id.txt", "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        out.stderr.is_empty(),
        "--json keeps stderr quiet on success"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let expected = [
        ("Contact", 241),
        ("Property", 217),
        ("Request", 196),
        ("AuditLog", 176),
        ("ProjectComment", 240),
        ("Quote", 228),
        ("ProjectPaymentTerm", 196),
        ("ProjectMilestone", 142),
        ("Project", 64),
        ("Auth", 58),
        ("Affiliate", 8),
    ];
    for (model, count) in expected {
        assert_eq!(doc["tables"][model]["items"], count, "{model}");
    }
    assert_eq!(doc["tables"].as_object().unwrap().len(), 35);
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["sidecar"], "matches");
    assert_eq!(doc["groups"], 3);
}

#[test]
fn digest_ignores_item_order_and_number_spelling() {
    let ws = Workspace::new();
    let copy = ws.path("respelled");
    copy_tree(&fixture_dir(), &copy);
    // Reverse Quote's lines and respell every plain decimal number (e.g. 1250.5 → 12505e-1).
    let items = copy.join("tables/Quote/items-000001.jsonl");
    let text = fs::read_to_string(&items).unwrap();
    let mut lines: Vec<String> = text.lines().map(respell_numbers).collect();
    assert!(
        lines.iter().zip(text.lines()).any(|(a, b)| a != b),
        "some number was respelled"
    );
    lines.reverse();
    fs::write(&items, lines.join("\n") + "\n").unwrap();
    ws.pack_fixture("a.rtsnap");
    let out = ws.run(&["pack", copy.to_str().unwrap(), "-o", "b.rtsnap"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let digest = |name: &str| {
        let o = ws.run(&["inspect", name, "--identity", "id.txt", "--json"], &[]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["tables"]["Quote"]["digest"]
            .clone()
    };
    assert_eq!(digest("a.rtsnap"), digest("b.rtsnap"));
    assert_ne!(
        fs::read(&items).unwrap(),
        fs::read(fixture_dir().join("tables/Quote/items-000001.jsonl")).unwrap()
    );
}

/// Issue 11: on a machine with more CPUs, the lines of each large entry are shared out
/// to several helper threads (`RTSNAP_LINE_HELPERS` sets how many, so this runs on any
/// machine). Packing and reading must come to exactly what one thread finds: the same
/// counts and digests, and a bad line refused at the same line number.
#[test]
fn issue_11_lines_shared_by_several_helpers_pack_and_read_like_one_thread() {
    let ws = Workspace::new();
    let copy = ws.path("grown");
    copy_tree(&fixture_dir(), &copy);
    // Quote's items grown past 1 MiB, the size from which helpers check the lines: the
    // fixture's lines five times more, each copy with its own ids.
    let items = copy.join("tables/Quote/items-000001.jsonl");
    let text = fs::read_to_string(&items).unwrap();
    let mut grown = text.clone();
    for n in 1..=5 {
        for line in text.lines() {
            let id = format!(r#""id":{{"S":"copy{n}-"#);
            grown.push_str(&line.replacen(r#""id":{"S":""#, &id, 1));
            grown.push('\n');
        }
    }
    assert!(grown.len() > 1 << 20, "{} bytes", grown.len());
    fs::write(&items, &grown).unwrap();
    let helpers = |n: &str| [("RTSNAP_LINE_HELPERS", n.to_owned())];
    let run = |args: &[&str], n: &str| {
        let env = helpers(n);
        ws.run(args, &[(env[0].0, env[0].1.as_str())])
    };
    let packed_tables = |n: &str| {
        let name = format!("helpers-{n}.rtsnap");
        let out = run(&["pack", copy.to_str().unwrap(), "-o", &name], n);
        assert_eq!(out.status.code(), Some(0), "{n} helpers: {}", stderr(&out));
        let out = run(&["verify", &name, "--identity", "id.txt", "--json"], n);
        assert_eq!(out.status.code(), Some(0), "{n} helpers: {}", stderr(&out));
        let out = run(&["inspect", &name, "--identity", "id.txt", "--json"], n);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["tables"].clone()
    };
    let one_thread = packed_tables("0");
    assert_eq!(one_thread["Quote"]["items"], 228 * 6, "{one_thread}");
    for n in ["1", "2", "3"] {
        assert_eq!(packed_tables(n), one_thread, "{n} helpers");
    }
    // A value that is not a count is reported, and the default used.
    let out = run(
        &["pack", copy.to_str().unwrap(), "-o", "default.rtsnap"],
        "many",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("RTSNAP_LINE_HELPERS is not a count from 0 to 8"),
        "{}",
        stderr(&out)
    );

    // A bad number on line 1,000: pack refuses it, and so does a reader of an archive
    // written without checks (by hand), at that line whatever the helpers.
    let mut lines: Vec<&str> = grown.lines().collect();
    lines[999] = r#"{"id":{"S":"bad"},"total":{"N":"1.2.3"}}"#;
    let bad = lines.join("\n") + "\n";
    fs::write(&items, &bad).unwrap();
    let header = fs::read(fixture_dir().join("rtsnap.json")).unwrap();
    let schema = fs::read(fixture_dir().join("tables/Quote/schema.json")).unwrap();
    write_raw_archive(
        &ws,
        "bad.rtsnap",
        &[
            ("rtsnap.json", &header[..]),
            ("tables/Quote/schema.json", &schema[..]),
            ("tables/Quote/items-000001.jsonl", bad.as_bytes()),
        ],
    );
    for n in ["0", "1", "2", "3"] {
        let out = run(&["pack", copy.to_str().unwrap(), "-o", "never.rtsnap"], n);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{n} helpers: {err}");
        assert!(
            err.contains("items-000001.jsonl line 1000"),
            "{n} helpers: {err}"
        );
        assert!(!ws.path("never.rtsnap").exists(), "{n} helpers");
        let out = run(&["verify", "bad.rtsnap", "--identity", "id.txt"], n);
        let err = assert_integrity_failure(&out, &format!("{n} helpers"));
        assert!(
            err.contains("items-000001.jsonl line 1000"),
            "{n} helpers: {err}"
        );
    }
}

/// `{"N":"12.5"}` → `{"N":"125e-1"}`; integers gain a trailing `.0`.
fn respell_numbers(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("{\"N\":\"") {
        let start = at + 6;
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('"').unwrap();
        let n = &rest[start..end];
        let respelled = match n.split_once('.') {
            Some((i, f)) => format!("{i}{f}e-{}", f.len()),
            None => format!("{n}.0"),
        };
        out.push_str(&respelled);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in read_tree(from) {
        let target = to.join(rel);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}

#[test]
fn stock_age_zstd_tar_open_the_archive() {
    let ws = Workspace::new();
    let file = ws.pack_fixture("demo.rtsnap");
    let script = format!(
        "age -d -i {} {} | zstd -d | tar -t",
        ws.path("id.txt").display(),
        file.display()
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stock tools (apt-get install age zstd) must open the archive: {}",
        stderr(&out)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names.first(), Some(&"rtsnap.json"));
    assert_eq!(names.last(), Some(&"MANIFEST.json"));
    assert!(names.contains(&"tables/Contact/items-000001.jsonl"));
    assert!(names.contains(&"users/users.jsonl"));
    // And sha256sum agrees with the sidecar, from the snapshot's folder.
    let out = Command::new("sha256sum")
        .args(["-c", "demo.rtsnap.sha256"])
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn any_flipped_byte_is_an_integrity_error_and_unpack_writes_nothing() {
    let ws = Workspace::new();
    let file = ws.pack_fixture("demo.rtsnap");
    let original = fs::read(&file).unwrap();
    let len = original.len();
    let mut offsets: Vec<usize> = (0..64).step_by(7).collect(); // age header: version line, stanza
    offsets.extend([100, 150, 180, 200, 230, 260]); // header MAC, nonce, first chunk
    offsets.extend((1..20).map(|i| i * len / 20)); // through the payload
    offsets.extend([len - 17, len - 2, len - 1]); // the final chunk and its tag
    for offset in offsets {
        let mut bytes = original.clone();
        bytes[offset] ^= 0x01;
        let name = format!("flip-{offset}.rtsnap");
        fs::write(ws.path(&name), &bytes).unwrap();
        let out = ws.run(
            &[
                "unpack",
                &name,
                &format!("out-{offset}"),
                "--identity",
                "id.txt",
            ],
            &[],
        );
        assert_integrity_failure(&out, &format!("flip at {offset}"));
        assert!(
            !ws.path(&format!("out-{offset}")).exists(),
            "flip at {offset}: nothing unpacked"
        );
        let leftovers: Vec<_> = fs::read_dir(ws.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("unpacking"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "flip at {offset}: staging left behind: {leftovers:?}"
        );
        fs::remove_file(ws.path(&name)).unwrap();
    }
}

#[test]
fn a_modified_archive_fails_its_sidecar_without_a_key() {
    let ws = Workspace::new();
    let file = ws.pack_fixture("demo.rtsnap");
    let out = ws.run(&["verify", "demo.rtsnap"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut bytes = fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x80;
    fs::write(&file, &bytes).unwrap();
    let out = ws.run(&["verify", "demo.rtsnap"], &[]);
    let err = assert_integrity_failure(&out, "sidecar");
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn truncated_archives_are_refused() {
    let ws = Workspace::new();
    let file = ws.pack_fixture("demo.rtsnap");
    let original = fs::read(&file).unwrap();
    // Inside the header, at a 64 KiB chunk boundary (+ header), mid-chunk, and one byte short.
    for cut in [
        10,
        150,
        65_536 + 200,
        original.len() / 2,
        original.len() - 1,
    ] {
        let name = format!("cut-{cut}.rtsnap");
        fs::write(ws.path(&name), &original[..cut]).unwrap();
        let out = ws.run(&["inspect", &name, "--identity", "id.txt"], &[]);
        assert_integrity_failure(&out, &format!("cut at {cut}"));
    }
    fs::write(ws.path("empty.rtsnap"), b"").unwrap();
    let out = ws.run(&["inspect", "empty.rtsnap", "--identity", "id.txt"], &[]);
    assert_integrity_failure(&out, "empty file");
}

#[test]
fn wrong_key_and_wrong_passphrase_are_refused() {
    let ws = Workspace::new();
    ws.pack_fixture("demo.rtsnap");
    let other = ws.run(&["keygen", "-o", "other.txt"], &[]);
    assert_eq!(other.status.code(), Some(0));
    let out = ws.run(&["inspect", "demo.rtsnap", "--identity", "other.txt"], &[]);
    let err = assert_integrity_failure(&out, "wrong identity");
    assert!(err.contains("wrong key"), "{err}");
    let identity = fs::read_to_string(ws.path("other.txt")).unwrap();
    let secret = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(!err.contains(secret));

    let pass = [
        ("RTSNAP_PASSPHRASE", "correct horse battery"),
        ("RTSNAP_SCRYPT_WORK_FACTOR", FAST_WORK_FACTOR),
    ];
    let out = ws.run(
        &["pack", fixture_dir().to_str().unwrap(), "-o", "pass.rtsnap"],
        &pass,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = ws.run(&["inspect", "pass.rtsnap"], &pass);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Issue 10: a weak work factor is refused before anything is written.
    let weak = [
        ("RTSNAP_PASSPHRASE", "correct horse battery"),
        ("RTSNAP_SCRYPT_WORK_FACTOR", "10"),
    ];
    let out = ws.run(
        &["pack", fixture_dir().to_str().unwrap(), "-o", "weak.rtsnap"],
        &weak,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("too weak"), "{}", stderr(&out));
    assert!(!ws.path("weak.rtsnap").exists() && !ws.path("weak.rtsnap.partial").exists());
    let out = ws.run(
        &["inspect", "pass.rtsnap"],
        &[("RTSNAP_PASSPHRASE", "wrong horse battery")],
    );
    let err = assert_integrity_failure(&out, "wrong passphrase");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(
        !err.contains("horse"),
        "the passphrase never reaches an error: {err}"
    );
    // A passphrase archive opened with an identity, and the other way round.
    let out = ws.run(&["inspect", "pass.rtsnap", "--identity", "id.txt"], &[]);
    assert_integrity_failure(&out, "identity on a passphrase archive");
    let out = ws.run(&["inspect", "demo.rtsnap"], &pass);
    assert_integrity_failure(&out, "passphrase on a recipients archive");
}

#[test]
fn a_future_format_version_is_refused_with_the_version_in_the_message() {
    let ws = Workspace::new();
    let header = br#"{"format":"rtsnap","format_version":2,"tool_version":"9.0.0","created_at":"2030-01-01T00:00:00Z","source":{},"sections":[]}"#;
    write_raw_archive(&ws, "future.rtsnap", &[("rtsnap.json", header)]);
    let out = ws.run(&["inspect", "future.rtsnap", "--identity", "id.txt"], &[]);
    let err = assert_integrity_failure(&out, "future version");
    assert!(
        err.contains("format version 2") && err.contains("reads version 1"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_rtsnap_archives_are_refused() {
    let ws = Workspace::new();
    fs::write(ws.path("notes.rtsnap"), b"just some text, not an archive\n").unwrap();
    let out = ws.run(&["inspect", "notes.rtsnap", "--identity", "id.txt"], &[]);
    let err = assert_integrity_failure(&out, "text file");
    assert!(err.contains("not an rtsnap archive"), "{err}");
    // A valid age file whose content is not an rtsnap tar.
    let mut plain = Vec::new();
    {
        let recipient: age::x25519::Recipient = ws.recipient.parse().unwrap();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut w = enc.wrap_output(&mut plain).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish().unwrap();
    }
    fs::write(ws.path("hello.rtsnap"), &plain).unwrap();
    let out = ws.run(&["inspect", "hello.rtsnap", "--identity", "id.txt"], &[]);
    assert_integrity_failure(&out, "age file of other content");
    // An archive whose first entry is not the header.
    write_raw_archive(
        &ws,
        "headless.rtsnap",
        &[("tables/Contact/schema.json", b"{}")],
    );
    let out = ws.run(&["inspect", "headless.rtsnap", "--identity", "id.txt"], &[]);
    let err = assert_integrity_failure(&out, "no header");
    assert!(err.contains("not an rtsnap archive"), "{err}");
}

/// Builds age(zstd(tar)) by hand, as a second implementation would.
fn write_raw_archive(ws: &Workspace, name: &str, entries: &[(&str, &[u8])]) {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_path(path).unwrap();
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let compressed = zstd::encode_all(&tar[..], 3).unwrap();
    let recipient: age::x25519::Recipient = ws.recipient.parse().unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(&compressed).unwrap();
    w.finish().unwrap();
    fs::write(ws.path(name), out).unwrap();
}

#[test]
fn snapshot_files_are_private_and_never_land_in_a_git_work_tree() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let file = ws.pack_fixture("demo.rtsnap");
    for path in [
        file.clone(),
        ws.path("demo.rtsnap.sha256"),
        ws.path("id.txt"),
    ] {
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    fs::create_dir(ws.path("repo")).unwrap();
    fs::create_dir(ws.path("repo/.git")).unwrap();
    let out = ws.run(
        &[
            "pack",
            fixture_dir().to_str().unwrap(),
            "-o",
            "repo/snap.rtsnap",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-in-repo"));
    assert!(!ws.path("repo/snap.rtsnap").exists());
    let out = ws.run(
        &[
            "pack",
            fixture_dir().to_str().unwrap(),
            "-o",
            "repo/snap.rtsnap",
            "--allow-in-repo",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Never over an existing file.
    let out = ws.run(
        &["pack", fixture_dir().to_str().unwrap(), "-o", "demo.rtsnap"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn config_errors_exit_2_with_one_precise_line() {
    let ws = Workspace::new();
    for (text, want) in [
        ("[snapshots]\nrecipients = [\"age1broken\"\n", "bad.toml:2:"),
        (
            "[environments.dev]\naws_secret_access_key = \"abc\"\n",
            "looks like a secret",
        ),
        (
            "[snapshots]\nrecipients = [\"age1notarealkey\"]\n",
            "invalid age recipient",
        ),
    ] {
        fs::write(ws.path("bad.toml"), text).unwrap();
        let out = ws.run(
            &[
                "--config",
                "bad.toml",
                "pack",
                fixture_dir().to_str().unwrap(),
                "-o",
                "x.rtsnap",
            ],
            &[],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.contains(want), "{err}");
        assert!(!ws.path("x.rtsnap").exists());
    }
}

#[test]
fn list_shows_snapshots_by_environment() {
    let ws = Workspace::new();
    let dir = ws.path("home/snapshots");
    fs::create_dir_all(&dir).unwrap();
    for name in [
        "staging-2025-08-12.rtsnap",
        "production-pre-import-20250812T093000Z.rtsnap",
        "production-2025-08-13.rtsnap",
    ] {
        fs::write(dir.join(name), b"x").unwrap();
    }
    let out = ws.run(&["list", "--env", "production", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("production-")));
    let kinds: Vec<&str> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"pre-import-backup") && kinds.contains(&"export"),
        "{kinds:?}"
    );
}

#[test]
fn list_contents_checks_each_archive_and_shows_its_counts() {
    let ws = Workspace::new();
    let dir = ws.path("home/snapshots");
    fs::create_dir_all(&dir).unwrap();
    let good = ws.pack_fixture("home/snapshots/staging-2025-08-12.rtsnap");
    let mut bytes = fs::read(&good).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(dir.join("staging-2025-08-13.rtsnap"), &bytes).unwrap();

    let inspected = ws.run(
        &[
            "inspect",
            good.to_str().unwrap(),
            "--identity",
            "id.txt",
            "--json",
        ],
        &[],
    );
    assert_eq!(inspected.status.code(), Some(0), "{}", stderr(&inspected));
    let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();

    let out = ws.run(
        &["list", "--contents", "--identity", "id.txt", "--json"],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a damaged file fails the listing"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let contents = doc["contents"].as_array().unwrap();
    assert_eq!(contents.len(), names.len());
    let at = |name: &str| &contents[names.iter().position(|n| *n == name).unwrap()];

    let verified = at("staging-2025-08-12.rtsnap");
    assert_eq!(verified["status"], "verified", "{verified}");
    for field in ["users", "groups", "asset_objects", "total_items", "tables"] {
        assert_eq!(verified[field], inspected[field], "{field}");
    }
    assert!(verified["users"].as_u64().unwrap() > 0);

    let damaged = at("staging-2025-08-13.rtsnap");
    assert_eq!(damaged["status"], "unreadable", "{damaged}");
    let error = damaged["error"].as_str().unwrap();
    let verify = ws.run(
        &[
            "verify",
            dir.join("staging-2025-08-13.rtsnap").to_str().unwrap(),
            "--identity",
            "id.txt",
        ],
        &[],
    );
    assert!(
        !error.is_empty() && !error.contains('\n') && stderr(&verify).contains(error),
        "the listing gives the same one-line reason as verify: {error} / {}",
        stderr(&verify)
    );

    let text = ws.run(&["list", "--contents", "--identity", "id.txt"], &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    let users = inspected["users"].as_u64().unwrap();
    assert!(text.contains(&format!("{users} users")), "{text}");
    assert!(text.contains("FAILED: "), "{text}");
}

/// Found by the 2026-12-01 bug hunt: `import`, `check` and `verify --against` found a
/// bare snapshot name in the snapshot directory, but `verify`, `inspect` and `unpack`
/// did not, so the guide's `rtsnap export staging` then `rtsnap verify
/// staging-DATE.rtsnap` failed unless run from that directory.
#[test]
fn verify_inspect_and_unpack_find_a_bare_name_in_the_snapshot_directory() {
    let ws = Workspace::new();
    fs::create_dir_all(ws.path("home/snapshots")).unwrap();
    ws.pack_fixture("home/snapshots/staging-2025-08-12.rtsnap");
    let name = "staging-2025-08-12.rtsnap";
    let key = [("RTSNAP_IDENTITY", "id.txt")];
    let verify = ws.run(&["verify", name, "--json"], &key);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let inspect = ws.run(&["inspect", name, "--json"], &key);
    assert_eq!(inspect.status.code(), Some(0), "{}", stderr(&inspect));
    let unpack = ws.run(&["unpack", name, "out"], &key);
    assert_eq!(unpack.status.code(), Some(0), "{}", stderr(&unpack));
    let (unpacked, fixture) = (read_tree(&ws.path("out")), read_tree(&fixture_dir()));
    let same = fixture
        .iter()
        .all(|(path, bytes)| unpacked.get(path) == Some(bytes));
    assert!(same, "unpack wrote the fixture's files");
    // A file of that name here still wins over the snapshot directory's.
    fs::write(ws.path(name), b"not an archive").unwrap();
    let here = ws.run(&["inspect", name], &key);
    assert_ne!(here.status.code(), Some(0), "the local file was read");
}

/// Found by the 2026-12-01 bug hunt: with `--json`, a wrong command line printed
/// usage on stderr and nothing on stdout, where scripts expect one document.
#[test]
fn json_gets_one_document_for_a_wrong_command_line_too() {
    let ws = Workspace::new();
    for args in [
        &["--json", "import"][..],
        &["import", "x.rtsnap", "--target", "t", "--json", "--frob"],
        &["--json", "bogus"],
    ] {
        let out = ws.run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: one JSON document ({e})"));
        assert_eq!(doc["exit_code"], 2);
        let error = doc["error"].as_str().unwrap();
        assert!(!error.is_empty() && !error.contains('\n'), "{error}");
        assert!(stderr(&out).contains("Usage:"), "usage still on stderr");
    }
    let out = ws.run(&["--json", "import"], &[]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["error"].as_str().unwrap().contains("--target <ENV>"),
        "{doc}"
    );
    let help = ws.run(&["--json", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Usage:"),
        "help stays help"
    );
}
