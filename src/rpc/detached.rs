//! What a call uses when there is no relayer at all: nothing installed, no
//! enclosing request. The call still runs; it records nothing.

use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use crate::DEFAULT_MAX_MESSAGE_BYTES;
use crate::producer::{DeliveryCounters, Message, Producer, Stats};
use crate::relayer::{Relayer, Shared};
use crate::topic::TopicNames;

/// A relayer whose messages go nowhere. Built directly rather than through
/// the builder, so that a test's patched producer never sees its messages.
pub(super) fn relayer() -> &'static Relayer {
    static DETACHED: OnceLock<Relayer> = OnceLock::new();
    DETACHED.get_or_init(|| {
        Relayer::from_shared(Shared {
            topics: TopicNames::default(),
            logging_topic: "logging".to_owned(),
            logging_topic_name: "logging".to_owned(),
            wire_format: Default::default(),
            source: "logging".to_owned(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            producer: Arc::new(Discard::default()),
            #[cfg(feature = "metrics")]
            sampled_out_total: crate::producer::sampled_out_counter("relayer"),
            record_warnings: Default::default(),
            lines_hint: Default::default(),
            fields: Vec::new(),
            sampling: None,
            sampled_out: Default::default(),
            kafka_headers: false,
            request_id_header: crate::trace::REQUEST_ID_HEADER.into(),
            resource: crate::Resource::detect(&[]),
        })
    })
}

/// Says once per process that calls run without records.
pub(super) fn warn_once(service: &str) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            target: "relayer",
            service,
            "no relayer installed: RPC calls run without records \
             (call `relayer::install` at startup, or use `#[relayed(with = ...)]`)"
        );
    });
}

/// Drops every message; the relayer still reports them through
/// `tracing::debug!` before they get here.
#[derive(Default)]
struct Discard(DeliveryCounters);

impl Producer for Discard {
    fn send(&self, _message: Message<'_>) -> crate::Result<()> {
        Ok(())
    }

    fn flush(&self, _timeout: Duration) -> crate::Result<()> {
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.0.snapshot()
    }
}
