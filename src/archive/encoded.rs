//! Items already encoded as archive lines, with their count and content digest.
//!
//! Encoding is the costly part of writing an item: its JSON line, and the SHA-256 of
//! its canonical form for the table digest. An export scans a table in several
//! segments but has one archive writer thread; encoding each page on its segment's
//! task spreads that work over the cores, and the page that then waits for the
//! writer is its ~1.5 MB of lines instead of the ~5 MB of maps a 1 MB scan page
//! decodes to. The table digest is a sum (see [`TableDigest`]), so a page's partial
//! digest adds into the table's whatever order the pages arrive in.

use std::io::Write as _;

use super::canonical::{item_hash, NumberError, TableDigest};
use super::item::Item;

/// A page of items as archive lines (`\n`-terminated JSON objects, exactly what
/// [`super::SnapshotWriter::write_item`] writes), their count and partial digest.
#[derive(Debug, Default)]
pub struct EncodedItems {
    lines: Vec<u8>,
    count: u64,
    digest: TableDigest,
}

impl EncodedItems {
    /// Encodes `items`, dropping each once encoded. Fails on a number the canonical
    /// form cannot hold (as `write_item` would).
    pub fn encode(items: impl IntoIterator<Item = Item>) -> Result<Self, NumberError> {
        let mut encoded = EncodedItems::default();
        for item in items {
            encoded.digest.add_hash(&item_hash(&item)?);
            // Writing JSON of plain maps and enums into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut encoded.lines, &item);
            let _ = encoded.lines.write_all(b"\n");
            encoded.count += 1;
        }
        Ok(encoded)
    }

    /// The number of items.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each item's line, without its `\n`.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let body = self.lines.strip_suffix(b"\n").unwrap_or(&self.lines);
        body.split(|b| *b == b'\n').filter(|_| !body.is_empty())
    }

    pub(crate) fn digest(&self) -> &TableDigest {
        &self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{item_to_json, parse_item};

    fn item(json: &str) -> Item {
        parse_item(json.as_bytes()).expect("item")
    }

    #[test]
    fn lines_and_digest_are_what_write_item_would_produce() {
        let items = vec![
            item(r#"{"id":{"S":"a"},"n":{"N":"1e2"}}"#),
            item(r#"{"id":{"S":"b"},"m":{"M":{"x":{"SS":["q","p"]}}}}"#),
        ];
        let mut digest = TableDigest::default();
        items
            .iter()
            .for_each(|i| digest.add_item(i).expect("digest"));
        let lines: Vec<String> = items.iter().map(item_to_json).collect();
        let encoded = EncodedItems::encode(items).expect("encode");
        assert_eq!(encoded.len(), 2);
        let got: Vec<&[u8]> = encoded.lines().collect();
        let want: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        assert_eq!(got, want);
        assert_eq!(encoded.digest(), &digest);
    }

    #[test]
    fn an_empty_page_has_no_lines() {
        let encoded = EncodedItems::encode(Vec::new()).expect("encode");
        assert!(encoded.is_empty());
        assert_eq!(encoded.lines().count(), 0);
    }
}
