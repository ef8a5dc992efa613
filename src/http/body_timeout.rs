//! A request body that fails when it stalls: no frame for [`Limits::body_timeout`]
//! (`super::Limits`). As tower-http's `RequestBodyTimeoutLayer`, with one difference that
//! matters on the hot path: the timer is armed only when the body has to be waited for.
//! tower-http's arms a fresh timer on every poll, so a one-frame body already in the
//! connection's buffer — every small request — registered and cancelled two timers in
//! tokio's wheel, about a twentieth of the service's own work on a `/v1/check`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{sleep, Sleep};

/// What a stalled body fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body stalled: no data within the body timeout")]
pub struct BodyStalled;

/// Wraps each request's body in a [`StallTimeoutBody`].
#[derive(Debug, Clone, Copy)]
pub struct StallTimeoutLayer {
    timeout: Duration,
}

impl StallTimeoutLayer {
    pub fn new(timeout: Duration) -> Self {
        StallTimeoutLayer { timeout }
    }
}

impl<S> tower::Layer<S> for StallTimeoutLayer {
    type Service = StallTimeout<S>;

    fn layer(&self, inner: S) -> StallTimeout<S> {
        StallTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`StallTimeoutLayer`].
#[derive(Debug, Clone, Copy)]
pub struct StallTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<axum::http::Request<B>> for StallTimeout<S>
where
    S: tower::Service<axum::http::Request<StallTimeoutBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let timeout = self.timeout;
        self.inner
            .call(request.map(|body| StallTimeoutBody::new(body, timeout)))
    }
}

pin_project! {
    /// A body that fails with [`BodyStalled`] when no frame comes for its timeout while
    /// it is being waited for.
    pub struct StallTimeoutBody<B> {
        #[pin]
        body: B,
        timeout: Duration,
        // Armed at the first poll that has to wait; disarmed by every frame.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<B> StallTimeoutBody<B> {
    pub fn new(body: B, timeout: Duration) -> Self {
        StallTimeoutBody {
            body,
            timeout,
            sleep: None,
        }
    }
}

impl<B> Body for StallTimeoutBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            this.sleep.set(None);
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(sleep(*this.timeout)));
        }
        match this.sleep.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body whose data never comes.
    struct Stalled;

    impl Body for Stalled {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<bytes::Bytes>, std::convert::Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_after_its_timeout_and_a_ready_one_reads() {
        let started = tokio::time::Instant::now();
        let err = StallTimeoutBody::new(Stalled, Duration::from_secs(10))
            .collect()
            .await
            .map(|_| ())
            .expect_err("a stalled body fails");
        assert!(err.is::<BodyStalled>(), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));

        let ready = http_body_util::Full::new(bytes::Bytes::from_static(b"{}"));
        let read = StallTimeoutBody::new(ready, Duration::from_secs(10))
            .collect()
            .await
            .expect("a ready body reads")
            .to_bytes();
        assert_eq!(&read[..], b"{}");
        assert_eq!(started.elapsed(), Duration::from_secs(10), "no wait");
    }
}
