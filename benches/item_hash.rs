//! Item-hash throughput: how fast the table digest's per-item hash runs on real lines.
//!
//!     cargo bench --bench item_hash [-- FILE.jsonl ...]
//!
//! Hashes every line of the given JSONL item files (default: all tables of
//! `fixtures/demo`) with the line hasher that packing and verifying use, and with the
//! general `Item` path (parse into a tree, canonicalise, hash) for comparison, and prints
//! MB/s and ns per line for each. Figures and context: docs/performance.md.

use std::time::{Duration, Instant};

use rtsnap::archive::{item_hash, parse_item, LineHasher, TableDigest};

/// Keep each measurement at least this long so that short inputs still time well.
const MIN_TIME: Duration = Duration::from_millis(1500);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let files = if args.is_empty() {
        fixture_files()
    } else {
        args
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for file in &files {
        let text = std::fs::read(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "{} lines, {:.1} MB from {} files",
        lines.len(),
        bytes as f64 / 1e6,
        files.len()
    );

    let mut hasher = LineHasher::default();
    let fast = measure(&lines, bytes, "line hasher (packing, verifying)", |line| {
        hasher.hash(line).expect("a valid item")
    });
    let general = measure(&lines, bytes, "general Item path", |line| {
        item_hash(&parse_item(line).expect("a valid item")).expect("a valid item")
    });
    assert_eq!(fast, general, "both paths must give the same table digest");
}

/// Hashes every line repeatedly for at least MIN_TIME, prints the rate, returns the digest.
fn measure(
    lines: &[Vec<u8>],
    bytes: usize,
    name: &str,
    mut hash: impl FnMut(&[u8]) -> [u8; 32],
) -> TableDigest {
    let start = Instant::now();
    let mut rounds = 0u32;
    let mut digest = TableDigest::default();
    while rounds == 0 || start.elapsed() < MIN_TIME {
        digest = TableDigest::default();
        for line in lines {
            digest.add_hash(&hash(line));
        }
        rounds += 1;
    }
    let seconds = start.elapsed().as_secs_f64() / f64::from(rounds);
    println!(
        "{name:>34}: {:7.1} MB/s, {:6.0} ns/line",
        bytes as f64 / 1e6 / seconds,
        seconds * 1e9 / lines.len() as f64
    );
    digest
}

fn fixture_files() -> Vec<String> {
    let tables = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/tables");
    let mut files: Vec<String> = std::fs::read_dir(&tables)
        .expect("fixtures/demo/tables")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("items-000001.jsonl").display().to_string())
        .collect();
    files.sort();
    files
}
