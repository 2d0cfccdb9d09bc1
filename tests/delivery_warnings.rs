//! Dropped and failed messages are reported through `tracing::warn!`, but
//! rate-limited, so an outage does not flood the application's logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use relayer::{Error, Relayer};
use relayer_test::MockProducer;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Counts WARN events of target `relayer`.
#[derive(Clone, Default)]
struct Warnings(Arc<AtomicUsize>);

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == Level::WARN && meta.target() == "relayer" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn a_thousand_drops_give_one_warning_and_every_drop_is_counted() {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    mock.fail_next(1_000, |topic| Error::QueueFull {
        topic: topic.to_owned(),
    });

    tracing::subscriber::with_default(subscriber, || {
        for i in 0..1_000 {
            assert!(relayer.emit("order", "created", &i).is_err());
        }
    });

    assert_eq!(
        warnings.0.load(Ordering::Relaxed),
        1,
        "one warning for the burst"
    );
    assert_eq!(relayer.stats().dropped, 1_000, "every drop is counted");
}

#[test]
fn records_not_sent_in_an_outage_give_one_warning_and_are_all_counted() {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    mock.fail_next(1_000, |topic| Error::QueueFull {
        topic: topic.to_owned(),
    });

    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..1_000 {
            let scope = relayer::Scope::new(&relayer, None);
            scope.relayer().info("a line").unwrap();
            drop(scope); // writes its record, which the producer refuses
        }
    });

    // One for the drops, one for the records not sent: not one per record.
    assert_eq!(warnings.0.load(Ordering::Relaxed), 2);
    assert_eq!(relayer.stats().dropped, 1_000, "every record is counted");
}
