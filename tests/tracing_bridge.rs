//! The tracing bridge: `tracing` events inside a request land in its record.
//!
//! Every test installs its own subscriber for its own thread only
//! (`set_default` / `with_default`), so tests stay independent and run in
//! parallel; `#[tokio::test]` runs everything on the test's thread.

#![cfg(feature = "tracing")]

use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope, TracingBridge, tracing_bridge};
use relayer_test::MockProducer;
use serde_json::{Value, json};
use tracing::subscriber::set_default;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

fn relayer() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a relayer on a mock");
    (mock, relayer)
}

fn finish(scope: Scope) {
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "tests::call",
            ..Default::default()
        },
    );
}

/// The lines of the one record written.
fn lines(mock: &MockProducer) -> Vec<Value> {
    let records = mock.records();
    assert_eq!(records.len(), 1, "one record: {records:#?}");
    records[0].lines().to_vec()
}

/// The `payload.message` of each line (the payload itself for `relayer.log`
/// lines with a string payload).
fn messages(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|line| {
            let payload = &line["payload"];
            payload["message"]
                .as_str()
                .or(payload.as_str())
                .unwrap_or_else(|| panic!("no message in {line}"))
        })
        .collect()
}

/// A layer that notes the target and message of every event it sees.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, String)>>>);

impl Seen {
    fn events(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, message: &str) -> usize {
        self.events().iter().filter(|(_, m)| m == message).count()
    }
}

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = String::new();
        event.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                if field.name() == "message" {
                    message = format!("{value:?}");
                }
            },
        );
        let target = event.metadata().target().to_owned();
        self.0.lock().unwrap().push((target, message));
    }
}

/// Where a `fmt` layer writes, to read it back.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An event of each level, its message the level's name.
fn one_event_of_each_level() {
    tracing::trace!("trace");
    tracing::debug!("debug");
    tracing::info!("info");
    tracing::warn!("warn");
    tracing::error!("error");
}

async fn handler() {
    tracing::info!(user_id = 42, "loaded user");
}

#[tokio::test]
async fn an_event_in_the_handler_lands_in_its_record_as_a_log_line() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope.relayer().bind(handler()).await;
    finish(scope);

    let lines = lines(&mock);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["log_level"], "info");
    assert_eq!(
        line["payload"],
        json!({"message": "loaded user", "user_id": 42})
    );
    assert_eq!(line["target"], module_path!());
    assert_eq!(line["spans"], json!([]));
    let timestamp = line["timestamp"].as_str().expect("a timestamp");
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 27,
        "{timestamp}"
    );
    let mut keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["log_level", "payload", "spans", "target", "timestamp"]
    );
}

fn deep_in_a_library(rows: u64) {
    tracing::warn!(rows, "slow query");
}

#[tokio::test]
async fn an_event_from_a_function_the_handler_calls_lands_in_its_record() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope
        .relayer()
        .bind(async { deep_in_a_library(1200) })
        .await;
    finish(scope);

    let lines = lines(&mock);
    assert_eq!(lines[0]["log_level"], "warning");
    assert_eq!(
        lines[0]["payload"],
        json!({"message": "slow query", "rows": 1200})
    );
}

#[tokio::test]
async fn levels_are_written_as_the_python_relayer_writes_them() {
    let (mock, relayer) = relayer();
    let _default = set_default(
        tracing_subscriber::registry().with(TracingBridge::new().with_filter(LevelFilter::TRACE)),
    );

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(one_event_of_each_level);
    finish(scope);

    let levels: Vec<Value> = lines(&mock)
        .iter()
        .map(|l| l["log_level"].clone())
        .collect();
    assert_eq!(levels, ["trace", "debug", "info", "warning", "error"]);
}

#[tokio::test]
async fn a_spawned_task_that_carries_the_scope_logs_into_it_and_one_that_does_not_stays_out() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    let bound = scope.relayer().clone();
    scope
        .relayer()
        .bind(async move {
            tokio::spawn(bound.bind(async { tracing::info!("carried") }))
                .await
                .unwrap();
            tokio::spawn(async { tracing::info!("not carried") })
                .await
                .unwrap();
        })
        .await;
    finish(scope);

    assert_eq!(messages(&lines(&mock)), ["carried"]);
}

