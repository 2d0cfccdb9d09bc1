//! One request's story across three services, on one Kafka cluster:
//!
//! - service A serves `GET /order`: it calls service B over HTTP (through
//!   `PropagateLayer`) and emits an `order_placed` event;
//! - service B serves `GET /price`;
//! - consumer C handles the `order_placed` event (`Relayer::handle_message`).
//!
//! Each writes its own record to the logging topic; all three share the
//! request id and the trace id, and their spans chain A → B and A → C.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use relayer::Relayer;
use relayer_axum::{PropagateLayer, RelayerLayer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};

const WAIT: Duration = Duration::from_secs(30);

/// The records of one request, read back from the logging topic: A's, B's
/// and C's, in that order.
pub(crate) async fn run(brokers: &str, topic_prefix: &str) -> Result<Vec<Value>, Box<dyn Error>> {
    let relayer = |service: &str| {
        Relayer::builder("logging")
            .brokers(brokers)
            .topic_prefix(topic_prefix)
            .field("service", service)
            .build()
    };
    let (a, b, c) = (relayer("a")?, relayer("b")?, relayer("c")?);

    let b_addr = serve(
        Router::new()
            .route("/price", get(price))
            .layer(RelayerLayer::new(b.clone())),
    )
    .await?;
    let a_addr = serve(
        Router::new()
            .route("/order", get(move |relayer| order(relayer, b_addr)))
            .layer(RelayerLayer::new(a.clone())),
    )
    .await?;

    // Consumer C, subscribed before the event is sent.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic_prefix}shipping"))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&format!("{topic_prefix}order_placed")])?;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .get(format!("http://{a_addr}/order").parse()?)
        .await?;
    let request_id = response.headers()["x-request-id"].to_str()?.to_owned();
    response.into_body().collect().await?;

    let message = tokio::time::timeout(WAIT, async {
        loop {
            match consumer.recv().await {
                // Subscribed before the first event created the topic.
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                received => break received,
            }
        }
    })
    .await??;
    c.handle_message(&message, |relayer| async move {
        relayer.info("shipping the order")?;
        relayer.field("carrier", "post")?;
        Ok::<_, relayer::Error>(())
    })
    .await?;

    for relayer in [a, b, c] {
        tokio::task::spawn_blocking(move || relayer.flush(WAIT)).await??;
    }
    let logging = format!("{topic_prefix}logging");
    let brokers = brokers.to_owned();
    let records = tokio::task::spawn_blocking(move || {
        relayer_test::Consumer::new(&brokers)?
            .read(&logging, 3, WAIT)
            .map_err(Box::<dyn Error + Send + Sync>::from)
    })
    .await?
    .map_err(|error| error.to_string())?;
    let mut records: Vec<Value> = records.iter().map(relayer_test::Message::json).collect();
    records.retain(|record| record["request_id"] == request_id.as_str());
    records.sort_by_key(|record| record["fields"]["service"].as_str().map(str::to_owned));
    Ok(records)
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Service A: asks B for the price, then emits the order.
async fn order(relayer: Relayer, b: SocketAddr) -> Result<String, String> {
    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let request = http::Request::get(format!("http://{b}/price"))
        .body(Full::default())
        .map_err(|e| e.to_string())?;
    let response = client.oneshot(request).await.map_err(|e| e.to_string())?;
    let price = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let price: u32 = String::from_utf8_lossy(&price.to_bytes())
        .parse()
        .map_err(|_| "no price")?;
    relayer
        .field("price_cents", &price)
        .map_err(|e| e.to_string())?;
    relayer
        .emit(
            "order_placed",
            "v1",
            &json!({"order": 7, "price_cents": price}),
        )
        .map_err(|e| e.to_string())?;
    Ok(format!("order 7 placed at {price}"))
}

/// Service B: the price of order 7.
async fn price(relayer: Relayer) -> String {
    let _ = relayer.info("pricing order 7");
    "4900".to_owned()
}
