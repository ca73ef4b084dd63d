//! Reads that look at a table without exporting it, for `analyze`: counting items
//! (Scan with `Select=COUNT`: DynamoDB reads every item but returns none, so nothing
//! crosses the network but the counts) and reading one page to time it.

use aws_sdk_dynamodb::types::Select;

use super::{page_items, Dynamo};
use crate::archive::item::Item;
use crate::aws::AwsError;

/// The first page of a Scan: its items, and whether more pages follow.
#[derive(Debug, Clone)]
pub struct FirstPage {
    pub items: Vec<Item>,
    pub more: bool,
}

impl Dynamo {
    /// Counts one segment of a table with consistent reads (as export scans it), every
    /// page of it. Throttling is retried like every other rtsnap read.
    pub async fn count_segment(
        &self,
        table: &str,
        segment: i32,
        total_segments: i32,
    ) -> Result<u64, AwsError> {
        let mut scan = self.scan_pages(table, segment, total_segments, Some(Select::Count));
        let mut count = 0u64;
        while let Some(page) = scan.next().await? {
            count += page.count().max(0) as u64;
        }
        Ok(count)
    }

    /// The first page of a consistent Scan of the whole table (at most 1 MB of items,
    /// DynamoDB's page limit): the request export repeats, so timing it measures what
    /// one segment of an export does per round trip.
    pub async fn first_page(&self, table: &str) -> Result<FirstPage, AwsError> {
        let page = self
            .scan_pages(table, 0, 1, None)
            .next()
            .await?
            .ok_or_else(|| AwsError::Invalid(format!("Scan of {table} returned no page")))?;
        let more = page.last_evaluated_key().is_some_and(|k| !k.is_empty());
        let items = page_items(page)?;
        Ok(FirstPage { items, more })
    }
}
