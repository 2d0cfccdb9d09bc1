//! The client side: outgoing requests carry the current request on to the
//! next service.

use std::task::{Context, Poll};

use http::Request;
use http::header::{HeaderName, HeaderValue};
use relayer::Relayer;
use tower_layer::Layer;
use tower_service::Service;

/// A tower [`Layer`] for HTTP *clients* (hyper-util's client, a tonic
/// `Channel`, any tower service of `http::Request`s) that sets the request
/// id (`x-request-id` unless configured), `traceparent` and `tracestate` on
/// each outgoing request from the [current](Relayer::current) request, so
/// the next service's record joins this one by `request_id` and
/// `trace_id`. Each call is an [`OutgoingCall`](relayer::OutgoingCall)
/// with a span of its own, a child of the request's: the next service's
/// `parent_span_id` tells which call it served.
///
/// Headers the request already has are left as they are; outside a
/// request, nothing is set. For clients that are not tower services
/// (reqwest), [`Relayer::outgoing_headers`] gives the same headers.
///
/// ```
/// use relayer_axum::PropagateLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
/// // A client: here a function that shows what it would send.
/// let client = ServiceBuilder::new().layer(PropagateLayer::new()).service(service_fn(
///     |request: http::Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(request.headers().clone())
///     },
/// ));
/// let scope = relayer::Scope::new(&relayer, Some("req-1".into()));
/// let sent = scope
///     .relayer()
///     .bind(client.oneshot(http::Request::new(())))
///     .await?;
/// assert_eq!(sent["x-request-id"], "req-1");
/// let traceparent = sent["traceparent"].to_str()?;
/// assert!(traceparent.contains(&scope.trace().trace_id.to_string()));
/// assert!(!traceparent.contains(&scope.trace().span_id.to_string()), "the call's own span");
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

impl<S, B> Service<Request<B>> for Propagate<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(call) = Relayer::current().and_then(|relayer| relayer.outgoing_call()) {
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
        self.inner.call(request)
    }
}
