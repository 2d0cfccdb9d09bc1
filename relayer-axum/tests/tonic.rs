//! The same layer in front of a tonic gRPC server: one record per call.
//!
//! The Greeter service is written by hand on tonic's own codec and server
//! machinery (what `tonic-prost-build` would generate), so this test needs
//! no protoc and no build script.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use common::{EXPECTED_PANIC, lines, quiet_expected_panics, records, relayer};
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use relayer::Relayer;
use relayer_axum::{PropagateLayer, RelayerLayer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic::transport::server::TcpConnectInfo;
use tonic::transport::{Endpoint, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

const SAY_HELLO: &str = "/relayer.test.Greeter/SayHello";

/// The handler, as a user of `tonic` writes it.
async fn say_hello(
    request: tonic::Request<HelloRequest>,
) -> Result<tonic::Response<HelloReply>, Status> {
    // The layer's relayer is in the request's extensions and current.
    let relayer = request.extensions().get::<Relayer>().unwrap().clone();
    let name = request.into_inner().name;
    relayer
        .emit("greeting", "said", &json!({ "name": name }))
        .unwrap();
    Relayer::current().unwrap().info("greeted").unwrap();
    match name.as_str() {
        "" => Err(Status::invalid_argument("a name is needed")),
        "panic" => panic!("{EXPECTED_PANIC} in a gRPC handler"),
        _ => Ok(tonic::Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        })),
    }
}

/// The server side of the Greeter service.
#[derive(Clone)]
struct Greeter;

impl NamedService for Greeter {
    const NAME: &'static str = "relayer.test.Greeter";
}

impl Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != SAY_HELLO {
                return Ok(Status::unimplemented(request.uri().path().to_owned()).into_http());
            }
            let codec = ProstCodec::<HelloReply, HelloRequest>::default();
            let mut grpc = tonic::server::Grpc::new(codec);
            Ok(grpc.unary(service_fn(say_hello), request).await)
        })
    }
}

/// tonic gives the peer as `TcpConnectInfo`; the record reads axum's
/// `ConnectInfo<SocketAddr>`. This maps one to the other.
fn peer_as_connect_info<B>(mut request: http::Request<B>) -> http::Request<B> {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(|info| info.remote_addr);
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request
}

