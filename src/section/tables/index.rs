//! The target side of a tables plan: an index built by scanning a live table. Per
//! item it keeps only the primary key in canonical form and the SHA-256 of the item's
//! canonical encoding: about 100 bytes plus the key's length per item (a 36-byte
//! Amplify id: ~140 bytes, so ~140 MB for a million items). A number key the target
//! spells unlike the canonical form (`100` for `1e2`) is also kept as scanned, for
//! deletes: about as much again for such items. Snapshot items are streamed from the
//! archive and compared against it, never held.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::scan::segments_for;
use crate::archive::schema::PrimaryKey;
use crate::archive::{canonical_item, item_hash, normalize_number, AttrValue, Item, TableDigest};
use crate::aws::dynamodb::Dynamo;
use crate::error::{Error, Result};

/// A target table's items, by canonical primary key: (item hash, seen in snapshot).
pub struct TargetIndex {
    pub key: PrimaryKey,
    pub items: HashMap<Vec<u8>, ([u8; 32], bool)>,
    /// The key exactly as the scan returned it, kept only where it is spelled unlike
    /// its canonical form (a number key: the target says `100`, the canonical form is
    /// `1e2`), so that a delete names the key the way the target stores it.
    pub raw_keys: HashMap<Vec<u8>, Item>,
    pub digest: TableDigest,
}

impl TargetIndex {
    /// The key item to delete the target item with canonical key `canonical`: as the
    /// target spelled it.
    pub fn delete_key(&self, canonical: &[u8]) -> Result<Item> {
        if let Some(raw) = self.raw_keys.get(canonical) {
            return Ok(raw.clone());
        }
        let item = crate::archive::parse_item(canonical)
            .map_err(|e| Error::Failed(format!("internal key encoding: {e}")))?;
        Ok(key_item(&item, &self.key))
    }
}

/// Whether a key attribute is spelled unlike its canonical form: only numbers can be
/// (strings and binary are canonical as they are).
fn spelled_differently(key_only: &Item) -> bool {
    key_only.values().any(|v| match v {
        AttrValue::N(n) => normalize_number(n).map_or(true, |c| c != *n),
        _ => false,
    })
}

/// The canonical form of an item's primary key, or why it has none.
pub fn key_bytes(item: &Item, key: &PrimaryKey) -> std::result::Result<Vec<u8>, String> {
    let mut only_key = Item::new();
    for (name, _) in std::iter::once(&key.hash).chain(key.range.iter()) {
        let value = item
            .get(name)
            .ok_or_else(|| format!("an item lacks its key attribute `{name}`"))?;
        only_key.insert(name.clone(), value.clone());
    }
    let mut key = canonical_item(&only_key).map_err(|e| e.to_string())?;
    // canonical_item reserves 256 bytes; a key is ~50. The target index keeps one
    // of these per target item, so the slack alone was ~200 bytes per item.
    key.shrink_to_fit();
    Ok(key)
}

/// The key attributes of an item (for a delete request).
pub fn key_item(item: &Item, key: &PrimaryKey) -> Item {
    std::iter::once(&key.hash)
        .chain(key.range.iter())
        .filter_map(|(name, _)| item.get(name).map(|v| (name.clone(), v.clone())))
        .collect()
}

/// Scans a target table into an index (parallel segments).
pub async fn index_target(
    dynamo: &Dynamo,
    table: &str,
    key: PrimaryKey,
    estimate: (u64, u64),
) -> Result<TargetIndex> {
    let mut index = TargetIndex {
        key,
        items: HashMap::new(),
        raw_keys: HashMap::new(),
        digest: TableDigest::default(),
    };
    scan_table(dynamo, table, estimate, |item| {
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{table}: {e}")))?;
        let key =
            key_bytes(&item, &index.key).map_err(|e| Error::Failed(format!("{table}: {e}")))?;
        index.digest.add_hash(&hash);
        let key_only = key_item(&item, &index.key);
        if spelled_differently(&key_only) {
            index.raw_keys.insert(key.clone(), key_only);
        }
        index.items.insert(key, (hash, false));
        Ok(())
    })
    .await?;
    Ok(index)
}

/// Scans a target table for its item count and content digest only (import phase 7
/// in exact mode): nothing is kept per item, unlike [`index_target`].
pub async fn digest_target(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
) -> Result<(u64, TableDigest)> {
    let mut count = 0u64;
    let mut digest = TableDigest::default();
    scan_table(dynamo, table, estimate, |item| {
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{table}: {e}")))?;
        digest.add_hash(&hash);
        count += 1;
        Ok(())
    })
    .await?;
    Ok((count, digest))
}

/// Scans a live table in parallel segments (as many as its size estimate — bytes,
/// items — calls for), calling `each` for every item on the caller's task; pages wait
/// in a bounded channel, so memory stays flat whatever the table size.
pub async fn scan_table(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
    mut each: impl FnMut(Item) -> Result<()>,
) -> Result<()> {
    let total = segments_for(estimate.0, estimate.1);
    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(8);
    let mut tasks = tokio::task::JoinSet::new();
    for segment in 0..total {
        let (dynamo, tx, table) = (dynamo.clone(), tx.clone(), table.to_owned());
        tasks.spawn(async move { dynamo.scan_segment(&table, segment, total, tx).await });
    }
    drop(tx);
    let mut failed = None;
    while let Some(page) = rx.recv().await {
        for item in page {
            if let Err(e) = each(item) {
                failed = Some(e);
                break;
            }
        }
        if failed.is_some() {
            break;
        }
    }
    // Dropping the receiver stops the segments early (scan_segment returns when its
    // pages can no longer be sent).
    drop(rx);
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| Error::Failed(format!("scan task: {e}")))?
            .map_err(Error::from)?;
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target index keeps one key per target item: it must not carry the
    /// 256-byte reservation of `canonical_item` (issue #11: re-import RSS).
    #[test]
    fn key_bytes_holds_no_spare_capacity() {
        let item = crate::archive::parse_item(
            br#"{"id":{"S":"0b0e6c8e-6c1a-4f7e-9d2a-3f1b2c4d5e6f"},"name":{"S":"Sandra"}}"#,
        )
        .unwrap();
        let key = PrimaryKey {
            hash: ("id".into(), "S".into()),
            range: None,
        };
        let bytes = key_bytes(&item, &key).unwrap();
        assert_eq!(
            bytes,
            br#"{"id":{"S":"0b0e6c8e-6c1a-4f7e-9d2a-3f1b2c4d5e6f"}}"#
        );
        assert_eq!(bytes.capacity(), bytes.len());
    }
}
