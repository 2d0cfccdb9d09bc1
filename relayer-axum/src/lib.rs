//! The tower layer of [relayer]: one aggregated record per HTTP request on
//! Kafka, for axum, tonic, hyper and any `tower::Service` of `http` requests.
//!
//! [`RelayerLayer`] opens a [`relayer::Scope`] for each request and hands the
//! request's [`Relayer`](relayer::Relayer) to the code that serves it: as an
//! axum extractor (`relayer: Relayer` in a handler's arguments), in the
//! request's extensions, and as [`Relayer::current`](relayer::Relayer::current)
//! for code deep in the call stack. What that code emits and logs goes into
//! the request's record, which is written to the logging topic once the
//! response body has been sent in full, so the record of a streaming
//! response covers the whole stream.
//!
//! On the client side, [`PropagateLayer`] carries the current request on to
//! the next service (`x-request-id`, `traceparent`, `tracestate`), each
//! call a span of its own, so its record joins this one.
//!
//! ```
//! use axum::{Json, Router, routing::post};
//! use relayer::Relayer;
//! use relayer_axum::RelayerLayer;
//! use serde_json::{Value, json};
//!
//! async fn create(relayer: Relayer, Json(thing): Json<Value>) -> Result<Json<Value>, String> {
//!     relayer.emit("thing_created", "v1", &thing).map_err(|e| e.to_string())?;
//!     relayer.info("created a thing").map_err(|e| e.to_string())?;
//!     Ok(Json(json!({ "created": thing })))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = relayer_test::MockProducer::new();
//! let relayer = Relayer::builder("logging")
//!     .topic_prefix("prod_")
//! #   .producer(mock.clone())
//!     .build()?;
//! let app = Router::new()
//!     .route("/things", post(create))
//!     .layer(
//!         RelayerLayer::new(relayer)
//!             .record_header("x-tenant")
//!             .redact_query_param("token")
//!             .skip_path("/health"),
//!     );
//! # use tower::ServiceExt;
//! # let request = http::Request::post("/things?token=s3cret")
//! #     .header("content-type", "application/json")
//! #     .header("x-request-id", "req-1")
//! #     .body(axum::body::Body::from(r#"{"name":"thing"}"#))?;
//! # let response = app.oneshot(request).await?;
//! # axum::body::to_bytes(response.into_body(), usize::MAX).await?;
//! # let record = &mock.json("prod_logging")[0];
//! # assert_eq!(record["request_id"], "req-1");
//! # assert_eq!(record["query_string"], "token=[redacted]");
//! # assert_eq!(record["lines"].as_array().unwrap().len(), 2);
//! # Ok(()) }
//! ```
//!
//! # The record
//!
//! One JSON object per request on the logging topic, wire-compatible with
//! the Python relayer 1.x: what came in (method, path, query string, client
//! address, chosen headers, the request id and trace context), how it ended
//! (`status`, `outcome`, `request_time`), the outgoing `calls`, and every
//! line in call order. Every field, and the layer's options:
//! [HTTP services: the layer and the record](relayer::guide::http_record).
//!
//! Client input is bounded ([`RelayerLayer::max_value_bytes`], [`CUT`]),
//! and values under secret names are [`REDACTED`] without configuration,
//! in headers, query strings, call URLs, error texts and captured bodies,
//! one rule for all ([`relayer::SecretNames`]); each place has a
//! `redact_…` method to add names and a `keep_…` method to let one
//! through. Client addresses from headers are believed only from
//! [trusted proxies](RelayerLayer::trusted_proxies). The details:
//! [Secrets and client input](relayer::guide::secrets).
//!
//! # Exactly one record
//!
//! The record is written when the body yields its last frame; if the body
//! fails, with outcome `body_error`; if the inner service panics, the layer
//! answers an empty `500` and writes outcome `panicked`; if the client goes
//! away (the response future or the body is dropped before the end), the
//! record is written from `Drop` with outcome `cancelled`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod capture;
mod client_addr;
mod config;
mod extract;
mod future;
mod grpc;
mod layer;
mod propagate;
mod recorder;
mod request_body;
mod service;

pub use body::ResponseBody;
pub use config::{CUT, DEFAULT_MAX_REQUEST_ID_BYTES, DEFAULT_MAX_VALUE_BYTES, REDACTED};
pub use extract::REQUEST_ID_HEADER;
pub use future::ResponseFuture;
pub use layer::RelayerLayer;
pub use propagate::{BoxError, CallBody, CallFuture, Propagate, PropagateLayer};
pub use request_body::RequestBody;
pub use service::RelayerService;
