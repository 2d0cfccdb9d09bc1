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
//! the Python relayer 1.x:
//!
//! | field | value |
//! |---|---|
//! | `source`, `logging_topic` | as configured (the logging topic with prefix and suffix) |
//! | `date` | request start, RFC 3339 UTC |
//! | `request_id` | `X-Request-ID` when it is short visible ASCII ([`RelayerLayer::max_request_id_bytes`]), else a new UUID (also set on the request and the response) |
//! | `outcome` | `ok`, `panicked` (the handler or the body panicked), `cancelled` (the client went away), `body_error`, `error` (the inner service returned `Err`) |
//! | `method`, `path` | from the request (the path as the client sent it, also behind nested routers) |
//! | `query_string` | without `?`, secret parameters [`REDACTED`]; `null` when absent |
//! | `user_agent` | `User-Agent` or `null` |
//! | `remote_addr` | the peer's IP (axum's `ConnectInfo<SocketAddr>`); from a [trusted proxy](RelayerLayer::trusted_proxies) (loopback and private ranges by default), the right-most untrusted `X-Forwarded-For` address, else `X-Real-IP`; `null` without `ConnectInfo` |
//! | `x_forwarded_for` | `X-Forwarded-For` or `null` |
//! | `status` | the response status; 500 after a panic; 499 when the client went away before the response |
//! | `content_length` | the response's `Content-Length`, else the body bytes actually sent |
//! | `request_bytes` | the bytes of the request body the service read |
//! | `request_body`, `response_body` | only with [`RelayerLayer::capture_bodies`]: the first bytes of a JSON, form or text body (not compressed) as a string, secrets [`REDACTED`], ending with [`CUT`] when the body was longer; absent for other bodies and when no byte passed |
//! | `request_time` | milliseconds (float) from the start of the request to the end of the body |
//! | `headers` | only when configured: the recorded request headers |
//! | `route` | the matched route template (axum's `MatchedPath`), e.g. `/things/{id}` |
//! | `grpc_status`, `grpc_message` | for gRPC responses: from the trailers, or the headers of a trailers-only error |
//! | `fields` | set with [`Relayer::field`](relayer::Relayer::field) and on the builder; absent when none |
//! | `trace_id`, `span_id`, `parent_span_id` | the caller's `traceparent` continued (or a new trace), this request's span, the caller's span (for a caller using [`PropagateLayer`], the span of its call) |
//! | `calls` | the outgoing calls made through [`PropagateLayer`] or [`Relayer::outgoing_call`](relayer::Relayer::outgoing_call), in order of start ([`CallEntry`](relayer::record::CallEntry)); absent when none |
//! | `dropped_calls` | calls not in `calls` because the record reached its maximum size; absent when none |
//! | `lines` | every event emitted and line logged in the request, in call order |
//!
//! The method, header values, the path and the query string are cut at
//! [`RelayerLayer::max_value_bytes`] (8 KiB) and end with [`CUT`]. In
//! [`WireFormat::Python1`](relayer::WireFormat::Python1), `path` is
//! percent-decoded and an absent query string is `""`.
//!
//! # Secrets
//!
//! One rule, [`relayer::SecretNames`], tells secret names from others, the
//! way scrubbers do: a name is normalized (lower case, without `_`, `-`,
//! `.` and the like) and is secret when it contains a stem such as
//! `password`, `token`, `secret`, `apikey`, `auth`, `session`, `cookie`,
//! `signature`, `cardnumber` ([`relayer::DEFAULT_SECRET_STEMS`]), or has
//! a short one as a word (`ssn`, `sig`, `key`, `pin`:
//! [`relayer::DEFAULT_SECRET_WORDS`]). Without any configuration, it masks
//! with [`REDACTED`]:
//!
//! - the values of recorded request headers with such names; the values
//!   of `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie`
//!   always, and values marked sensitive (`HeaderValue::set_sensitive`);
//! - the values of such query parameters, in `query_string`, in the URLs
//!   of the request's `calls` and in the URLs their errors quote (URLs
//!   also lose their user information and fragment);
//! - in captured bodies, the values of such keys in JSON (at any depth,
//!   in cut documents, in text that starts like JSON, in strings that hold
//!   JSON) and of such fields in forms.
//!
//! Each place has a `redact_…` method to add names and a `keep_…` method
//! for a name the rule catches that a team wants to see
//! ([`RelayerLayer::keep_body_key`] for `max_tokens`).

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
