//! The tracing bridge: `tracing` events emitted inside a request land in its
//! record, as log lines.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::to_raw_value;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::Relayer;
use crate::record::Timestamp;

/// Targets whose events never go into a record: relayer's own reports (every
/// produced message is reported with target `relayer`) and the Kafka
/// client's, so that producing a record can never log back into one.
const OWN_TARGETS: [&str; 3] = ["relayer", "rdkafka", "librdkafka"];

/// A [`tracing_subscriber::Layer`] that keeps every `tracing` event emitted
/// inside a request (or RPC call, or any [`Scope`](crate::Scope)) as a log
/// line of that request's record, next to the lines of
/// [`Relayer::log`](crate::Relayer::log), in call order.
///
/// Install it once, next to your other layers. [`tracing_bridge()`] gives
/// it with a filter that keeps `INFO` and above, so that it never turns on
/// `debug` and `trace` events the other layers filter out:
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(relayer::tracing_bridge())
///     .init();
/// ```
///
/// # What lands in the record
///
/// An event emitted while a request's relayer is
/// [current](crate::Relayer::current) (the handler, the functions it calls,
/// tasks spawned with [`Relayer::bind`](crate::Relayer::bind) or
/// code run in [`Relayer::in_scope`](crate::Relayer::in_scope)) becomes one
/// line:
///
/// ```text
/// tracing::info!(user_id = 42, cached = true, peer = %addr, "loaded user");
/// ```
///
/// ```json
/// {"log_level": "info",
///  "payload": {"message": "loaded user", "user_id": 42, "cached": true, "peer": "10.0.0.7:5000"},
///  "target": "my_app::users", "spans": ["request", "db"],
///  "timestamp": "2026-11-23T10:00:00.123456Z"}
/// ```
///
/// - `log_level`: `"trace"`, `"debug"`, `"info"`, `"warning"` or `"error"`;
///   `WARN` becomes `"warning"`, as [`Relayer::warning`](crate::Relayer::warning)
///   and the Python relayer write it.
/// - `payload`: the event's message (when it has one) and its fields, with
///   their JSON types: integers and floats stay numbers, booleans stay
///   booleans, strings stay strings; `?debug` and `%display` values, and
///   errors, become their text.
/// - `target`: the event's target, by default its module path.
/// - `spans`: the names of the spans the event is in, outermost first
///   (empty when there are none); spans this layer's filter disables are left
///   out.
/// - `timestamp`: when the event was emitted.
/// - `span_fields`, only with [`with_span_fields`](Self::with_span_fields):
///   the fields of the enclosing spans, in one object; a field of an inner
///   span replaces an outer one of the same name.
///
/// `log_level`, `payload` and `timestamp` are the fields of a
/// [`LogLine`](crate::record::LogLine); `target`, `spans` and `span_fields`
/// are added.
///
/// # What does not
///
/// - Events outside any request: the layer looks at the task-local current
///   request first and returns at once when there is none; it costs a few
///   nanoseconds and touches no field.
/// - Events with the targets `relayer`, `rdkafka` and `librdkafka` (and
///   their `::` submodules): relayer's own reports of what it produces, and
///   the Kafka client's. No feedback loop.
/// - Events this layer's filter disables.
///
/// The layer never changes what other layers see: it enables nothing on its
/// own behalf beyond its filter, disables nothing, and records each event at
/// most once.
///
/// # Filters
///
/// [`tracing_bridge()`] keeps `INFO` and above. For another filter, give
/// `TracingBridge::new()` one of tracing-subscriber's per-layer filters with
/// [`Layer::with_filter`]: a minimum level with [`LevelFilter`], levels per
/// target with [`Targets`](tracing_subscriber::filter::Targets), or any other
/// [`Filter`](tracing_subscriber::layer::Filter).
///
/// ```
/// use relayer::TracingBridge;
/// use tracing_subscriber::filter::{LevelFilter, Targets};
/// use tracing_subscriber::prelude::*;
///
/// // `debug` and above from the application, `warning` and above from sqlx,
/// // nothing from hyper.
/// let filter = Targets::new()
///     .with_default(LevelFilter::DEBUG)
///     .with_target("sqlx", LevelFilter::WARN)
///     .with_target("hyper", LevelFilter::OFF);
/// let subscriber = tracing_subscriber::registry()
///     .with(TracingBridge::new().with_filter(filter));
/// # let _ = subscriber;
/// ```
///
/// A filter added to [`tracing_bridge()`] applies on top of its `INFO`
/// filter: it can only narrow it. A `TracingBridge` without any filter is
/// interested in every level, which turns on `debug` and `trace` callsites
/// everywhere even when the other layers filter them out.
///
/// # The fields of enclosing spans
///
/// A request's span often carries what identifies it (a user, a tenant, an
/// order). [`with_span_fields`](Self::with_span_fields) puts the fields of
/// the enclosing spans into each line, under `span_fields`:
///
/// ```
/// use relayer::{Relayer, Scope, TracingBridge, record::{Outcome, RpcDetails}};
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::prelude::*;
///
/// let mock = relayer_test::MockProducer::new();
/// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
/// let bridge = TracingBridge::new().with_span_fields(true).with_filter(LevelFilter::INFO);
///
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(bridge), || {
///     let scope = Scope::new(&relayer, None);
///     scope.relayer().in_scope(|| {
///         let _order = tracing::info_span!("order", order_id = 7, tenant = "acme").entered();
///         tracing::info!("paid");
///     });
///     scope.finish(Outcome::Ok, RpcDetails { service: "orders::pay", ..Default::default() });
/// });
///
/// let line = &mock.json("logging")[0]["lines"][0];
/// assert_eq!(line["span_fields"], serde_json::json!({"order_id": 7, "tenant": "acme"}));
/// # Ok::<(), relayer::Error>(())
/// ```
///
/// # A request's events in its record
///
/// ```
/// use relayer::{Relayer, Scope, record::{Outcome, RpcDetails}};
/// use tracing_subscriber::prelude::*;
///
/// let mock = relayer_test::MockProducer::new();
/// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
/// let subscriber = tracing_subscriber::registry().with(relayer::tracing_bridge());
///
/// tracing::subscriber::with_default(subscriber, || {
///     let scope = Scope::new(&relayer, None);
///     scope.relayer().in_scope(|| tracing::info!(user_id = 42, "loaded user"));
///     scope.finish(Outcome::Ok, RpcDetails { service: "users::get", ..Default::default() });
/// });
///
/// let record = &mock.json("logging")[0];
/// assert_eq!(record["lines"][0]["log_level"], "info");
/// assert_eq!(record["lines"][0]["payload"]["message"], "loaded user");
/// assert_eq!(record["lines"][0]["payload"]["user_id"], 42);
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TracingBridge {
    span_fields: bool,
}

impl TracingBridge {
    /// The bridge without a filter: give it one with [`Layer::with_filter`],
    /// or use [`tracing_bridge()`], which keeps `INFO` and above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether each line gets the fields of its enclosing spans, under
    /// `span_fields`; off by default. The fields of a span are kept from its
    /// creation (and [`Span::record`](tracing::Span::record)) to its close.
    #[must_use]
    pub fn with_span_fields(mut self, span_fields: bool) -> Self {
        self.span_fields = span_fields;
        self
    }
}

/// The [`TracingBridge`] layer with a filter that keeps `INFO` and above:
/// `tracing` events of that level inside a request land in its record.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(relayer::tracing_bridge());
/// # let _ = subscriber;
/// ```
///
/// For another level, per-target levels or the fields of enclosing spans,
/// start from [`TracingBridge::new`].
pub fn tracing_bridge<S>() -> Filtered<TracingBridge, LevelFilter, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    TracingBridge::new().with_filter(LevelFilter::INFO)
}

