//! The response future: runs the inner service's future with the request's
//! relayer current, catches its panic, and hands the record over to the
//! response body.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::future::CatchUnwind;
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use relayer::Bound;

use crate::body::ResponseBody;
use crate::recorder::Recorder;

/// The inner future, with the request's relayer current while it runs and
/// its panic caught.
pub(crate) type Relayed<F> = CatchUnwind<AssertUnwindSafe<Bound<F>>>;

pin_project! {
    /// The response future of [`RelayerService`](crate::RelayerService).
    ///
    /// It resolves to the inner service's response with `X-Request-ID` set
    /// and its body wrapped in a [`ResponseBody`] that writes the record
    /// when it ends. A panic of the inner service resolves to an empty
    /// `500 Internal Server Error` response (record outcome `panicked`).
    /// Dropped before the response is ready (the client went away), it
    /// writes the record with outcome `cancelled` and status 499.
    ///
    /// ```
    /// use futures_util::FutureExt;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let app = axum::Router::new()
    ///     .route("/slow", axum::routing::get(|| std::future::pending::<&str>()))
    ///     .layer(relayer_axum::RelayerLayer::new(relayer));
    ///
    /// let request = http::Request::get("/slow").body(axum::body::Body::empty())?;
    /// let mut future = Box::pin(app.oneshot(request));
    /// assert!((&mut future).now_or_never().is_none()); // the handler runs, and waits
    /// drop(future); // the client went away
    /// assert_eq!(mock.json("logging")[0]["outcome"], "cancelled");
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Skipped {
            #[pin]
            future: F,
        },
        Relayed {
            #[pin]
            future: Relayed<F>,
            recorder: Option<Recorder>,
        },
        Panicked {
            recorder: Option<Recorder>,
        },
    }
}

impl<F> ResponseFuture<F> {
    /// A request served without scope and record.
    pub(crate) fn skipped(future: F) -> Self {
        Self {
            kind: Kind::Skipped { future },
        }
    }

    /// A request whose record `recorder` writes.
    pub(crate) fn relayed(future: Relayed<F>, recorder: Recorder) -> Self {
        Self {
            kind: Kind::Relayed {
                future,
                recorder: Some(recorder),
            },
        }
    }

    /// A request whose service panicked in `call`, before making a future.
    pub(crate) fn panicked(recorder: Recorder) -> Self {
        Self {
            kind: Kind::Panicked {
                recorder: Some(recorder),
            },
        }
    }
}

const POLLED_AFTER_COMPLETION: &str = "ResponseFuture polled after completion";

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Skipped { future } => future
                .poll(cx)
                .map_ok(|response| response.map(ResponseBody::passthrough)),
            KindProj::Relayed { future, recorder } => {
                let result = ready!(future.poll(cx));
                let mut recorder = recorder.take().expect(POLLED_AFTER_COMPLETION);
                Poll::Ready(match result {
                    Ok(Ok(mut response)) => {
                        recorder.on_response(&mut response);
                        Ok(response.map(|body| ResponseBody::recorded(body, recorder)))
                    }
                    Ok(Err(error)) => {
                        recorder.on_service_error();
                        Err(error)
                    }
                    Err(panic) => {
                        recorder.on_panic(&*panic);
                        Ok(panic_response(recorder))
                    }
                })
            }
            KindProj::Panicked { recorder } => Poll::Ready(Ok(panic_response(
                recorder.take().expect(POLLED_AFTER_COMPLETION),
            ))),
        }
    }
}

/// The response to a panic: `500 Internal Server Error`, empty, with the
/// request id; its record is written when it has been sent.
fn panic_response<B: Body>(mut recorder: Recorder) -> Response<ResponseBody<B>> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    recorder.on_response(&mut response);
    response.map(|()| ResponseBody::empty(recorder))
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Skipped { .. } => "skipped",
            Kind::Relayed { .. } => "relayed",
            Kind::Panicked { .. } => "panicked",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
