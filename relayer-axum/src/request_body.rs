//! The request body: passes frames through and counts the bytes received,
//! for the record's `request_bytes`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The request body the service behind
    /// [`RelayerService`](crate::RelayerService) gets: the client's body,
    /// unchanged, its data bytes counted as they are read, for the record's
    /// `request_bytes`. Routers and servers that take any body (axum's
    /// `Router`, tonic's routes) take it as they take the client's.
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use relayer_axum::{RelayerService, RequestBody};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let service = RelayerService::new(
    ///     service_fn(|request: http::Request<RequestBody<String>>| async {
    ///         let body = request.into_body().collect().await?.to_bytes();
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{} bytes", body.len())))
    ///     }),
    ///     relayer,
    /// );
    /// let response = service.oneshot(http::Request::new(String::from("hello"))).await?;
    /// response.into_body().collect().await?;
    /// assert_eq!(mock.json("logging")[0]["request_bytes"], 5);
    /// # Ok(()) }
    /// ```
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        // Shared with the request's recorder; `None` for skipped paths.
        received: Option<Arc<AtomicU64>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn counted(inner: B, received: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            received: Some(received),
        }
    }

    pub(crate) fn uncounted(inner: B) -> Self {
        Self {
            inner,
            received: None,
        }
    }

    /// The client's body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let (Some(received), Some(Ok(frame))) = (this.received, &frame)
            && let Some(data) = frame.data_ref()
        {
            received.fetch_add(data.remaining() as u64, Relaxed);
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
