//! The service under load: one handler, the same work in every
//! configuration, generic over how it records what it does.

use std::convert::Infallible;
use std::env;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path};
use axum::routing::get;
use axum::{Json, Router};
use http::request::Parts;
use relayer::Relayer;
use serde::Serialize;

use crate::payload::Order;

/// How long the slow route sleeps, holding its request in flight.
pub(crate) const SLOW: Duration = Duration::from_secs(2);

/// What the handler does to record its work: 2 events and 3 log lines.
pub(crate) trait Telemetry: FromRequestParts<()> + Send + Sync + 'static {
    fn emit(&self, event_type: &str, event_subtype: &str, payload: &impl Serialize);
    fn log(&self, level: &str, payload: &impl Serialize);
}

/// A small log line payload.
#[derive(Serialize)]
pub(crate) struct Step {
    pub message: &'static str,
    pub order_id: u64,
}

/// The CPU time the handler spends on its own work: `LOAD_WORK_US`
/// microseconds (default 0), the same in every configuration.
fn own_work() -> Duration {
    static WORK: OnceLock<Duration> = OnceLock::new();
    *WORK.get_or_init(|| {
        let micros = env::var("LOAD_WORK_US").ok().and_then(|us| us.parse().ok());
        Duration::from_micros(micros.unwrap_or(0))
    })
}

/// The handler's work: build the order (the response) and record it.
fn work(telemetry: &impl Telemetry, id: u64) -> Order {
    let start = Instant::now();
    while start.elapsed() < own_work() {
        std::hint::spin_loop();
    }
    telemetry.log(
        "info",
        &Step {
            message: "loading order",
            order_id: id,
        },
    );
    let order = Order::new(id);
    telemetry.emit("order", "viewed", &order);
    telemetry.log(
        "info",
        &Step {
            message: "order loaded",
            order_id: id,
        },
    );
    telemetry.emit("audit", "read", &order);
    telemetry.log(
        "debug",
        &Step {
            message: "responding",
            order_id: id,
        },
    );
    order
}

async fn order<T: Telemetry>(telemetry: T, Path(id): Path<u64>) -> Json<Order> {
    Json(work(&telemetry, id))
}

async fn slow_order<T: Telemetry>(telemetry: T, Path(id): Path<u64>) -> Json<Order> {
    let order = work(&telemetry, id);
    tokio::time::sleep(SLOW).await;
    Json(order)
}

/// Only log lines, `lines` of them, then the same order as response.
async fn lines<T: Telemetry>(telemetry: T, Path((lines, id)): Path<(u64, u64)>) -> Json<Order> {
    for line in 0..lines {
        telemetry.log(
            "info",
            &Step {
                message: "step done",
                order_id: id + line,
            },
        );
    }
    Json(Order::new(id))
}

/// `GET /orders/{id}`, `GET /slow/{id}` (the same, then a sleep) and
/// `GET /lines/{lines}/{id}`.
pub(crate) fn router<T: Telemetry>() -> Router {
    Router::new()
        .route("/orders/{id}", get(order::<T>))
        .route("/slow/{id}", get(slow_order::<T>))
        .route("/lines/{lines}/{id}", get(lines::<T>))
}

/// The ceiling: the same work, recorded nowhere.
pub(crate) struct Bare;

impl Telemetry for Bare {
    fn emit(&self, _: &str, _: &str, _: &impl Serialize) {}
    fn log(&self, _: &str, _: &impl Serialize) {}
}

/// relayer: events to Kafka at once, everything in the request's record.
/// Errors (a full queue during an outage) are counted by relayer; a
/// handler goes on serving.
impl Telemetry for Relayer {
    fn emit(&self, event_type: &str, event_subtype: &str, payload: &impl Serialize) {
        let _ = Self::emit(self, event_type, event_subtype, payload);
    }
    fn log(&self, level: &str, payload: &impl Serialize) {
        let _ = Self::log(self, level, payload);
    }
}

/// What users pick instead: `tracing` events with the payload as JSON, in
/// the span `tower_http::trace::TraceLayer` opens for the request.
pub(crate) struct Traced;

impl Telemetry for Traced {
    fn emit(&self, event_type: &str, event_subtype: &str, payload: &impl Serialize) {
        tracing::info!(event_type, event_subtype, payload = %AsJson(payload), "event");
    }
    fn log(&self, level: &str, payload: &impl Serialize) {
        tracing::info!(log_level = level, payload = %AsJson(payload), "log");
    }
}

/// Displays a value as its JSON.
struct AsJson<'a, T>(&'a T);

impl<T: Serialize> fmt::Display for AsJson<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self.0).map_err(|_| fmt::Error)?)
    }
}

macro_rules! extract_unit {
    ($($unit:ident),*) => {$(
        impl<S: Send + Sync> FromRequestParts<S> for $unit {
            type Rejection = Infallible;

            async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Infallible> {
                Ok($unit)
            }
        }
    )*};
}

extract_unit!(Bare, Traced);