#[tokio::test]
async fn a_blocking_thread_that_carries_the_scope_logs_into_it() {
    let (mock, relayer) = relayer();
    let subscriber = Arc::new(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    let bound = scope.relayer().clone();
    std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            bound.in_scope(|| tracing::info!(rows = 3_u64, "from a blocking thread"));
        })
    })
    .join()
    .unwrap();
    finish(scope);

    let lines = lines(&mock);
    assert_eq!(lines[0]["payload"]["rows"], 3);
    assert_eq!(messages(&lines), ["from a blocking thread"]);
}

#[tokio::test]
async fn enclosing_spans_are_listed_outermost_first() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope
        .relayer()
        .bind(tracing::Instrument::instrument(
            async {
                tracing::info!("in request");
                let db = async { tracing::info!("in db") };
                tracing::Instrument::instrument(db, tracing::info_span!("db", table = "users"))
                    .await;
                tracing::info_span!("render").in_scope(|| tracing::info!("in render"));
            },
            tracing::info_span!("request"),
        ))
        .await;
    finish(scope);

    let lines = lines(&mock);
    let spans: Vec<&Value> = lines.iter().map(|l| &l["spans"]).collect();
    assert_eq!(
        spans,
        [
            &json!(["request"]),
            &json!(["request", "db"]),
            &json!(["request", "render"])
        ]
    );
}

#[tokio::test]
async fn spans_the_bridge_filter_disables_are_left_out() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        let _request = tracing::info_span!("request").entered();
        let _detail = tracing::debug_span!("detail").entered();
        tracing::info!("inside");
    });
    finish(scope);

    assert_eq!(lines(&mock)[0]["spans"], json!(["request"]));
}

#[tokio::test]
async fn field_types_are_kept() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));
    let error = io::Error::other("disk full");

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        tracing::info!(
            i = -3_i64,
            small = 7_i32,
            u = u64::MAX,
            f = 1.5_f64,
            b = true,
            s = "a \"quoted\"\nline",
            d = ?Some(vec![1, 2]),
            ds = ?"text",
            p = %Ipv4Addr::LOCALHOST,
            e = &error as &(dyn std::error::Error + 'static),
            big = 1_u128 << 70,
            "typed"
        );
    });
    finish(scope);

    let payload = lines(&mock)[0]["payload"].clone();
    assert_eq!(payload["message"], "typed");
    assert_eq!(payload["i"].as_i64(), Some(-3));
    assert_eq!(payload["small"].as_i64(), Some(7));
    assert_eq!(payload["u"].as_u64(), Some(u64::MAX));
    assert!(payload["f"].is_f64());
    assert_eq!(payload["f"].as_f64(), Some(1.5));
    assert_eq!(payload["b"], true);
    assert_eq!(payload["s"], "a \"quoted\"\nline");
    assert_eq!(payload["d"], "Some([1, 2])");
    assert_eq!(payload["ds"], "\"text\"");
    assert_eq!(payload["p"], "127.0.0.1");
    assert_eq!(payload["e"], "disk full");
    assert!(payload["big"].is_number(), "{payload}");
    let raw = String::from_utf8(mock.messages("logging")[0].value.clone()).unwrap();
    assert!(raw.contains(r#""big":1180591620717411303424"#), "{raw}");
}

#[tokio::test]
async fn a_level_filter_sets_the_minimum_level() {
    let (mock, relayer) = relayer();
    let bridge = TracingBridge::new().with_filter(LevelFilter::DEBUG);
    let _default = set_default(tracing_subscriber::registry().with(bridge));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(one_event_of_each_level);
    finish(scope);

    assert_eq!(messages(&lines(&mock)), ["debug", "info", "warn", "error"]);
}

#[tokio::test]
async fn a_targets_filter_sets_levels_per_target() {
    let (mock, relayer) = relayer();
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("chatty", LevelFilter::WARN)
        .with_target("noisy", LevelFilter::OFF);
    let _default =
        set_default(tracing_subscriber::registry().with(TracingBridge::new().with_filter(filter)));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        tracing::error!(target: "noisy::pool", "noisy");
        tracing::info!(target: "chatty", "chatty info");
        tracing::warn!(target: "chatty::io", "chatty warn");
        tracing::debug!("app debug");
        tracing::info!("app info");
    });
    finish(scope);

    let lines = lines(&mock);
    assert_eq!(messages(&lines), ["chatty warn", "app info"]);
    assert_eq!(lines[0]["target"], "chatty::io");
}

