//! The request body: passes frames through, counts the bytes received for
//! the record's `request_bytes`, and copies the first ones for its
//! `request_body` when capture is on.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use relayer::SecretNames;

use crate::capture::Capture;

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
        received: Option<Arc<Received>>,
    }
}

/// What the service read of the request body, shared by its
/// [`RequestBody`] and the request's recorder, which may write the record
/// while the body is still read elsewhere.
#[derive(Debug, Default)]
pub(crate) struct Received {
    bytes: AtomicU64,
    /// The first bytes, when the body is captured.
    capture: Option<Mutex<Capture>>,
}

impl Received {
    pub(crate) fn new(capture: Option<Capture>) -> Self {
        Self {
            bytes: AtomicU64::new(0),
            capture: capture.map(Mutex::new),
        }
    }

    fn on_data(&self, data: &impl Buf) {
        self.bytes.fetch_add(data.remaining() as u64, Relaxed);
        if let Some(capture) = &self.capture {
            // A copy cannot panic midway: a poisoned capture is still whole.
            capture
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .copy(data);
        }
    }

    /// The data bytes read so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// The captured bytes as text; see [`Capture::text`].
    pub(crate) fn text(&self, names: &SecretNames) -> Option<String> {
        self.capture
            .as_ref()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .text(names)
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn counted(inner: B, received: Arc<Received>) -> Self {
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
            received.on_data(data);
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
