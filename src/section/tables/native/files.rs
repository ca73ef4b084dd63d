//! Reading a finished export back: which data files it has (its `manifest-files.json`
//! on AWS; a listing of `AWSDynamoDB/<ExportId>/data/` where the service writes no
//! manifest, as moto does), then each file streamed S3 body → gzip → lines → items
//! into the table's page channel. Memory stays bounded whatever the file size: a few
//! body chunks in flight, one line (at most [`MAX_LINE`]) and one page of items.

use std::io::{BufRead, BufReader, Read};

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::TableExport;
use crate::archive::{parse_export_line, Item};
use crate::aws::s3::S3;
use crate::error::{Error, Result};

/// S3 body chunks buffered between the download and the decoder thread.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Items are handed on in pages of about this many bytes of JSON, as a scan page.
const PAGE_BYTES: usize = 1 << 20;
/// A DynamoDB item is at most 400 KB; its DynamoDB-JSON line (base64, type tags,
/// escapes) stays well under this. A longer line is not an export line.
const MAX_LINE: u64 = 4 << 20;
/// `manifest-files.json` has one short line per data file; refuse anything larger.
const MAX_MANIFEST: usize = 64 << 20;

/// Streams every item of a finished export into `pages`; returns how many were sent.
/// Refuses (error, so no archive) when that is not the ItemCount DynamoDB reported,
/// or not the manifest's own count.
pub(crate) async fn stream_table(
    s3: &S3,
    model: &str,
    export: &TableExport,
    pages: mpsc::Sender<Vec<Item>>,
) -> Result<u64> {
    let (keys, manifest_count) = data_files(s3, export).await?;
    let mut total = 0u64;
    for key in &keys {
        total += stream_file(s3, key, &pages).await?;
        if pages.is_closed() {
            // The writer stopped; its error is the one to report.
            return Ok(total);
        }
    }
    let expected = export.item_count;
    if total != expected || manifest_count.is_some_and(|m| m != expected) {
        return Err(Error::Failed(format!(
            "{model}: the native export's {} data files hold {total} items, but DynamoDB reports {expected}{} (export {}); no archive written",
            keys.len(),
            manifest_count
                .map(|m| format!(" and its manifest {m}"))
                .unwrap_or_default(),
            export.export_arn
        )));
    }
    Ok(total)
}

/// The export's data file keys, and the manifest's total item count when there is a
/// manifest.
async fn data_files(s3: &S3, export: &TableExport) -> Result<(Vec<String>, Option<u64>)> {
    if let Some(summary) = &export.manifest {
        let summary = within(&export.prefix, summary);
        let Some(folder) = summary.strip_suffix("manifest-summary.json") else {
            return Err(Error::Failed(format!(
                "export {}: unexpected manifest name {summary}",
                export.export_arn
            )));
        };
        let text = read_small(s3, &format!("{folder}manifest-files.json")).await?;
        let files = parse_manifest_files(&text)?;
        let count = files.iter().map(|f| f.item_count).sum();
        let keys = files
            .iter()
            .map(|f| within(&export.prefix, &f.data_file_s3_key))
            .collect();
        return Ok((keys, Some(count)));
    }
    let listed = s3
        .list_all(&format!("{}/AWSDynamoDB/", export.prefix))
        .await?;
    let keys = listed
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.contains("/data/") && k.ends_with(".gz"))
        .collect();
    Ok((keys, None))
}

/// One line of `manifest-files.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFile {
    item_count: u64,
    data_file_s3_key: String,
}

/// `manifest-files.json` is newline-delimited JSON, one object per data file.
fn parse_manifest_files(text: &str) -> Result<Vec<ManifestFile>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| Error::Failed(format!("export manifest-files.json: {e}")))
        })
        .collect()
}

/// AWS names keys from the bucket's root; a key without the export's prefix is
/// taken as relative to it.
fn within(prefix: &str, key: &str) -> String {
    if key.starts_with(&format!("{prefix}/")) {
        key.to_owned()
    } else {
        format!("{prefix}/{}", key.trim_start_matches('/'))
    }
}

async fn read_small(s3: &S3, key: &str) -> Result<String> {
    let Some((_, mut body)) = s3.get(key).await? else {
        return Err(Error::Failed(format!(
            "s3://{}/{key}: the export's manifest is missing",
            s3.bucket()
        )));
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_MANIFEST {
            return Err(Error::Failed(format!("{}: too large", body.name())));
        }
    }
    String::from_utf8(bytes).map_err(|_| Error::Failed(format!("{}: not UTF-8", body.name())))
}

