//! What the public types promise beyond their methods: they cross threads,
//! and their `Debug` output says what they are without leaking secrets.

use relayer::record::{Outcome, RpcDetails};
use relayer::{Bound, Builder, Relayer, Scope};
use relayer_test::MockProducer;

fn send_sync<T: Send + Sync>() {}

#[allow(dead_code)]
fn a_bound_send_future_stays_send<F: std::future::Future + Send + Sync>() {
    send_sync::<Bound<F>>();
}

#[test]
fn handles_cross_threads() {
    send_sync::<Relayer>();
    send_sync::<Builder>();
    send_sync::<Scope>();
    send_sync::<relayer::Error>();
    send_sync::<relayer::sink::Sink>();
    send_sync::<relayer::sink::WriterSink>();
    send_sync::<relayer::sink::FanOut>();
}

#[test]
fn builder_debug_masks_passwords_secrets_and_private_keys() {
    let builder = Relayer::builder("logging")
        .brokers("kafka:9092")
        .option("security.protocol", "SASL_SSL")
        .option("sasl.username", "svc-orders")
        .option("sasl.password", "hunter2")
        .option("ssl.key.password", "s3cret-key-pass")
        .option("ssl.key.pem", "-----BEGIN PRIVATE KEY-----")
        .option("sasl.oauthbearer.client.secret", "oauth-secret");
    let debug = format!("{builder:?}");

    for secret in [
        "hunter2",
        "s3cret-key-pass",
        "BEGIN PRIVATE KEY",
        "oauth-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    for shown in ["kafka:9092", "SASL_SSL", "svc-orders", "sasl.password"] {
        assert!(debug.contains(shown), "{shown} not in {debug}");
    }
}

#[test]
fn a_cloned_builder_builds_the_same_relayer() {
    let mock = MockProducer::new();
    let builder = Relayer::builder("logging")
        .topic_prefix("prod_")
        .producer(mock.clone());
    let first = builder.clone().build().unwrap();
    let second = builder.build().unwrap();
    first.emit("order", "created", &1).unwrap();
    second.emit("order", "created", &2).unwrap();
    assert_eq!(first.logging_topic(), second.logging_topic());
    assert_eq!(mock.messages("prod_order").len(), 2);
}

#[test]
fn scope_debug_shows_its_request_id() {
    let relayer = Relayer::builder("logging")
        .producer(MockProducer::new())
        .build()
        .unwrap();
    let scope = Scope::new(&relayer, Some("req-42".into()));
    let debug = format!("{scope:?}");
    assert!(debug.contains("req-42"), "{debug}");
    scope.finish(Outcome::Ok, RpcDetails::default());
}
