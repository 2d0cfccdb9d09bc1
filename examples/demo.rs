//! The first thing to run: `cargo run --example demo`. No Kafka needed.
//!
//! It starts a Kafka broker inside the process (librdkafka's mock cluster),
//! serves the axum app of `examples/axum_app/mod.rs` behind relayer's layer
//! on 127.0.0.1, sends it a handful of requests over real HTTP, then reads
//! the logging topic back with a real Kafka consumer and prints the records:
//! one per request, with everything the request emitted and logged.
//!
//! `cargo run --example demo -- --sink stdout` needs no broker at all: the
//! records and events go to standard output instead (readable on a
//! terminal, JSON lines through a pipe: `... | jq .value.outcome`), and the
//! demo's own narration to standard error. `--sink` takes the list of
//! `RELAYER_SINK` without `kafka`: `stdout`, `stderr`, `file:PATH`, ...
//!
//! `--format ecs` or `--format otlp` (with or without `--sink`) writes the
//! records as Elastic Common Schema documents or as OTLP/JSON log requests
//! for an OpenTelemetry Collector (`python1`: the Python relayer's form);
//! events keep their envelope.

#[path = "axum_app/mod.rs"]
mod axum_app;

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relayer::sink::Sink;
use relayer::{Relayer, WireFormat};
use relayer_test::{Consumer, EmbeddedBroker};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing_subscriber::prelude::*;

/// One request of the demo.
struct DemoRequest {
    method: &'static str,
    path: &'static str,
    json: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
}

const fn request(method: &'static str, path: &'static str) -> DemoRequest {
    DemoRequest {
        method,
        path,
        json: None,
        headers: &[],
    }
}