#[tokio::test]
async fn events_outside_any_scope_are_left_alone() {
    let (mock, relayer) = relayer();
    let seen = Seen::default();
    let _default = set_default(
        tracing_subscriber::registry()
            .with(tracing_bridge())
            .with(seen.clone()),
    );

    tracing::info!("no relayer current");
    relayer
        .bind(async { tracing::info!("an unbound relayer current") })
        .await;
    relayer.in_scope(|| tracing::info!("an unbound relayer current, sync"));
    let scope = Scope::new(&relayer, None);
    tracing::info!("a scope open but not current");
    let bound = scope.relayer().clone();
    bound.in_scope(|| tracing::info!("inside"));
    finish(scope);
    bound.in_scope(|| tracing::info!("after the end of the request"));

    assert_eq!(mock.topics(), ["logging"]);
    assert_eq!(messages(&lines(&mock)), ["inside"]);
    for message in [
        "no relayer current",
        "an unbound relayer current",
        "a scope open but not current",
        "after the end of the request",
    ] {
        assert_eq!(seen.count(message), 1, "{message}");
    }
}

#[tokio::test]
async fn it_composes_with_fmt_and_other_layers_without_swallowing_or_duplicating() {
    let (mock, relayer) = relayer();
    let seen = Seen::default();
    let output = Output::default();
    let writer = output.clone();
    let _default = set_default(
        tracing_subscriber::registry()
            .with(seen.clone())
            .with(tracing_bridge().with_filter(LevelFilter::WARN))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            ),
    );

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        tracing::debug!("one");
        tracing::info!("two");
        tracing::warn!("three");
    });
    tracing::warn!("four");
    finish(scope);

    for message in ["one", "two", "three", "four"] {
        assert_eq!(
            seen.count(message),
            1,
            "the other layer sees {message} once"
        );
        assert_eq!(
            output.text().matches(&format!(" {message}\n")).count(),
            1,
            "fmt writes {message} once:\n{}",
            output.text()
        );
    }
    assert_eq!(messages(&lines(&mock)), ["three"]);
}

#[tokio::test]
async fn relayer_and_kafka_client_events_never_feed_back_into_a_record() {
    let (mock, relayer) = relayer();
    let seen = Seen::default();
    let _default = set_default(
        tracing_subscriber::registry()
            .with(tracing_bridge())
            .with(seen.clone()),
    );

    let scope = Scope::new(&relayer, None);
    let bound = scope.relayer().clone();
    bound.in_scope(|| {
        // Reported through `tracing::debug!` with target "relayer".
        bound.emit("order", "created", &json!({"id": 1})).unwrap();
        tracing::info!(target: "relayer", "own");
        tracing::info!(target: "relayer::producer", "own submodule");
        tracing::info!(target: "rdkafka::producer", "kafka client");
        tracing::info!(target: "librdkafka", "librdkafka");
        tracing::info!(target: "relayer_app", "an application named like it");
    });
    finish(scope);

    let lines = lines(&mock);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["event_type"], "order");
    assert_eq!(
        lines[1]["payload"]["message"],
        "an application named like it"
    );
    let reported = seen
        .events()
        .iter()
        .filter(|(target, message)| target == "relayer" && message == "produce")
        .count();
    assert_eq!(
        reported, 2,
        "the emit and the record are still reported to other layers"
    );
}

#[tokio::test]
async fn one_record_holds_relayer_log_and_tracing_lines_in_call_order() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope
        .relayer()
        .bind(async {
            let relayer = Relayer::current().unwrap();
            relayer.log("info", "one").unwrap();
            tracing::info!("two");
            relayer.warning("three").unwrap();
            tracing::warn!(n = 4, "four");
            relayer.emit("order", "created", &json!({"id": 5})).unwrap();
            tracing::error!("six");
        })
        .await;
    finish(scope);

    let lines = lines(&mock);
    let summary: Vec<(Value, Value)> = lines
        .iter()
        .map(|line| match line.get("event_type") {
            Some(event_type) => (event_type.clone(), line["payload"]["id"].clone()),
            None => (
                line["log_level"].clone(),
                line["payload"]
                    .get("message")
                    .unwrap_or(&line["payload"])
                    .clone(),
            ),
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("info"), json!("one")),
            (json!("info"), json!("two")),
            (json!("warning"), json!("three")),
            (json!("warning"), json!("four")),
            (json!("order"), json!(5)),
            (json!("error"), json!("six")),
        ]
    );
    assert_eq!(mock.records().len(), 1);
}

