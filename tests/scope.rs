//! Scopes: lines in call order, one record each, isolation, the current relayer.

use std::time::Duration;

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope};
use relayer_test::MockProducer;
use serde_json::{Value, json};

fn relayer_with(mock: &MockProducer) -> Relayer {
    Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap()
}

fn finish(scope: Scope) {
    let service_time = scope.elapsed_ms();
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "test",
            service_time,
            error: None,
        },
    );
}

#[test]
fn lines_are_kept_in_call_order_with_their_shapes() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, Some("r-1".into()));
    let bound = scope.relayer();
    bound.log("info", "one").unwrap();
    bound.emit("thing", "created", &json!({"n": 2})).unwrap();
    bound.log("error", &json!({"three": 3})).unwrap();
    finish(scope);

    let records = mock.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let lines = record.lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["log_level"], "info");
    assert_eq!(lines[1]["event_type"], "thing");
    assert_eq!(lines[1]["request_id"], "r-1");
    assert_eq!(
        lines[1],
        mock.json("thing")[0],
        "the record embeds the event exactly as sent"
    );
    assert_eq!(lines[2]["log_level"], "error");
    assert_eq!(
        record.payloads(),
        [&json!("one"), &json!({"n": 2}), &json!({"three": 3})]
    );
    for field in [
        "source",
        "logging_topic",
        "date",
        "request_id",
        "outcome",
        "service",
        "service_time",
        "error",
    ] {
        assert!(
            record.get(field).is_some(),
            "record lacks {field}: {}",
            record.json()
        );
    }
    assert_eq!(record.outcome(), "ok");
}

#[test]
fn every_finished_or_dropped_scope_writes_exactly_one_record() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    finish(Scope::new(&relayer, Some("finished".into())));
    drop(Scope::new(&relayer, Some("dropped".into())));

    let records = mock.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].request_id(), "finished");
    assert_eq!(records[1].request_id(), "dropped");
    assert_eq!(records[0].outcome(), "ok");
    assert_eq!(records[1].outcome(), "cancelled");
}

#[test]
fn lines_after_the_record_are_not_recorded() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, None);
    let late = scope.relayer().clone();
    finish(scope);
    late.log("info", "too late").unwrap();
    let records = mock.records();
    assert_eq!(records.len(), 1);
    assert!(records[0].payloads().is_empty());
}

#[tokio::test]
async fn a_handle_moved_into_a_spawned_task_logs_into_its_own_scope() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, Some("mine".into()));
    let handle = scope.relayer().clone();
    tokio::spawn(async move { handle.log("info", "from the task").unwrap() })
        .await
        .unwrap();
    let other = Scope::new(&relayer, Some("other".into()));
    finish(other);
    finish(scope);

    assert_eq!(mock.record("mine").payloads(), [&json!("from the task")]);
    assert!(mock.record("other").payloads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_scopes_never_mix_their_lines() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let relayer = relayer.clone();
            tokio::spawn(async move {
                let scope = Scope::new(&relayer, Some(format!("req-{i}")));
                scope
                    .relayer()
                    .bind(async move {
                        for step in 0..5 {
                            let current = Relayer::current().unwrap();
                            current
                                .log("info", &json!({"req": i, "step": step}))
                                .unwrap();
                            tokio::task::yield_now().await;
                        }
                    })
                    .await;
                finish(scope);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let records = mock.records();
    assert_eq!(records.len(), 1000);
    for record in &records {
        let i: usize = record.request_id()[4..].parse().unwrap();
        let expected: Vec<Value> = (0..5).map(|step| json!({"req": i, "step": step})).collect();
        assert_eq!(
            record.payloads(),
            expected.iter().collect::<Vec<_>>(),
            "foreign or missing lines in {}",
            record.json()
        );
    }
}

#[tokio::test]
async fn current_is_the_scope_inside_and_the_installed_relayer_outside() {
    // This binary installs no process-wide relayer: outside a scope there is none.
    assert!(Relayer::current().is_none());

    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, Some("cur".into()));
    let inside = scope
        .relayer()
        .bind(async { Relayer::current().and_then(|r| r.request_id()) })
        .await;
    assert_eq!(inside.as_deref(), Some("cur"));
    let sync_inside = scope
        .relayer()
        .in_scope(|| Relayer::current().unwrap().request_id());
    assert_eq!(sync_inside.as_deref(), Some("cur"));
    assert!(
        Relayer::current().is_none(),
        "the scope ends with the future"
    );
}

#[tokio::test]
async fn a_nested_scope_keeps_the_outer_request_id_and_writes_its_own_record() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let outer = Scope::new(&relayer, Some("outer-id".into()));
    outer
        .relayer()
        .bind(async {
            let inner = Scope::new(&relayer, None);
            inner.relayer().log("info", "inner line").unwrap();
            finish(inner);
            Relayer::current()
                .unwrap()
                .log("info", "outer line")
                .unwrap();
        })
        .await;
    finish(outer);

    let records = mock.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.request_id() == "outer-id"));
    assert_eq!(records[0].payloads(), [&json!("inner line")]);
    assert_eq!(records[1].payloads(), [&json!("outer line")]);
}

#[test]
fn a_new_scope_gets_a_fresh_uuid_request_id() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let a = Scope::new(&relayer, None);
    let b = Scope::new(&relayer, None);
    assert_ne!(a.request_id(), b.request_id());
    assert!(uuid::Uuid::parse_str(a.request_id()).is_ok());
}

#[test]
fn a_record_over_the_size_limit_drops_lines_with_a_marker() {
    let mock = MockProducer::new();
    let max = 64 * 1024;
    let relayer = Relayer::builder("logging")
        .max_message_bytes(max)
        .producer(mock.clone())
        .build()
        .unwrap();
    let scope = Scope::new(&relayer, None);
    for i in 0..10_000 {
        scope.relayer().log("info", &json!({"line": i})).unwrap();
    }
    finish(scope);

    let sent = mock.messages("logging");
    assert_eq!(sent.len(), 1, "the record is sent, not failed");
    assert!(
        sent[0].value.len() <= max,
        "{} > {max}",
        sent[0].value.len()
    );
    let lines = sent[0].json()["lines"].as_array().unwrap().clone();
    let marker = lines.last().unwrap();
    let dropped = marker["payload"]["dropped_lines"].as_u64().unwrap() as usize;
    assert_eq!(lines.len() - 1 + dropped, 10_000, "kept + dropped = logged");
    assert!(
        dropped > 0 && lines.len() > 100,
        "kept {} lines",
        lines.len()
    );
    assert_eq!(lines[0]["payload"]["line"], 0, "the first lines are kept");
    assert_eq!(marker["log_level"], "warning");
}

#[test]
fn flush_and_stats_of_a_scope_are_the_relayers() {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    let scope = Scope::new(&relayer, None);
    scope.relayer().emit("e", "s", &1).unwrap();
    scope.relayer().flush(Duration::from_millis(10)).unwrap();
    assert_eq!(mock.flushed(), 1);
    assert_eq!(relayer.stats().produced, 1);
}
