//! The command line: every subcommand and flag, as clap parses them. `main.rs` runs
//! them; the help text lives here, next to each flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rtsnap",
    version,
    about = "Export, import and verify AWS Amplify Gen 2 environments as encrypted .rtsnap archives"
)]
pub struct Cli {
    /// Configuration file (default ./rtsnap.toml, then $RTSNAP_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// age identity file to open snapshots with (or RTSNAP_IDENTITY; RTSNAP_PASSPHRASE for passphrase snapshots).
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Print one JSON document on stdout and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print errors only: no report on stdout, no notes or progress on stderr (the
    /// exit code tells the outcome; --json still prints its document)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what an environment holds (tables, keys, indexes, counts, users, assets); with --target, what an import into it would refuse (exit 4) and how long export and import would take.
    Analyze {
        env: String,
        /// Compare with this environment: side by side, schema compatibility, time estimates.
        #[arg(long, value_name = "ENV")]
        target: Option<String>,
        /// Count items by Scan (Select=COUNT) and users by listing, instead of the services' estimates.
        #[arg(long)]
        exact: bool,
    },
    /// Export an environment's tables (and users, with a user_pool_id; the asset manifest, with a bucket) into a new encrypted snapshot.
    Export {
        env: String,
        /// Write here instead of <snapshot dir>/<env>-<date>.rtsnap.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only these models (comma-separated); `users` and `assets` select those sections.
        #[arg(long, value_delimiter = ',', value_name = "MODELS")]
        only: Option<Vec<String>>,
        /// Embed every object's bytes, so the snapshot restores without the source bucket.
        #[arg(long)]
        with_assets: bool,
        /// Allow -o to name a file inside a git work tree.
        #[arg(long)]
        allow_in_repo: bool,
        /// Let DynamoDB export the tables (ExportTableToPointInTime, one common export time, PITR needed) to this staging area, then stream them into the snapshot; overrides native_via of rtsnap.toml.
        #[arg(long, value_name = "s3://BUCKET/PREFIX")]
        native_via: Option<String>,
        /// With a native export: only tables with at least N items (DescribeTable's estimate) go native; the rest are scanned. Default: native_min_items of rtsnap.toml, else 0.
        #[arg(long, value_name = "N")]
        native_min_items: Option<u64>,
        /// Scan every table even if rtsnap.toml sets native_via.
        #[arg(long)]
        no_native: bool,
        /// Leave the native export's objects in the staging bucket (removed by default).
        #[arg(long)]
        keep_staging: bool,
    },
    /// Restore a snapshot's tables, users and assets into an environment (verify, check, plan, confirm, back up, write, verify).
    Import {
        file: PathBuf,
        #[arg(long, value_name = "ENV")]
        target: String,
        /// Print the plan and stop; writes nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep target items the snapshot lacks (no deletes).
        #[arg(long)]
        merge: bool,
        /// Only these models (comma-separated); add `users` or `assets` to include those sections.
        #[arg(long, value_delimiter = ',', value_name = "MODELS")]
        only: Option<Vec<String>>,
        /// Only the first N items of each model (no deletes): try an import on a sample.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Create target tables that do not exist, from the snapshot's schema.
        #[arg(long)]
        create_missing: bool,
        /// Skip the pre-import backup (unprotected targets only).
        #[arg(long)]
        no_backup: bool,
        /// Delete target users and groups the snapshot lacks (exact mode only).
        #[arg(long)]
        prune_users: bool,
        /// Delete target objects the snapshot lacks (exact mode only).
        #[arg(long)]
        prune_assets: bool,
        /// Confirm a protected target by naming it.
        #[arg(long, value_name = "ENV")]
        confirm: Option<String>,
        /// Do not ask before writing to an unprotected target (without a terminal
        /// nobody is asked anyway; a protected target always needs --confirm)
        #[arg(long)]
        yes: bool,
        /// Refuse a snapshot with dangling references ([[relations]] of rtsnap.toml)
        /// instead of warning.
        #[arg(long)]
        strict: bool,
        /// With --limit: also every item the declared relations reach from the sample
        /// (children transitively, then what they refer to), and the users owning them.
        #[arg(long)]
        with_related: bool,
        /// With --create-missing: let DynamoDB create and load the new tables (ImportTable, no write capacity used) from gzip'd items staged here; existing tables keep batch writes. Overrides native_via of rtsnap.toml.
        #[arg(long, value_name = "s3://BUCKET/PREFIX")]
        native_via: Option<String>,
        /// With a native import: only new tables with at least N items in the snapshot go through ImportTable. Default: native_min_items of rtsnap.toml, else 0.
        #[arg(long, value_name = "N")]
        native_min_items: Option<u64>,
        /// Batch-write every table even if rtsnap.toml sets native_via.
        #[arg(long)]
        no_native: bool,
        /// Leave ImportTable's staging objects in the bucket (removed by default).
        #[arg(long)]
        keep_staging: bool,
    },
    /// Restore the newest pre-import backup of an environment.
    Rollback {
        env: String,
        #[arg(long, value_name = "ENV")]
        confirm: Option<String>,
        #[arg(long)]
        yes: bool,
    },
    /// Pack a snapshot directory into an encrypted .rtsnap archive (and its .sha256 sidecar).
    Pack {
        dir: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Allow writing the archive inside a git work tree.
        #[arg(long)]
        allow_in_repo: bool,
    },
    /// Verify and unpack an archive into a new snapshot directory.
    Unpack {
        file: PathBuf,
        dir: PathBuf,
        /// Allow DIR inside a git work tree.
        #[arg(long)]
        allow_in_repo: bool,
    },
    /// Show a snapshot's header, counts, sizes and digests (verifies it completely).
    Inspect { file: PathBuf },
    /// Check a snapshot: the sidecar without a key; every entry against MANIFEST with one.
    Verify {
        file: PathBuf,
        /// Also compare the snapshot's tables with this environment, item by item
        /// (exit 1 when they differ).
        #[arg(long, value_name = "ENV")]
        against: Option<String>,
    },
    /// Check referential integrity ([[relations]] of rtsnap.toml) of a snapshot file or
    /// an environment: dangling references per relation (exit 1 if any).
    Check {
        /// A .rtsnap file, or an environment name.
        source: String,
        /// Also propose relations from the data (`…Id` fields whose values are ids of a
        /// model), printed as TOML to paste into rtsnap.toml.
        #[arg(long)]
        suggest: bool,
    },
    /// List the snapshots in the snapshot directory.
    List {
        /// Only this environment's snapshots.
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// Also read and check each archive with the key and show what it holds
        /// (tables, items, users, groups, assets); exit 1 if any fails its check.
        #[arg(long)]
        contents: bool,
    },
    /// Write or update an environment's section of rtsnap.toml from Amplify's amplify_outputs.json (region, user pool, bucket, models, relations, owner fields); the backend suffix is found by listing tables.
    Init {
        env: String,
        /// The amplify_outputs.json of the environment's deployed backend (`npx ampx generate outputs`).
        #[arg(long, value_name = "FILE")]
        outputs: PathBuf,
        /// The backend suffix, when the account holds several backends with every model (its tables are still checked).
        #[arg(long, value_name = "SUFFIX")]
        suffix: Option<String>,
    },
    /// Create a new age identity; prints its recipient (public key).
    Keygen {
        /// Write the identity here (mode 0600) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}