/// Ok, client errors (4xx), a stream, a panic, and a skipped health check.
const REQUESTS: &[DemoRequest] = &[
    DemoRequest {
        json: Some(r#"{"name": "chair", "price_cents": 4900}"#),
        headers: &[("x-request-id", "demo-create-chair"), ("x-tenant", "acme")],
        ..request("POST", "/things")
    },
    DemoRequest {
        headers: &[("x-forwarded-for", "203.0.113.7")],
        ..request("GET", "/things/1")
    },
    DemoRequest {
        json: Some(r#"{"name": ""}"#),
        ..request("POST", "/things")
    },
    request("GET", "/things/42?token=s3cret&verbose=1"),
    request("GET", "/countdown"),
    request("GET", "/boom"),
    request("GET", "/health"),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    quiet_the_intentional_panic();
    // `tracing::info!` in a handler lands in the request's record, next to
    // the lines of `relayer.log`.
    tracing_subscriber::registry()
        .with(relayer::tracing_bridge())
        .init();

    let options = Options::from_args()?;
    if let Some(sinks) = &options.sinks {
        return to_sinks(sinks, options.format).await;
    }

    println!("relayer demo: one aggregated Kafka record per HTTP request\n");
    let broker = EmbeddedBroker::start()?;
    println!("1. embedded Kafka broker at {}", broker.bootstrap_servers());
    let relayer = axum_app::relayer(&broker.bootstrap_servers())
        .wire_format(options.format)
        .service("demo")
        .build()?;
    serve_and_send(&relayer, |line| println!("{line}")).await?;
    let expected = REQUESTS.len() - 1; // /health is skipped

    let flushed = relayer.clone();
    tokio::task::spawn_blocking(move || flushed.flush(Duration::from_secs(10))).await??;

    let servers = broker.bootstrap_servers();
    let (mut records, events) = tokio::task::spawn_blocking(move || {
        let consumer = Consumer::new(&servers)?;
        let records = consumer.read(relayer.logging_topic(), expected, Duration::from_secs(15))?;
        let events = consumer.read("thing_created", 1, Duration::from_secs(15))?;
        Ok::<_, Box<dyn Error + Send + Sync>>((records, events))
    })
    .await?
    .map_err(|error| error as Box<dyn Error>)?;
    if options.format != WireFormat::Standard {
        // As written: each form orders its fields (ECS's first four, ...).
        println!(
            "\n4. the `logging` topic, read back with a Kafka consumer ({} records, {:?} form):\n",
            records.len(),
            options.format
        );
        for record in &records {
            println!("{}\n", String::from_utf8_lossy(&record.value));
        }
        return Ok(());
    }
    let mut records: Vec<Value> = records.drain(..).map(|message| message.json()).collect();
    // Partitions interleave: show the records in request order.
    records.sort_by(|a, b| a["date"].as_str().cmp(&b["date"].as_str()));

    println!(
        "\n4. the `logging` topic, read back with a Kafka consumer ({} records):\n",
        records.len()
    );
    println!(
        "   {:<6} {:<9} {:<16} {:>9} {:>5}  request_id",
        "status", "outcome", "request", "time (ms)", "lines"
    );
    for record in &records {
        let request = format!("{} {}", text(&record["method"]), text(&record["path"]));
        println!(
            "   {:<6} {:<9} {:<16} {:>9.1} {:>5}  {}",
            record["status"].as_u64().unwrap_or_default(),
            text(&record["outcome"]),
            request,
            record["request_time"].as_f64().unwrap_or_default(),
            record["lines"].as_array().map_or(0, Vec::len),
            text(&record["request_id"]),
        );
    }

    if let Some(record) = records.iter().find(|record| record["status"] == 404) {
        println!(
            "\n   secrets stay out: GET /things/42 is recorded with query_string {}",
            record["query_string"]
        );
    }

    for (title, path_and_outcome) in [
        ("the record of POST /things", ("/things", "ok")),
        (
            "the record of the streaming GET /countdown",
            ("/countdown", "ok"),
        ),
        (
            "the record of the panicking GET /boom",
            ("/boom", "panicked"),
        ),
    ] {
        let found = records.iter().find(|record| {
            (record["path"].as_str(), record["outcome"].as_str())
                == (Some(path_and_outcome.0), Some(path_and_outcome.1))
        });
        if let Some(record) = found {
            println!(
                "\n   {title}:\n{}",
                indent(&serde_json::to_string_pretty(record)?)
            );
        }
    }
    println!(
        "\n5. the `thing_created` event, also on its own topic:\n{}",
        indent(&serde_json::to_string_pretty(&events[0].json())?)
    );
    println!("\nnext: cargo run --example axum_service, and see examples/axum_app/mod.rs");
    Ok(())
}

/// What the command line asks for: `[--sink LIST] [--format FORM]`.
struct Options {
    /// The sinks of `--sink LIST`, if given.
    sinks: Option<Vec<Sink>>,
    format: WireFormat,
}

const USAGE: &str =
    "usage: demo [--sink stdout|stderr|file:PATH,...] [--format standard|python1|ecs|otlp]";

impl Options {
    fn from_args() -> Result<Self, Box<dyn Error>> {
        let mut options = Self {
            sinks: None,
            format: WireFormat::Standard,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = args.next().ok_or(USAGE)?;
            match arg.as_str() {
                "--sink" => {
                    let sinks = Sink::parse_list(&value)?;
                    if sinks.iter().any(|sink| sink.name() == "kafka") {
                        return Err("--sink is for the sinks other than Kafka; \
                                    without it, the demo shows Kafka"
                            .into());
                    }
                    options.sinks = Some(sinks);
                }
                "--format" => {
                    options.format = match value.as_str() {
                        "standard" => WireFormat::Standard,
                        "python1" => WireFormat::Python1,
                        "ecs" => WireFormat::Ecs,
                        "otlp" => WireFormat::OtlpJson,
                        _ => return Err(USAGE.into()),
                    }
                }
                _ => return Err(USAGE.into()),
            }
        }
        Ok(options)
    }
}

/// The demo without a broker: the records go to `sinks` as the requests
/// end; the narration goes to standard error, out of their way.
async fn to_sinks(sinks: &[Sink], format: WireFormat) -> Result<(), Box<dyn Error>> {
    let names: Vec<_> = sinks.iter().map(Sink::name).collect();
    eprintln!("relayer demo: one aggregated record per HTTP request, to other sinks than Kafka\n");
    let relayer = sinks
        .iter()
        .fold(Relayer::builder("logging"), |builder, sink| {
            builder.sink(sink.clone())
        })
        .wire_format(format)
        .service("demo")
        .build()?;
    eprintln!("1. no broker: sinks {}", names.join(", "));
    serve_and_send(&relayer, |line| eprintln!("{line}")).await?;
    let stats =
        tokio::task::spawn_blocking(move || relayer.shutdown(Duration::from_secs(10))).await?;
    eprintln!(
        "\n4. {} messages written, {} failed, {} dropped (each one: a JSON line, or a block on a terminal)",
        stats.delivered, stats.failed, stats.dropped
    );
    Ok(())
}

/// Serves the app behind `relayer` on 127.0.0.1, sends it the demo's
/// requests over HTTP, says what they got back with `say`, and stops.
async fn serve_and_send(relayer: &Relayer, say: impl Fn(&str)) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(axum_app::serve(listener, relayer.clone(), async {
        let _ = stopped.await;
    }));
    say(&format!("2. axum service on http://{addr}\n"));
    say("3. requests over HTTP:");
    for request in REQUESTS {
        let (status, request_id, body) = send(addr, request).await?;
        say(&format!(
            "   {:<4} {:<36} -> {status:<26} {body}",
            request.method, request.path
        ));
        if request_id.is_none() {
            say(&format!(
                "   {:<41} (skipped path: no request id, no record)",
                ""
            ));
        }
    }
    stop.send(()).ok();
    server.await??;
    Ok(())
}

/// Sends one request and returns its status, request id and body.
async fn send(
    addr: SocketAddr,
    demo: &DemoRequest,
) -> Result<(String, Option<String>, String), Box<dyn Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(demo.method)
        .uri(format!("http://{addr}{}", demo.path));
    if demo.json.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in demo.headers {
        request = request.header(*name, *value);
    }
    let body = Full::from(demo.json.unwrap_or_default());
    let response = client.request(request.body(body)?).await?;
    let status = response.status().to_string();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).replace('\n', " ");
    Ok((status, request_id, body.trim().to_owned()))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("   {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GET /boom` panics on purpose; keep the panic hook quiet about it only.
fn quiet_the_intentional_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if !message.contains(axum_app::INTENTIONAL_PANIC) {
            default(info);
        }
    }));
}
