//! `#[relayed]` without `with`: the relayer installed for the process with
//! `relayer::install`. The installed relayer is process-wide, so this test
//! binary is the only one that installs it, and its tests tell their
//! records apart by service name.

use std::sync::LazyLock;
use std::time::Duration;

use relayer::{Relayer, relayed};
use relayer_test::{MockProducer, Record};
use serde_json::json;

static MOCK: LazyLock<MockProducer> = LazyLock::new(|| {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .topic_prefix("global_")
        .producer(mock.clone())
        .build()
        .expect("a producer is enough configuration");
    relayer::install(relayer).expect("only this binary installs");
    mock
});

/// The records of `service`, waiting for `count` of them.
async fn records_of(service: &str, count: usize) -> Vec<Record> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let records: Vec<Record> = MOCK
            .records()
            .into_iter()
            .filter(|record| record.rpc().service() == service)
            .collect();
        if records.len() >= count || tokio::time::Instant::now() > deadline {
            assert_eq!(records.len(), count, "records of {service}");
            return records;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn third_party_code(marker: &str) {
    if let Some(relayer) = Relayer::current() {
        relayer.info(marker).unwrap();
    }
}

#[relayed]
fn global_sync(n: u32) -> u32 {
    third_party_code("global_sync");
    n * 2
}

#[tokio::test]
async fn a_sync_fn_records_with_the_installed_relayer() {
    LazyLock::force(&MOCK);
    assert_eq!(global_sync(21), 42);
    let record = &records_of("global_sync", 1).await[0];
    assert_eq!(record["logging_topic"], "global_logging");
    assert_eq!(record["source"], "global_logging");
    assert_eq!(record.outcome(), "ok");
    assert_eq!(record.payloads(), [&json!("global_sync")]);
}

struct Greeter;

#[async_trait::async_trait]
trait Greet {
    async fn greet(&self, name: String) -> Result<String, String>;
}

#[async_trait::async_trait]
impl Greet for Greeter {
    #[relayed]
    async fn greet(&self, name: String, relayer: Relayer) -> Result<String, String> {
        relayer.emit("greeting", "sent", &name).unwrap();
        third_party_code("greet");
        if name.is_empty() {
            return Err("no name".into());
        }
        Ok(format!("Hello, {name}!"))
    }
}

#[tokio::test]
async fn an_async_trait_method_injects_the_installed_relayer_bound_to_the_call() {
    LazyLock::force(&MOCK);
    assert_eq!(Greeter.greet("Ada".into()).await.unwrap(), "Hello, Ada!");
    assert!(Greeter.greet(String::new()).await.is_err());

    let records = records_of("Greeter::greet", 2).await;
    let ok = records.iter().find(|r| r.outcome() == "ok").unwrap();
    let error = records.iter().find(|r| r.outcome() == "error").unwrap();
    assert_eq!(error.rpc().error(), Some("no name"));
    assert_eq!(ok.payloads()[1], "greet");
    let event = MOCK
        .json("global_greeting")
        .into_iter()
        .find(|e| e["payload"] == "Ada")
        .unwrap();
    assert_eq!(event["request_id"], ok.request_id());
}

#[relayed]
async fn global_inner() {
    third_party_code("global_inner");
}

#[relayed(name = "global_outer")]
async fn global_outer() {
    global_inner().await;
}

#[tokio::test]
async fn nested_calls_share_the_request_id() {
    LazyLock::force(&MOCK);
    global_outer().await;
    let outer = &records_of("global_outer", 1).await[0];
    let inner = &records_of("global_inner", 1).await[0];
    assert_eq!(inner.request_id(), outer.request_id());
    assert_eq!(inner.payloads(), [&json!("global_inner")]);
    assert!(outer.payloads().is_empty());
}

#[tokio::test]
async fn outside_a_call_current_is_the_installed_relayer_without_a_record() {
    LazyLock::force(&MOCK);
    let current = Relayer::current().expect("the installed relayer");
    assert_eq!(current.request_id(), None);
    third_party_code("outside any call");
    assert!(
        MOCK.records()
            .iter()
            .all(|record| !record.payloads().contains(&&json!("outside any call"))),
        "a line logged outside a call is in no record"
    );
}
