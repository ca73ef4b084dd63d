//! A fault-injecting HTTP proxy between rtsnap and an emulator (issue 10). The emulators
//! never throttle and never fail, so without it only the happy path is tested. Each
//! request is either forwarded untouched or, with the configured probability, answered
//! the way AWS answers when it is overloaded:
//!
//! - DynamoDB: `ProvisionedThroughputExceededException` / `ThrottlingException` (400),
//!   `InternalServerError` (500), 503;
//! - Cognito: `TooManyRequestsException` (400), 500, 503;
//! - S3: `SlowDown` (503), `InternalError` (500);
//! - any service: a connection closed without an answer, or an answer delayed by 0.3 s
//!   (the request still goes through).
//!
//! A faulted request never reaches the emulator, so nothing is applied twice: what rtsnap
//! must do is retry, and the test checks that every item, user and object arrives. The
//! choice is a seeded pseudo-random sequence, so a run can be repeated.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the proxy did, by kind.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub resets: AtomicU64,
    pub delayed: AtomicU64,
}

impl FaultCounts {
    /// Requests answered with a fault (delays not counted: they succeed).
    pub fn faults(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
            + self.server_errors.load(Ordering::Relaxed)
            + self.resets.load(Ordering::Relaxed)
    }
}

/// A running proxy; it stops with the test process.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: give this to rtsnap as the endpoint.
    pub endpoint: String,
    pub counts: Arc<FaultCounts>,
    /// Fault probability in per mille; change it while running with [`FaultProxy::set_rate`].
    rate: Arc<AtomicU64>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) faulting `percent` % of requests.
    pub fn start(upstream: &str, percent: u64, seed: u64) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let counts = Arc::new(FaultCounts::default());
        let rate = Arc::new(AtomicU64::new(percent * 10));
        let sequence = Arc::new(AtomicU64::new(seed));
        let (c, r) = (Arc::clone(&counts), Arc::clone(&rate));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, counts, rate, sequence) = (
                    upstream.clone(),
                    Arc::clone(&c),
                    Arc::clone(&r),
                    Arc::clone(&sequence),
                );
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &counts, &rate, &sequence);
                });
            }
        });
        FaultProxy {
            endpoint,
            counts,
            rate,
        }
    }

    pub fn set_rate(&self, percent: u64) {
        self.rate.store(percent * 10, Ordering::Relaxed);
    }
}

/// One request as read from the client.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// The next pseudo-random number of the shared sequence (splitmix64).
fn next(sequence: &AtomicU64) -> u64 {
    let mut z = sequence
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn serve(
    client: TcpStream,
    upstream: &str,
    counts: &FaultCounts,
    rate: &AtomicU64,
    sequence: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    loop {
        let Some(request) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        let roll = next(sequence);
        if roll % 1000 < rate.load(Ordering::Relaxed) {
            match (roll / 1000) % 5 {
                0 => {
                    counts.resets.fetch_add(1, Ordering::Relaxed);
                    let _ = writer.shutdown(Shutdown::Both);
                    return Ok(());
                }
                // At 100 % every request fails: "faults that never clear".
                1 if rate.load(Ordering::Relaxed) < 1000 => {
                    counts.delayed.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(300));
                }
                2 | 3 => {
                    counts.throttled.fetch_add(1, Ordering::Relaxed);
                    writer.write_all(&throttle(&request, roll))?;
                    continue;
                }
                _ => {
                    counts.server_errors.fetch_add(1, Ordering::Relaxed);
                    writer.write_all(&server_error(&request, roll))?;
                    continue;
                }
            }
        }
        counts.forwarded.fetch_add(1, Ordering::Relaxed);
        let response = forward(&request, upstream)?;
        writer.write_all(&response)?;
    }
}

/// Reads one request (headers, then a `Content-Length` or chunked body); `None` when
/// the client closed the connection. Answers `Expect: 100-continue` itself.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> std::io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut request = Request {
        head,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().unwrap_or(0);
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    } else if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..n]);
        }
        request
            .head
            .retain(|l| !l.to_ascii_lowercase().starts_with("transfer-encoding"));
        request
            .head
            .push(format!("Content-Length: {}", request.body.len()));
    }
    Ok(Some(request))
}

/// Sends the request upstream on a fresh connection and returns the whole answer.
fn forward(request: &Request, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut out = TcpStream::connect(upstream)?;
    let mut text = String::new();
    for (i, line) in request.head.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("expect:")) {
            continue;
        }
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    out.write_all(text.as_bytes())?;
    out.write_all(&request.body)?;
    let mut response = Vec::new();
    out.read_to_end(&mut response)?;
    Ok(response)
}

/// Which AWS service a request is for.
fn service(request: &Request) -> &'static str {
    match request.header("x-amz-target") {
        Some(t) if t.starts_with("DynamoDB") => "dynamodb",
        Some(t) if t.starts_with("AWSCognito") => "cognito",
        _ => "s3",
    }
}

fn throttle(request: &Request, roll: u64) -> Vec<u8> {
    match service(request) {
        "dynamodb" if roll.is_multiple_of(2) => json(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        ),
        "dynamodb" => json(400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"),
        "cognito" => json(400, "TooManyRequestsException"),
        _ => xml(503, "SlowDown"),
    }
}

fn server_error(request: &Request, roll: u64) -> Vec<u8> {
    match (service(request), roll % 2) {
        ("s3", _) => xml(500, "InternalError"),
        ("dynamodb", 0) => json(500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        (_, 0) => json(500, "InternalErrorException"),
        _ => json(503, "ServiceUnavailable"),
    }
}

fn json(status: u16, error_type: &str) -> Vec<u8> {
    let body = format!(r#"{{"__type":"{error_type}","message":"injected by the fault proxy"}}"#);
    answer(status, "application/x-amz-json-1.0", error_type, &body)
}

fn xml(status: u16, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
    );
    answer(status, "application/xml", code, &body)
}

fn answer(status: u16, content_type: &str, error_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let short = error_type.rsplit('#').next().unwrap_or(error_type);
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nx-amzn-ErrorType: {short}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
