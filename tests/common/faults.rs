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
//!   (the request still goes through);
//! - DynamoDB `BatchWriteItem`: applied in part, the rest returned as `UnprocessedItems`,
//!   the way DynamoDB answers a throttled batch (see [`partial_batch`]).
//!
//! A faulted request never reaches the emulator (a partial batch: only the part the
//! answer says was applied), so nothing is applied twice: what rtsnap must do is retry,
//! and the test checks that every item, user and object arrives. The choice is a seeded
//! pseudo-random sequence, so a run can be repeated.
//!
//! The proxy can also *overload* one operation for a number of requests (see
//! [`FaultProxy::overload_next`]) and records, for each request, how many of its
//! operation were in the proxy when it arrived ([`FaultProxy::arrivals`]): how a test
//! sees that rtsnap's adaptive window sent fewer requests at once while throttled.
//!
//! The proxy can also *hold* (see [`FaultProxy::hold_after`]): after a given number of
//! requests of one operation it forwards nothing more, so a test can kill rtsnap at an
//! exact point (e.g. after the 3rd `AdminCreateUser`) instead of racing a poller.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy did, by kind.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub resets: AtomicU64,
    pub delayed: AtomicU64,
    /// `BatchWriteItem`s applied in part.
    pub partial_batches: AtomicU64,
    /// Write requests those partial batches returned as `UnprocessedItems`.
    pub deferred_writes: AtomicU64,
}

impl FaultCounts {
    /// Requests answered with a fault (delays not counted: they succeed).
    pub fn faults(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
            + self.server_errors.load(Ordering::Relaxed)
            + self.resets.load(Ordering::Relaxed)
            + self.partial_batches.load(Ordering::Relaxed)
    }
}

/// One request as the proxy saw it arrive.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub operation: String,
    /// Requests of its operation in the proxy at its arrival, itself included.
    pub concurrent: u64,
    /// Whether it was answered as overload by [`FaultProxy::overload_next`].
    pub overloaded: bool,
}

/// Arrivals and requests in progress, by operation.
#[derive(Default)]
struct Traffic {
    in_progress: Mutex<HashMap<String, u64>>,
    arrivals: Mutex<Vec<Arrival>>,
    /// (operation, how many more of it to answer as overload).
    overload: Mutex<Option<(String, u64)>>,
}

impl Traffic {
    /// Counts the request in; whether to answer it as overload.
    fn arrive(&self, operation: &str) -> bool {
        let overloaded = {
            let mut rule = self.overload.lock().expect("overload rule");
            match rule.as_mut() {
                Some((op, left)) if op == operation && *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        };
        let mut in_progress = self.in_progress.lock().expect("traffic");
        let concurrent = in_progress.entry(operation.to_owned()).or_default();
        *concurrent += 1;
        self.arrivals.lock().expect("arrivals").push(Arrival {
            operation: operation.to_owned(),
            concurrent: *concurrent,
            overloaded,
        });
        overloaded
    }

    /// Counts the request out: called before its answer is written, so a client that
    /// sends its next request on reading the answer never finds it still counted.
    fn leave(&self, operation: &str) {
        let mut in_progress = self.in_progress.lock().expect("traffic");
        if let Some(n) = in_progress.get_mut(operation) {
            *n = n.saturating_sub(1);
        }
    }
}

/// A running proxy; it stops with the test process.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: give this to rtsnap as the endpoint.
    pub endpoint: String,
    pub counts: Arc<FaultCounts>,
    /// Fault probability in per mille; change it while running with [`FaultProxy::set_rate`].
    rate: Arc<AtomicU64>,
    gate: Arc<Gate>,
    traffic: Arc<Traffic>,
}

/// Holds every request once `after` requests of `operation` were forwarded.
#[derive(Default)]
struct Gate {
    /// (operation, how many of it to forward); `None`: never hold.
    rule: Mutex<Option<(String, u64)>>,
    /// Forwarded requests, by operation.
    forwarded: Mutex<HashMap<String, u64>>,
    /// Every forwarded request's operation, in the order the gate admitted them.
    log: Mutex<Vec<String>>,
    /// Admitted requests whose answer has not been written back yet.
    in_flight: AtomicU64,
    holding: AtomicBool,
}

