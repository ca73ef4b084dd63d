//! What rtsnap actually sent to moto, read back from moto's own request recorder
//! (`/moto-api/recorder/…`, moto's feature for recording and replaying requests).
//!
//! Some promises are about the request, not the resulting state: "no invitation was
//! requested" means every AdminCreateUser carried `MessageAction=SUPPRESS`, and moto
//! keeps no trace of that field in the user it creates. The recorder sees the request
//! bodies as moto received them, so a test can assert on them without a mock.
//!
//! The recorder is one switch for the whole moto process, which every test shares:
//! the recording also holds other tests' requests (some of them split, see
//! [`entry_in_line`]), so callers filter by their own resource (a pool id, a bucket)
//! and assert that everything they expect is there. Only one test at a time may record
//! (a reset by one would clear another's recording): [`MotoRecording::start`] takes an
//! exclusive lock on a file named after moto's endpoint, held until
//! [`MotoRecording::finish`], which serialises recordings across test processes. Keep
//! the window short, as everything moto receives meanwhile is written to its log.

use base64::Engine as _;

/// One recorded request: its `X-Amz-Target` (JSON protocols) and its body.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub target: String,
    pub body: String,
    /// The access key id the request was signed with (`Credential=<key>/…`): which
    /// process sent it, when a test gives its rtsnap run a key of its own (moto
    /// records every test's requests while one recording is open).
    pub access_key: String,
}

/// An open recording; [`MotoRecording::finish`] stops it and returns the requests.
pub struct MotoRecording {
    endpoint: String,
    /// Held (locked) for the recording's life; closing it releases the lock.
    _lock: std::fs::File,
}

impl MotoRecording {
    /// Waits for any other test's recording on the same moto to finish, then clears
    /// moto's recording and starts a new one.
    pub fn start(endpoint: &str) -> MotoRecording {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let name: String = endpoint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = std::env::temp_dir().join(format!("rtsnap-moto-recorder-{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        let recording = MotoRecording {
            endpoint,
            _lock: lock,
        };
        recording.post("reset-recording");
        recording.post("start-recording");
        recording
    }

    /// Stops recording and returns every request moto received meanwhile.
    pub fn finish(self) -> Vec<RecordedRequest> {
        self.post("stop-recording");
        let url = format!("{}/moto-api/recorder/download-recording", self.endpoint);
        let log = ureq::get(&url)
            .call()
            .expect("download moto's recording")
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("read moto's recording");
        // The log holds request bodies (temporary passwords included): clear it.
        self.post("reset-recording");
        log.lines()
            .filter_map(entry_in_line)
            .map(|e| parse_entry(&e))
            .collect()
    }

    fn post(&self, action: &str) {
        let url = format!("{}/moto-api/recorder/{action}", self.endpoint);
        ureq::post(&url)
            .send_empty()
            .unwrap_or_else(|e| panic!("moto recorder {action}: {e}"));
    }
}

/// moto appends each request to its log from the thread that served it. A small
/// entry goes out in one write, but a large one (another test's S3 upload) is written
/// in 8 KiB pieces, and a small entry may land between two of them: the line then
/// holds the start of the large entry followed by the whole small one. So the entry
/// of a line is the JSON object that starts at one of its `{"headers":` and runs to
/// its end; a line with none is the tail of a split large entry, and is skipped.
fn entry_in_line(line: &str) -> Option<serde_json::Value> {
    line.match_indices("{\"headers\":")
        .find_map(|(at, _)| serde_json::from_str(&line[at..]).ok())
}

fn parse_entry(entry: &serde_json::Value) -> RecordedRequest {
    let headers = entry["headers"].as_object().expect("recorded headers");
    let target = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let raw = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("recorded body is base64");
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        raw.to_owned()
    };
    let access_key = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or_default()
        .to_owned();
    RecordedRequest {
        target,
        body,
        access_key,
    }
}
