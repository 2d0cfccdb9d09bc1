//! One request through a service, its response read in full, and the
//! record the request left: what a test of a service asserts on.

use std::fmt::Debug;
use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, response};
use http_body_util::BodyExt;
use serde_json::Value;
use tower_service::Service;

use crate::mock::Mark;
use crate::{MockProducer, Record};

/// How long [`MockProducer::send`] waits for the record once the body is
/// read: it is written as the body ends, so this is only a bound.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// The request id header relayer's layer sets on every response, unless
/// configured otherwise.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request sent with [`MockProducer::send`]: the response's head, its
/// whole body, and the record of the request.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The response's status, headers and extensions.
    pub parts: response::Parts,
    /// The response body, read to its end.
    pub body: Bytes,
    /// The HTTP record the request wrote to the logging topic.
    pub record: Record,
}

impl Exchange {
    /// The response status.
    pub fn status(&self) -> http::StatusCode {
        self.parts.status
    }

    /// The response body as text. Panics when it is not UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body)
            .unwrap_or_else(|error| panic!("the response body is not UTF-8: {error}"))
    }

    /// The response body as JSON. Panics, with the body, when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "the response body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl MockProducer {
    /// Sends `request` through `service` (an axum `Router`, or any tower
    /// service behind relayer's layer), reads the whole response body, and
    /// returns the response with the record the request wrote to this mock.
    ///
    /// Reading the body matters: the layer writes the record when the body
    /// ends, and a response dropped unread is a client gone away, recorded
    /// with outcome `cancelled`. This helper always reads it.
    ///
    /// The record is the HTTP record whose request id is the response's
    /// `x-request-id`; when the response has none (another request id
    /// header was configured), the one HTTP record written during the
    /// exchange. Panics, saying why, when the service fails, the body fails,
    /// or no such record arrives within 10 seconds.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use relayer::Relayer;
    /// use relayer_axum::RelayerLayer;
    /// use relayer_test::MockProducer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> relayer::Result<()> {
    /// let mock = MockProducer::new();
    /// let relayer = Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let mut app = Router::new()
    ///     .route("/hello", get(|relayer: Relayer| async move {
    ///         let _ = relayer.info("saying hello"); // a log line never fails the request
    ///         "hello"
    ///     }))
    ///     .layer(RelayerLayer::new(relayer));
    ///
    /// let request = http::Request::get("/hello").body(axum::body::Body::empty()).unwrap();
    /// let exchange = mock.send(&mut app, request).await;
    /// assert_eq!(exchange.status(), 200);
    /// assert_eq!(exchange.text(), "hello");
    /// assert_eq!(exchange.record.outcome(), "ok");
    /// assert_eq!(exchange.record.payloads_of_level("info"), ["saying hello"]);
    /// # Ok(()) }
    /// ```
    pub async fn send<S, RequestBody, ResponseBody>(
        &self,
        service: &mut S,
        request: Request<RequestBody>,
    ) -> Exchange
    where
        S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
        S::Error: Debug,
        ResponseBody: http_body::Body,
        ResponseBody::Error: Debug,
    {
        let before = self.mark();
        let what = format!("{} {}", request.method(), request.uri());
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap_or_else(|error| panic!("{what}: the service is not ready: {error:?}"));
        let response = service
            .call(request)
            .await
            .unwrap_or_else(|error| panic!("{what}: the service failed: {error:?}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|error| panic!("{what}: the response body failed: {error:?}"))
            .to_bytes();
        let request_id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|id| id.to_str().ok())
            .map(str::to_owned);
        let record = self
            .wait_for_record(&what, request_id.as_deref(), before)
            .await;
        Exchange {
            parts,
            body,
            record,
        }
    }

    /// The HTTP record written since `before` of `request_id`, else the
    /// one HTTP record written since `before`.
    async fn wait_for_record(&self, what: &str, request_id: Option<&str>, before: Mark) -> Record {
        let deadline = tokio::time::Instant::now() + RECORD_WAIT;
        loop {
            let written = self.sent();
            let records = self.records_after(&before);
            let found: Vec<&Record> = records
                .iter()
                .filter(|record| record.get("method").is_some())
                .filter(|record| request_id.is_none_or(|id| record.request_id() == id))
                .collect();
            match found.as_slice() {
                [record] => return (*record).clone(),
                [] => {}
                more => panic!(
                    "{what}: {} HTTP records match, expected one: {more:#?}",
                    more.len()
                ),
            }
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                panic!(
                    "{what}: no HTTP record{} within {RECORD_WAIT:?} (is the service behind \
                     relayer's layer, built on this mock, and the path not skipped?); \
                     records of: {:?}",
                    request_id.map_or(String::new(), |id| format!(" of request {id:?}")),
                    records.iter().map(Record::request_id).collect::<Vec<_>>()
                );
            }
        }
    }
}
