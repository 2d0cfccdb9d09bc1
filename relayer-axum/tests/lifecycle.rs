//! How requests end, driven in process (`tower::ServiceExt::oneshot`) to
//! control each step: futures and bodies dropped early, body errors,
//! responses without body, service errors, panics in `call`; and the ways
//! to apply the layer (`ServiceBuilder`, route layers, nested routers, any
//! tower service).

mod common;

use std::convert::Infallible;
use std::future::pending;
use std::io;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, head};
use bytes::Bytes;
use common::{EXPECTED_PANIC, LOGGING, lines, quiet_expected_panics, relayer, the_record};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use relayer::Relayer;
use relayer_axum::{RelayerLayer, RelayerService, RequestBody};
use serde_json::json;
use tokio::sync::oneshot;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_future_dropped_before_the_response_gives_one_cancelled_record() {
    let (mock, relayer) = relayer();
    let (started, handler_started) = oneshot::channel();
    let started = std::sync::Arc::new(std::sync::Mutex::new(Some(started)));
    let app = Router::new()
        .route(
            "/slow",
            get(move |relayer: Relayer| {
                let started = started.lock().unwrap().take().unwrap();
                async move {
                    relayer.info("started").unwrap();
                    started.send(()).unwrap();
                    pending::<&str>().await
                }
            }),
        )
        .layer(RelayerLayer::new(relayer));

    let mut response = app.oneshot(get_request("/slow"));
    tokio::select! {
        _ = &mut response => panic!("the handler never answers"),
        _ = handler_started => {}
    }
    assert!(mock.messages(LOGGING).is_empty());
    drop(response);

    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "cancelled");
    assert_eq!(records[0]["status"], 499);
    assert_eq!(records[0]["content_length"], 0);
    assert_eq!(lines(&records[0])[0]["payload"], "started");
}

#[tokio::test]
async fn a_body_dropped_before_its_end_gives_one_cancelled_record() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/stalls",
            get(|| async {
                let first = futures_util::stream::once(async { Ok::<_, Infallible>("first") });
                Body::from_stream(futures_util::StreamExt::chain(
                    first,
                    futures_util::stream::pending(),
                ))
            }),
        )
        .layer(RelayerLayer::new(relayer));

    let response = app.oneshot(get_request("/stalls")).await.unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    assert!(mock.messages(LOGGING).is_empty());
    drop(body);

    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "cancelled");
    assert_eq!(records[0]["status"], 200);
    assert_eq!(records[0]["content_length"], 5);
}

#[tokio::test]
async fn a_failing_body_gives_a_body_error_record() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/fails",
            get(|| async {
                Body::from_stream(futures_util::stream::iter([
                    Ok(Bytes::from_static(b"partial")),
                    Err(io::Error::other("disk gone")),
                ]))
            }),
        )
        .layer(RelayerLayer::new(relayer));

    let response = app.oneshot(get_request("/fails")).await.unwrap();
    assert!(response.into_body().collect().await.is_err());

    let record = the_record(&mock).await;
    assert_eq!(record["outcome"], "body_error");
    assert_eq!(record["status"], 200);
    assert_eq!(record["content_length"], 7);
    assert_eq!(mock.messages(LOGGING).len(), 1);
}

#[tokio::test]
async fn responses_without_a_body_are_recorded_as_ok() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route("/thing", get(|| async { "a body HEAD does not send" }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/head-only", head(|| async { StatusCode::OK }))
        .layer(RelayerLayer::new(relayer));

    // axum drops the body of a response to HEAD without polling it.
    let request = Request::head("/thing").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let response = app.clone().oneshot(get_request("/empty")).await.unwrap();
    assert_eq!(response.status(), 204);
    drop(response);
    let request = Request::head("/head-only").body(Body::empty()).unwrap();
    drop(app.oneshot(request).await.unwrap());

    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(
        (
            &records[0]["method"],
            &records[0]["outcome"],
            &records[0]["status"]
        ),
        (&json!("HEAD"), &json!("ok"), &json!(200))
    );
    // The handler's body has no Content-Length (axum adds it outside the
    // layer) and none of it is sent.
    assert_eq!(records[0]["content_length"], 0);
    assert_eq!(
        (&records[1]["outcome"], &records[1]["status"]),
        (&json!("ok"), &json!(204))
    );
    assert_eq!(records[2]["outcome"], "ok");
}

#[tokio::test]
async fn any_tower_service_works_through_service_builder() {
    let (mock, relayer) = relayer();
    let service = ServiceBuilder::new()
        .layer(RelayerLayer::new(relayer))
        .service_fn(|request: Request<RequestBody<Full<Bytes>>>| async move {
            let relayer = request.extensions().get::<Relayer>().unwrap().clone();
            relayer.info("in a plain service").unwrap();
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("hello")))
        });

    let request = Request::post("/plain?x=1").body(Full::from("in")).unwrap();
    let response = service.oneshot(request).await.unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );

    let record = the_record(&mock).await;
    assert_eq!(record["request_id"], request_id);
    assert_eq!(record["method"], "POST");
    assert_eq!(record["path"], "/plain");
    assert_eq!(record["query_string"], "x=1");
    // No Content-Length header: the bytes sent.
    assert_eq!(record["content_length"], 5);
    assert_eq!(record["remote_addr"], serde_json::Value::Null);
    assert_eq!(lines(&record)[0]["payload"], "in a plain service");
}

#[tokio::test]
async fn a_service_error_gives_an_error_record() {
    let (mock, relayer) = relayer();
    let service = RelayerService::new(
        service_fn(|_request: Request<RequestBody<Full<Bytes>>>| async {
            Err::<Response<Full<Bytes>>, _>(io::Error::other("backend gone"))
        }),
        relayer,
    );
    let error = service
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "backend gone");

    let record = the_record(&mock).await;
    assert_eq!(record["outcome"], "error");
    assert_eq!(record["status"], 500);
}