async fn serve(relayer: Relayer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layers = ServiceBuilder::new()
        .map_request(peer_as_connect_info)
        .layer(RelayerLayer::new(relayer));
    tokio::spawn(
        Server::builder()
            .layer(layers)
            .add_service(Greeter)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// Calls SayHello as a generated client would.
async fn call(
    channel: &tonic::transport::Channel,
    name: &str,
    request_id: &str,
) -> Result<tonic::Response<HelloReply>, Status> {
    let mut client = tonic::client::Grpc::new(channel.clone());
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(HelloRequest { name: name.into() });
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    client
        .unary(request, PathAndQuery::from_static(SAY_HELLO), codec)
        .await
}

#[tokio::test]
async fn each_grpc_call_writes_one_record() {
    quiet_expected_panics();
    let (mock, relayer) = relayer();
    let addr = serve(relayer).await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let reply = call(&channel, "Ada", "grpc-1").await.unwrap();
    assert_eq!(reply.get_ref().message, "Hello, Ada!");
    assert_eq!(reply.metadata().get("x-request-id").unwrap(), "grpc-1");
    let status = call(&channel, "", "grpc-2").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = call(&channel, "panic", "grpc-3").await.unwrap_err();
    assert_ne!(status.code(), Code::Ok);

    let records = records(&mock, 3).await;
    assert_eq!(records.len(), 3);
    for (record, id) in records.iter().zip(["grpc-1", "grpc-2", "grpc-3"]) {
        assert_eq!(record["request_id"], id);
        assert_eq!(record["method"], "POST");
        assert_eq!(record["path"], SAY_HELLO);
        assert_eq!(record["remote_addr"], "127.0.0.1");
        let lines = lines(record);
        assert_eq!(lines[0]["event_type"], "greeting");
        assert_eq!(lines[0]["request_id"], id);
        assert_eq!(lines[1]["payload"], "greeted");
    }
    // A reply: one gRPC frame (5 bytes of header and the message).
    let reply_len = prost::Message::encoded_len(&HelloReply {
        message: "Hello, Ada!".into(),
    });
    assert_eq!(
        (
            &records[0]["outcome"],
            &records[0]["status"],
            &records[0]["content_length"]
        ),
        (&json!("ok"), &json!(200), &json!(5 + reply_len))
    );
    // The request: one gRPC frame too.
    let request_len = prost::Message::encoded_len(&HelloRequest { name: "Ada".into() });
    assert_eq!(records[0]["request_bytes"], 5 + request_len);
    // A gRPC error is an HTTP 200 whose status is in `grpc_status`.
    assert_eq!(
        (&records[1]["outcome"], &records[1]["status"]),
        (&json!("ok"), &json!(200))
    );
    assert_eq!(
        (&records[2]["outcome"], &records[2]["status"]),
        (&json!("panicked"), &json!(500))
    );

    // The gRPC status: in the trailers of a reply, in the headers of a
    // trailers-only error.
    assert_eq!(records[0]["grpc_status"], 0);
    assert!(records[0].get("grpc_message").is_none());
    assert_eq!(
        (&records[1]["grpc_status"], &records[1]["grpc_message"]),
        (
            &json!(Code::InvalidArgument as i32),
            &json!("a name is needed")
        )
    );
    assert!(
        records[2].get("grpc_status").is_none(),
        "the layer's own 500"
    );

    let events = mock.json("test_greeting_topic");
    assert_eq!(events.len(), 3);
}

/// A service's calls, through `PropagateLayer`: what `fans_out` calls.
#[derive(Clone)]
struct Targets {
    http: SocketAddr,
    grpc: SocketAddr,
    closed: SocketAddr,
}

/// Calls an HTTP service through hyper-util, the Greeter twice through a
/// tonic `Channel` (a reply, an error), and a port nobody listens on.
async fn fans_out(axum::extract::State(targets): axum::extract::State<Targets>) -> &'static str {
    let http = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let price = format!("http://{}/price?token=s3cret&sku=7", targets.http);
    let response = http
        .clone()
        .oneshot(http::Request::get(price).body(Full::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "1234"
    );

    let origin: http::Uri = format!("http://{}", targets.grpc).parse().unwrap();
    let channel = Endpoint::from(origin.clone()).connect().await.unwrap();
    let grpc = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(channel);
    let mut client = tonic::client::Grpc::with_origin(grpc, origin);
    for name in ["Ada", ""] {
        client.ready().await.unwrap();
        let request = tonic::Request::new(HelloRequest { name: name.into() });
        let codec = ProstCodec::<HelloRequest, HelloReply>::default();
        let _ = client
            .unary(request, PathAndQuery::from_static(SAY_HELLO), codec)
            .await;
    }

    let down = format!("http://{}/down", targets.closed);
    let refused = http
        .oneshot(http::Request::get(down).body(Full::default()).unwrap())
        .await;
    assert!(refused.is_err());
    "done"
}

#[tokio::test]
async fn outgoing_http_and_grpc_calls_are_entries_of_the_record() {
    // The HTTP service: answers a price after 50 ms.
    let (http_mock, http_relayer) = relayer();
    let prices = axum::Router::new()
        .route(
            "/price",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                "1234"
            }),
        )
        .layer(RelayerLayer::new(http_relayer));
    let http_addr = common::serve(prices).await;
    let (grpc_mock, grpc_relayer) = relayer();
    let grpc_addr = serve(grpc_relayer).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap(); // and closed again: the connection is refused

    let (mock, relayer) = relayer();
    let app = axum::Router::new()
        .route("/fan-out", axum::routing::get(fans_out))
        .with_state(Targets {
            http: http_addr,
            grpc: grpc_addr,
            closed,
        })
        .layer(RelayerLayer::new(relayer).redact_query_param("token"));
    let client = common::Client::new(common::serve(app).await);
    assert_eq!(client.get("/fan-out").await.text(), "done");

    let record = common::the_record(&mock).await;
    let calls = record["calls"].as_array().expect("the record's calls");
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let (price, hello, no_name, refused) = (&calls[0], &calls[1], &calls[2], &calls[3]);

    assert_eq!(price["method"], "GET");
    assert_eq!(
        price["url"],
        format!("http://{http_addr}/price?token=[redacted]&sku=7"),
        "the request's redaction rules hold for its calls"
    );
    assert_eq!(
        (&price["status"], &price["content_length"]),
        (&json!(200), &json!(4))
    );
    assert!(price["duration_ms"].as_f64().unwrap() >= 50.0, "{price}");
    assert!(price.get("error").is_none() && price.get("grpc_status").is_none());

    let greeter = format!("http://{grpc_addr}{SAY_HELLO}");
    assert_eq!(
        (&hello["method"], &hello["url"]),
        (&json!("POST"), &json!(greeter))
    );
    assert_eq!(
        (&hello["status"], &hello["grpc_status"]),
        (&json!(200), &json!(0)),
        "from the trailers"
    );
    assert_eq!(
        no_name["grpc_status"],
        Code::InvalidArgument as i32,
        "from the headers of a trailers-only answer"
    );

    assert!(refused.get("status").is_none(), "{refused}");
    let error = refused["error"].as_str().expect("the client's error");
    assert!(error.contains("onnect"), "{error}");

    // In order of start, within the request.
    let starts: Vec<f64> = calls
        .iter()
        .map(|call| call["start_ms"].as_f64().unwrap())
        .collect();
    assert!(starts.is_sorted(), "{starts:?}");
    let last_end = starts[3] + refused["duration_ms"].as_f64().unwrap();
    assert!(
        last_end <= record["request_time"].as_f64().unwrap(),
        "{record}"
    );

    // Each called service's record points at its call.
    let price_record = common::the_record(&http_mock).await;
    assert_eq!(price_record["parent_span_id"], price["span_id"]);
    let hello_records = records(&grpc_mock, 2).await;
    assert_eq!(hello_records[0]["parent_span_id"], hello["span_id"]);
    assert_eq!(hello_records[1]["parent_span_id"], no_name["span_id"]);
    assert_eq!(hello_records[0]["request_id"], record["request_id"]);
}
