//! `cargo run --example trace_flow`: one request across three services,
//! joined. No Kafka needed: it starts an embedded broker.
//!
//! Service A handles an HTTP request, calls service B over HTTP and emits an
//! event; consumer C handles the event. The three records are read back
//! from the logging topic and printed as one tree, by `trace_id` and span
//! ids. B's parent is A's call to it, a span of its own: an entry of A's
//! `calls`, under which B is shown.

#[path = "trace_flow/flow.rs"]
mod flow;

use std::error::Error;

use relayer_test::EmbeddedBroker;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let broker = EmbeddedBroker::start()?;
    let records = flow::run(&broker.bootstrap_servers(), "").await?;
    let trace_id = records[0]["trace_id"].as_str().unwrap_or("?");
    println!("trace {trace_id}, request {}", records[0]["request_id"]);
    let roots = records.iter().filter(|r| r.get("parent_span_id").is_none());
    for root in roots {
        print_tree(root, &records, 0);
    }
    Ok(())
}

/// `record`, then its outgoing calls with the records that served them,
/// then the records whose parent span is its span, indented.
fn print_tree(record: &Value, records: &[Value], depth: usize) {
    let what = match (&record["method"], &record["topic"]) {
        (Value::String(method), _) => format!("{method} {}", record["path"].as_str().unwrap_or("")),
        (_, Value::String(topic)) => format!("message from {topic}"),
        _ => String::new(),
    };
    println!(
        "{:indent$}└─ service {} span {}: {what}, {} line(s), fields {}",
        "",
        record["fields"]["service"],
        record["span_id"],
        record["lines"].as_array().map_or(0, Vec::len),
        record["fields"],
        indent = depth * 3,
    );
    for call in record["calls"].as_array().into_iter().flatten() {
        println!(
            "{:indent$}└─ call span {}: {} {} → {}, {:.1} ms",
            "",
            call["span_id"],
            call["method"].as_str().unwrap_or(""),
            call["url"].as_str().unwrap_or(""),
            call["status"],
            call["duration_ms"].as_f64().unwrap_or(0.0),
            indent = (depth + 1) * 3,
        );
        for served in records
            .iter()
            .filter(|r| r["parent_span_id"] == call["span_id"])
        {
            print_tree(served, records, depth + 2);
        }
    }
    for child in records
        .iter()
        .filter(|r| r["parent_span_id"] == record["span_id"])
    {
        print_tree(child, records, depth + 1);
    }
}
