//! Sinks other than Kafka, and several at once, over real HTTP: a file,
//! the standard output of a child process, Kafka (the embedded broker)
//! beside a file that fails (a full disk, a closed pipe), a sink that
//! blocks, and a shutdown with a queue left.

#[path = "support/skip.rs"]
mod skip;
#[path = "support/small_disk.rs"]
mod small_disk;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::producer::Stats;
use relayer::sink::{Format, Output, Sink, WriterSink};
use relayer::{Error, Relayer};
use relayer_axum::RelayerLayer;
use relayer_test::{EmbeddedBroker, MockProducer};
use serde_json::{Value, json};
use small_disk::SmallDisk;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Requests per test; each emits two keyed events and logs a line.
const REQUESTS: usize = 40;

/// Two events with the order's id as key, in order, and a log line.
async fn order(relayer: Relayer, UrlPath(id): UrlPath<String>) -> &'static str {
    for step in 1..=2 {
        relayer
            .emit_with_key(
                "order",
                "step",
                &json!({ "id": id, "step": step }),
                id.as_str(),
            )
            .unwrap();
    }
    relayer.info("order handled").unwrap();
    "ok"
}

/// Serves the app on 127.0.0.1, sends `REQUESTS` requests at once (ids
/// `0..REQUESTS`), and returns once every response has been read.
async fn drive(relayer: &Relayer) {
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .layer(RelayerLayer::new(relayer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let requests: Vec<_> = (0..REQUESTS)
        .map(|id| tokio::spawn(get_ok(addr, id)))
        .collect();
    for request in requests {
        request.await.unwrap();
    }
    server.abort();
}

async fn get_ok(addr: SocketAddr, id: usize) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<&[u8]>>();
    let request = http::Request::get(format!("http://{addr}/orders/{id}"))
        .header("x-request-id", format!("req-{id}"))
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

/// Drives `relayer` over HTTP, then shuts it down: its final counts.
async fn drive_and_shut_down(relayer: Relayer) -> Stats {
    drive(&relayer).await;
    tokio::task::spawn_blocking(move || relayer.shutdown(TIMEOUT))
        .await
        .unwrap()
}

/// Kafka on `broker` and `other`, driven over HTTP and shut down.
async fn kafka_and(broker: &EmbeddedBroker, other: Sink) -> Stats {
    broker.create_topic("order", 1).unwrap();
    broker.create_topic("logging", 1).unwrap();
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .sink(Sink::kafka())
        .sink(other)
        .build()
        .unwrap();
    drive_and_shut_down(relayer).await
}

/// Checks the lines a sink wrote: each one JSON, `REQUESTS` records and
/// two events per request, each request's events in order, each record
/// with its events embedded as they were written.
fn check_lines(lines: &[String]) {
    let parsed: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let mut records = BTreeMap::new();
    let mut steps: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in &parsed {
        match line["topic"].as_str().unwrap() {
            "logging" => {
                assert_eq!(line["key"], Value::Null);
                let request_id = line["value"]["request_id"].as_str().unwrap().to_owned();
                records.insert(request_id, line["value"].clone());
            }
            "order" => {
                let key = line["key"].as_str().unwrap().to_owned();
                assert_eq!(line["value"]["payload"]["id"], key.as_str());
                assert_eq!(line["headers"]["x-request-id"], format!("req-{key}"));
                assert!(line["headers"]["traceparent"].is_string(), "{line}");
                steps
                    .entry(key)
                    .or_default()
                    .push(line["value"]["payload"]["step"].as_u64().unwrap());
            }
            other => panic!("unexpected topic {other}"),
        }
    }
    assert_eq!(records.len(), REQUESTS, "one record per request");
    assert_eq!(steps.len(), REQUESTS);
    assert!(
        steps.values().all(|steps| *steps == [1, 2]),
        "in order per key: {steps:?}"
    );
    for line in parsed.iter().filter(|line| line["topic"] == "order") {
        let key = line["key"].as_str().unwrap();
        let record = &records[&format!("req-{key}")];
        assert_eq!(record["status"], 200);
        assert!(
            record["lines"].as_array().unwrap().contains(&line["value"]),
            "the record keeps the event as written"
        );
    }
}

/// Every message accounted for.
fn assert_accounted(stats: &Stats) {
    assert_eq!(
        stats.produced,
        stats.delivered + stats.failed + stats.dropped + stats.queued,
        "{stats:?}"
    );
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_events_reach_a_file_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relayer.jsonl");
    let relayer = Relayer::builder("logging")
        .sink(Sink::file(&path))
        .build()
        .unwrap();
    let stats = drive_and_shut_down(relayer).await;

    let lines = read_lines(&path);
    check_lines(&lines);
    assert_eq!(lines.len(), REQUESTS * 3);
    assert_eq!(
        (stats.delivered, stats.queued, stats.failed),
        (REQUESTS as u64 * 3, 0, 0)
    );
    assert!(stats.sinks.is_empty(), "one sink: the stats as ever");
}

/// The child of `records_and_events_reach_standard_output`: chooses its
/// sink from `RELAYER_SINK`, serves, and shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_child() {
    let Some(mode) = std::env::var_os("RELAYER_SINK_CHILD") else {
        return;
    };
    match Relayer::builder("logging").build() {
        Ok(relayer) => {
            let stats = drive_and_shut_down(relayer).await;
            eprintln!("CHILD delivered {}", stats.delivered);
        }
        Err(error) => {
            assert_eq!(mode, "build");
            eprintln!("CHILD error {error}");
        }
    }
}

fn child(sink: &str, mode: &str) -> std::process::Output {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "stdout_child", "--nocapture", "--test-threads=1"])
        .env("RELAYER_SINK_CHILD", mode)
        .env("RELAYER_SINK", sink)
        .env_remove("KAFKA_BROKERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Not while an embedded broker of this process goes down.
    relayer_test::without_broker_restarts(|| child.output()).unwrap()
}

