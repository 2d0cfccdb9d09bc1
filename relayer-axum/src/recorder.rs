//! The guard that writes a request's one record: when the response body
//! ends, or, if the request ends otherwise, when it is dropped.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Buf;
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Method, Response, StatusCode};
use relayer::record::{HttpDetails, Outcome};
use relayer::{Relayer, Scope};

use crate::capture::Capture;
use crate::config::Config;
use crate::extract::{RequestInfo, text};
use crate::grpc::GrpcStatus;
use crate::request_body::Received;

/// The status recorded when the client went away before the response was
/// ready: nginx's "client closed request".
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Owns the request's [`Scope`] from the call until the record is written.
///
/// It moves from the response future into the response body. Whatever ends
/// the request (the body's last frame, a body error, a panic, or the future
/// or body dropped early), the record is written exactly once: by
/// [`finish`](Recorder::finish), else by `Drop` with outcome `cancelled`.
pub(crate) struct Recorder {
    scope: Option<Scope>,
    config: Arc<Config>,
    request: RequestInfo,
    status: u16,
    content_length: Option<u64>,
    bytes_sent: u64,
    /// What was read of the request body, counted (and captured) by its
    /// [`RequestBody`](crate::RequestBody).
    received: Arc<Received>,
    /// The first bytes of the response body, when it is captured.
    response_capture: Option<Capture>,
    /// The outcome written when the body ends: `ok`, or `panicked` for the
    /// response the layer made for a panic.
    outcome: Outcome,
    /// False for responses without a body on the wire (to `HEAD`, and 1xx,
    /// 204 and 304): servers drop those bodies unpolled, which ends them.
    body_expected: bool,
    /// The gRPC status, from the response headers or the trailers.
    grpc: Option<GrpcStatus>,
    /// The message of a panic of the handler or the body.
    panic: Option<String>,
}

impl Recorder {
    pub(crate) fn new(
        scope: Scope,
        request: RequestInfo,
        config: Arc<Config>,
        received: Arc<Received>,
    ) -> Self {
        let body_expected = request.method != Method::HEAD;
        Self {
            scope: Some(scope),
            config,
            request,
            status: CLIENT_CLOSED_REQUEST,
            content_length: None,
            bytes_sent: 0,
            received,
            response_capture: None,
            outcome: Outcome::Ok,
            body_expected,
            grpc: None,
            panic: None,
        }
    }

    /// Takes the status and `Content-Length` of the response, decides
    /// whether its body is captured, and sets its `X-Request-ID` unless the
    /// service did.
    pub(crate) fn on_response<B>(&mut self, response: &mut Response<B>) {
        let status = response.status();
        self.status = status.as_u16();
        self.body_expected &= !(status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED);
        let headers = response.headers_mut();
        // No content goes out with a 1xx or a 204, whatever the service set.
        let no_content = status.is_informational() || status == StatusCode::NO_CONTENT;
        self.content_length = if no_content {
            Some(0)
        } else {
            headers
                .get(CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse().ok())
        };
        self.grpc = GrpcStatus::from_headers(headers);
        self.response_capture = self.config.body_capture.start(headers);
        let id_header = &self.config.request_id_header.name;
        if let Some(scope) = &self.scope
            && !headers.contains_key(id_header)
            && let Ok(id) = HeaderValue::from_str(scope.request_id())
        {
            headers.insert(id_header.clone(), id);
        }
    }

    /// Keeps the panic's message as an `error` line of the record, which
    /// will have outcome `panicked` and status 500.
    pub(crate) fn on_panic(&mut self, panic: &(dyn Any + Send)) {
        self.keep_panic(panic, "handler panicked");
        self.status = StatusCode::INTERNAL_SERVER_ERROR.as_u16();
        self.outcome = Outcome::Panicked;
    }

    /// The response body panicked while it was being sent: writes the
    /// record with outcome `panicked`, the status as it was sent, and the
    /// panic's message as an `error` line.
    pub(crate) fn on_body_panic(&mut self, panic: &(dyn Any + Send)) {
        self.keep_panic(panic, "response body panicked");
        self.finish(Outcome::Panicked);
    }