/// The fields of a span, kept in its extensions when
/// [`TracingBridge::with_span_fields`] is on.
struct SpanFields(Map<String, Value>);

impl SpanFields {
    /// Adds (or replaces) the fields `values` records.
    fn record(&mut self, record: impl FnOnce(&mut dyn Visit)) {
        let Ok(mut map) = serde_json::value::Serializer.serialize_map(None) else {
            return;
        };
        let mut fields = Fields {
            map: &mut map,
            result: Ok(()),
        };
        record(&mut fields);
        if fields.result.is_ok()
            && let Ok(Value::Object(recorded)) = map.end()
        {
            self.0.extend(recorded);
        }
    }
}

impl<S> Layer<S> for TracingBridge
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let mut fields = SpanFields(Map::new());
            fields.record(|visit| attrs.record(visit));
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            fields.record(|visit| values.record(visit));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // First and cheap: outside a request, nothing to do.
        let Some(scope) = Relayer::current_scope_state() else {
            return;
        };
        let metadata = event.metadata();
        let target = metadata.target();
        if is_own(target) {
            return;
        }
        let mut spans = Vec::new();
        let mut span_fields = self.span_fields.then(Map::new);
        if let Some(enclosing) = ctx.event_scope(event) {
            for span in enclosing.from_root() {
                spans.push(span.name());
                if let (Some(all), Some(fields)) =
                    (&mut span_fields, span.extensions().get::<SpanFields>())
                {
                    all.extend(fields.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let line = BridgedLine {
            log_level: level_name(*metadata.level()),
            payload: Payload(event),
            target,
            spans: &spans,
            span_fields: span_fields.as_ref(),
            timestamp: Timestamp::now(),
        };
        match to_raw_value(&line) {
            Ok(line) => scope.keep(line.get().as_bytes()),
            // Only a field's `Debug` or `Display` failing gets here.
            Err(error) => {
                tracing::debug!(target: "relayer", %error, "tracing event not recorded")
            }
        }
    }
}

/// Whether `target` is one of [`OWN_TARGETS`] or a submodule of one.
fn is_own(target: &str) -> bool {
    OWN_TARGETS.iter().any(|own| {
        target
            .strip_prefix(own)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// The record's name for a level; `WARN` is `"warning"`, as in Python.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warning",
        _ => "error",
    }
}

/// A record line made from an event: a [`LogLine`](crate::record::LogLine)
/// with `target`, `spans` and, when asked for, `span_fields` added.
#[derive(serde::Serialize)]
struct BridgedLine<'a> {
    log_level: &'static str,
    payload: Payload<'a>,
    target: &'a str,
    spans: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    span_fields: Option<&'a Map<String, Value>>,
    timestamp: Timestamp,
}

/// The event's fields as a JSON object, written straight from the event's
/// values while it is serialized: no intermediate map or strings.
struct Payload<'a>(&'a Event<'a>);

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut fields = Fields {
            map: &mut map,
            result: Ok(()),
        };
        self.0.record(&mut fields);
        fields.result?;
        map.end()
    }
}

