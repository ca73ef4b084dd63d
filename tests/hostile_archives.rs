//! Issue 10, "hostile archives": every archive an attacker or a bad disk could hand to
//! `rtsnap import` is refused with exit 3 and exactly one stderr line, and nothing
//! reaches the target. The target is dynalite (the strict DynamoDB) holding a Contact
//! table with one item of its own; the snapshot holds Contact (3 items) and Affiliate
//! (8 items, a table the target lacks, so `--create-missing` would create it). After
//! every refusal an independent SDK client checks that Contact still holds exactly its
//! one item and that Affiliate does not exist, and the file system checks that no
//! pre-import backup was written to the snapshot directory.
//!
//! Every hostile variant is derived from one small valid snapshot: byte flips and
//! truncations of the encrypted file (all 100 flips and 20 cuts go through `import`
//! itself, not `verify`: a tiny archive keeps each run short), and archives re-built
//! entry by entry with the `tar`, `zstd` and `age` crates (a second implementation of
//! the format, as `archive_cli` does) for the lying manifest, the unsafe paths, the
//! symlink and the huge claimed size. Each family is first re-built *unchanged* and
//! shown to pass a dry run, so the refusal is about the hostile change alone.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;

use common::world::{simple_item, stderr, SdkItem, World};
use common::Server;

const TARGET: &str = "staging";
/// scrypt's work factor for the passphrase archive: the lowest accepted, for speed.
const FAST_WORK_FACTOR: &str = "16";
/// Seeds of the flip and truncation campaigns (fixed: a failure must reproduce).
const FLIP_SEED: u64 = 0x5EED_F11B;
const CUT_SEED: u64 = 0x5EED_C0DE;
const FLIPS: usize = 100;
const CUTS: usize = 20;

/// splitmix64: a tiny, well-mixed deterministic generator (no dependency needed).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `count` positions in `0..len`, one drawn from each of `count` equal strata, so
    /// they cover the whole file (age header, every payload chunk, the final tag).
    fn spread(&mut self, len: usize, count: usize) -> Vec<usize> {
        (0..count)
            .map(|i| {
                let (start, end) = (i * len / count, (i + 1) * len / count);
                start + (self.next() % (end - start).max(1) as u64) as usize
            })
            .collect()
    }
}

/// The target as an independent SDK client sees it, and what it must stay.
struct Target {
    world: World,
    contact: String,
    affiliate: String,
    before: Vec<SdkItem>,
}

