//! Every produced message is reported through `tracing::debug!` with target
//! `relayer`, so a developer without Kafka sees what would be sent.

use std::sync::{Arc, Mutex};

use relayer::Relayer;
use relayer_test::MockProducer;
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The fields of one event, in order, as text.
type Report = Vec<(String, String)>;

/// The fields of every `relayer` event.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Report>>>);

struct Fields(Report);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: Subscriber> Layer<S> for Reports {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "relayer" {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[test]
fn a_produced_message_is_reported_with_topic_key_and_value_and_one_message() {
    let reports = Reports::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(reports.clone()));
    let relayer = Relayer::builder("logging")
        .producer(MockProducer::new())
        .build()
        .unwrap();
    relayer
        .emit_with_key("order", "created", &json!({"id": 1}), "order-1")
        .unwrap();

    let reports = reports.0.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let names: Vec<&str> = reports[0].iter().map(|(name, _)| name.as_str()).collect();
    // One `message` (the event's own): JSON formatters write no duplicate key.
    assert_eq!(names, ["message", "topic", "key", "value"]);
    let field = |name: &str| &reports[0].iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(field("message"), "produce");
    assert_eq!(field("topic"), "order");
    assert_eq!(field("key"), r#"Some("order-1")"#);
    let value: Value = serde_json::from_str(field("value")).unwrap();
    assert_eq!(value["payload"], json!({"id": 1}));
}
