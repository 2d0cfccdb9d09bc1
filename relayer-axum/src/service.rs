//! The middleware service: one scope and one record per request.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::header::HeaderValue;
use http::{Request, Response};
use http_body::Body;
use relayer::{Relayer, Scope, WireFormat};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::config::Config;
use crate::extract::{RequestInfo, caller, original_uri};
use crate::future::ResponseFuture;
use crate::recorder::Recorder;
use crate::request_body::{Received, RequestBody};

/// Middleware that opens a [`Scope`] for each request and writes the
/// request's record when its response body ends; made by [`RelayerLayer`](crate::RelayerLayer).
///
/// For each request (except skipped paths) it:
///
/// 1. takes the request id from `X-Request-ID` when it is short visible
///    ASCII, else makes one (a UUID, or the outer request's id when called
///    inside another request), and sets it on the request in place of the
///    client's;
/// 2. puts the request's bound [`Relayer`] in the request's extensions (the
///    `Relayer` extractor reads it) and makes it [`Relayer::current`] while
///    the inner service runs and while the response body is polled;
///    the inner service gets the request's body as a
///    [`RequestBody`](crate::RequestBody), which counts the bytes read
///    (and copies the first ones when [capture](crate::RelayerLayer::capture_bodies) is on);
/// 3. catches a panic of the inner service and answers
///    `500 Internal Server Error`;
/// 4. sets `X-Request-ID` on the response, and writes the record when the
///    body has been sent, or when the request ended otherwise.
///
/// It is cheap to clone: the inner service, a [`Relayer`] handle and an
/// `Arc` of the configuration.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use relayer_axum::RelayerService;
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = relayer_test::MockProducer::new();
/// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
///
/// // Any `tower::Service` of `http` requests and responses: here a plain function.
/// let service = RelayerService::new(
///     service_fn(|_request: Request<relayer_axum::RequestBody<Full<bytes::Bytes>>>| async {
///         relayer::Relayer::current().unwrap().info("hello")?;
///         Ok::<_, relayer::Error>(Response::new(Full::<bytes::Bytes>::from("hi")))
///     }),
///     relayer,
/// );
/// let response = service.oneshot(Request::new(Full::default())).await?;
/// assert!(response.headers().contains_key("x-request-id"));
/// http_body_util::BodyExt::collect(response.into_body()).await?;
///
/// assert_eq!(mock.json("logging")[0]["content_length"], 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RelayerService<S> {
    inner: S,
    relayer: Relayer,
    config: Arc<Config>,
}

impl<S> RelayerService<S> {
    /// Wraps `inner`, with the default configuration: no extra headers
    /// recorded, nothing redacted beyond the secret headers, no path skipped.
    /// Use [`RelayerLayer`](crate::RelayerLayer) to configure.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let app: axum::Router = axum::Router::new();
    /// let service = relayer_axum::RelayerService::new(app, relayer);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn new(inner: S, relayer: Relayer) -> Self {
        let config = Arc::new(Config::for_relayer(&relayer));
        Self::with_config(inner, relayer, config)
    }

    pub(crate) fn with_config(inner: S, relayer: Relayer, config: Arc<Config>) -> Self {
        Self {
            inner,
            relayer,
            config,
        }
    }

    /// The wrapped service.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let mut service = relayer_axum::RelayerService::new(axum::Router::<()>::new(), relayer);
    /// let _router: &axum::Router = service.get_ref();
    /// let _router: &mut axum::Router = service.get_mut();
    /// let _router: axum::Router = service.into_inner();
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably; see [`get_ref`](Self::get_ref).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service; see [`get_ref`](Self::get_ref).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RelayerService<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if self.config.skips(original_uri(&request).path()) {
            return ResponseFuture::skipped(self.inner.call(request.map(RequestBody::uncounted)));
        }

        let caller = caller(&request, &self.config);
        let given = caller.request_id.is_some();
        let scope = Scope::continuing(&self.relayer, caller);
        // The inner service sees the id in use, also when the client's
        // was refused.
        if !given && let Ok(id) = HeaderValue::from_str(scope.request_id()) {
            let name = self.config.request_id_header.name.clone();
            request.headers_mut().insert(name, id);
        }
        let relayer = scope.relayer().clone();
        let received = Arc::new(Received::new(
            self.config.body_capture.start(request.headers()),
        ));
        let mut recorder = Recorder::new(
            scope,
            RequestInfo::new(
                &request,
                &self.config,
                self.relayer.wire_format() == WireFormat::Python1,
            ),
            self.config.clone(),
            received.clone(),
        );
        request.extensions_mut().insert(relayer.clone());
        let request = request.map(|body| RequestBody::counted(body, received));

        let inner = &mut self.inner;
        let called = panic::catch_unwind(AssertUnwindSafe(|| {
            relayer.in_scope(|| inner.call(request))
        }));
        match called {
            Ok(future) => ResponseFuture::relayed(
                AssertUnwindSafe(relayer.bind(future)).catch_unwind(),
                recorder,
            ),
            Err(panic) => {
                recorder.on_panic(&*panic);
                ResponseFuture::panicked(recorder)
            }
        }
    }
}
