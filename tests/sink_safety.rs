//! What the standard-output and file sinks write is safe to read: hostile
//! bytes from a request never reach a terminal as control characters nor
//! break a line, a message that only looks like a record cannot stop the
//! writer, and the files relayer creates are its owner's only, never
//! reached through a symbolic link.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::sink::{Format, Output, Sink, WriterSink};
use relayer::{Relayer, WireFormat};
use relayer_axum::RelayerLayer;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a hostile client puts in its path and a handler logs: set the
/// terminal's title, clear the screen, forge a record's first line, and
/// reorder the text that follows (bidi override), in C0, C1 and Unicode.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\n10:00:00.000  GET /admin  200 ok\r\u{9b}31m\u{85}\u{2028}\u{2029}\u{202e}\u{2066}\u{7f}";

/// Serves an app that logs `HOSTILE` and calls it with a path holding it.
async fn hostile_request(relayer: &Relayer) {
    let app = Router::new()
        .fallback(get(|relayer: Relayer| async move {
            relayer.info(HOSTILE).unwrap();
            relayer
                .info(&json!({ "message": HOSTILE, HOSTILE: HOSTILE }))
                .unwrap();
            relayer.emit("order", HOSTILE, &HOSTILE).unwrap();
            "ok"
        }))
        .layer(RelayerLayer::new(relayer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let encoded: String = HOSTILE.bytes().map(|byte| format!("%{byte:02X}")).collect();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<&[u8]>>();
    let request = http::Request::get(format!("http://{addr}/x{encoded}?q={encoded}"))
        .header("user-agent", "agent")
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    server.abort();
}

fn file_relayer(path: &Path, format: Format, wire_format: WireFormat) -> Relayer {
    Relayer::builder("logging")
        .sink(Sink::file(path).format(format))
        .wire_format(wire_format)
        .build()
        .unwrap()
}

/// Every character a terminal or a line splitter acts on, but the newline.
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            c != '\n'
                && (c.is_control()
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        })
        .collect()
}

#[tokio::test]
async fn the_pretty_form_lets_no_control_character_through() {
    for wire_format in [WireFormat::Standard, WireFormat::Python1] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pretty.log");
        let relayer = file_relayer(&path, Format::Pretty, wire_format);
        hostile_request(&relayer).await;
        let _ = relayer.shutdown(TIMEOUT);
        assert_eq!(relayer.stats().delivered, 2, "{:?}", relayer.stats());

        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(controls(&text), [], "{wire_format:?}: {text}");
        // An event, then one record: its first line and its three lines.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{wire_format:?}: {text}");
        assert!(lines[1].contains("GET /x"), "{}", lines[1]);
        assert!(
            lines[2..].iter().all(|line| line.starts_with("    ")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn json_lines_escape_what_splits_lines_and_stay_the_same_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.jsonl");
    let relayer = file_relayer(&path, Format::Json, WireFormat::Standard);
    hostile_request(&relayer).await;
    let _ = relayer.shutdown(TIMEOUT);

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(controls(&text), [], "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0]["value"]["event_subtype"], HOSTILE,
        "the same value"
    );
    let record = &lines[1]["value"];
    assert_eq!(record["lines"][0]["payload"], HOSTILE);
    assert_eq!(
        record["path"].as_str().unwrap().len(),
        2 + 3 * HOSTILE.len()
    );
}

#[test]
fn a_message_shaped_like_a_record_does_not_stop_the_pretty_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pretty.log");
    let relayer = file_relayer(&path, Format::Pretty, WireFormat::Standard);
    for raw in [
        json!({"topic": "x", "lines": []}),
        json!({"topic": "x", "partition": {"a": 1}, "lines": 7, "date": 1, "status": "x"}),
        json!({"lines": [{"log_level": 3, "payload": null}, {"event_type": []}, 5]}),
        json!({"service": null, "lines": null, "error": {"x": 1}}),
    ] {
        relayer.emit_raw("raw", &raw).unwrap();
    }
    relayer.emit("order", "created", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    let stats = relayer.stats();
    assert_eq!((stats.delivered, stats.failed), (5, 0), "{stats:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("order/created"), "{text}");
}

#[test]
fn the_file_sink_creates_its_file_for_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relayer.jsonl");
    let relayer = file_relayer(&path, Format::Json, WireFormat::Standard);
    relayer.emit("order", "created", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(relayer.stats().delivered, 1);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn the_file_sink_never_writes_through_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "precious\n").unwrap();
    // A directory that is missing at first: the first write fails, and
    // the file is opened again at the next one.
    let path = dir.path().join("later/relayer.jsonl");
    let relayer = file_relayer(&path, Format::Json, WireFormat::Standard);
    let name = format!("file:{}", path.display());
    let file_stats = || {
        relayer
            .stats()
            .sinks
            .get(&name)
            .cloned()
            .unwrap_or_else(|| relayer.stats())
    };

    relayer.emit("order", "created", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(file_stats().failed, 1, "the directory is missing");

    std::fs::create_dir(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    relayer.emit("order", "created", &2).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = file_stats();
    assert_eq!((stats.delivered, stats.failed), (0, 2), "{stats:?}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    std::fs::remove_file(&path).unwrap();
    relayer.emit("order", "created", &3).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(file_stats().delivered, 1);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn a_writer_given_in_code_keeps_its_own_permissions() {
    // Only files relayer opens itself get its mode.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.jsonl");
    let file = std::fs::File::create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let sink = WriterSink::new(Output::writer("mine", file), Format::Json);
    let relayer = Relayer::builder("logging").producer(sink).build().unwrap();
    relayer.emit("order", "created", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "{mode:o}");
}

/// An output that panics at its first write, then works.
struct PanicsOnce(Arc<Mutex<(bool, Vec<u8>)>>);

impl std::io::Write for PanicsOnce {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !std::mem::replace(&mut state.0, true) {
            drop(state);
            panic!("expected panic: the output breaks");
        }
        state.1.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_output_that_panics_fails_its_messages_and_the_writer_goes_on() {
    let state = Arc::new(Mutex::new((false, Vec::new())));
    let sink = WriterSink::new(
        Output::writer("breaks", PanicsOnce(state.clone())),
        Format::Json,
    );
    let relayer = Relayer::builder("logging").producer(sink).build().unwrap();
    relayer.emit("order", "created", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!((stats.delivered, stats.failed), (0, 1), "{stats:?}");
    assert!(stats.last_errors["order"].contains("panicked"), "{stats:?}");

    relayer.emit("order", "created", &2).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.queued),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&state.lock().unwrap().1)
            .lines()
            .count(),
        1
    );
}
