//! The service of `examples/axum_service.rs` and `examples/demo.rs`: a small
//! JSON API of "things" behind relayer's tower layer.
//!
//! - `POST /things` `{"name": "chair", "price_cents": 4900}`: creates a thing,
//!   emits a `thing_created` event, `201` (`422` without a name)
//! - `GET /things`, `GET /things/{id}`: reads them (`404` for an unknown id)
//! - `GET /countdown`: a server-sent-events stream, "3", "2", "1", "liftoff"
//! - `GET /boom`: a handler that panics (`500`, record outcome `panicked`)
//! - `GET /health`: a health check, skipped by the layer (no record)

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use relayer::Relayer;
use relayer_axum::RelayerLayer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

/// The panic message of `GET /boom`.
pub(crate) const INTENTIONAL_PANIC: &str = "intentional panic, to show the `panicked` outcome";

/// The relayer of the service, to build: records to the `logging` topic
/// on `brokers`.
pub(crate) fn relayer(brokers: &str) -> relayer::Builder {
    Relayer::builder("logging").brokers(brokers)
}

/// The routes, behind the layer: the `X-Tenant` header is recorded, the
/// `token` query parameter redacted, and `/health` skipped.
pub(crate) fn router(relayer: Relayer) -> Router {
    Router::new()
        .route("/things", get(list).post(create))
        .route("/things/{id}", get(show))
        .route("/countdown", get(countdown))
        .route("/boom", get(boom))
        .route("/health", get(|| async { "ok" }))
        .with_state(Store::default())
        .layer(
            RelayerLayer::new(relayer)
                .record_header("x-tenant")
                .redact_query_param("token")
                .skip_path("/health"),
        )
}

/// Serves the routes on `listener` until `shutdown` completes, with the
/// peer address known to the layer (`remote_addr`).
pub(crate) async fn serve(
    listener: TcpListener,
    relayer: Relayer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router(relayer).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Debug, Deserialize)]
struct NewThing {
    name: String,
    #[serde(default)]
    price_cents: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Thing {
    id: u64,
    name: String,
    price_cents: u64,
}

#[derive(Clone, Default)]
struct Store {
    things: Arc<Mutex<BTreeMap<u64, Thing>>>,
}

impl Store {
    fn insert(&self, new: NewThing) -> Thing {
        let mut things = self.things.lock().unwrap();
        let id = things.len() as u64 + 1;
        let thing = Thing {
            id,
            name: new.name,
            price_cents: new.price_cents,
        };
        things.insert(id, thing.clone());
        thing
    }
}

/// What the handlers fail with, as a JSON response.
enum AppError {
    Invalid(&'static str),
    NotFound(u64),
    Relayer(relayer::Error),
}

impl From<relayer::Error> for AppError {
    fn from(error: relayer::Error) -> Self {
        Self::Relayer(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Invalid(message) => (StatusCode::UNPROCESSABLE_ENTITY, message.to_owned()),
            Self::NotFound(id) => (StatusCode::NOT_FOUND, format!("no thing {id}")),
            Self::Relayer(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

async fn create(
    State(store): State<Store>,
    relayer: Relayer,
    Json(new): Json<NewThing>,
) -> Result<(StatusCode, Json<Thing>), AppError> {
    if new.name.trim().is_empty() {
        relayer.warning(&json!({ "rejected": "empty name" }))?;
        return Err(AppError::Invalid("a thing needs a name"));
    }
    let thing = store.insert(new);
    relayer.emit_with_key("thing_created", "v1", &thing, thing.id.to_string())?;
    tracing::info!(
        thing_id = thing.id,
        price_cents = thing.price_cents,
        "thing stored"
    );
    relayer.info(&json!({ "created": thing.id }))?;
    Ok((StatusCode::CREATED, Json(thing)))
}

async fn list(State(store): State<Store>, relayer: Relayer) -> Result<Json<Vec<Thing>>, AppError> {
    let things: Vec<Thing> = store.things.lock().unwrap().values().cloned().collect();
    relayer.debug(&json!({ "listed": things.len() }))?;
    Ok(Json(things))
}

async fn show(
    State(store): State<Store>,
    relayer: Relayer,
    Path(id): Path<u64>,
) -> Result<Json<Thing>, AppError> {
    let thing = store.things.lock().unwrap().get(&id).cloned();
    match thing {
        Some(thing) => Ok(Json(thing)),
        None => {
            relayer.info(&json!({ "missing": id }))?;
            Err(AppError::NotFound(id))
        }
    }
}

/// A server-sent-events stream, 100 ms between events. Its record is
/// written when the stream ends, and the stream logs into it through
/// `Relayer::current()`.
async fn countdown(
    relayer: Relayer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    relayer.info("countdown starts")?;
    let events = futures_util::stream::unfold(Some(3_u32), |left| async move {
        let left = left?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let data = if left == 0 {
            "liftoff".to_owned()
        } else {
            left.to_string()
        };
        if let Some(relayer) = Relayer::current() {
            let _ = relayer.info(&json!({ "sent": data }));
        }
        let next = left.checked_sub(1);
        Some((Ok(Event::default().data(data)), next))
    });
    Ok(Sse::new(events))
}

async fn boom(relayer: Relayer) -> &'static str {
    let _ = relayer.info("about to fail");
    panic!("{INTENTIONAL_PANIC}")
}
