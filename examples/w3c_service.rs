//! The test service of the W3C Trace Context conformance harness: an axum
//! service behind `RelayerLayer` that calls on through `PropagateLayer`.
//!
//! ```sh
//! cargo run --example w3c_service &    # 127.0.0.1:5000, or ADDR
//! cd ../shared/w3c-trace-context/test
//! STRICT_LEVEL=2 python test.py http://127.0.0.1:5000/test
//! ```
//!
//! The harness POSTs `[{"url": .., "arguments": [..]}, ..]` to `/test`; for
//! each element the service POSTs `arguments` as JSON to `url`, inside the
//! incoming request's trace, and the harness checks the trace headers that
//! arrive. Records go to a mock producer (no Kafka needed); run with
//! `RUST_LOG=relayer=debug` to see them.

use std::error::Error;

use axum::body::Bytes;
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relayer::Relayer;
use relayer_axum::{Propagate, PropagateLayer, RelayerLayer};
use relayer_test::MockProducer;
use serde_json::Value;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tracing_subscriber::EnvFilter;

/// An HTTP client that carries the current request on.
type PropagatingClient = Propagate<Client<HttpConnector, Full<Bytes>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .init();
    let relayer = Relayer::builder("logging")
        .producer(MockProducer::new())
        .build()?;
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http());
    let app = Router::new()
        .route("/test", post(test))
        .with_state(client)
        .layer(RelayerLayer::new(relayer));

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:5000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("W3C Trace Context test service on http://{addr}/test");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Calls each `url` with its `arguments`, one after the other.
async fn test(
    axum::extract::State(client): axum::extract::State<PropagatingClient>,
    Json(actions): Json<Vec<Value>>,
) -> Json<Value> {
    for action in actions {
        let Some(url) = action["url"].as_str() else {
            continue;
        };
        let body = serde_json::to_vec(&action["arguments"]).unwrap_or_default();
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::from(body));
        let Ok(request) = request else { continue };
        // The harness checks what arrives, not what it answers.
        if let Ok(response) = client.clone().oneshot(request).await {
            let _ = response.into_body().collect().await;
        }
    }
    Json(Value::Array(Vec::new()))
}
