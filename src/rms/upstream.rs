//! [`Upstream`]: the proxy's side of the network — RMS (or anything that speaks its
//! protocol) reached with the *caller's* credentials.
//!
//! The guarding proxy never holds a credential of its own. It relays a read exactly as the
//! OMS sent it ([`Upstream::relay`]) and, for a state-changing call it has checked, sends
//! through an [`UpstreamApi`]: an [`RmsApi`] bound to one request's `Authorization` header,
//! which the [`Guard`](crate::guard::Guard) uses like any other client. Every call, relayed
//! or sent, first waits for the shop's [`RateLimiter`], so the proxy never calls RMS faster
//! than the rate it was given, whoever asks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{RateLimiter, RmsApi, RmsCall, RmsError, RmsReply};
use crate::rules::TransportFailure;

/// Where the proxy sends what it lets through: an `http`/`https` origin.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    origin: String,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

/// A relayed answer: status, the headers worth passing back, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Relayed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Headers a relay passes on (both ways); everything else is the connection's own.
fn relayable(name: &str) -> bool {
    !matches!(
        name.to_ascii_lowercase().as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "upgrade"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "host"
            | "accept-encoding"
            | "content-encoding"
            | "expect"
    )
}

impl Upstream {
    /// A client for `origin` (scheme, host and port; e.g. `https://api.rms.rakuten.co.jp`),
    /// with a per-call `timeout`.
    pub fn new(origin: &str, timeout: Duration) -> Result<Self, RmsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("rms-preflight-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RmsError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Upstream {
            client,
            origin: origin.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The longest one call waits for its answer: after it, the call has ended for the
    /// proxy, and RMS is taken to have ended it too (a read-back then tells what it did).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Relays one request as it came (method, path and query, headers, body) after the
    /// limiter's turn; `None` from the limiter means no wait.
    pub async fn relay(
        &self,
        limiter: Option<&RateLimiter>,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Relayed, RmsError> {
        if let Some(l) = limiter {
            l.acquire().await;
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| RmsError::Invalid(format!("bad method `{method}`")))?;
        let mut request = self
            .client
            .request(method, format!("{}{path_and_query}", self.origin));
        for (k, v) in headers.iter().filter(|(k, _)| relayable(k)) {
            request = request.header(k.as_str(), v.as_str());
        }
        let response = request.body(body).send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(k, _)| relayable(k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = read_body(response).await?;
        Ok(Relayed {
            status,
            headers,
            body,
        })
    }

    /// An [`RmsApi`] whose calls go to `{origin}{prefix}/order/<function>/` with
    /// `authorization`, each after `limiter`'s turn. `prefix` is the path before `/order/`
    /// in the request the proxy is answering (`/es/2.0`).
    pub fn api(
        &self,
        prefix: &str,
        authorization: Option<String>,
        limiter: Arc<RateLimiter>,
    ) -> UpstreamApi {
        UpstreamApi {
            upstream: self.clone(),
            base: format!("{}{}", self.origin, prefix.trim_end_matches('/')),
            authorization,
            limiter,
            seen: Mutex::new(Vec::new()),
        }
    }
}

/// One call an [`UpstreamApi`] made, as it went.
#[derive(Debug, Clone)]
pub struct Sent {
    pub function: String,
    /// The answer, or the failure.
    pub result: Result<RmsReply, RmsError>,
    pub elapsed: Duration,
}

/// [`Upstream`] bound to one caller's credentials: an [`RmsApi`] that remembers every call
/// it made ([`UpstreamApi::sent`]), so the proxy can answer with RMS's own messages.
pub struct UpstreamApi {
    upstream: Upstream,
    base: String,
    authorization: Option<String>,
    limiter: Arc<RateLimiter>,
    seen: Mutex<Vec<Sent>>,
}

impl std::fmt::Debug for UpstreamApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The Authorization header is deliberately absent.
        f.debug_struct("UpstreamApi").finish_non_exhaustive()
    }
}

impl UpstreamApi {
    /// Every call made so far, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl RmsApi for UpstreamApi {
    /// One attempt, never retried here: the guard decides what may be sent again.
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        self.limiter.acquire().await;
        let started = Instant::now();
        let result = async {
            let body =
                serde_json::to_vec(&call.body).map_err(|e| RmsError::Invalid(e.to_string()))?;
            let mut request = self
                .upstream
                .client
                .post(format!("{}/order/{}/", self.base, call.function))
                .header("Content-Type", "application/json; charset=utf-8")
                .body(body);
            if let Some(a) = &self.authorization {
                request = request.header("Authorization", a);
            }
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            let body = read_body(response).await?;
            Ok(RmsReply { status, body })
        }
        .await;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(Sent {
                function: call.function.clone(),
                result: result.clone(),
                elapsed: started.elapsed(),
            });
        }
        result
    }
}

/// Reads an upstream's answer body, at most [`max_input_bytes`](crate::model::limits::max_input_bytes)
/// (16 MiB, or `--max-input-size`): reading stops at the cap — a body announced or sent
/// beyond it is never held whole — and the answer counts as lost (a transport failure:
/// whether RMS acted on the call is unknown). Every client of the crate reads through it.
pub(super) async fn read_body(response: reqwest::Response) -> Result<Bytes, RmsError> {
    read_body_limited(response, crate::model::limits::max_input_bytes()).await
}

async fn read_body_limited(mut response: reqwest::Response, limit: u64) -> Result<Bytes, RmsError> {
    let too_large = || RmsError::Transport {
        kind: TransportFailure::Io,
        message: format!(
            "the answer is larger than {} (--max-input-size); reading stopped there",
            crate::model::limits::describe_bytes(limit)
        ),
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// reqwest's errors can carry the URL; ours carry only the kind and a short reason.
pub(super) fn transport_error(e: reqwest::Error) -> RmsError {
    let kind = if e.is_timeout() {
        TransportFailure::Timeout
    } else if e.is_connect() {
        TransportFailure::Connect
    } else {
        TransportFailure::Io
    };
    let message = match kind {
        TransportFailure::Timeout => "no answer before the timeout",
        TransportFailure::Connect => "cannot connect",
        TransportFailure::Io => "the connection failed",
    };
    RmsError::Transport {
        kind,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server answering once with `size` bytes of body, its length announced
    /// (`content-length`) or not.
    fn serve(announce: bool, size: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let length = if announce {
                format!("content-length: {size}\r\n")
            } else {
                String::new()
            };
            let _ = write!(s, "HTTP/1.1 200 OK\r\n{length}connection: close\r\n\r\n");
            let chunk = vec![b'a'; 4096];
            let mut sent = 0;
            while sent < size && s.write_all(&chunk[..chunk.len().min(size - sent)]).is_ok() {
                sent += chunk.len().min(size - sent);
            }
        });
        origin
    }

    /// Every answer the crate reads from the network stops at the limit, announced or
    /// streamed; an answer within it is read whole.
    #[tokio::test]
    async fn an_answer_is_read_up_to_the_limit_and_no_further() {
        for announce in [true, false] {
            let response = reqwest::get(serve(announce, 1 << 20)).await.unwrap();
            let err = read_body_limited(response, 64 << 10).await.unwrap_err();
            assert!(
                matches!(&err, RmsError::Transport { kind: TransportFailure::Io, message } if message.contains("larger than 64 KiB")),
                "{err}"
            );
            let response = reqwest::get(serve(announce, 64 << 10)).await.unwrap();
            let body = read_body_limited(response, 64 << 10).await.unwrap();
            assert_eq!(body.len(), 64 << 10);
        }
    }
}
