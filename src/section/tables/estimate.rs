//! How long scanning a table takes, from one timed Scan page (see [`super::analyze`]).
//!
//! Export scans a table with `segments_for` parallel segments, each a sequence of Scan
//! round trips of at most 1 MB. A sampled first page that ends the table *is* the
//! table (one round trip); a full one (more pages follow) holds as many items as fit
//! in 1 MB, so the table takes `ceil(items / items per page)` pages, spread over the
//! segments, each as long as the sampled one. Only round trips are counted: the
//! archive side packs ~350 MB/s (docs/performance.md), well ahead of the reads.

use serde::Serialize;

use super::analyze::TableAnalysis;

/// Import wall time over export wall time for the same tables, end to end (import
/// into an empty target: verify the archive, write every item, scan it again to
/// verify; export: scan and pack). Measured with `scripts/bench-import-ratio.sh`, see
/// docs/performance.md § Import against export (5.6 at `85b812d`; 5.4 before).
pub const IMPORT_EXPORT_RATIO: f64 = 5.6;

/// One table's scan, estimated.
#[derive(Debug, Clone, Serialize)]
pub struct ScanEstimate {
    pub items: u64,
    /// 1 MB Scan pages the table takes.
    pub pages: u64,
    pub segments: i32,
    /// Round trips of the busiest segment.
    pub round_trips: u64,
    /// The sampled page's time.
    pub page_seconds: f64,
    pub seconds: f64,
}

/// The time to scan `table` as export does, or `None` without a sample.
pub fn scan_time(table: &TableAnalysis) -> Option<ScanEstimate> {
    let sample = table.sample.as_ref()?;
    let items = table.items();
    let pages = if sample.more {
        items.div_ceil(sample.items.max(1)).max(1)
    } else {
        1
    };
    let segments = table.segments.max(1);
    let round_trips = pages.div_ceil(segments as u64);
    Some(ScanEstimate {
        items,
        pages,
        segments,
        round_trips,
        page_seconds: sample.seconds,
        seconds: round_trips as f64 * sample.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::tables::analyze::ScanSample;

    fn table(approximate: u64, segments: i32, sample: ScanSample) -> TableAnalysis {
        TableAnalysis {
            table: "T".into(),
            approximate_items: approximate,
            approximate_bytes: 0,
            exact_items: None,
            key_schema: vec![],
            global_secondary_indexes: vec![],
            local_secondary_indexes: vec![],
            billing_mode: "PAY_PER_REQUEST".into(),
            segments,
            sample: Some(sample),
            schema: crate::archive::schema::TableSchema {
                model: "T".into(),
                table_name: "T".into(),
                key_schema: vec![],
                attribute_definitions: vec![],
                global_secondary_indexes: vec![],
                local_secondary_indexes: vec![],
                billing_mode: "PAY_PER_REQUEST".into(),
                provisioned_throughput: None,
                time_to_live_attribute: None,
                stream_specification: None,
            },
        }
    }

    #[test]
    fn a_page_that_ends_the_table_is_the_whole_scan() {
        let sample = ScanSample {
            items: 40,
            more: false,
            seconds: 0.02,
        };
        let got = scan_time(&table(1_000, 1, sample)).unwrap();
        assert_eq!((got.items, got.pages, got.round_trips), (40, 1, 1));
        assert_eq!(got.seconds, 0.02);
    }

    #[test]
    fn full_pages_spread_over_the_segments() {
        // 1,000,000 items at 2,000 per page: 500 pages over 4 segments, 125 each.
        let sample = ScanSample {
            items: 2_000,
            more: true,
            seconds: 0.1,
        };
        let got = scan_time(&table(1_000_000, 4, sample)).unwrap();
        assert_eq!((got.pages, got.round_trips), (500, 125));
        assert!((got.seconds - 12.5).abs() < 1e-9, "{got:?}");
    }
}
