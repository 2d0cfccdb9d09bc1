//! The response body: passes frames through, counts the bytes sent, and
//! writes the record when the last frame has gone out.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use relayer::record::Outcome;

use crate::recorder::Recorder;

pin_project! {
    /// The response body of [`RelayerService`](crate::RelayerService).
    ///
    /// It yields the inner service's body unchanged and ends the request's
    /// record when the body ends: when a frame leaves the body at its end
    /// (`is_end_stream`), when it returns its last frame (`None`), or when it
    /// is dropped with nothing left to send. So the record of a streaming or
    /// server-sent-events response covers the whole stream. A body dropped
    /// before its end (the client went away) writes outcome `cancelled`; a
    /// body error writes outcome `body_error`; a body that panics writes
    /// outcome `panicked` with the panic's message, and the panic goes on.
    ///
    /// While the body is polled, the request's relayer is
    /// [`Relayer::current`](relayer::Relayer::current), so code producing a
    /// stream can log into the request's record.
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use relayer_axum::RelayerService;
    /// use tower::{ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let service = RelayerService::new(
    ///     service_fn(|_request: http::Request<relayer_axum::RequestBody<String>>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
    ///     }),
    ///     relayer,
    /// );
    /// let response = service.oneshot(http::Request::new(String::new())).await?;
    /// assert!(mock.messages("logging").is_empty()); // the body is not sent yet
    ///
    /// let body = response.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "hello");
    /// assert_eq!(mock.json("logging")[0]["content_length"], 5);
    /// # Ok(()) }
    /// ```
    pub struct ResponseBody<B: Body> {
        #[pin]
        kind: Kind<B>,
        recorder: Option<Recorder>,
    }

    impl<B: Body> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(recorder) = this.recorder {
                recorder.dropped(this.kind.as_ref().get_ref().is_end_stream());
            }
        }
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Empty,
    }
}

impl<B: Body> Kind<B> {
    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Empty => true,
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// The body of a request served without record (a skipped path).
    pub(crate) fn passthrough(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
            recorder: None,
        }
    }

    /// The service's body, ending `recorder`'s record when it ends.
    pub(crate) fn recorded(body: B, recorder: Recorder) -> Self {
        Self {
            kind: Kind::Inner { body },
            recorder: Some(recorder),
        }
    }

    /// An empty body (the layer's response to a panic) ending `recorder`'s
    /// record when it is sent.
    pub(crate) fn empty(recorder: Recorder) -> Self {
        Self {
            kind: Kind::Empty,
            recorder: Some(recorder),
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let KindProj::Inner { mut body } = this.kind.project() else {
            if let Some(recorder) = this.recorder {
                recorder.end();
            }
            return Poll::Ready(None);
        };
        let Some(recorder) = this.recorder else {
            return body.poll_frame(cx);
        };
        let poll = AssertUnwindSafe(|| match recorder.relayer() {
            Some(relayer) => relayer.in_scope(|| body.as_mut().poll_frame(cx)),
            None => body.as_mut().poll_frame(cx),
        });
        let polled = match panic::catch_unwind(poll) {
            Ok(polled) => polled,
            Err(panic) => {
                // Recorded, then the panic goes on as if nothing caught it.
                recorder.on_body_panic(&*panic);
                panic::resume_unwind(panic);
            }
        };
        let frame = ready!(polled);
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    recorder.on_data(data);
                }
                if let Some(trailers) = frame.trailers_ref() {
                    recorder.on_trailers(trailers);
                }
                if body.is_end_stream() {
                    recorder.end();
                }
            }
            Some(Err(_)) => recorder.finish(Outcome::BodyError),
            None => recorder.end(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
        }
    }
}

impl<B: Body> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("recorded", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}