#[test]
fn records_and_events_reach_standard_output() {
    let output = child("stdout", "serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("CHILD delivered {}", REQUESTS * 3)),
        "{stderr}"
    );
    // The test harness writes its own lines too (and `test stdout_child ...`
    // before the first of ours, on the same line): ours are the JSON ones.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.find("{\"topic\":").map(|at| line[at..].to_owned()))
        .collect();
    assert_eq!(lines.len(), REQUESTS * 3, "not a terminal: JSON lines");
    check_lines(&lines);
}

/// The child of `the_default_sink_is_used_only_when_nothing_names_one`:
/// a relayer with a file as its default sink sends one event and stops.
#[test]
fn default_sink_child() {
    let Some(file) = std::env::var_os("RELAYER_DEFAULT_SINK_CHILD") else {
        return;
    };
    let relayer = Relayer::builder("logging")
        .default_sink(Sink::file(file))
        .build()
        .unwrap();
    relayer.emit_raw("audit", &json!({"who": "ada"})).unwrap();
    relayer.shutdown(Duration::from_secs(1));
}

#[test]
fn the_default_sink_is_used_only_when_nothing_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |case: &str, env: &[(&str, &str)]| {
        let file = dir.path().join(format!("{case}.jsonl"));
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "default_sink_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RELAYER_DEFAULT_SINK_CHILD", &file)
            .env_remove("RELAYER_SINK")
            .env_remove("KAFKA_BROKERS");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let written = std::fs::read_to_string(&file).unwrap_or_default();
        (written, String::from_utf8(output.stdout).unwrap())
    };

    let (file, _) = run("nothing named", &[]);
    assert!(file.contains(r#""value":{"who":"ada"}"#), "{file:?}");

    let (file, stdout) = run("RELAYER_SINK", &[("RELAYER_SINK", "stdout:json")]);
    assert_eq!(file, "", "RELAYER_SINK names the sinks");
    assert!(stdout.contains(r#""value":{"who":"ada"}"#), "{stdout:?}");

    // Kafka brokers name Kafka (none answers on port 1: the event is only queued).
    let (file, stdout) = run("KAFKA_BROKERS", &[("KAFKA_BROKERS", "127.0.0.1:1")]);
    assert_eq!(file, "", "KAFKA_BROKERS names Kafka");
    assert!(!stdout.contains(r#""who""#), "{stdout:?}");

    // Set but empty counts as unset, as for RELAYER_SINK itself.
    let (file, _) = run("empty RELAYER_SINK", &[("RELAYER_SINK", " ")]);
    assert!(file.contains(r#""value":{"who":"ada"}"#), "{file:?}");
}

#[test]
fn a_malformed_relayer_sink_fails_the_build_naming_the_part() {
    for (value, part) in [
        (
            "kafka,stdot",
            r#"cannot read "stdot" (part 2 of "kafka,stdot")"#,
        ),
        (
            "file:",
            r#"cannot read "file:" (part 1 of "file:"): file needs a path"#,
        ),
        (
            "stdout,,stderr",
            r#"cannot read "" (part 2 of "stdout,,stderr")"#,
        ),
        ("stdout:yaml", r#"cannot read "stdout:yaml""#),
    ] {
        let output = child(value, "build");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "CHILD error relayer configuration: RELAYER_SINK: {part}"
            )),
            "{value}: {stderr}"
        );
    }
}

/// Kafka and a file at once, the file's disk full: Kafka delivers every
/// message, the file's are failed and counted, each sink on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delivers_everything_while_the_file_sink_has_a_full_disk() {
    let broker = EmbeddedBroker::start().unwrap();
    // Writes to /dev/full fail with ENOSPC: a disk that is full.
    let stats = kafka_and(&broker, Sink::file("/dev/full")).await;

    let messages = REQUESTS as u64 * 3;
    let (kafka, file) = (&stats.sinks["kafka"], &stats.sinks["file:/dev/full"]);
    assert_eq!(
        (kafka.produced, kafka.delivered, kafka.failed, kafka.dropped),
        (messages, messages, 0, 0)
    );
    assert_eq!(
        (file.produced, file.failed, file.delivered),
        (messages, messages, 0)
    );
    assert!(
        file.last_errors["order"].contains("No space left on device"),
        "{file:?}"
    );
    assert_eq!(stats.produced, 2 * messages, "the sums of the sinks");
    [&stats, kafka, file].into_iter().for_each(assert_accounted);

    let consumer = broker.consumer().unwrap();
    let events = consumer.read("order", REQUESTS * 2, TIMEOUT).unwrap();
    let records = consumer.read("logging", REQUESTS, TIMEOUT).unwrap();
    assert_eq!((events.len(), records.len()), (REQUESTS * 2, REQUESTS));
}

/// The same with a small real disk that fills up (a tmpfs, as root): the
/// file takes what fits, the rest fails and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delivers_everything_while_a_small_disk_fills_up() {
    let Some(disk) = SmallDisk::mount("16k") else {
        return;
    };
    let broker = EmbeddedBroker::start().unwrap();
    let path = disk.path().join("relayer.jsonl");
    let stats = kafka_and(&broker, Sink::file(&path)).await;

    let messages = REQUESTS as u64 * 3;
    let (kafka, file) = (
        &stats.sinks["kafka"],
        &stats.sinks[&format!("file:{}", path.display())],
    );
    assert_eq!((kafka.delivered, kafka.failed), (messages, 0));
    assert!(
        file.failed > 0 && file.delivered > 0,
        "some fit, some not: {file:?}"
    );
    assert_eq!(file.delivered + file.failed, messages, "{file:?}");
    assert_accounted(file);
    // What counts as written is on the disk, in whole lines; a torn one
    // after them, at most.
    let written = read_lines(&path);
    let whole = written
        .iter()
        .filter(|line| serde_json::from_str::<Value>(line).is_ok());
    assert_eq!(whole.count() as u64, file.delivered, "{written:?}");
    assert!(written.len() as u64 <= file.delivered + 1);
    println!(
        "16 KiB tmpfs: {} of {messages} written, {} failed",
        file.delivered, file.failed
    );
}

/// Kafka and an output whose reader went away (a broken pipe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delivers_everything_while_the_other_sinks_pipe_is_closed() {
    let broker = EmbeddedBroker::start().unwrap();
    let (reader, writer) = io::pipe().unwrap();
    drop(reader);
    let pipe = WriterSink::new(Output::writer("pipe", writer), Format::Json);
    let stats = kafka_and(&broker, Sink::producer("pipe", pipe)).await;

    let messages = REQUESTS as u64 * 3;
    let (kafka, pipe) = (&stats.sinks["kafka"], &stats.sinks["pipe"]);
    assert_eq!((kafka.delivered, kafka.failed), (messages, 0));
    assert_eq!((pipe.produced, pipe.failed), (messages, messages));
    assert!(
        pipe.last_errors["logging"].contains("Broken pipe"),
        "{pipe:?}"
    );
    assert_accounted(&stats);
}

/// A writer that blocks until released, like a pipe nobody reads.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    /// A write has started (and waits for the gate).
    writing: Arc<AtomicBool>,
}

impl Gate {
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }

    fn wait_for_a_write(&self) {
        while !self.writing.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Write for Gate {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.writing.store(true, Ordering::SeqCst);
        let (open, changed) = &*self.open;
        let _open = changed
            .wait_while(open.lock().unwrap(), |open| !*open)
            .unwrap();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that blocks fills its queue and drops what does not fit; the
/// request path never waits, and the other sink gets everything.
#[test]
fn a_blocked_sink_drops_past_its_queue_and_holds_back_no_one() {
    let gate = Gate::default();
    let mock = MockProducer::new();
    let blocked = WriterSink::new(Output::writer("blocked", gate.clone()), Format::Json)
        .queue_bound(10, 1 << 20);
    let relayer = Relayer::builder("logging")
        .sink(Sink::producer("mock", mock.clone()))
        .sink(Sink::producer("blocked", blocked))
        .build()
        .unwrap();
    let started = Instant::now();
    for n in 0..1_000 {
        relayer.emit("order", "step", &n).unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.messages("order").len(), 1_000);
    let stats = relayer.stats();
    let blocked = &stats.sinks["blocked"];
    // At most 10 in the queue and 10 taken from it into the writer's hands.
    assert!(blocked.queued <= 20, "{blocked:?}");
    assert_eq!(blocked.dropped + blocked.queued, 1_000, "{blocked:?}");
    assert_accounted(blocked);

    gate.open();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    let blocked = &stats.sinks["blocked"];
    assert_eq!(blocked.delivered + blocked.dropped, 1_000, "{blocked:?}");
    assert_eq!(stats.sinks["mock"].delivered, 1_000);
}

/// A shutdown with a sink that blocks returns in time and says what is
/// left: the batch the writer holds stays queued, the rest failed.
#[test]
fn shutdown_returns_in_time_and_says_what_each_sink_left() {
    let gate = Gate::default();
    let mock = MockProducer::new();
    let blocked = WriterSink::new(Output::writer("blocked", gate.clone()), Format::Json);
    let relayer = Relayer::builder("logging")
        .sink(Sink::producer("mock", mock))
        .sink(Sink::producer("blocked", blocked))
        .build()
        .unwrap();
    // The first message is taken alone into the writer's hands; the rest wait.
    relayer.emit("order", "step", &0).unwrap();
    gate.wait_for_a_write();
    for n in 1..100 {
        relayer.emit("order", "step", &n).unwrap();
    }
    let started = Instant::now();
    let stats = relayer.shutdown(Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let blocked = &stats.sinks["blocked"];
    assert_eq!((blocked.queued, blocked.failed), (1, 99), "{blocked:?}");
    assert_eq!(stats.sinks["mock"].delivered, 100);
    assert_accounted(&stats);
    assert!(matches!(
        relayer.emit("order", "step", &100),
        Ok(()) // the mock still takes it
    ));
    assert_eq!(
        relayer.stats().sinks["blocked"].dropped,
        1,
        "refused once closed"
    );
    gate.open();
}

#[test]
fn a_sink_given_twice_or_a_spool_without_kafka_is_a_configuration_error() {
    let twice = Relayer::builder("logging")
        .sink(Sink::stderr())
        .sink(Sink::stderr())
        .build();
    assert!(
        matches!(twice, Err(Error::Config(message)) if message.contains("\"stderr\" given twice"))
    );
    let spool = Relayer::builder("logging")
        .sink(Sink::stderr())
        .spool(std::env::temp_dir().join("relayer-sinks-spool"), 1 << 20)
        .build();
    assert!(matches!(spool, Err(Error::Config(message)) if message.contains("spool")));
}

/// A file that cannot be opened (a missing directory; a read-only one)
/// fails its messages, counted with the reason; the build and the requests
/// succeed, and the next write tries again. Root writes into a read-only
/// directory all the same: as root, that case runs in a child process as
/// the user `nobody`.
#[test]
fn a_file_that_cannot_be_opened_fails_its_messages_not_the_requests() {
    let dir = tempfile::tempdir().unwrap();
    a_file_that_cannot_be_opened(&dir.path().join("missing/relayer.jsonl"), "No such file");
    if !is_root(dir.path()) {
        read_only_child();
        return;
    }
    let mut child = Command::new("setpriv");
    child
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "read_only_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RELAYER_READ_ONLY_CHILD", "1")
        // Nobody may not write where the suite collects its records.
        .env_remove("RELAYER_TEST_RECORDS")
        .env("TMPDIR", std::env::temp_dir());
    match relayer_test::without_broker_restarts(|| child.output()) {
        Ok(output) if output.status.success() => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("READ-ONLY CHECKED"), "{stdout}");
        }
        Ok(output) => panic!(
            "the read-only case as nobody: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => skip::skip(&format!("setpriv, to run as nobody: {error}")),
    }
}

/// True when this process writes into a read-only directory in `dir`.
fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;

    let read_only = dir.join("probe-read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::write(read_only.join("probe"), "").is_ok()
}

/// The read-only case, run directly when not root, or as `nobody`.
#[test]
fn read_only_child() {
    let probe = tempfile::tempdir().unwrap();
    if std::env::var_os("RELAYER_READ_ONLY_CHILD").is_none() && is_root(probe.path()) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
    assert!(
        !is_root(dir.path()),
        "runs as a user the permissions apply to"
    );
    a_file_that_cannot_be_opened(&read_only.join("relayer.jsonl"), "Permission denied");
    println!("READ-ONLY CHECKED");
}

fn a_file_that_cannot_be_opened(path: &Path, error: &str) {
    use std::os::unix::fs::PermissionsExt;

    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .sink(Sink::producer("mock", mock.clone()))
        .sink(Sink::file(path))
        .build()
        .unwrap();
    relayer.emit("order", "step", &1).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    let file = &stats.sinks[&format!("file:{}", path.display())];
    assert_eq!((file.produced, file.failed), (1, 1), "{file:?}");
    assert!(file.last_errors["order"].contains(error), "{file:?}");
    assert_eq!(mock.messages("order").len(), 1);

    // Once the directory is there, the next write opens the file.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        path.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    relayer.emit("order", "step", &2).unwrap();
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(
        relayer.stats().sinks[&format!("file:{}", path.display())].delivered,
        1
    );
    assert_eq!(read_lines(path).len(), 1);
}
