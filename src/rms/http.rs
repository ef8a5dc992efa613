//! [`HttpRms`]: the real RakutenPayOrderAPI client over HTTPS (reqwest).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::upstream::{read_body, transport_error};
use super::{function, Credentials, RateLimiter, RmsApi, RmsCall, RmsError, RmsReply};
use crate::engine::Engine;
use crate::rules::Retry;

/// RMS's production base URL.
pub const DEFAULT_BASE: &str = "https://api.rms.rakuten.co.jp/es/2.0";

/// How [`HttpRms`] talks to RMS.
#[derive(Debug, Clone)]
pub struct HttpRmsConfig {
    /// `https://api.rms.rakuten.co.jp/es/2.0`; calls go to `{base}/order/<function>/`.
    pub base: String,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Minimum spacing of calls (rate limit); zero disables it.
    pub request_interval: Duration,
    /// Attempts of a safe read (getOrder, searchOrder) that fails transiently.
    pub read_attempts: u32,
    /// First backoff between read attempts; doubles each time.
    pub backoff: Duration,
}

impl HttpRmsConfig {
    /// Production settings, with the rate limit from the rules' `timing.request_interval`.
    pub fn for_rules(engine: &Engine) -> Self {
        let interval = Duration::from_secs(
            engine
                .rules()
                .facts()
                .request_interval
                .as_secs()
                .max(0)
                .unsigned_abs(),
        );
        HttpRmsConfig {
            base: DEFAULT_BASE.to_owned(),
            timeout: Duration::from_secs(30),
            request_interval: interval,
            read_attempts: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// The real client. Cheap to clone; share one per shop (the rate limit is per client).
#[derive(Clone)]
pub struct HttpRms {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: HttpRmsConfig,
    authorization: String,
    limiter: RateLimiter,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for HttpRms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The Authorization header is deliberately absent.
        // A query string could carry a key: show the base without it.
        let base = self.inner.config.base.split('?').next().unwrap_or_default();
        f.debug_struct("HttpRms")
            .field("base", &base)
            .field("timeout", &self.inner.config.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpRms {
    /// A client for `credentials`; the engine classifies failures (retry or not).
    pub fn new(
        config: HttpRmsConfig,
        credentials: &Credentials,
        engine: Arc<Engine>,
    ) -> Result<Self, RmsError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("rms-preflight/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RmsError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpRms {
            inner: Arc::new(Inner {
                client,
                limiter: RateLimiter::new(config.request_interval),
                authorization: credentials.authorization(),
                config,
                engine,
            }),
        })
    }

    fn url(&self, function: &str) -> String {
        format!(
            "{}/order/{function}/",
            self.inner.config.base.trim_end_matches('/')
        )
    }

    async fn attempt(&self, call: &RmsCall) -> Result<RmsReply, RmsError> {
        let inner = &self.inner;
        inner.limiter.acquire().await;
        let body = serde_json::to_vec(&call.body).map_err(|e| RmsError::Invalid(e.to_string()))?;
        let response = inner
            .client
            .post(self.url(&call.function))
            .header("Authorization", &inner.authorization)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let body: Bytes = read_body(response).await?;
        Ok(RmsReply { status, body })
    }
}

impl RmsApi for HttpRms {
    /// One attempt for anything that changes an order (never a blind retry: see the
    /// guard's reconciliation); up to `read_attempts` with backoff for safe reads, when
    /// the error table says the failure is passing.
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        let attempts = if function::is_read(&call.function) {
            self.inner.config.read_attempts.max(1)
        } else {
            1
        };
        let mut backoff = self.inner.config.backoff;
        let mut attempt = 1;
        loop {
            let result = self.attempt(&call).await;
            let failure = match &result {
                Ok(reply) if (200..300).contains(&reply.status) => return result,
                Ok(reply) => RmsError::Status {
                    status: reply.status,
                    body: String::from_utf8_lossy(&reply.body).into_owned(),
                },
                Err(e) => e.clone(),
            };
            if attempt >= attempts {
                return result;
            }
            let entry = failure.classify(&self.inner.engine).entry;
            if entry.retry != Retry::AfterReconcile {
                return result;
            }
            let wait = entry
                .wait
                .map_or(Duration::ZERO, |w| {
                    Duration::from_secs(w.as_secs().max(0).unsigned_abs())
                })
                .max(backoff);
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }
}
