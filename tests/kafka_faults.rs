//! The real rdkafka producer against the embedded broker with faults
//! injected: outages, failing produce requests, latency, a full queue.
//! Requests must never wait on Kafka, nothing queued may be lost or
//! duplicated, and every message must be accounted for.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::types::RDKafkaRespErr;
use relayer::record::{Outcome, RpcDetails};
use relayer::{Error, Relayer, Scope};
use relayer_test::EmbeddedBroker;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

fn relayer_for(broker: &EmbeddedBroker) -> relayer::Builder {
    Relayer::builder("logging").brokers(broker.bootstrap_servers())
}

/// One request: two events, three log lines, one record.
fn request(relayer: &Relayer, id: String) -> relayer::Result<()> {
    let scope = Scope::new(relayer, Some(id));
    let bound = scope.relayer();
    bound.emit("order", "created", &json!({"n": 1}))?;
    bound.log("info", "validated")?;
    bound.emit("order", "paid", &json!({"n": 2}))?;
    bound.log("info", "charged")?;
    bound.log("info", "done")?;
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: "orders::create",
            ..Default::default()
        },
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_load_fails_no_request_and_loses_nothing() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 2).unwrap();
    broker.create_topic("logging", 2).unwrap();
    let relayer = relayer_for(&broker).build().unwrap();
    request(&relayer, "warm-up".into()).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    broker.down().unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let relayer = relayer.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    request(&relayer, format!("{task}-{i}"))
                        .expect("no request fails during the outage");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = relayer.stats();
    assert_eq!(
        during.delivered, 3,
        "nothing can be delivered while the broker is down: {during:?}"
    );
    assert_eq!(during.queued, 400 * 3, "{during:?}");
    assert_eq!(
        during.produced,
        during.delivered + during.failed + during.dropped + during.queued
    );

    broker.up().unwrap();
    let relayer_for_flush = relayer.clone();
    tokio::task::spawn_blocking(move || relayer_for_flush.flush(TIMEOUT))
        .await
        .unwrap()
        .unwrap();
    let after = relayer.stats();
    assert_eq!(
        (
            after.produced,
            after.delivered,
            after.failed,
            after.dropped,
            after.queued
        ),
        (1203, 1203, 0, 0, 0),
        "{after:?}"
    );

    let consumer = broker.consumer().unwrap();
    let records = tokio::task::spawn_blocking(move || consumer.read("logging", 401, TIMEOUT))
        .await
        .unwrap()
        .unwrap();
    let ids: BTreeSet<String> = records
        .iter()
        .map(|r| r.json()["request_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 401, "every record exactly once");
}

#[test]
fn failed_produce_requests_are_retried_without_duplicates() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = relayer_for(&broker).build().unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    // Retriable errors, the last of which the broker answers only after
    // having written the batch (the classic duplicate on retry).
    broker.fail_produce_requests(&[
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ]);
    for i in 1..=100 {
        relayer.emit("order", "created", &i).unwrap();
    }
    relayer.flush(TIMEOUT).unwrap();

    let stats = relayer.stats();
    assert_eq!(
        (stats.produced, stats.delivered, stats.failed),
        (101, 101, 0),
        "{stats:?}"
    );
    // Ask for one more than was sent: a duplicate would be that one.
    let consumer = broker.consumer().unwrap();
    let received = consumer.read("order", 101, TIMEOUT).unwrap();
    match consumer.read("order", 102, Duration::from_secs(3)) {
        Err(relayer_test::ReadError::Timeout { got: 101, .. }) => {}
        other => panic!("expected exactly 101 messages, got {other:?}"),
    }
    let payloads: Vec<i64> = received
        .iter()
        .map(|m| m.json()["payload"].as_i64().unwrap())
        .collect();
    assert_eq!(
        payloads,
        (0..=100).collect::<Vec<_>>(),
        "in order, once each"
    );
}

#[test]
fn emits_return_before_a_slow_broker_acknowledges_anything() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = relayer_for(&broker).build().unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    broker.set_latency(Duration::from_secs(3)).unwrap();
    for i in 0..100 {
        request(&relayer, format!("slow-{i}")).unwrap();
    }
    // Had any call waited for the broker, acknowledgements would have come.
    let stats = relayer.stats();
    assert_eq!(stats.delivered, 1, "{stats:?}");
    assert_eq!(stats.queued, 300, "{stats:?}");
    relayer.flush(TIMEOUT).unwrap();
    assert_eq!(relayer.stats().delivered, 301);
}

#[test]
fn past_the_queue_bound_messages_are_dropped_and_counted_never_buffered() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    broker.create_topic("logging", 1).unwrap();
    let relayer = relayer_for(&broker)
        .option("queue.buffering.max.messages", "100")
        .build()
        .unwrap();
    relayer.emit("order", "warm-up", &0).unwrap();
    relayer.flush(TIMEOUT).unwrap();

    broker.down().unwrap();
    let mut refused = 0;
    for i in 0..1_000 {
        match relayer.emit("order", "created", &i) {
            Ok(()) => {}
            Err(Error::QueueFull { topic }) => {
                assert_eq!(topic, "order");
                refused += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    // The record of a request that ends while the queue is full is dropped
    // and counted too; the request itself is not disturbed.
    let scope = Scope::new(&relayer, None);
    scope.relayer().log("info", "still served").unwrap();
    scope.finish(Outcome::Ok, RpcDetails::default());

    let stats = relayer.stats();
    assert_eq!(refused, 900);
    assert_eq!(
        stats.queued, 100,
        "the queue holds its bound and no more: {stats:?}"
    );
    assert_eq!(stats.dropped, 901, "{stats:?}");
    assert_eq!(stats.produced, 1 + 1_000 + 1);

    broker.up().unwrap();
    relayer.flush(TIMEOUT).unwrap();
    let stats = relayer.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped, stats.queued),
        (101, 0, 901, 0),
        "{stats:?}"
    );
}

#[test]
fn shutdown_delivers_what_is_queued_and_reports_the_rest() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("order", 1).unwrap();
    let relayer = relayer_for(&broker).build().unwrap();
    broker.set_latency(Duration::from_millis(300)).unwrap();
    for i in 0..10 {
        relayer.emit("order", "created", &i).unwrap();
    }
    let stats = relayer.shutdown(TIMEOUT);
    assert_eq!((stats.delivered, stats.queued), (10, 0), "{stats:?}");
    drop(relayer);

    // Without a spool, what is not delivered by the deadline fails.
    let relayer = relayer_for(&broker).build().unwrap();
    broker.down().unwrap();
    relayer.emit("order", "created", &"lost").unwrap();
    let stats = relayer.shutdown(Duration::from_millis(300));
    assert_eq!(
        (stats.failed, stats.queued),
        (1, 0),
        "the undelivered message is reported: {stats:?}"
    );
    // After shutdown, a message is refused and counted.
    assert!(matches!(
        relayer.emit("order", "created", &"late"),
        Err(Error::ProducerUnavailable { .. })
    ));
    let stats = relayer.stats();
    assert_eq!((stats.produced, stats.dropped), (2, 1), "{stats:?}");
    broker.up().unwrap();
}
