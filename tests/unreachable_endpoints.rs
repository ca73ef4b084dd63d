//! Endpoints that do not behave like AWS (the 2026-12-01 bug hunt): a server that
//! accepts the connection and never answers hung every command for ever (no timeout,
//! so the retry budget never started); a refused connection and a non-AWS answer gave
//! multi-line debug text without a hint. Each now fails on one line that says what to
//! check, within the retry budget. No emulator needed: the servers are std sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::rtsnap_command;

/// Longer than the test's budgets allow rtsnap to take; only a hang reaches it.
const WATCHDOG: Duration = Duration::from_secs(90);

/// A folder with an rtsnap.toml whose environment `env` talks to `endpoint`.
fn config_for(endpoint: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "[snapshots]\nrecipients = [\"age1vku089rsnzyu8nz032ymwcmc0w8u6kk5hp9ltfputyusu6qtfg9qdtsulq\"]\n\n\
         [environments.env]\nregion = \"us-west-1\"\nbackend_suffix = \"x\"\nendpoint_url = \"{endpoint}\"\n"
    );
    std::fs::write(dir.path().join("rtsnap.toml"), config).expect("config");
    dir
}

/// Runs `rtsnap --json export env` there with short budgets, killing it if it hangs.
fn export_against(endpoint: &str) -> (Output, Duration) {
    let dir = config_for(endpoint);
    let mut command: Command = rtsnap_command(endpoint);
    command
        .current_dir(dir.path())
        .env("RTSNAP_HOME", dir.path().join("home"))
        .env("RTSNAP_ANSWER_TIMEOUT_SECS", "1")
        .env("RTSNAP_RETRY_BUDGET_SECS", "1")
        .args(["--json", "--no-progress", "export", "env"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn rtsnap");
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > WATCHDOG {
            child.kill().expect("kill");
            panic!("rtsnap still waiting after {WATCHDOG:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        !dir.path().join("home").join("snapshots").exists()
            || std::fs::read_dir(dir.path().join("home").join("snapshots"))
                .expect("dir")
                .next()
                .is_none(),
        "no snapshot file is left behind"
    );
    (out, started.elapsed())
}

/// The error of a `--json` run: one document on stdout, and its message.
fn json_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let message = doc["error"].as_str().expect("error").to_owned();
    assert!(!message.contains('\n'), "one line: {message}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("rtsnap: error: "), "{stderr}");
    message
}

#[test]
fn a_server_that_never_answers_fails_within_the_budget_instead_of_hanging() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    // Accept every connection and keep it open, never writing a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let (out, took) = export_against(&endpoint);
    let message = json_error(&out);
    assert!(
        message.contains("ListTables: no answer within 1 s"),
        "{message}"
    );
    assert!(message.contains("check endpoint_url"), "{message}");
    assert!(took < WATCHDOG, "{took:?}");
}

#[test]
fn a_refused_connection_says_what_to_check_on_one_line() {
    // A port that was free a moment ago: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (out, _) = export_against(&format!("http://127.0.0.1:{port}"));
    let message = json_error(&out);
    assert!(
        message.starts_with("ListTables: could not send the request: Connection refused"),
        "{message}"
    );
    assert!(message.ends_with("check endpoint_url, region, credentials and the network"));
}

/// A server answering every request with `status` and `body`; returns its endpoint.
fn answering(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 65536];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    endpoint
}

#[test]
fn an_endpoint_that_is_not_aws_is_named_as_such_with_its_http_status() {
    let (out, _) = export_against(&answering("404 Not Found", "<html>not here</html>"));
    let message = json_error(&out);
    assert!(
        message.starts_with("ListTables: HTTP 404 without an AWS error code"),
        "{message}"
    );
    assert!(
        message.ends_with("(with endpoint_url set: is it an AWS endpoint?)"),
        "{message}"
    );
}

/// The review of 2026-12-01: a code-less 403 (what HEAD requests get) pointed at
/// endpoint_url, which users of real AWS do not set.
#[test]
fn a_bare_403_says_access_denied() {
    let (out, _) = export_against(&answering("403 Forbidden", ""));
    let message = json_error(&out);
    assert_eq!(
        message,
        "ListTables: access denied (HTTP 403): check the credentials' permissions"
    );
}

/// The QA re-check of 2026-12-01: a server that sends its headers at once and then
/// trickles the body (a stalled proxy) still held a command for ever: the answer wait
/// ends at the first byte. Each attempt now has a limit in all (five answer waits).
#[test]
fn a_server_that_trickles_its_answer_fails_within_the_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut request = [0u8; 65536];
                let _ = stream.read(&mut request);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 100000\r\n\r\n{";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                // One byte every half second: never finished within any wait.
                while stream.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_millis(500));
                }
            });
        }
    });
    let (out, took) = export_against(&endpoint);
    let message = json_error(&out);
    assert!(message.starts_with("ListTables: "), "{message}");
    assert!(took < WATCHDOG, "{took:?}");
}
