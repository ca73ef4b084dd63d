//! The snapshot an import writes is the one it verified and asked about (the
//! 2026-12-01 bug hunt): while the confirmation waited, the file was replaced by
//! another archive the same key opens, and phase 6 wrote the replacement's items, which
//! the plan had never seen. Here the library's import runs with a prompt that rewrites
//! the snapshot file when asked (as an operator's `cp` would), against dynalite: the
//! import stops before its backup and writes nothing.

mod common;

use std::path::Path;

use common::world::{simple_item, World};
use common::Server;
use rtsnap::command::import::{import, ImportContext, ImportOptions, Prompt};

/// Says yes, after copying `replacement` over `snapshot`.
struct SwapThenYes<'a> {
    snapshot: &'a Path,
    replacement: &'a Path,
}

impl Prompt for SwapThenYes<'_> {
    fn type_name(&self, _question: &str) -> Option<String> {
        None
    }

    fn yes_no(&self, _question: &str) -> bool {
        std::fs::copy(self.replacement, self.snapshot).expect("replace the snapshot");
        true
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_replaced_while_the_confirmation_waits_is_refused_before_any_write() {
    let world = World::new(
        Server::Dynalite,
        "swapped",
        &[("staging", false), ("production", false)],
    );
    let contact = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &contact,
            (0..5).map(|i| simple_item(&format!("a-{i}"), i)).collect(),
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "checked.rtsnap"]);
    world
        .put_items(
            &contact,
            (0..7).map(|i| simple_item(&format!("b-{i}"), i)).collect(),
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "other.rtsnap"]);
    world
        .create_table("production", "Contact", None, None)
        .await;

    // This process talks to the emulator as the spawned rtsnap does.
    for (name, value) in common::aws_env(&world.endpoint) {
        std::env::set_var(name, value);
    }
    for name in common::AWS_ENV_REMOVE {
        std::env::remove_var(name);
    }
    let dir = world.dir.path();
    let config = rtsnap::config::Config::load(&dir.join("rtsnap.toml")).expect("config");
    let target = config.environment("production").expect("production");
    let decrypt =
        rtsnap::keys::require_decryption_key(Some(&dir.join("id.txt"))).expect("identity");
    let encrypt = rtsnap::keys::encryption_key(&config).expect("recipients");
    let snapshot = dir.join("checked.rtsnap");
    let prompt = SwapThenYes {
        snapshot: &snapshot,
        replacement: &dir.join("other.rtsnap"),
    };
    let snapshot_dir = dir.join("home").join("snapshots");
    let ctx = ImportContext {
        decrypt: &decrypt,
        encrypt: &encrypt,
        snapshot_dir: &snapshot_dir,
        progress: &rtsnap::progress::NoProgress,
        prompt: Some(&prompt),
        owner_fields: &config.owner_fields,
        relations: &[],
        stop: rtsnap::stop::StopSignal::new(),
    };
    let options = ImportOptions {
        backup_label: "pre-import",
        ..ImportOptions::default()
    };
    let err = import(&snapshot, &target, &options, &ctx)
        .await
        .expect_err("the replaced file is refused");
    let message = err.to_string();
    assert!(
        message.contains("changed after it was verified"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 3, "an integrity error");
    let written = world.scan_all(&world.table("production", "Contact")).await;
    assert!(
        written.is_empty(),
        "nothing written: {} items",
        written.len()
    );
    assert!(
        world.snapshots().iter().all(|s| !s.contains("pre-import")),
        "no backup: {:?}",
        world.snapshots()
    );
}