/// A service that panics in `call`, before making its future.
#[derive(Clone)]
struct PanicsInCall;

impl Service<Request<RequestBody<Full<Bytes>>>> for PanicsInCall {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<RequestBody<Full<Bytes>>>) -> Self::Future {
        Relayer::current().unwrap().info("in call").unwrap();
        panic!("{EXPECTED_PANIC} in call")
    }
}

#[tokio::test]
async fn a_panic_in_call_is_caught_too() {
    quiet_expected_panics();
    let (mock, relayer) = relayer();
    let service = RelayerService::new(PanicsInCall, relayer);
    let response = service
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("x-request-id"));
    response.into_body().collect().await.unwrap();

    let record = the_record(&mock).await;
    assert_eq!(record["outcome"], "panicked");
    assert_eq!(record["status"], 500);
    let lines = lines(&record);
    assert_eq!(lines[0]["payload"], "in call");
    assert_eq!(
        lines[1]["payload"]["panic"],
        format!("{EXPECTED_PANIC} in call")
    );
}

#[tokio::test]
async fn route_level_layers_record_only_their_routes() {
    let (mock, relayer) = relayer();
    let layer = RelayerLayer::new(relayer);
    let app = Router::new()
        .route(
            "/method-layer",
            get(|_: Relayer| async { "a" }).layer(layer.clone()),
        )
        .route(
            "/plain",
            get(|relayer: Option<Relayer>| async move {
                if relayer.is_some() {
                    "relayed"
                } else {
                    "plain"
                }
            }),
        )
        .merge(
            Router::new()
                .route("/route-layer", get(|_: Relayer| async { "b" }))
                .route_layer(layer),
        );

    for path in ["/method-layer", "/plain", "/route-layer"] {
        let response = app.clone().oneshot(get_request(path)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if path == "/plain" {
            assert_eq!(body, "plain");
        }
    }
    // route_layer does not run for unmatched routes.
    let response = app.oneshot(get_request("/nowhere")).await.unwrap();
    assert_eq!(response.status(), 404);

    let paths: Vec<String> = mock
        .json(LOGGING)
        .iter()
        .map(|record| record["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/method-layer", "/route-layer"]);
}

#[tokio::test]
async fn a_nested_router_records_the_path_the_client_sent() {
    let (mock, relayer) = relayer();
    let api = Router::new()
        .route("/things", get(|| async { "things" }))
        .layer(RelayerLayer::new(relayer).skip_path("/api/health"))
        .route("/health", get(|| async { "ok" }));
    let app = Router::new().nest("/api", api);

    let response = app
        .clone()
        .oneshot(get_request("/api/things?page=2"))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let record = the_record(&mock).await;
    assert_eq!(record["path"], "/api/things");
    assert_eq!(record["query_string"], "page=2");
}

#[tokio::test]
async fn a_request_served_inside_another_joins_its_request_id() {
    let (mock, relayer) = relayer();
    let inner = Router::new()
        .route(
            "/inner",
            get(|relayer: Relayer| async move {
                relayer.info("inner").unwrap();
                "inner"
            }),
        )
        .layer(RelayerLayer::new(relayer.clone()));
    let outer = Router::new()
        .route(
            "/outer",
            get(move |relayer: Relayer| async move {
                relayer.info("outer").unwrap();
                let response = inner.oneshot(get_request("/inner")).await.unwrap();
                response.into_body().collect().await.unwrap();
                "outer"
            }),
        )
        .layer(RelayerLayer::new(relayer));

    let request = Request::get("/outer")
        .header("x-request-id", "outer-1")
        .body(Body::empty())
        .unwrap();
    let response = outer.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();

    let records = common::records(&mock, 2).await;
    assert_eq!(records[0]["path"], "/inner");
    assert_eq!(records[1]["path"], "/outer");
    for record in &records {
        assert_eq!(record["request_id"], "outer-1");
        assert_eq!(lines(record).len(), 1);
    }
}

#[tokio::test]
async fn the_extractor_rejects_requests_without_the_layer() {
    let app = Router::new()
        .route("/needs", get(|_: Relayer| async { "never" }))
        .route(
            "/optional",
            get(|relayer: Option<Relayer>| async move { format!("{}", relayer.is_some()) }),
        );

    let response = app.clone().oneshot(get_request("/needs")).await.unwrap();
    assert_eq!(response.status(), 500);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("RelayerLayer"),
        "{body:?}"
    );

    let response = app.oneshot(get_request("/optional")).await.unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "false"
    );
}

#[tokio::test]
async fn a_request_id_set_by_the_service_is_kept_on_the_response() {
    let (mock, relayer) = relayer();
    let app = Router::new()
        .route(
            "/own-id",
            get(|| async { ([("x-request-id", "set-by-handler")], "ok") }),
        )
        .route(
            "/echo",
            get(|headers: http::HeaderMap| async move {
                headers["x-request-id"].to_str().unwrap().to_owned()
            }),
        )
        .layer(RelayerLayer::new(relayer));

    let response = app.clone().oneshot(get_request("/own-id")).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "set-by-handler");
    response.into_body().collect().await.unwrap();
    // A generated id is also set on the request, for the handler to pass on.
    let response = app.oneshot(get_request("/echo")).await.unwrap();
    let header = response.headers()["x-request-id"].clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, header.as_bytes());
    let records = mock.json(LOGGING);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["request_id"], header.to_str().unwrap());
}