/// Downloads one data file while a blocking thread decodes it.
async fn stream_file(s3: &S3, key: &str, pages: &mpsc::Sender<Vec<Item>>) -> Result<u64> {
    let Some((_, mut body)) = s3.get(key).await? else {
        return Err(Error::Failed(format!(
            "s3://{}/{key}: the export's data file is gone",
            s3.bucket()
        )));
    };
    // AWS writes an empty file for an empty partition.
    let Some(first) = body.next_chunk().await? else {
        return Ok(0);
    };
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let (name, out) = (body.name().to_owned(), pages.clone());
    let decoder = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader { rx, current: first };
        decode(reader, &out, &name)
    });
    let mut fetched = Ok(());
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                fetched = Err(e);
                break;
            }
        }
    }
    drop(tx);
    let decoded = decoder
        .await
        .map_err(|e| Error::Failed(format!("export decoder task: {e}")))?;
    // A failed download explains a truncated gzip stream better than the decoder.
    fetched?;
    decoded
}

/// The downloaded chunks as a blocking `Read`.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// gzip → lines → items, sent on in pages; returns how many items were sent.
fn decode(reader: impl Read, pages: &mpsc::Sender<Vec<Item>>, name: &str) -> Result<u64> {
    let mut lines = BufReader::with_capacity(1 << 16, MultiGzDecoder::new(reader));
    let (mut line, mut page, mut page_bytes) = (Vec::new(), Vec::new(), 0usize);
    let (mut count, mut number) = (0u64, 0u64);
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Failed(format!("{name}: not a readable gzip file: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.len() as u64 > MAX_LINE {
            return Err(Error::Failed(format!(
                "{name} line {number}: longer than {MAX_LINE} bytes"
            )));
        }
        let text = line.trim_ascii_end();
        if text.is_empty() {
            continue;
        }
        let item = parse_export_line(text)
            .map_err(|e| Error::Failed(format!("{name} line {number}: {e}")))?;
        page_bytes += text.len();
        page.push(item);
        count += 1;
        if page_bytes >= PAGE_BYTES {
            page_bytes = 0;
            if pages.blocking_send(std::mem::take(&mut page)).is_err() {
                return Ok(count);
            }
        }
    }
    if !page.is_empty() {
        // A closed channel means the writer stopped; it reports why.
        let _ = pages.blocking_send(page);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(text: &str) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn decodes_lines_into_pages_and_counts_them() {
        let body =
            gzip("{\"Item\": {\"id\": {\"S\": \"a\"}}}\n\n{\"Item\": {\"id\": {\"S\": \"b\"}}}\n");
        let (tx, mut rx) = mpsc::channel(4);
        let count = decode(&body[..], &tx, "f").unwrap();
        assert_eq!(count, 2);
        assert_eq!(rx.try_recv().unwrap().len(), 2);
    }

    #[test]
    fn a_bad_line_or_bad_gzip_is_an_error_naming_the_file() {
        let (tx, _rx) = mpsc::channel(4);
        let bad = gzip("{\"Item\": {\"id\": {\"S\": \"a\"}}}\n{\"id\": 1}\n");
        let err = decode(&bad[..], &tx, "s3://b/k").unwrap_err().to_string();
        assert!(err.contains("s3://b/k line 2"), "{err}");
        assert!(decode(&b"not gzip"[..], &tx, "f").is_err());
    }

    #[test]
    fn manifest_lines_give_keys_and_counts() {
        let text = "{\"itemCount\":3,\"md5Checksum\":\"x\",\"etag\":\"y\",\"dataFileS3Key\":\"p/AWSDynamoDB/1/data/a.json.gz\"}\n{\"itemCount\":0,\"md5Checksum\":\"x\",\"etag\":\"y\",\"dataFileS3Key\":\"p/AWSDynamoDB/1/data/b.json.gz\"}\n";
        let files = parse_manifest_files(text).unwrap();
        assert_eq!(files.iter().map(|f| f.item_count).sum::<u64>(), 3);
        assert_eq!(
            within("p", &files[0].data_file_s3_key),
            "p/AWSDynamoDB/1/data/a.json.gz"
        );
        assert_eq!(
            within("p", "AWSDynamoDB/1/manifest-summary.json"),
            "p/AWSDynamoDB/1/manifest-summary.json"
        );
    }
}
