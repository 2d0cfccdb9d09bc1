//! A gRPC service (tonic) whose handlers are `#[relayed]`: every call writes
//! one record to the logging topic. Needs no Kafka: it starts an embedded
//! broker, serves on 127.0.0.1, calls itself with a client, reads the
//! records back from the broker, prints them, and exits.
//!
//! ```text
//! cargo run --example rpc_service
//! ```
//!
//! The protobuf code is generated from `examples/rpc/greeter.proto` and
//! checked in (`examples/rpc/greeter.rs`), so no build script is needed.

#[allow(clippy::all, missing_docs)]
// Generated code, `pub` as tonic generates it.
#[allow(unreachable_pub)]
#[path = "rpc/greeter.rs"]
mod greeter;

use std::error::Error;
use std::time::Duration;

use greeter::greeter_client::GreeterClient;
use greeter::greeter_server::{Greeter, GreeterServer};
use greeter::{HelloReply, HelloRequest};
use relayer::{Relayer, relayed};
use relayer_test::EmbeddedBroker;
use serde_json::json;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

struct MyGreeter;

#[tonic::async_trait]
impl Greeter for MyGreeter {
    /// The trait method has no `relayer` parameter: `#[relayed]` removes it
    /// from the signature and binds it to this call's relayer.
    #[relayed]
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
        relayer: Relayer,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        if name.is_empty() {
            // outcome `error`, with the status's text in `error`
            return Err(Status::invalid_argument("name is empty"));
        }
        relayer
            .emit("greeting", "sent", &json!({ "name": name }))
            .map_err(|error| Status::internal(error.to_string()))?;
        let message = compose_greeting(&name);
        Ok(Response::new(HelloReply { message }))
    }
}

/// A nested call: its own record, with the request id of the call above.
#[relayed]
fn compose_greeting(name: &str) -> String {
    log_deep_in_the_stack(name);
    format!("Hello, {name}!")
}

/// Code that knows nothing of relayer's handles: it reaches the current
/// call's relayer.
fn log_deep_in_the_stack(name: &str) {
    if let Some(relayer) = Relayer::current() {
        let _ = relayer.info(&json!({ "composing_for": name }));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let broker = EmbeddedBroker::start()?;
    // one partition each, so that the records read back are in order
    broker.create_topic("logging", 1)?;
    broker.create_topic("greeting", 1)?;
    let relayer = Relayer::builder("logging")
        .brokers(broker.bootstrap_servers())
        .build()?;
    // `#[relayed]` functions record with the installed relayer.
    relayer::install(relayer.clone()).expect("installed once, at startup");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(GreeterServer::new(MyGreeter))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                stopped.await.ok();
            }),
    );
    println!("serving greeter.Greeter on {address}");

    let mut client = GreeterClient::connect(format!("http://{address}")).await?;
    let reply = client
        .say_hello(HelloRequest { name: "Ada".into() })
        .await?;
    println!("reply: {:?}", reply.into_inner().message);
    let status = client
        .say_hello(HelloRequest::default())
        .await
        .expect_err("an empty name is refused");
    println!("status: {:?} {:?}", status.code(), status.message());

    stop.send(()).ok();
    server.await??;

    // Three records: the nested compose_greeting (it ends first), the
    // say_hello around it (same request id), then the failed say_hello.
    // Read them back as a log pipeline would.
    let consumer = broker.consumer()?;
    let records = tokio::task::spawn_blocking(move || {
        relayer.flush(Duration::from_secs(10))?;
        let events = consumer.read("greeting", 1, Duration::from_secs(10))?;
        let records = consumer.read("logging", 3, Duration::from_secs(10))?;
        Ok::<_, Box<dyn Error + Send + Sync>>((events, records))
    })
    .await?
    .map_err(|error| error as Box<dyn Error>)?;
    let (events, records) = records;
    println!("\nevent on topic greeting:");
    println!("{}", serde_json::to_string_pretty(&events[0].json())?);
    println!("\nrecords on topic logging:");
    for record in &records {
        println!("{}", serde_json::to_string_pretty(&record.json())?);
    }
    Ok(())
}
