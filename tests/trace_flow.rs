//! One request across three services (`examples/trace_flow`): HTTP service
//! A calls HTTP service B and emits an event that consumer C handles. The
//! three records share the request id and the trace id; C is a child of A,
//! B a child of A's call to it, an entry of A's `calls`. On the embedded broker, and on a real broker
//! when `RELAYER_TEST_BROKERS` is set.

#[path = "../examples/trace_flow/flow.rs"]
mod flow;
#[path = "support/skip.rs"]
mod skip;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use relayer_test::EmbeddedBroker;
use serde_json::Value;

fn assert_one_story(records: &[Value]) {
    assert_eq!(
        records.len(),
        3,
        "A, B and C each wrote a record: {records:#?}"
    );
    let (a, b, c) = (&records[0], &records[1], &records[2]);
    assert_eq!(
        [
            &a["fields"]["service"],
            &b["fields"]["service"],
            &c["fields"]["service"]
        ],
        ["a", "b", "c"]
    );
    for record in [b, c] {
        assert_eq!(record["request_id"], a["request_id"]);
        assert_eq!(record["trace_id"], a["trace_id"]);
    }
    assert_eq!(c["parent_span_id"], a["span_id"], "C is a child of A: {c}");
    // B's parent is A's call to B: a span of its own, an entry of A's
    // `calls`.
    let call = &a["calls"][0];
    assert_eq!(b["parent_span_id"], call["span_id"], "{a}");
    assert_eq!(call["status"], 200);
    assert!(call["url"].as_str().unwrap().ends_with("/price"), "{call}");
    assert_ne!(call["span_id"], a["span_id"]);
    assert!(a.get("parent_span_id").is_none(), "A started the trace");
    assert_eq!(a["path"], "/order");
    assert_eq!(b["path"], "/price");
    assert_eq!(c["outcome"], "ok");
    assert_eq!(c["lines"][0]["payload"], "shipping the order");
    let event = a["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["event_type"] == "order_placed");
    assert!(event.is_some(), "A's record keeps its event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_on_the_embedded_broker_tell_one_story() {
    let broker = EmbeddedBroker::start().unwrap();
    let records = flow::run(&broker.bootstrap_servers(), "").await.unwrap();
    assert_one_story(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_on_a_real_broker_tell_one_story() {
    let Some(brokers) = std::env::var("RELAYER_TEST_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        skip::skip("RELAYER_TEST_BROKERS is not set");
        return;
    };
    // Such a broker does not create topics on first use.
    let prefix = format!("tf{}_", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let topics = [format!("{prefix}logging"), format!("{prefix}order_placed")];
    let new_topics: Vec<_> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, 1, TopicReplication::Fixed(1)))
        .collect();
    for result in admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap_or_else(|(topic, error)| panic!("could not create {topic}: {error}"));
    }
    let records = flow::run(&brokers, &prefix).await.unwrap();
    assert_one_story(&records);
}