impl Gate {
    /// Whether `operation` may be forwarded now; counts it if so.
    fn admit(&self, operation: &str) -> bool {
        let rule = self.rule.lock().expect("gate rule");
        let mut forwarded = self.forwarded.lock().expect("gate counts");
        if self.holding.load(Ordering::SeqCst) {
            return false;
        }
        if let Some((op, after)) = rule.as_ref() {
            if op == operation && forwarded.get(op).copied().unwrap_or(0) >= *after {
                self.holding.store(true, Ordering::SeqCst);
                return false;
            }
        }
        *forwarded.entry(operation.to_owned()).or_default() += 1;
        self.log
            .lock()
            .expect("gate log")
            .push(operation.to_owned());
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// One admitted request until its answer is written (or its connection dropped).
struct InFlight<'a>(&'a Gate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
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
        let gate = Arc::new(Gate::default());
        let traffic = Arc::new(Traffic::default());
        let shared = Shared {
            upstream,
            counts: Arc::clone(&counts),
            rate: Arc::clone(&rate),
            sequence,
            gate: Arc::clone(&gate),
            traffic: Arc::clone(&traffic),
        };
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, &shared);
                });
            }
        });
        FaultProxy {
            endpoint,
            counts,
            rate,
            gate,
            traffic,
        }
    }

    /// Answers the next `n` requests of `operation` as an overloaded service does: a
    /// `BatchWriteItem` applied in part with the rest returned as `UnprocessedItems`
    /// (a batch of one: `ProvisionedThroughputExceededException`), anything else a
    /// throttling error.
    pub fn overload_next(&self, operation: &str, n: u64) {
        *self.traffic.overload.lock().expect("overload rule") = Some((operation.to_owned(), n));
    }

    /// Every request of `operation` so far, in order of arrival.
    pub fn arrivals(&self, operation: &str) -> Vec<Arrival> {
        let arrivals = self.traffic.arrivals.lock().expect("arrivals");
        arrivals
            .iter()
            .filter(|a| a.operation == operation)
            .cloned()
            .collect()
    }

    /// From now on, forwards `after` requests of `operation` (counted from the proxy's
    /// start; an operation is e.g. `BatchWriteItem`, `AdminCreateUser`, `PutObject`,
    /// `CopyObject`, `GetObject`, see [`operation`]); the next one, and every request
    /// after it, is held: never forwarded, its connection left open until [`FaultProxy::release`].
    pub fn hold_after(&self, operation: &str, after: u64) {
        *self.gate.rule.lock().expect("gate rule") = Some((operation.to_owned(), after));
    }

    /// Whether the proxy is holding (the gate of [`FaultProxy::hold_after`] closed).
    pub fn holding(&self) -> bool {
        self.gate.holding.load(Ordering::SeqCst)
    }

    /// Whether every request the gate let through has been answered: once the proxy is
    /// [holding](FaultProxy::holding) and settled, what reached the emulator is final
    /// until [`FaultProxy::release`].
    pub fn settled(&self) -> bool {
        self.gate.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Requests of `operation` forwarded so far.
    pub fn forwarded(&self, operation: &str) -> u64 {
        let counts = self.gate.forwarded.lock().expect("gate counts");
        counts.get(operation).copied().unwrap_or(0)
    }

    /// The operations of every request the gate let through so far, in order (counted
    /// like [`FaultProxy::forwarded`]: from the proxy's start or the last release).
    pub fn operations(&self) -> Vec<String> {
        self.gate.log.lock().expect("gate log").clone()
    }

    /// Opens the gate again: held requests are dropped (their connections closed) and new
    /// ones are forwarded; the counts and the log start from zero.
    pub fn release(&self) {
        *self.gate.rule.lock().expect("gate rule") = None;
        self.gate.forwarded.lock().expect("gate counts").clear();
        self.gate.log.lock().expect("gate log").clear();
        self.gate.holding.store(false, Ordering::SeqCst);
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

/// What every connection's thread shares.
#[derive(Clone)]
struct Shared {
    upstream: String,
    counts: Arc<FaultCounts>,
    rate: Arc<AtomicU64>,
    sequence: Arc<AtomicU64>,
    gate: Arc<Gate>,
    traffic: Arc<Traffic>,
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Shared {
        upstream,
        counts,
        gate,
        traffic,
        ..
    } = shared;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    loop {
        let Some(request) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        let operation = operation(&request);
        if !gate.admit(&operation) {
            // Held: wait for the test to kill the client, then drop the request.
            while gate.holding.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(());
        }
        let _in_flight = InFlight(gate);
        let answer = if traffic.arrive(&operation) {
            overloaded(&request, &operation, upstream, counts).map(Some)
        } else {
            answer_normally(&request, &operation, shared, &mut writer)
        };
        traffic.leave(&operation);
        match answer? {
            Some(answer) => writer.write_all(&answer)?,
            None => return Ok(()),
        }
    }
}

/// The answer of [`FaultProxy::overload_next`].
fn overloaded(
    request: &Request,
    operation: &str,
    upstream: &str,
    counts: &FaultCounts,
) -> std::io::Result<Vec<u8>> {
    let partial = match operation {
        "BatchWriteItem" => partial_batch(request, upstream, counts)?,
        _ => None,
    };
    Ok(partial.unwrap_or_else(|| {
        counts.throttled.fetch_add(1, Ordering::Relaxed);
        throttle(request, 0)
    }))
}

/// The answer to a request not overloaded on purpose: forwarded, or faulted at the
/// proxy's rate. `None`: the connection was dropped.
fn answer_normally(
    request: &Request,
    operation: &str,
    shared: &Shared,
    writer: &mut TcpStream,
) -> std::io::Result<Option<Vec<u8>>> {
    let Shared {
        upstream,
        counts,
        rate,
        sequence,
        ..
    } = shared;
    let rate_now = rate.load(Ordering::Relaxed);
    // Half the fault rate again for partial batches, on top of the other faults; never
    // at 100 % (a partial batch makes progress: those faults would clear).
    if operation == "BatchWriteItem" && rate_now < 1000 && next(sequence) % 1000 < rate_now / 2 {
        if let Some(answer) = partial_batch(request, upstream, counts)? {
            return Ok(Some(answer));
        }
    }
    let roll = next(sequence);
    if roll % 1000 < rate_now {
        match (roll / 1000) % 5 {
            0 => {
                counts.resets.fetch_add(1, Ordering::Relaxed);
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(None);
            }
            // At 100 % every request fails: "faults that never clear".
            1 if rate.load(Ordering::Relaxed) < 1000 => {
                counts.delayed.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(300));
            }
            2 | 3 => {
                counts.throttled.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(throttle(request, roll)));
            }
            _ => {
                counts.server_errors.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(server_error(request, roll)));
            }
        }
    }
    counts.forwarded.fetch_add(1, Ordering::Relaxed);
    forward(request, upstream).map(Some)
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