impl Target {
    async fn new() -> Target {
        let world = World::new(Server::Dynalite, "hostile", &[(TARGET, false)]);
        let contact = world
            .create_table(TARGET, "Contact", None, Some("affiliateId"))
            .await;
        world
            .put_items(&contact, vec![simple_item("only-in-target", 1)])
            .await;
        let before = world.scan_all(&contact).await;
        assert_eq!(before.len(), 1);
        let affiliate = world.table(TARGET, "Affiliate");
        Target {
            world,
            contact,
            affiliate,
            before,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.world.dir.path().join(name)
    }

    /// `rtsnap import FILE --target staging --create-missing --yes --quiet [extra]`.
    fn import(&self, file: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.world.command(
            &[
                &["import", file, "--target", TARGET, "--create-missing"][..],
                extra,
            ]
            .concat(),
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run rtsnap")
    }

    /// Imports `file` for real and asserts the refusal: exit 3, one `rtsnap: error:`
    /// line, the target untouched, no backup. Returns the line.
    async fn refused(&self, file: &str, what: &str, env: &[(&str, &str)]) -> String {
        let out = self.import(file, &["--yes", "--quiet"], env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: one line: {err:?}");
        assert!(err.starts_with("rtsnap: error: "), "{what}: {err}");
        self.assert_untouched(what).await;
        err
    }

    async fn assert_untouched(&self, what: &str) {
        assert!(
            self.world.scan_all(&self.contact).await == self.before,
            "{what}: Contact changed"
        );
        assert!(
            !self.world.table_exists(&self.affiliate).await,
            "{what}: Affiliate was created"
        );
        assert!(
            self.world.snapshots().is_empty(),
            "{what}: a backup was written: {:?}",
            self.world.snapshots()
        );
    }

    /// A dry run of `file` succeeds: the control for each family of variants.
    fn plans(&self, file: &str, what: &str) {
        let out = self.import(file, &["--dry-run", "--quiet"], &[]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
    }

    /// Packs the mini snapshot (plus `extra` Contact lines) into `NAME.rtsnap`.
    fn pack(&self, name: &str, extra: &[String], env: &[(&str, &str)]) -> String {
        let dir = self.path(&format!("{name}.d"));
        mini_snapshot(&dir, extra);
        let file = format!("{name}.rtsnap");
        let mut cmd = self
            .world
            .command(&["pack", &dir.to_string_lossy(), "-o", &file]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run rtsnap");
        assert!(out.status.success(), "pack {name}: {}", stderr(&out));
        file
    }

    /// The recipient the world's config encrypts to.
    fn recipient(&self) -> age::x25519::Recipient {
        self.identity().to_public()
    }

    fn identity(&self) -> age::x25519::Identity {
        let text = fs::read_to_string(self.path("id.txt")).expect("id.txt");
        text.lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .expect("a secret key line")
            .parse()
            .expect("an X25519 identity")
    }

    /// The regular entries of an archive, decrypted with stock crates.
    fn entries(&self, file: &str) -> Vec<RawEntry> {
        let bytes = fs::read(self.path(file)).expect("archive");
        let identity = self.identity();
        let decryptor = age::Decryptor::new(&bytes[..]).expect("age header");
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .expect("decrypt");
        let mut compressed = Vec::new();
        reader.read_to_end(&mut compressed).expect("age payload");
        let tar = zstd::decode_all(&compressed[..]).expect("zstd");
        let mut archive = tar::Archive::new(&tar[..]);
        let mut out = Vec::new();
        for entry in archive.entries().expect("tar") {
            let mut entry = entry.expect("tar entry");
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = entry.path_bytes().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("entry data");
            out.push(RawEntry::file(path, data));
        }
        out
    }

    /// Writes age(zstd(tar(entries))) to `name`, as a second implementation would.
    fn write(&self, name: &str, entries: &[RawEntry]) -> String {
        let mut tar = tar::Builder::new(Vec::new());
        for e in entries {
            let mut header = tar::Header::new_ustar();
            let field = &mut header.as_old_mut().name;
            assert!(e.path.len() <= field.len(), "short paths only");
            field[..e.path.len()].copy_from_slice(&e.path);
            header.set_entry_type(e.kind);
            header.set_size(e.claimed_size.unwrap_or(e.data.len() as u64));
            header.set_mode(0o600);
            if let Some(target) = e.link {
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            }
            header.set_cksum();
            // `append` copies the bytes given and pads them, whatever the header claims.
            tar.append(&header, &e.data[..]).expect("tar append");
        }
        let tar = tar.into_inner().expect("tar end");
        let compressed = zstd::encode_all(&tar[..], 3).expect("zstd");
        let recipient = self.recipient();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .expect("encryptor");
        let mut out = Vec::new();
        let mut w = encryptor.wrap_output(&mut out).expect("age");
        w.write_all(&compressed).expect("age write");
        w.finish().expect("age finish");
        fs::write(self.path(name), out).expect("write archive");
        name.to_owned()
    }
}

/// One tar entry as written by [`Target::write`]: the path bytes go into the header
/// verbatim (so `..` and `/` survive), and the size may claim more than the data.
#[derive(Clone)]
struct RawEntry {
    path: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    claimed_size: Option<u64>,
    link: Option<&'static str>,
}

impl RawEntry {
    fn file(path: impl Into<Vec<u8>>, data: Vec<u8>) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind: tar::EntryType::Regular,
            data,
            claimed_size: None,
            link: None,
        }
    }
}

/// The fixture's Contact table (first three items, plus `extra` lines) and its whole
/// Affiliate table, under a header listing only the tables section.
fn mini_snapshot(dir: &Path, extra: &[String]) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let mut header: serde_json::Value =
        serde_json::from_slice(&fs::read(fixture.join("rtsnap.json")).unwrap()).unwrap();
    header["sections"] = serde_json::json!(["tables"]);
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("rtsnap.json"),
        serde_json::to_vec_pretty(&header).unwrap(),
    )
    .unwrap();
    for (model, take) in [("Contact", 3), ("Affiliate", usize::MAX)] {
        let to = dir.join("tables").join(model);
        let from = fixture.join("tables").join(model);
        fs::create_dir_all(&to).unwrap();
        fs::copy(from.join("schema.json"), to.join("schema.json")).unwrap();
        let items = fs::read_to_string(from.join("items-000001.jsonl")).unwrap();
        let mut lines: Vec<String> = items.lines().take(take).map(str::to_owned).collect();
        if model == "Contact" {
            lines.extend(extra.iter().cloned());
        }
        fs::write(to.join("items-000001.jsonl"), lines.join("\n") + "\n").unwrap();
    }
}

/// The first fixture Contact line and its `id`.
fn first_contact() -> (String, String) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let items = fs::read_to_string(fixture.join("tables/Contact/items-000001.jsonl")).unwrap();
    let line = items.lines().next().unwrap().to_owned();
    let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
    let id = doc["id"]["S"].as_str().unwrap().to_owned();
    (line, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_seeded_flips_and_truncations_are_refused_and_write_nothing() {
    let target = Target::new().await;
    let good = target.pack("good", &[], &[]);
    target.plans(&good, "the undamaged snapshot");
    let original = fs::read(target.path(&good)).unwrap();
    let len = original.len();

    let mut rng = SplitMix(FLIP_SEED);
    let offsets = rng.spread(len, FLIPS);
    for offset in offsets {
        let mut bytes = original.clone();
        bytes[offset] ^= 1 << (rng.next() % 8);
        let name = "flipped.rtsnap";
        fs::write(target.path(name), &bytes).unwrap();
        target
            .refused(name, &format!("flip at {offset} of {len}"), &[])
            .await;
    }

    let mut rng = SplitMix(CUT_SEED);
    for cut in rng.spread(len, CUTS) {
        let name = "cut.rtsnap";
        fs::write(target.path(name), &original[..cut]).unwrap();
        target
            .refused(name, &format!("cut at {cut} of {len}"), &[])
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_wrong_identity_wrong_passphrase_and_future_version_are_refused() {
    let target = Target::new().await;
    let good = target.pack("good", &[], &[]);
    let other = target.world.rtsnap(&["keygen", "-o", "other.txt"]);
    assert!(other.status.success(), "{}", stderr(&other));
    let out = target.import(&good, &["--yes", "--quiet", "--identity", "other.txt"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "wrong identity: {err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("wrong key"), "{err}");
    target.assert_untouched("wrong identity").await;

    let pass = target.pack(
        "pass",
        &[],
        &[
            ("RTSNAP_PASSPHRASE", "correct horse battery"),
            ("RTSNAP_SCRYPT_WORK_FACTOR", FAST_WORK_FACTOR),
        ],
    );
    let err = target
        .refused(
            &pass,
            "wrong passphrase",
            &[("RTSNAP_PASSPHRASE", "wrong horse battery")],
        )
        .await;
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!err.contains("horse"), "no passphrase in errors: {err}");

    // The same entries under a header from the future (format_version 2).
    let mut entries = target.entries(&good);
    let mut header: serde_json::Value = serde_json::from_slice(&entries[0].data).unwrap();
    header["format_version"] = serde_json::json!(2);
    entries[0].data = serde_json::to_vec(&header).unwrap();
    let future = target.write("future.rtsnap", &entries);
    let err = target.refused(&future, "future version", &[]).await;
    assert!(
        err.contains("format version 2") && err.contains("reads version 1"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_a_manifest_that_lies_about_counts_is_refused() {
    let target = Target::new().await;
    let good = target.pack("good", &[], &[]);
    let entries = target.entries(&good);
    let last = entries.last().expect("entries");
    assert_eq!(last.path, b"MANIFEST.json");
    // Control: the entries re-built unchanged by the stock crates are a valid snapshot.
    let rebuilt = target.write("rebuilt.rtsnap", &entries);
    target.plans(&rebuilt, "the unchanged re-build");

    // Every entry and checksum stays right; only the Contact count is off by one.
    let mut manifest: serde_json::Value = serde_json::from_slice(&last.data).unwrap();
    let items = manifest["tables"]["Contact"]["items"].as_u64().unwrap();
    assert_eq!(items, 3);
    manifest["tables"]["Contact"]["items"] = serde_json::json!(items + 1);
    let mut lying = entries.clone();
    lying.last_mut().unwrap().data = serde_json::to_vec(&manifest).unwrap();
    let file = target.write("lying.rtsnap", &lying);
    let err = target.refused(&file, "manifest says 4 items", &[]).await;
    assert!(
        err.contains("table Contact") && err.contains("says 4 items"),
        "{err}"
    );

    // A manifest that drops a table the archive holds.
    let mut manifest: serde_json::Value = serde_json::from_slice(&last.data).unwrap();
    manifest["tables"]
        .as_object_mut()
        .unwrap()
        .remove("Affiliate");
    let mut lying = entries.clone();
    lying.last_mut().unwrap().data = serde_json::to_vec(&manifest).unwrap();
    let file = target.write("fewer.rtsnap", &lying);
    let err = target
        .refused(&file, "manifest without Affiliate", &[])
        .await;
    assert!(err.contains("other tables"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_unsafe_paths_symlinks_and_a_huge_claimed_size_are_refused() {
    let target = Target::new().await;
    let good = target.pack("good", &[], &[]);
    let entries = target.entries(&good);
    let at = |path: &str| {
        entries
            .iter()
            .position(|e| e.path == path.as_bytes())
            .unwrap_or_else(|| panic!("{path} in the snapshot"))
    };
    let contact_items = at("tables/Contact/items-000001.jsonl");

    // (name, entry replacing Contact's items, words of the one-line reason)
    let mut escape = entries[contact_items].clone();
    escape.path = b"tables/Contact/../../../../tmp/evil.jsonl".to_vec();
    let mut absolute = entries[contact_items].clone();
    absolute.path = b"/tmp/rtsnap-hostile-evil.jsonl".to_vec();
    let mut symlink = entries[contact_items].clone();
    symlink.kind = tar::EntryType::Symlink;
    symlink.data = Vec::new();
    symlink.link = Some("../../../../etc/passwd");
    let mut huge = entries[contact_items].clone();
    huge.claimed_size = Some(1 << 40); // 1 TiB, with 3 lines of data behind it
    let cases = [
        ("dotdot", escape, "'..'"),
        ("absolute", absolute, "paths are relative"),
        ("symlink", symlink, "not a regular file"),
        (
            "huge",
            huge,
            "items-000001.jsonl claims 1099511627776 bytes",
        ),
    ];
    for (name, entry, reason) in cases {
        let mut hostile = entries.clone();
        hostile[contact_items] = entry;
        let file = target.write(&format!("{name}.rtsnap"), &hostile);
        let err = target.refused(&file, name, &[]).await;
        assert!(err.contains(reason), "{name}: `{reason}` in {err}");
    }
    // The same entry added next to the real one (the layout is otherwise intact).
    let mut symlink_extra = entries.clone();
    symlink_extra.insert(
        contact_items + 1,
        RawEntry {
            path: b"tables/Contact/items-000002.jsonl".to_vec(),
            kind: tar::EntryType::Symlink,
            data: Vec::new(),
            claimed_size: None,
            link: Some("/etc/passwd"),
        },
    );
    let file = target.write("symlink-extra.rtsnap", &symlink_extra);
    let err = target.refused(&file, "extra symlink", &[]).await;
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!Path::new("/tmp/rtsnap-hostile-evil.jsonl").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_duplicate_primary_keys_are_refused_naming_the_key() {
    let target = Target::new().await;
    let (line, id) = first_contact();
    let file = target.pack("twice", &[line], &[]);
    let err = target.refused(&file, "duplicate key", &[]).await;
    for part in [
        "tables/Contact/items-000001.jsonl line 4",
        &format!("id={id}"),
        "appears earlier in the snapshot",
    ] {
        assert!(err.contains(part), "`{part}` in {err}");
    }
}