#[tokio::test]
async fn concurrent_requests_keep_their_own_events() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let a = Scope::new(&relayer, Some("a".into()));
    let b = Scope::new(&relayer, Some("b".into()));
    let work = |name: &'static str| async move {
        for step in 0..3 {
            tracing::info!(step, "{name}");
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(a.relayer().bind(work("a")), b.relayer().bind(work("b")));
    finish(a);
    finish(b);

    let records = mock.records();
    assert_eq!(records.len(), 2);
    for record in records {
        assert_eq!(record.lines().len(), 3);
        for line in record.lines() {
            assert_eq!(line["payload"]["message"], record.request_id());
        }
    }
}

#[tokio::test]
async fn the_bridge_keeps_info_and_above_by_default() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(one_event_of_each_level);
    finish(scope);

    assert_eq!(messages(&lines(&mock)), ["info", "warn", "error"]);
}

#[test]
fn the_default_bridge_turns_on_no_debug_callsite_the_other_layers_filter_out() {
    let fmt_at_info = || {
        tracing_subscriber::fmt::layer()
            .with_writer(io::sink)
            .with_filter(LevelFilter::INFO)
    };
    let (evaluated_with_default, evaluated_unfiltered) =
        (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
    let debug_event = |evaluated: &Arc<Mutex<i32>>| {
        // The field's value is only computed when the event is enabled.
        tracing::debug!(
            costly = {
                *evaluated.lock().unwrap() += 1;
                1
            },
            "debug"
        );
        tracing::enabled!(tracing::Level::DEBUG)
    };

    let with_default = tracing_subscriber::registry()
        .with(fmt_at_info())
        .with(tracing_bridge());
    let enabled =
        tracing::subscriber::with_default(with_default, || debug_event(&evaluated_with_default));
    assert!(!enabled);
    assert_eq!(*evaluated_with_default.lock().unwrap(), 0);

    // What the default avoids: a bridge without a filter wants every level.
    let unfiltered = tracing_subscriber::registry()
        .with(fmt_at_info())
        .with(TracingBridge::new());
    let enabled =
        tracing::subscriber::with_default(unfiltered, || debug_event(&evaluated_unfiltered));
    assert!(enabled);
    assert_eq!(*evaluated_unfiltered.lock().unwrap(), 1);
}

#[tokio::test]
async fn span_fields_are_left_out_unless_asked_for() {
    let (mock, relayer) = relayer();
    let _default = set_default(tracing_subscriber::registry().with(tracing_bridge()));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        let _order = tracing::info_span!("order", order_id = 7).entered();
        tracing::info!("paid");
    });
    finish(scope);

    let line = &lines(&mock)[0];
    assert_eq!(line["spans"], json!(["order"]));
    assert!(line.get("span_fields").is_none(), "{line}");
}

#[tokio::test]
async fn with_span_fields_each_line_gets_the_fields_of_its_enclosing_spans() {
    let (mock, relayer) = relayer();
    let bridge = TracingBridge::new()
        .with_span_fields(true)
        .with_filter(LevelFilter::INFO);
    let _default = set_default(tracing_subscriber::registry().with(bridge));

    let scope = Scope::new(&relayer, None);
    scope.relayer().in_scope(|| {
        tracing::info!("outside any span");
        let request = tracing::info_span!(
            "request",
            user_id = 42,
            tenant = "acme",
            plan = tracing::field::Empty
        );
        let _request = request.enter();
        tracing::info!("in request");
        request.record("plan", "pro");
        let db = tracing::info_span!("db", table = "orders", tenant = "acme-eu", cached = false);
        db.in_scope(|| tracing::info!(rows = 3, "in db"));
        // A span the bridge's filter disables adds no fields.
        let detail = tracing::debug_span!("detail", secret_detail = 1);
        detail.in_scope(|| tracing::info!("in detail"));
    });
    finish(scope);

    let lines = lines(&mock);
    let span_fields: Vec<&Value> = lines.iter().map(|l| &l["span_fields"]).collect();
    assert_eq!(
        span_fields,
        [
            &json!({}),
            &json!({"user_id": 42, "tenant": "acme"}),
            // the inner span's `tenant` replaces the outer one's
            &json!({"user_id": 42, "tenant": "acme-eu", "plan": "pro", "table": "orders", "cached": false}),
            &json!({"user_id": 42, "tenant": "acme", "plan": "pro"}),
        ]
    );
    assert_eq!(lines[2]["payload"], json!({"message": "in db", "rows": 3}));
    assert_eq!(lines[2]["spans"], json!(["request", "db"]));
}