/// Writes each visited field into the map, keeping the first error.
struct Fields<'a, M: SerializeMap> {
    map: &'a mut M,
    result: Result<(), M::Error>,
}

impl<M: SerializeMap> Fields<'_, M> {
    fn entry<V: Serialize + ?Sized>(&mut self, field: &Field, value: &V) {
        if self.result.is_ok() {
            self.result = self.map.serialize_entry(field.name(), value);
        }
    }
}

impl<M: SerializeMap> Visit for Fields<'_, M> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.entry(field, &value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.entry(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, &Text(format_args!("{value}")));
    }

    /// The message, `?debug` and `%display` values: their text.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &Text(format_args!("{value:?}")));
    }
}

/// Serializes formatted text as a JSON string, formatting straight into the
/// output.
struct Text<T>(T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_targets_and_their_submodules_only() {
        for own in ["relayer", "relayer::scope", "rdkafka::client", "librdkafka"] {
            assert!(is_own(own), "{own}");
        }
        for other in [
            "relayer_axum",
            "relayers",
            "my_app::relayer",
            "rdkafka_ext",
            "app",
        ] {
            assert!(!is_own(other), "{other}");
        }
    }

    #[test]
    fn levels_as_the_python_relayer_writes_them() {
        assert_eq!(level_name(Level::TRACE), "trace");
        assert_eq!(level_name(Level::DEBUG), "debug");
        assert_eq!(level_name(Level::INFO), "info");
        assert_eq!(level_name(Level::WARN), "warning");
        assert_eq!(level_name(Level::ERROR), "error");
    }
}
