//! `#[relayed]` on a real tonic service over TCP on 127.0.0.1: the
//! `#[async_trait]` service trait, injection, `Status` errors, a call the
//! client gives up on (the server drops the handler's future), and a call
//! behind `relayer-axum`'s layer (it joins the HTTP request).

#[allow(clippy::all, missing_docs)]
// Generated code, `pub` as tonic generates it.
#[allow(unreachable_pub)]
#[path = "../examples/rpc/greeter.rs"]
mod greeter;

use std::time::Duration;

use greeter::greeter_client::GreeterClient;
use greeter::greeter_server::{Greeter, GreeterServer};
use greeter::{HelloReply, HelloRequest};
use relayer::{Relayer, relayed};
use relayer_axum::RelayerLayer;
use relayer_test::MockProducer;
use serde_json::{Value, json};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

const WAIT: Duration = Duration::from_secs(10);

struct MyGreeter {
    relayer: Relayer,
}

#[tonic::async_trait]
impl Greeter for MyGreeter {
    #[relayed(with = self.relayer)]
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
        relayer: Relayer,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        match name.as_str() {
            "" => return Err(Status::invalid_argument("name is empty")),
            "slow" => {
                relayer.info("taking my time").unwrap();
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            _ => relayer.emit("greeting", "sent", &name).unwrap(),
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }
}

/// Serves a greeter recording to `mock`, returns a connected client.
async fn serve(mock: &MockProducer) -> GreeterClient<Channel> {
    serve_with(mock, false).await
}

/// The same, with `relayer-axum`'s layer around the service when `layer`.
async fn serve_with(mock: &MockProducer, layer: bool) -> GreeterClient<Channel> {
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let greeter = GreeterServer::new(MyGreeter {
        relayer: relayer.clone(),
    });
    let incoming = TcpIncoming::from(listener);
    if layer {
        tokio::spawn(
            Server::builder()
                .layer(RelayerLayer::new(relayer))
                .add_service(greeter)
                .serve_with_incoming(incoming),
        );
    } else {
        tokio::spawn(
            Server::builder()
                .add_service(greeter)
                .serve_with_incoming(incoming),
        );
    }
    GreeterClient::connect(format!("http://{address}"))
        .await
        .unwrap()
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest { name: name.into() }
}

#[tokio::test]
async fn each_grpc_call_writes_one_record() {
    let mock = MockProducer::new();
    let mut client = serve(&mock).await;

    let reply = client.say_hello(hello("Ada")).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello, Ada!");
    let status = client.say_hello(hello("")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let records: Vec<Value> = mock
        .wait_for("logging", 2, WAIT)
        .await
        .iter()
        .map(|m| m.json())
        .collect();
    assert_eq!(records[0]["service"], "MyGreeter::say_hello");
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[0]["lines"][0]["payload"], "Ada");
    let event = &mock.json("greeting")[0];
    assert_eq!(event["request_id"], records[0]["request_id"]);

    assert_eq!(records[1]["outcome"], "error");
    assert_eq!(
        records[1]["error"],
        json!(Status::invalid_argument("name is empty").to_string())
    );
}

#[tokio::test]
async fn a_call_the_client_gives_up_on_is_cancelled() {
    let mock = MockProducer::new();
    let mut client = serve(&mock).await;

    let gave_up =
        tokio::time::timeout(Duration::from_millis(200), client.say_hello(hello("slow"))).await;
    assert!(gave_up.is_err());

    let record = mock.wait_for("logging", 1, WAIT).await[0].json();
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["lines"][0]["payload"], "taking my time");
}

#[tokio::test]
async fn behind_the_http_layer_the_call_joins_the_http_request() {
    let mock = MockProducer::new();
    let mut client = serve_with(&mock, true).await;

    let mut request = Request::new(hello("Ada"));
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-req-1".parse().unwrap());
    client.say_hello(request).await.unwrap();

    let records: Vec<Value> = mock
        .wait_for("logging", 2, WAIT)
        .await
        .iter()
        .map(|m| m.json())
        .collect();
    let rpc = records.iter().find(|r| r.get("service").is_some()).unwrap();
    let http = records.iter().find(|r| r.get("method").is_some()).unwrap();
    assert_eq!(rpc["request_id"], "grpc-req-1");
    assert_eq!(http["request_id"], "grpc-req-1");
    assert_eq!(rpc["lines"][0]["payload"], "Ada", "the call's lines");
    assert_eq!(http["path"], "/greeter.Greeter/SayHello");
}
