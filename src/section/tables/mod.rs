//! The tables section: an environment's DynamoDB tables (`<Model>-<suffix>-NONE`),
//! their schemas and every item.
//!
//! - export: [`scan`] discovers, describes and scans the tables into the archive writer
//!   (every whole-table read goes through [`segments`]);
//!   [`native`] lets DynamoDB export large tables to S3 and streams them in instead;
//! - read: [`read`] streams the snapshot's items back;
//! - plan: [`target`] checks (by [`compatible`]'s rule; tables to create by
//!   [`creatable`]'s) and indexes the target tables, [`plan`] diffs by primary key;
//! - apply: [`write`] creates missing tables and batch-writes what differs;
//!   [`native_import`] has DynamoDB create and load large new tables from S3 instead;
//! - relations: [`relations`] checks `[[relations]]`, suggests them, and grows closed
//!   samples;
//! - verify: [`target::verify_target`] after an import ([`target::verify_unwritten`]
//!   when it wrote nothing), [`compare`] for `verify --against`;
//! - analyze: [`analyze`] describes, counts and samples live tables without exporting.

pub mod analyze;
pub mod compare;
pub mod compatible;
pub mod creatable;
pub mod entries;
pub mod estimate;
pub mod index;
pub mod native;
pub mod native_import;
pub mod plan;
pub mod read;
pub mod relations;
pub mod scan;
pub mod segments;
pub mod snapshot_side;
pub mod target;
pub mod write;

pub use compare::{compare_tables, TableComparison, SAMPLE_KEYS};
pub use compatible::{check_schema, KeylessSchema, SchemaCheck};
pub use index::{index_target, key_bytes, key_item, scan_table, TargetIndex};
pub use plan::{diff, index_keys, snapshot_side, IndexKey, SnapshotSide, TablePlan};
pub use read::{for_each_item, Selection};
pub(crate) use scan::{describe_scope, export_tables};
pub use scan::{discover_tables, list_env_tables};
pub use segments::segments_for;
