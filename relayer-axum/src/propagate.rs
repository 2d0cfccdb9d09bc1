//! The client side: outgoing requests carry the current request on to the
//! next service, and each adds an entry to its record's `calls`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use relayer::{OutgoingCall, Relayer};
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc::GrpcStatus;

/// The error of a [`Propagate`] service: the client's own, boxed, as tower
/// middleware such as `Timeout` gives it. Downcast it to the client's type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower [`Layer`] for HTTP *clients* (hyper-util's client, a tonic
/// `Channel`, any tower service of `http::Request`s) that carries the
/// [current](Relayer::current) request on to the called service and
/// records the call in the request's record.
///
/// - It sets the request id (`x-request-id` unless configured),
///   `traceparent` and `tracestate` on each outgoing request, so the next
///   service's record joins this one by `request_id` and `trace_id`.
///   Headers the request already has are left as they are.
/// - Each call is an [`OutgoingCall`] with a span of its own, a child of
///   the request's: the next service's `parent_span_id` tells which call
///   it served.
/// - When the response's body ends (read to the end, or dropped), or the
///   call fails, the call adds an entry to the request's `calls`: method,
///   URL (query parameters masked as in the request's own query string),
///   its `span_id`, status, gRPC status (from the headers or the trailers),
///   duration and `content_length`, and the client's error.
///
/// Outside a request, it neither sets nor records anything. For clients
/// that are not tower services (reqwest), [`Relayer::outgoing_call`] does
/// the same by hand.
///
/// ```
/// use http_body_util::BodyExt;
/// use relayer_axum::PropagateLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let mock = relayer_test::MockProducer::new();
/// # let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
/// // A client: here a function that answers with what it would send.
/// let client = ServiceBuilder::new().layer(PropagateLayer::new()).service(service_fn(
///     |request: http::Request<()>| async move {
///         let sent = request.headers()["traceparent"].to_str()?.to_owned();
///         Ok::<_, http::header::ToStrError>(http::Response::new(sent))
///     },
/// ));
/// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
/// let request = http::Request::get("http://prices/price").body(())?;
/// let response = scope.relayer().bind(client.oneshot(request)).await?;
/// let traceparent = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
/// assert!(traceparent.contains(&scope.trace().trace_id.to_string()));
/// assert!(!traceparent.contains(&scope.trace().span_id.to_string()), "the call's own span");
///
/// scope.finish(relayer::record::Outcome::Ok, relayer::record::RpcDetails::default());
/// let call = &mock.json("logging")[0]["calls"][0];
/// assert_eq!(call["url"], "http://prices/price");
/// assert_eq!(call["status"], 200);
/// assert!(traceparent.contains(call["span_id"].as_str().unwrap()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PropagateLayer {
    _private: (),
}

impl PropagateLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = Propagate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Propagate { inner }
    }
}

/// The client middleware made by [`PropagateLayer`].
#[derive(Debug, Clone)]
pub struct Propagate<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Propagate<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<CallBody<R>>;
    type Error = BoxError;
    type Future = CallFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let call = Relayer::current().and_then(|relayer| {
            relayer.outgoing_call(request.method().as_str(), &request.uri().to_string())
        });
        if let Some(call) = &call {
            let headers = request.headers_mut();
            for (name, value) in call.headers() {
                if let Ok(name) = HeaderName::try_from(name)
                    && !headers.contains_key(&name)
                    && let Ok(value) = HeaderValue::try_from(value)
                {
                    headers.insert(name, value);
                }
            }
        }
        CallFuture {
            inner: self.inner.call(request),
            call,
        }
    }
}

pin_project! {
    /// The response future of [`Propagate`]. Dropped before the response,
    /// it records the call as `cancelled`.
    #[derive(Debug)]
    pub struct CallFuture<F> {
        #[pin]
        inner: F,
        call: Option<OutgoingCall>,
    }
}

impl<F, R, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<CallBody<R>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        match result {
            Ok(response) => {
                if let Some(call) = &mut call {
                    call.set_status(response.status().as_u16());
                    if let Some(grpc) = GrpcStatus::from_headers(response.headers()) {
                        call.set_grpc_status(grpc.code);
                    }
                }
                let content_length = response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse().ok());
                Poll::Ready(Ok(response.map(|body| CallBody {
                    inner: body,
                    call,
                    content_length,
                    bytes_read: 0,
                })))
            }
            Err(error) => {
                let error = error.into();
                if let Some(mut call) = call {
                    call.set_error(&*error);
                    call.finish();
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project! {
    /// The response body of [`Propagate`]: the client's body, unchanged.
    /// When it ends (its last frame read, or dropped), its call goes into
    /// the request's record with the bytes read and the gRPC status of
    /// its trailers.
    #[derive(Debug)]
    pub struct CallBody<B> {
        #[pin]
        inner: B,
        call: Option<OutgoingCall>,
        content_length: Option<u64>,
        bytes_read: u64,
    }

    impl<B> PinnedDrop for CallBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut call) = this.call.take() {
                call.set_content_length(this.content_length.unwrap_or(*this.bytes_read));
                call.finish();
            }
        }
    }
}

impl<B> CallBody<B> {
    /// The client's body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B> Body for CallBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes_read += data.remaining() as u64;
                }
                if let (Some(trailers), Some(call)) = (frame.trailers_ref(), this.call.as_mut())
                    && let Some(grpc) = GrpcStatus::from_headers(trailers)
                {
                    call.set_grpc_status(grpc.code);
                }
                this.inner.is_end_stream()
            }
            Some(Err(error)) => {
                if let Some(call) = this.call.as_mut() {
                    call.set_error_text(format_args!("response body: {error}"));
                }
                true
            }
            None => true,
        };
        if ended && let Some(mut call) = this.call.take() {
            call.set_content_length(this.content_length.unwrap_or(*this.bytes_read));
            call.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