    fn keep_panic(&mut self, panic: &(dyn Any + Send), what: &str) {
        let message = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        // `.unwrap()` on a client's error quotes its URL: redacted like a
        // call's error.
        let message = self.config.redaction.query_params.urls_in(message);
        if let Some(scope) = &self.scope {
            let line = serde_json::json!({ "message": what, "panic": message });
            // A line that cannot be kept must not hide the panic's record.
            let _ = scope.relayer().error(&line);
        }
        self.panic = Some(self.config.bounds.cut(message).into_owned());
    }

    /// The inner service failed without a response: the server closes the
    /// connection. Writes the record with outcome `error` and status 500.
    pub(crate) fn on_service_error(&mut self) {
        self.status = StatusCode::INTERNAL_SERVER_ERROR.as_u16();
        self.finish(Outcome::Error);
    }

    /// The body's trailers: a gRPC response's status is there.
    pub(crate) fn on_trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(status) = GrpcStatus::from_headers(trailers) {
            self.grpc = Some(status);
        }
    }

    /// Counts (and captures) body `data` handed to the server.
    pub(crate) fn on_data(&mut self, data: &impl Buf) {
        self.bytes_sent += data.remaining() as u64;
        if let Some(capture) = &mut self.response_capture {
            capture.copy(data);
        }
    }

    /// The request's relayer, until the record is written.
    pub(crate) fn relayer(&self) -> Option<&Relayer> {
        self.scope.as_ref().map(Scope::relayer)
    }

    /// The body ended: writes the record with its outcome (`ok`, or
    /// `panicked` for a panic's response).
    pub(crate) fn end(&mut self) {
        self.finish(self.outcome);
    }

    /// The body was dropped: it ended if it had nothing left to send or was
    /// never meant to be sent, else the client went away.
    pub(crate) fn dropped(&mut self, body_at_end: bool) {
        if body_at_end || !self.body_expected {
            self.end();
        } else {
            self.finish(Outcome::Cancelled);
        }
    }

    /// Writes the record now, unless it was written already.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let Some(mut scope) = self.scope.take() else {
            return;
        };
        scope.set_status(self.status);
        let request_time = scope.elapsed_ms();
        let request = &self.request;
        let bounds = &self.config.bounds;
        let path = bounds.cut(Cow::Borrowed(request.uri.path()));
        // hyper takes extension methods of any length.
        let method = bounds.cut(Cow::Borrowed(request.method.as_str()));
        let query_string = request
            .uri
            .query()
            .filter(|query| !query.is_empty())
            .map(|query| bounds.cut(self.config.redaction.query_params.query(query)));
        let server = request
            .server()
            .map(|(host, port)| (bounds.cut(host.into()), port));
        let user_agent = request.user_agent.as_ref().map(|v| bounds.cut(text(v)));
        let remote_addr = request.remote_addr().map(|addr| bounds.cut(addr));
        let x_forwarded_for = request
            .x_forwarded_for
            .as_ref()
            .map(|v| bounds.cut(text(v)));
        let grpc_message = self
            .grpc
            .as_ref()
            .and_then(|grpc| grpc.message.as_deref())
            .map(|message| bounds.cut(self.config.redaction.query_params.urls_in(message)));
        let body_keys = &self.config.redaction.body_keys;
        let request_body = self.received.text(body_keys);
        let response_body = self
            .response_capture
            .as_ref()
            .and_then(|capture| capture.text(body_keys));
        let headers: BTreeMap<&str, &str> = request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        scope.finish(
            outcome,
            HttpDetails {
                method: &method,
                path: &path,
                query_string: query_string.as_deref(),
                user_agent: user_agent.as_deref(),
                remote_addr: remote_addr.as_deref(),
                x_forwarded_for: x_forwarded_for.as_deref(),
                status: self.status,
                content_length: self.content_length.unwrap_or(self.bytes_sent),
                request_bytes: self.received.bytes(),
                request_time,
                headers,
                route: request.route.as_ref().map(|route| route.as_str()),
                grpc_status: self.grpc.as_ref().map(|grpc| grpc.code),
                grpc_message: grpc_message.as_deref(),
                request_body: request_body.as_deref(),
                response_body: response_body.as_deref(),
                scheme: request.uri.scheme_str(),
                server_address: server.as_ref().map(|(host, _)| &**host),
                server_port: server.as_ref().and_then(|(_, port)| *port),
                protocol_version: request.protocol_version(),
                error: self.panic.as_deref(),
            },
        );
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}
