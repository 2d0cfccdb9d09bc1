//! [`Relayer`] as an axum extractor (feature `axum`).
//!
//! Behind `relayer-axum`'s `RelayerLayer`, a handler takes the request's
//! relayer as an argument; what it emits and logs goes into that request's
//! record:
//!
//! ```
//! use relayer::Relayer;
//!
//! async fn create(relayer: Relayer) -> &'static str {
//!     let _ = relayer.info("creating a thing");
//!     "created"
//! }
//!
//! // Optional, for handlers that also run without the layer:
//! async fn maybe(relayer: Option<Relayer>) -> &'static str {
//!     if let Some(relayer) = relayer {
//!         let _ = relayer.info("relayed");
//!     }
//!     "ok"
//! }
//! # let relayer = Relayer::builder("logging").brokers("localhost:9092").build().unwrap();
//! # let _app: axum::Router = axum::Router::new()
//! #     .route("/things", axum::routing::post(create))
//! #     .route("/maybe", axum::routing::get(maybe))
//! #     .layer(relayer_axum::RelayerLayer::new(relayer));
//! ```

use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::Relayer;

/// Extracts the request's relayer: the one the layer put in the request's
/// extensions, else the current scope's ([`Relayer::current`] inside a
/// request). Rejects with [`MissingRelayer`] when there is neither.
impl<S: Send + Sync> FromRequestParts<S> for Relayer {
    type Rejection = MissingRelayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        request_relayer(parts).ok_or(MissingRelayer)
    }
}

/// `Option<Relayer>`: `None` instead of a rejection when the request has no
/// relayer.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Relayer {
    type Rejection = MissingRelayer;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_relayer(parts))
    }
}

fn request_relayer(parts: &Parts) -> Option<Relayer> {
    parts
        .extensions
        .get::<Relayer>()
        .cloned()
        .or_else(Relayer::current_scoped)
}

/// The rejection of the [`Relayer`] extractor when the request went through
/// no `RelayerLayer`: a `500 Internal Server Error` saying so.
///
/// ```
/// use axum_core::response::IntoResponse;
///
/// let response = relayer::axum::MissingRelayer.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MissingRelayer;

impl fmt::Display for MissingRelayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no relayer in this request: add `relayer_axum::RelayerLayer` to the router \
             (`Router::layer`) in front of this handler",
        )
    }
}

impl std::error::Error for MissingRelayer {}

impl IntoResponse for MissingRelayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