/// The request's operation: the `X-Amz-Target` action for DynamoDB and Cognito; for S3
/// (path-style `/bucket/key`) one of `PutObject`, `CopyObject`, `GetObject`,
/// `HeadObject`, `DeleteObject`, `DeleteObjects`, `ListObjectsV2`, `HeadBucket`, else
/// `S3 <METHOD>`.
pub fn operation_of(head: &[String], target: Option<&str>) -> String {
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let mut words = head.first().map(|l| l.split(' ')).into_iter().flatten();
    let (method, uri) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    // Path-style: `/bucket/key`. The SDK sends bucket-level calls (ListObjectsV2,
    // DeleteObjects, HeadBucket) as `/bucket/` or `/bucket`: no key.
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let copy = head
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("x-amz-copy-source:"));
    match (method, has_key) {
        ("PUT", true) if copy => "CopyObject",
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        ("POST", false) if query.starts_with("delete") => "DeleteObjects",
        ("GET", false) if query.contains("list-type=2") => "ListObjectsV2",
        ("HEAD", false) => "HeadBucket",
        _ => return format!("S3 {method}"),
    }
    .to_owned()
}

fn operation(request: &Request) -> String {
    operation_of(&request.head, request.header("x-amz-target"))
}

/// Applies the first half of a `BatchWriteItem` and answers with the rest as
/// `UnprocessedItems`, merged with whatever the emulator itself left unprocessed, the
/// way DynamoDB answers when part of a batch hit a throttled partition. `None` (nothing
/// sent) for a batch of one request, which cannot be split.
fn partial_batch(
    request: &Request,
    upstream: &str,
    counts: &FaultCounts,
) -> std::io::Result<Option<Vec<u8>>> {
    let invalid = |e: serde_json::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let body: serde_json::Value = serde_json::from_slice(&request.body).map_err(invalid)?;
    let Some(tables) = body["RequestItems"].as_object() else {
        return Ok(None);
    };
    let writes: Vec<(&String, &serde_json::Value)> = tables
        .iter()
        .flat_map(|(table, ops)| {
            ops.as_array()
                .into_iter()
                .flatten()
                .map(move |op| (table, op))
        })
        .collect();
    if writes.len() < 2 {
        return Ok(None);
    }
    let (applied, deferred) = writes.split_at(writes.len() / 2);
    let group = |part: &[(&String, &serde_json::Value)]| {
        let mut map = serde_json::Map::new();
        for (table, op) in part {
            let ops = map
                .entry(table.to_string())
                .or_insert_with(|| serde_json::json!([]));
            ops.as_array_mut().expect("an array").push((*op).clone());
        }
        map
    };
    let mut sent = body.clone();
    sent["RequestItems"] = group(applied).into();
    let sent_body = serde_json::to_vec(&sent).map_err(invalid)?;
    let mut head: Vec<String> = request
        .head
        .iter()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .cloned()
        .collect();
    head.push(format!("Content-Length: {}", sent_body.len()));
    let response = forward(
        &Request {
            head,
            body: sent_body,
        },
        upstream,
    )?;
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(Some(response));
    };
    if !response.starts_with(b"HTTP/1.1 200") {
        // The emulator refused the part; the client retries the whole batch.
        return Ok(Some(response));
    }
    let mut answer: serde_json::Value =
        serde_json::from_slice(&response[split + 4..]).map_err(invalid)?;
    let mut unprocessed = answer["UnprocessedItems"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (table, ops) in group(deferred) {
        let list = unprocessed
            .entry(table)
            .or_insert_with(|| serde_json::json!([]));
        let list = list.as_array_mut().expect("an array");
        list.extend(ops.as_array().into_iter().flatten().cloned());
    }
    answer["UnprocessedItems"] = unprocessed.into();
    counts.partial_batches.fetch_add(1, Ordering::Relaxed);
    counts
        .deferred_writes
        .fetch_add(deferred.len() as u64, Ordering::Relaxed);
    let body = serde_json::to_string(&answer).map_err(invalid)?;
    Ok(Some(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    ))
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
