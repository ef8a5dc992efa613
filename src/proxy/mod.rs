//! The guarding RMS proxy: RMS's wire protocol in, the engine and the ledger in the
//! middle, RMS's wire protocol out — so an OMS in any language gets the pre-flight by
//! changing only its RMS base URL, and cannot bypass it.
//!
//! # What happens to a request
//!
//! - **Reads** (`getOrder`, `searchOrder`, …) are relayed unchanged, with the caller's own
//!   `Authorization` (the proxy stores no credential). The orders a `getOrder` answer shows
//!   are kept as fresh snapshots for a window ([`SnapshotCache`]).
//! - **`confirmOrder`**: for each order number, the order's snapshot comes from the cache
//!   or from one batched `getOrder` (counted against the shop's rate limit); the
//!   [`Guard`] — bound to the shared [`Ledger`] — checks every order, claims the allowed
//!   ones in the ledger, sends them upstream in one call, reconciles a lost answer by
//!   reading the orders back, and records each outcome. The answer is merged back in the
//!   request's order: RMS's own message for the orders it answered, and the proxy's
//!   RMS-shaped message ([`answer`]) for the orders it answered itself.
//! - **Other state-changing calls** the rules judge (`updateOrderShipping`, `cancelOrder`,
//!   `updateOrderDelivery`, …): every order the body names is checked; the call is sent
//!   with the caller's own body only when all are allowed ([`Guard::send_checked`]).
//! - A path the proxy cannot read as an RMS function is refused, never relayed
//!   ([`route`]); in `--dry-run` everything is relayed and what *would* have been denied is
//!   logged and counted.
//!
//! Before judging a confirmation the proxy settles what a crash or a lost answer left
//! open for the shop ([`Guard::reconcile_ledger`]): rows left `sending` longer than the
//! stale time become `unknown`, and `unknown` rows are read back — so a resend after a
//! crash is decided by RMS's state, never sent blindly.
//!
//! OMS facts only the OMS knows (a bundle, S8) may come with a request in the
//! `x-rms-preflight-oms` header: a JSON object from order number to the check request's
//! `oms` object. Without it the proxy judges by RMS's snapshot and the ledger.

pub mod answer;
mod merge;
pub mod metrics;
mod request_json;
pub mod route;
pub mod serving;
pub mod shop;
pub mod snapshots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::engine::Engine;
use crate::guard::{DeferredMarks, Failure, Guard, Outcome, Tracked};
use crate::ledger::{Key, Ledger, LedgerError, Scope};
use crate::model::{canonical_order_number, Action, BatchFacts, OmsState, Order, Request, Shop};
use crate::rms::wire::{GetOrderRequest, MAX_ORDER_NUMBERS};
use crate::rms::{function, RateLimiter, RmsApi, RmsError, Sent, Upstream, UpstreamApi};
use merge::{upstream_messages, Entry};
pub use metrics::Metrics;
pub use route::{function_of, Function, NotAFunction, Route};
pub use shop::{key_of_authorization, ShopFile};
pub use snapshots::SnapshotCache;

/// The header carrying OMS facts (see the module docs).
pub const OMS_HEADER: &str = "x-rms-preflight-oms";

/// How a [`Proxy`] runs.
pub struct Config {
    pub upstream: Upstream,
    pub engine: Arc<Engine>,
    pub ledger: Arc<dyn Ledger>,
    /// One shop, named and configured by a `--shop` file; `None`: each caller's shop is
    /// known by its credential's salted hash, with default settings.
    pub shop: Option<ShopFile>,
    /// Report only: relay everything, count what would have been denied.
    pub dry_run: bool,
    /// How long a snapshot from a relayed `getOrder` stays fresh.
    pub snapshot_window: Duration,
    pub snapshot_capacity: usize,
    /// Minimum spacing of upstream calls per shop (zero: no limit).
    pub upstream_interval: Duration,
    /// How long a `sending` row may sit before its sender is taken for dead. At start-up
    /// as given (no row of this process exists yet); while running, never less than
    /// [`Config::request_timeout`] plus a margin, so the proxy never takes one of its own
    /// calls in flight for dead (see [`Proxy::live_stale_after`]).
    pub stale_after: Duration,
    /// The longest a request (and so a claim of this process) can be in flight.
    pub request_timeout: Duration,
    /// `version` of the proxy's own `getOrder` calls.
    pub get_order_version: u32,
    /// The only path before `/order/<function>` the proxy accepts (`/es/2.0`, RMS's).
    pub base_path: String,
    /// Time a request's whole body has to arrive: 408 after it.
    pub body_timeout: Duration,
}

impl Config {
    /// Defaults for everything but the parts: a 30 s snapshot window (100,000 entries),
    /// the rules' request interval, the guard's stale time, `getOrder` version 7.
    pub fn new(upstream: Upstream, engine: Arc<Engine>, ledger: Arc<dyn Ledger>) -> Self {
        let interval = Duration::from_secs(
            engine
                .rules()
                .facts()
                .request_interval
                .as_secs()
                .max(0)
                .unsigned_abs(),
        );
        Config {
            upstream,
            engine,
            ledger,
            shop: None,
            dry_run: false,
            snapshot_window: Duration::from_secs(30),
            snapshot_capacity: 100_000,
            upstream_interval: interval,
            stale_after: crate::guard::DEFAULT_STALE_AFTER,
            request_timeout: Duration::from_secs(300),
            get_order_version: 7,
            base_path: "/es/2.0".to_owned(),
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// The proxy: shared by every request (see the module docs).
pub struct Proxy {
    config: Config,
    cache: SnapshotCache,
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
    metrics: Metrics,
    /// When each shop's ledger rows were last settled in full (abandon + read back).
    reconciled: Mutex<HashMap<String, Instant>>,
    /// `confirmed` marks written after the answer (see [`Proxy::finish`]).
    marks: DeferredMarks,
}

/// How often a shop's `sending` rows are looked at for abandoned ones (a peer proxy that
/// died) even when nothing else asks for it.
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// What [`Proxy::start_up`] did, and what it left for [`Proxy::settle_left_behind`].
#[derive(Debug)]
pub struct StartUp {
    /// Rows turned `unknown` at start-up.
    pub abandoned: usize,
    left_behind: Option<LeftBehind>,
}

impl StartUp {
    /// Whether claims made before the start still wait for the upstream timeout to pass.
    pub fn leaves_some_behind(&self) -> bool {
        self.left_behind.is_some()
    }
}

/// Claims made before a lone start: abandoned at `due`, when none of their calls can
/// still be running at RMS.
#[derive(Debug)]
struct LeftBehind {
    /// The start, on the ledger's clock (machine time: only SQLite starts alone).
    claimed_by_ms: i64,
    due: tokio::time::Instant,
}

/// The shop a request is for.
struct Caller {
    key: String,
    settings: Shop,
    authorization: Option<String>,
}

/// The shop key of callers the proxy cannot name (no `--shop`, no ESA header): they share
/// one rate limit, and their state-changing calls are refused.
const ANONYMOUS: &str = "anonymous";

impl Proxy {
    pub fn new(config: Config) -> Arc<Proxy> {
        // Every claim of this proxy records how long RMS may still act on its call.
        config.ledger.set_call_timeout(config.upstream.timeout());
        Arc::new(Proxy {
            cache: SnapshotCache::new(config.snapshot_window, config.snapshot_capacity),
            limiters: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            reconciled: Mutex::new(HashMap::new()),
            marks: DeferredMarks::new(),
            config,
        })
    }

    /// `GET /-/healthz`, `GET /-/metrics`, and every other request as RMS traffic.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/-/healthz", get(healthz))
            .route("/-/metrics", get(metrics_text))
            .fallback(handle)
            .with_state(self.clone())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// At start-up: every `sending` row idle for longer than the stale time (its sender
    /// died, e.g. a proxy killed mid-call) becomes `unknown`, in every shop. Each is read
    /// back before its order can be sent again — at the shop's next confirmation, with
    /// that caller's credential (the proxy holds none of its own).
    ///
    /// `alone`: no other process serves this ledger now (a [`serving::ServingLock`] taken
    /// exclusively), so a `sending` row is no one's call in flight and the configured
    /// stale time applies. Otherwise the live one does ([`Proxy::live_stale_after`]): a
    /// proxy still draining its calls may be sending those rows.
    ///
    /// Even alone, a row is not abandoned at once unless its claim is older than any call
    /// of it could still be running at RMS (the request timeout, then the upstream
    /// timeout). A stopped proxy's last call may still be at RMS: sent just before it died
    /// (SIGKILL, or cut at the end of its drain), RMS can act on it for up to the upstream
    /// timeout, and a read-back before that would find the order untouched and let a
    /// second confirmation go. The rest of the claims made before this start wait in the
    /// returned [`StartUp`] for [`Proxy::settle_left_behind`].
    pub async fn start_up(&self, alone: bool) -> Result<StartUp, LedgerError> {
        // Every confirmation claims in it: a ledger it may only read would fail them all.
        self.config.ledger.writable()?;
        let scope = Scope {
            shop: None,
            action: Some(Action::Confirm),
        };
        // Before anything of this process can be claimed.
        // (a millisecond earlier: a claim in the start's own millisecond is left alone).
        let started_ms = crate::ledger::now_ms().saturating_sub(1);
        let started = tokio::time::Instant::now();
        // The longest a sender of a claim left here waits for RMS: its own record, or ours.
        let longest_call = self
            .config
            .ledger
            .longest_call_timeout(&scope, started_ms)
            .await?
            .unwrap_or_default()
            .max(self.config.upstream.timeout());
        let ended_at_rms = self.config.request_timeout + longest_call;
        let (stale, left_behind) = if alone {
            let at_once = self.config.stale_after.max(ended_at_rms);
            let left_behind = (self.config.stale_after < at_once).then_some(LeftBehind {
                claimed_by_ms: started_ms,
                due: started + self.config.upstream.timeout(),
            });
            (at_once, left_behind)
        } else {
            (self.live_stale_after(), None)
        };
        let rows = self.config.ledger.abandon(&scope, stale).await?;
        Ok(StartUp {
            abandoned: rows.len(),
            left_behind,
        })
    }

    /// Abandons what [`Proxy::start_up`] left: once the upstream timeout has passed since
    /// the start (or the longer one a claim left behind recorded for its sender,
    /// [`Ledger::longest_call_timeout`]), no call of a process that stopped before it can
    /// still be at RMS, so each
    /// claim made before the start and idle for the stale time becomes `unknown` (younger
    /// ones wait for the live stale time). Answers how many rows moved; every shop's next
    /// confirmation reads them back. Claims of this process are newer than the start and
    /// are never touched; nor are a later proxy's (one that started beside this one was
    /// not alone, and claims only after this start).
    pub async fn settle_left_behind(&self, start_up: &StartUp) -> Result<usize, LedgerError> {
        let Some(left) = &start_up.left_behind else {
            return Ok(0);
        };
        tokio::time::sleep_until(left.due).await;
        let scope = Scope {
            shop: None,
            action: Some(Action::Confirm),
        };
        // A stopped proxy may have waited longer for RMS than this one does: each claim
        // recorded its sender's timeout, and the longest of those left behind is waited
        // out too.
        let own = self.config.upstream.timeout();
        if let Some(longest) = self
            .config
            .ledger
            .longest_call_timeout(&scope, left.claimed_by_ms)
            .await?
        {
            if longest > own {
                tracing::info!(
                    after_secs = longest.as_secs_f64(),
                    "a claim left `sending` was made by a proxy with a longer upstream timeout: waiting it out"
                );
                tokio::time::sleep_until(left.due - own + longest).await;
            }
        }
        let idle = crate::ledger::now_ms()
            .saturating_sub(i64::try_from(self.config.stale_after.as_millis()).unwrap_or(i64::MAX));
        let rows = self
            .config
            .ledger
            .abandon_untouched_since(&scope, left.claimed_by_ms.min(idle))
            .await?;
        if !rows.is_empty() {
            if let Ok(mut reconciled) = self.reconciled.lock() {
                reconciled.clear();
            }
        }
        Ok(rows.len())
    }

    fn limiter(&self, shop: &str) -> Arc<RateLimiter> {
        let Ok(mut limiters) = self.limiters.lock() else {
            return Arc::new(RateLimiter::new(self.config.upstream_interval));
        };
        limiters
            .entry(shop.to_owned())
            .or_insert_with(|| Arc::new(RateLimiter::new(self.config.upstream_interval)))
            .clone()
    }

    fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match &self.config.shop {
            Some(file) => Some(Caller {
                key: file.id.clone(),
                settings: file.settings.clone(),
                authorization,
            }),
            None => {
                let key = authorization.as_deref().and_then(key_of_authorization)?;
                Some(Caller {
                    key,
                    settings: Shop::default(),
                    authorization,
                })
            }
        }
    }

    fn guard(&self, function: &Function, caller: &Caller) -> Guard<UpstreamApi> {
        let api = self.config.upstream.api(
            &function.prefix,
            caller.authorization.clone(),
            self.limiter(&caller.key),
        );
        Guard::new(api, self.config.engine.clone(), caller.settings.clone())
            .with_ledger(self.config.ledger.clone(), caller.key.clone())
            .with_ledger_stale_after(self.live_stale_after())
            .with_deferred_marks(self.marks.clone())
            .with_resend_hold(self.config.upstream.timeout())
            .with_get_order_version(self.config.get_order_version)
    }

    /// Settles what a crash or a lost answer left open for the caller's shop, before a
    /// confirmation is judged (abandon idle `sending` rows, read back every `unknown` one):
    /// the first time this process sees the shop, every [`RECONCILE_EVERY`] (a peer proxy
    /// may have died), and after a confirmation met an open row or left one open
    /// ([`Proxy::unsettle`]). Otherwise it costs nothing.
    async fn settle(&self, guard: &Guard<UpstreamApi>, shop: &str) {
        let due = self
            .reconciled
            .lock()
            .map(|r| r.get(shop).is_none_or(|at| at.elapsed() >= RECONCILE_EVERY))
            .unwrap_or(true);
        if !due {
            return;
        }
        match guard.reconcile_ledger().await {
            Ok(r) => {
                if let Ok(mut at) = self.reconciled.lock() {
                    at.insert(shop.to_owned(), Instant::now());
                }
                if !(r.abandoned.is_empty() && r.confirmed.is_empty() && r.resendable.is_empty()) {
                    tracing::info!(
                        abandoned = r.abandoned.len(),
                        confirmed = r.confirmed.len(),
                        resendable = r.resendable.len(),
                        refused = r.refused.len(),
                        unresolved = r.unresolved.len(),
                        "ledger reconciled by reading orders back"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "the ledger could not be reconciled"),
        }
    }

    /// The stale time of the reconciliations the proxy runs while it serves: the
    /// configured one, but never less than the longest a request of this process can hold
    /// a claim (its timeout), plus the upstream timeout (its last call may still be at
    /// RMS) and a minute for its marks. With `--stale-after 0s` a
    /// settle would otherwise take a claim whose call is still on its way to RMS for
    /// abandoned, read the order back before RMS acted on it, find it in 100 and let a
    /// second confirmation go: the very thing the ledger is for.
    pub fn live_stale_after(&self) -> Duration {
        self.config.stale_after.max(
            self.config.request_timeout + self.config.upstream.timeout() + Duration::from_secs(60),
        )
    }

    /// Waits for the `confirmed` marks still being written after their answers went out
    /// (call it after the server stopped). A confirmation's answer does not wait for its
    /// `confirmed` mark: the row is `sending` until it lands, which refuses a second claim
    /// as well, and a proxy killed before it lands leaves a row reconciliation settles.
    pub async fn finish(&self) {
        self.marks.flush().await;
    }

    /// Asks for a full settle before the shop's next confirmation.
    fn unsettle(&self, shop: &str) {
        if let Ok(mut at) = self.reconciled.lock() {
            at.remove(shop);
        }
    }

    /// Counts the upstream calls a request made (latency, answers) into the metrics.
    fn count_sent(&self, calls: &[Sent]) {
        for sent in calls {
            self.metrics.upstream(sent.elapsed, sent.result.is_ok());
        }
    }
}

async fn healthz(State(proxy): State<Arc<Proxy>>) -> Response {
    let scope = Scope {
        shop: Some(String::new()),
        action: None,
    };
    match proxy.config.ledger.count(&scope).await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "ledger unavailable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(proxy): State<Arc<Proxy>>) -> Response {
    let scope = Scope {
        shop: None,
        action: None,
    };
    let counts = proxy.config.ledger.count(&scope).await.ok();
    let text = proxy
        .metrics
        .render(counts.as_deref(), proxy.config.dry_run);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The findings of a verdict that deny.
fn denying<'a, 'e>(
    findings: &'a [crate::engine::Finding<'e>],
) -> impl Iterator<Item = &'a crate::engine::Finding<'e>> {
    findings
        .iter()
        .filter(|f| f.severity == crate::rules::Severity::Deny)
}

/// A JSON answer.
fn json(status: u16, value: &Value) -> Response {
    json_body(status, value.to_string())
}

/// An answer whose body is JSON already (RMS's own, or rendered).
fn json_body(status: u16, body: impl Into<axum::body::Body>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// Everything that is not the proxy's own endpoint: RMS traffic.
async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    // The whole body within the body timeout (a per-read timeout would let a client
    // dribble one byte at a time and hold its connection for ever).
    let limit = usize::MAX;
    let body =
        match tokio::time::timeout(proxy.config.body_timeout, axum::body::to_bytes(body, limit))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                proxy.metrics.refused();
                let too_big = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                let (status, message) = if too_big {
                    (413, "the request body is over the size limit".to_owned())
                } else {
                    (400, format!("the request body could not be read: {e}"))
                };
                return json(status, &answer::refusal("BAD_REQUEST", &message));
            }
            Err(_) => {
                proxy.metrics.refused();
                let mut r = json(
                    408,
                    &answer::refusal(
                        "BAD_REQUEST",
                        &format!(
                            "the request body did not arrive within {}s",
                            proxy.config.body_timeout.as_secs()
                        ),
                    ),
                );
                r.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
                return r;
            }
        };
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let function = match function_of(uri.path()) {
        Ok(f) => f,
        Err(e) => {
            proxy.metrics.call("other");
            if proxy.config.dry_run {
                tracing::warn!(path = %shown(uri.path()).escape_debug(), error = %e, "dry run: relayed a path that names no RMS function");
                return relay(&proxy, None, &method, &path_and_query, &headers, body).await;
            }
            proxy.metrics.refused();
            tracing::warn!(path = %shown(uri.path()).escape_debug(), error = %e, "refused: not an RMS function");
            return json(404, &answer::refusal("UNKNOWN_FUNCTION", &e.to_string()));
        }
    };
    if function.prefix != proxy.config.base_path && !proxy.config.dry_run {
        proxy.metrics.call("other");
        proxy.metrics.refused();
        tracing::warn!(path = %shown(uri.path()).escape_debug(), "refused: not under the RMS base path");
        return json(
            404,
            &answer::refusal(
                "UNKNOWN_FUNCTION",
                &format!("the path is not under `{}/order/`", proxy.config.base_path),
            ),
        );
    }
    proxy.metrics.call(function.name);
    // What goes upstream is the path the proxy judged, in its one canonical spelling.
    let path_and_query = match uri.query() {
        Some(q) => format!("{}?{q}", function.path()),
        None => function.path(),
    };
    let response = match function.route {
        Route::Read | Route::Unguarded => {
            let caller = proxy.caller(&headers);
            let response = relay(
                &proxy,
                caller.as_ref(),
                &method,
                &path_and_query,
                &headers,
                body,
            )
            .await;
            proxy.metrics.forwarded(function.name, 1);
            response
        }
        Route::Confirm => {
            confirm(&proxy, &function, &method, &path_and_query, &headers, body).await
        }
        Route::Guarded(action) => {
            guarded(
                &proxy,
                &function,
                action,
                &method,
                &path_and_query,
                &headers,
                body,
            )
            .await
        }
    };
    tracing::info!(
        function = function.name,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        dry_run = proxy.config.dry_run,
        "answered"
    );
    response
}

/// A client's path, short enough for a log line.
fn shown(path: &str) -> String {
    path.chars().take(120).collect()
}

/// Relays a request as it came and its answer as it comes; a `getOrder` answer fills the
/// snapshot cache.
async fn relay(
    proxy: &Proxy,
    caller: Option<&Caller>,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let key = caller.map_or(ANONYMOUS, |c| c.key.as_str());
    let limiter = proxy.limiter(key);
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str() != OMS_HEADER)
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    // The orders a `getOrder` asks for, read before the body goes: what the answer says of
    // them replaces the snapshots kept of them.
    let function = function_of(path_and_query.split('?').next().unwrap_or("")).ok();
    let reads = caller.is_some()
        && function
            .as_ref()
            .is_some_and(|f| f.name == function::GET_ORDER);
    let requested = reads.then(|| requested_numbers(&body));
    let started = Instant::now();
    let relayed = proxy
        .config
        .upstream
        .relay(
            Some(&limiter),
            method.as_str(),
            path_and_query,
            &pairs,
            body,
        )
        .await;
    proxy.metrics.upstream(started.elapsed(), relayed.is_ok());
    match relayed {
        Ok(r) => {
            if let (Some(caller), Some(requested), 200) = (caller, &requested, r.status) {
                cache_orders(proxy, &caller.key, requested.as_deref(), &r.body);
            }
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
            // Upstream's headers only (no default content type of our own).
            let mut response = Response::new(axum::body::Body::from(r.body));
            *response.status_mut() = status;
            for (k, v) in &r.headers {
                if let (Ok(k), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(k.as_bytes()),
                    axum::http::HeaderValue::from_str(v),
                ) {
                    response.headers_mut().append(k, v);
                }
            }
            response
        }
        Err(e) => {
            let c = e.classify(&proxy.config.engine);
            let f = Failure::from_classification(&c, e.to_string());
            json(502, &answer::messages(vec![answer::failure("", &f)]))
        }
    }
}

/// The orders of a `getOrder` answer, each read from its own bytes, by canonical number.
#[derive(Default)]
struct ReadOrders {
    /// Each order that reads as one order, named once in the answer.
    orders: HashMap<String, Order>,
    /// Each order RMS returned that does not (a key given twice, a field of the wrong
    /// type, the same number listed twice), with why: what it holds is not known, so it
    /// is neither cached nor checked.
    unreadable: HashMap<String, String>,
}

/// Reads the orders of a `getOrder` answer (`None`: not an answer with an order list).
///
/// Each order is read straight from its bytes, as `check` reads one: building a
/// `serde_json::Value` first (a hundred orders of a hundred fields each) cost more than
/// reading the orders themselves, and a `Value` keeps only the last of a key given twice —
/// a `postagePrice` of -9999 followed by 660 would read as 660.
fn read_orders(body: &[u8]) -> Option<ReadOrders> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(rename = "OrderModelList", borrow, default)]
        orders: Option<Vec<&'a RawValue>>,
        // Messages, when given, are a list (not `null`) of objects, as the guard's own read
        // requires.
        #[serde(rename = "MessageModelList", borrow, default)]
        messages: Vec<&'a RawValue>,
    }
    let answer = serde_json::from_slice::<Answer>(body).ok()?;
    let messages = answer
        .messages
        .into_iter()
        .map(|m| serde_json::from_str::<Fields>(m.get()).ok())
        .collect::<Option<Vec<Fields>>>()?;
    let mut read = ReadOrders::default();
    for raw in answer.orders.unwrap_or_default() {
        let (number, order) = match serde_json::from_str::<Order>(raw.get()) {
            Ok(order) => match order.order_number.as_deref() {
                // The number is what the proxy would send and claim: it must be written
                // as it is compared (not ` 1-2` or full-width for `1-2`), as the OMS's must.
                Some(n) if canonical_order_number(n) != n => (
                    canonical_order_number(n),
                    Err(format!(
                        "the answer writes its number `{}`, not in the form it is sent and claimed in",
                        n.chars().take(64).collect::<String>().escape_debug()
                    )),
                ),
                Some(n) => (canonical_order_number(n), Ok(order)),
                None => continue,
            },
            Err(e) => {
                // Every order the entry may be, for a reader that keeps another of its
                // `orderNumber`s (or spells the key otherwise): none of them is read.
                let why = e.to_string();
                for n in numbers_named(raw.get()) {
                    read.orders.remove(&n);
                    read.unreadable.entry(n).or_insert_with(|| why.clone());
                }
                continue;
            }
        };
        if read.unreadable.contains_key(&number) {
            continue;
        }
        if read.orders.remove(&number).is_some() {
            read.unreadable
                .insert(number, "the answer lists the order twice".to_owned());
            continue;
        }
        match order {
            Ok(order) => {
                read.orders.insert(number, order);
            }
            Err(why) => {
                read.unreadable.insert(number, why);
            }
        }
    }
    // An order the answer also writes anything but an `INFO` about (as `check` reads a
    // message: any other type, or none) is not taken as read; `check` refuses such an
    // answer too.
    for m in &messages {
        let info = !m.types.is_empty()
            && m.types.iter().all(|t| {
                t.as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("INFO"))
            });
        if info {
            continue;
        }
        let shown = |t: &str| {
            t.chars()
                .take(64)
                .collect::<String>()
                .escape_debug()
                .to_string()
        };
        let what = match (m.codes.first(), m.types.first()) {
            (Some(code), _) => format!("`{}`", shown(code)),
            (None, Some(Some(kind))) => format!("a `{}` message without a code", shown(kind)),
            (None, _) => "a message without a type or code".to_owned(),
        };
        if m.numbers.is_empty() {
            // About no order it names as a string (none, `null`, a number, a list): it may
            // be about any of them, so none is taken as read.
            let why = format!("the answer also reports {what} without naming an order");
            for (n, _) in std::mem::take(&mut read.orders) {
                read.unreadable.insert(n, why.clone());
            }
            continue;
        }
        for n in &m.numbers {
            if read.orders.remove(n).is_some() {
                read.unreadable.insert(
                    n.clone(),
                    format!("the answer also reports {what} about it"),
                );
            }
        }
    }
    Some(read)
}

/// A key as the lenient reads below compare it: compatibility-normalised (NFKC), only its
/// letters and digits, lower case (`OrderNumber`, `order_number`, `ＯｒｄｅｒＮｕｍｂｅｒ`
/// all read `ordernumber`).
fn folded_key(key: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    key.nfkc()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An object's fields that name an order, a message type or a message code, however
/// spelled ([`folded_key`]) and however often given: the canonical number of each string
/// `orderNumber` that is not blank, each type (`None` where it is not a string) and each
/// code (as JSON where it is not a string: `101`, `null`).
#[derive(Default)]
struct Fields {
    numbers: Vec<String>,
    types: Vec<Option<String>>,
    codes: Vec<String>,
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut out = Fields::default();
                while let Some(key) = map.next_key::<String>()? {
                    let text = |v: Value| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    };
                    match folded_key(&key).as_str() {
                        "ordernumber" => {
                            // A blank number (``, spaces, an invisible character) names
                            // no order.
                            if let Some(n) = text(map.next_value::<Value>()?) {
                                let n = canonical_order_number(&n);
                                if !n.is_empty() {
                                    out.numbers.push(n);
                                }
                            }
                        }
                        "messagetype" => out.types.push(text(map.next_value::<Value>()?)),
                        "messagecode" => out.codes.push(match map.next_value::<Value>()? {
                            Value::String(s) => s,
                            other => other.to_string(),
                        }),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The canonical numbers an order entry names: the string values of its top-level keys
/// spelled `orderNumber` in any way ([`folded_key`]), however often given. Nothing for an
/// entry that is not a JSON object.
fn numbers_named(entry: &str) -> Vec<String> {
    serde_json::from_str::<Fields>(entry)
        .map(|f| f.numbers)
        .unwrap_or_default()
}

/// Keeps the orders of a relayed `getOrder` answer that read ([`read_orders`]). Every
/// snapshot kept before of an order the request asked for (`requested`, canonical) goes:
/// the answer replaces it, or says it can no longer be trusted (the order does not read,
/// is missing, or the whole answer does not read). A request whose numbers are unknown
/// (`None`) answered unreadably drops the shop's every snapshot.
fn cache_orders(proxy: &Proxy, shop: &str, requested: Option<&[String]>, body: &[u8]) {
    let read = read_orders(body);
    match (requested, &read) {
        (Some(numbers), _) => proxy.cache.forget(shop, numbers),
        (None, None) => proxy.cache.forget_shop(shop),
        (None, Some(_)) => {}
    }
    let Some(read) = read else {
        return;
    };
    let unreadable: Vec<String> = read.unreadable.into_keys().collect();
    proxy.cache.forget(shop, &unreadable);
    let orders: Vec<Order> = read.orders.into_values().collect();
    proxy.cache.put(shop, &orders);
}

/// The canonical order numbers a `getOrder` request body asks for (its
/// `orderNumberList`'s strings); `None` when the body does not say.
fn requested_numbers(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Request {
        #[serde(rename = "orderNumberList")]
        list: Vec<Value>,
    }
    let request = serde_json::from_slice::<Request>(body).ok()?;
    Some(
        request
            .list
            .iter()
            .filter_map(Value::as_str)
            .map(canonical_order_number)
            .collect(),
    )
}

/// The server's limit layers' own refusals (413 over the body limit, 408 past the request
/// timeout) in RMS's shape, so the OMS reads them as it reads the proxy's other refusals.
pub fn layer_refusal(status: StatusCode, message: &str) -> Response {
    json(status.as_u16(), &answer::refusal("BAD_REQUEST", message))
}

/// Why a request cannot be checked: answered 400 in RMS's shape, never relayed.
fn bad_request(proxy: &Proxy, code: &str, message: &str) -> Response {
    proxy.metrics.refused();
    tracing::warn!(code, reason = ?message, "refused: the request cannot be checked");
    json(400, &answer::refusal(code, message))
}

/// The entries of the `x-rms-preflight-oms` object, in order, duplicates kept (so they
/// can be refused rather than silently resolved).
struct FactEntries(Vec<(String, OmsState)>);

impl<'de> serde::Deserialize<'de> for FactEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = FactEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object from order number to OMS facts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FactEntries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, OmsState>()? {
                    out.push((k, v));
                }
                Ok(FactEntries(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// The OMS facts of the `x-rms-preflight-oms` header, by canonical order number. Two keys
/// naming one order (the same number twice, or two spellings of it) are refused: which
/// one to believe would be a guess, and a bundle (S8) must never be lost to a guess.
fn oms_facts(headers: &HeaderMap) -> Result<HashMap<String, OmsState>, String> {
    let mut all = headers.get_all(OMS_HEADER).iter();
    let Some(v) = all.next() else {
        return Ok(HashMap::new());
    };
    if all.next().is_some() {
        return Err(format!(
            "`{OMS_HEADER}` is given more than once: send one object"
        ));
    }
    let text = v
        .to_str()
        .map_err(|_| format!("`{OMS_HEADER}` is not ASCII JSON"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let entries: FactEntries = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| format!("`{OMS_HEADER}` at `{}`: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| format!("`{OMS_HEADER}`: {e}"))?;
    let mut out = HashMap::new();
    for (k, v) in entries.0 {
        let c = canonical_order_number(&k);
        if out.insert(c.clone(), v).is_some() {
            return Err(format!(
                "`{OMS_HEADER}` names the order `{}` twice",
                c.chars().take(64).collect::<String>()
            ));
        }
    }
    Ok(out)
}

/// `confirmOrder`'s body: `orderNumberList`, 1 to 100 strings.
fn confirm_numbers(body: &[u8]) -> Result<Vec<String>, String> {
    let value = request_json::parse(body)?;
    let list = value
        .get("orderNumberList")
        .ok_or("the body has no `orderNumberList`")?
        .as_array()
        .ok_or("`orderNumberList` is not an array")?;
    if list.is_empty() {
        return Err("`orderNumberList` is empty".into());
    }
    if list.len() > MAX_ORDER_NUMBERS {
        return Err(format!(
            "`orderNumberList` has {} numbers; RMS takes at most {MAX_ORDER_NUMBERS} a call (S3)",
            list.len()
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| match v.as_str() {
            Some(s) => checked_number(s, || format!("orderNumberList[{i}]")),
            None => Err(format!("`orderNumberList[{i}]` is not an order number")),
        })
        .collect()
}

/// Longest order number the proxy reads (RMS's are 24 characters).
const MAX_ORDER_NUMBER: usize = 64;

/// An order number the proxy will check and send: not empty once canonical, at most
/// [`MAX_ORDER_NUMBER`] characters, printable ASCII only (RMS's are digits and `-`).
fn checked_number(n: &str, at: impl Fn() -> String) -> Result<String, String> {
    let canonical = canonical_order_number(n);
    if canonical.is_empty() {
        return Err(format!("`{}` is not an order number (empty)", at()));
    }
    // What is forwarded is what the OMS wrote: it must already be the number the proxy
    // checks (no control, invisible or full-width character anywhere; spaces around it are
    // the only difference allowed).
    if n.chars().any(char::is_control) || canonical != n.trim_matches(' ') {
        return Err(format!(
            "`{}` is not an order number (a control, invisible or full-width character)",
            at()
        ));
    }
    // Every character beyond printable ASCII — a format character Unicode does not call
    // ignorable (U+FFF9, U+13430), a blank that is not a space (U+2800), a line separator
    // — is one RMS never writes in an order number, and one a person cannot see.
    if let Some(c) = canonical.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "`{}` is not an order number (`{}` is not a printable ASCII character; RMS's order numbers are digits and `-`)",
            at(),
            c.escape_unicode()
        ));
    }
    if canonical.chars().count() > MAX_ORDER_NUMBER {
        return Err(format!(
            "`{}` is not an order number (at most {MAX_ORDER_NUMBER} printable characters)",
            at()
        ));
    }
    Ok(n.to_owned())
}

/// The order numbers a guarded call's body names: every `orderNumber` at any depth. A key
/// that differs only in case (`OrderNumber`) is read the same, and an object holding two
/// such keys, or one whose value is not a string, is refused: the proxy must check what
/// RMS will act on, however RMS reads the body.
fn body_numbers(body: &Value) -> Result<Vec<String>, String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) -> Result<(), String> {
        match v {
            Value::Object(o) => {
                let mut found = 0;
                for (k, v) in o {
                    let at = format!("{path}.{k}");
                    if k.eq_ignore_ascii_case("orderNumber") {
                        found += 1;
                        if found > 1 {
                            let at = if path.is_empty() { "$" } else { path };
                            return Err(format!("`{at}` names `orderNumber` twice"));
                        }
                        match v {
                            Value::String(s) => out.push(checked_number(s, || at.clone())?),
                            _ => return Err(format!("`{at}` is not a string")),
                        }
                    } else {
                        walk(v, &at, out)?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), out)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut out = Vec::new();
    walk(body, "", &mut out)?;
    Ok(out)
}

/// A snapshot taken for a check: the order and when it was read.
struct Snapshot {
    order: Order,
    read_at: tokio::time::Instant,
}

/// The current snapshot of each order of `numbers`, cached or read, each left in the cache
/// as before (a copy is handed out).
async fn snapshots(
    proxy: &Proxy,
    guard: &Guard<UpstreamApi>,
    shop: &str,
    numbers: &[String],
) -> HashMap<String, Result<Order, Failure>> {
    let taken = take_snapshots(proxy, guard, shop, numbers).await;
    let mut back = Vec::new();
    let out = taken
        .into_iter()
        .map(|(c, s)| {
            let s = s.map(|s| {
                back.push((c.clone(), s.read_at, s.order.clone()));
                s.order
            });
            (c, s)
        })
        .collect();
    proxy.cache.restore(shop, back);
    out
}

/// The current snapshot of each order of `numbers` (by canonical number), taken out of the
/// cache (under one lock, no copy) or read with one `getOrder` per 100 misses; the caller
/// puts back ([`SnapshotCache::restore`]) those whose orders it did not send.
async fn take_snapshots(
    proxy: &Proxy,
    guard: &Guard<UpstreamApi>,
    shop: &str,
    numbers: &[String],
) -> HashMap<String, Result<Snapshot, Failure>> {
    let engine = &proxy.config.engine;
    let mut wanted: Vec<String> = Vec::with_capacity(numbers.len());
    {
        let mut seen = std::collections::HashSet::with_capacity(numbers.len());
        for n in numbers {
            let c = canonical_order_number(n);
            if seen.insert(c.clone()) {
                wanted.push(c);
            }
        }
    }
    let mut out = HashMap::with_capacity(wanted.len());
    let mut misses = Vec::new();
    for (c, taken) in wanted.iter().zip(proxy.cache.take(shop, &wanted)) {
        match taken {
            Some((read_at, order)) => {
                out.insert(c.clone(), Ok(Snapshot { order, read_at }));
            }
            None => misses.push(c.clone()),
        }
    }
    for chunk in misses.chunks(MAX_ORDER_NUMBERS) {
        let read = guard
            .api()
            .get_order(&GetOrderRequest {
                order_number_list: chunk.to_vec(),
                version: proxy.config.get_order_version,
            })
            .await;
        let read_at = tokio::time::Instant::now();
        // The orders as RMS wrote them (the answer's bytes, which the call kept), read as
        // a relayed answer's are.
        let body = guard
            .api()
            .sent()
            .pop()
            .and_then(|s| s.result.ok())
            .map(|r| r.body);
        let orders_read = body.as_deref().and_then(read_orders);
        let response = match read {
            Ok(r) => Some(r),
            // A 2xx answer the typed reader refused as a whole (a message about one order
            // with a numeric code or a key given twice, say) is read order by order, as a
            // relayed read is: the orders it cannot vouch for are held back, the others
            // are checked. Only an answer that does not read at all fails every order.
            Err(RmsError::Decode { .. }) if orders_read.is_some() => None,
            Err(e) => {
                let f = Failure::from_classification(&e.classify(engine), e.to_string());
                for c in chunk {
                    out.insert(c.clone(), Err(f.clone()));
                }
                continue;
            }
        };
        let ReadOrders {
            orders: mut found,
            mut unreadable,
        } = orders_read.unwrap_or_default();
        for c in chunk {
            let entry = match found.remove(c) {
                Some(order) => Ok(Snapshot { order, read_at }),
                None if unreadable.contains_key(c) => {
                    let why = unreadable.remove(c).unwrap_or_default();
                    Err(Failure::from_classification(
                        &engine.classify(None, ""),
                        format!(
                            "getOrder returned `{c}`, but it could not be read ({why}), so it was not checked or sent"
                        ),
                    ))
                }
                None => {
                    // RMS's own word about the order, if it wrote one; else the fallback.
                    let said = response
                        .iter()
                        .flat_map(|r| &r.message_model_list)
                        .find(|m| {
                            m.order_number
                                .as_deref()
                                .map(canonical_order_number)
                                .as_ref()
                                == Some(c)
                        });
                    let classification = match said {
                        Some(m) => engine.classify_value(
                            Some(200),
                            &serde_json::json!({"MessageModelList": [m]}),
                        ),
                        None => engine.classify(None, ""),
                    };
                    Err(Failure::from_classification(
                        &classification,
                        format!("getOrder did not return `{c}`, so it was not checked or sent"),
                    ))
                }
            };
            out.insert(c.clone(), entry);
        }
        // Orders RMS returned that were not asked for are kept too, as a relay keeps them
        // (and dropped, as a relay drops them, when they do not read).
        let unasked: Vec<String> = unreadable.into_keys().collect();
        proxy.cache.forget(shop, &unasked);
        let extra: Vec<(String, tokio::time::Instant, Order)> =
            found.into_iter().map(|(c, o)| (c, read_at, o)).collect();
        proxy.cache.restore(shop, extra);
    }
    out
}

/// The check of one order with what the OMS said about it.
fn tracked_of(order: Order, facts: &HashMap<String, OmsState>, canonical: &str) -> Tracked {
    Tracked {
        order,
        oms: facts.get(canonical).cloned().unwrap_or_default(),
    }
}

async fn confirm(
    proxy: &Proxy,
    function: &Function,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(caller) = proxy.caller(headers) else {
        if proxy.config.dry_run {
            return relay(proxy, None, method, path_and_query, headers, body).await;
        }
        return bad_request(
            proxy,
            "NO_SHOP",
            "the request has no `Authorization: ESA …` header to know the shop by (or start the proxy with `--shop`)",
        );
    };
    let numbers = match confirm_numbers(&body) {
        Ok(n) => n,
        Err(message) if proxy.config.dry_run => {
            tracing::warn!(
                reason = message,
                "dry run: relayed a confirmOrder that cannot be checked"
            );
            return relay(proxy, Some(&caller), method, path_and_query, headers, body).await;
        }
        Err(message) => return bad_request(proxy, "BAD_REQUEST", &message),
    };
    let facts = match oms_facts(headers) {
        Ok(f) => f,
        Err(message) if proxy.config.dry_run => {
            tracing::warn!(
                reason = message,
                "dry run: relayed a confirmOrder that cannot be checked"
            );
            return relay(proxy, Some(&caller), method, path_and_query, headers, body).await;
        }
        Err(message) => return bad_request(proxy, "BAD_REQUEST", &message),
    };
    let guard = proxy.guard(function, &caller);
    if proxy.config.dry_run {
        dry_run_confirm(proxy, &guard, &caller, &numbers, &facts).await;
        proxy.count_sent(&guard.api().sent());
        let response = relay(proxy, Some(&caller), method, path_and_query, headers, body).await;
        // RMS may have changed them: the next check reads them again.
        proxy.cache.forget(&caller.key, &numbers);
        proxy
            .metrics
            .forwarded(function::CONFIRM_ORDER, numbers.len() as u64);
        return response;
    }
    // Settle what a crash or a lost answer left open before judging anything.
    proxy.settle(&guard, &caller.key).await;
    let mut snaps = take_snapshots(proxy, &guard, &caller.key, &numbers).await;
    let canonical: Vec<String> = numbers.iter().map(|n| canonical_order_number(n)).collect();
    let mut entries: Vec<Option<Entry>> = Vec::with_capacity(numbers.len());
    entries.resize_with(numbers.len(), || None);
    let mut tracked: Vec<Tracked> = Vec::with_capacity(numbers.len());
    let mut places = Vec::with_capacity(numbers.len());
    // When each checked snapshot was read (`None`: a copy, for a number given again).
    let mut read_at: Vec<Option<tokio::time::Instant>> = Vec::with_capacity(numbers.len());
    // Each snapshot is moved into its check; a number given again checks a copy.
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, (n, c)) in numbers.iter().zip(&canonical).enumerate() {
        let order = match first.get(c.as_str()) {
            Some(&k) => {
                read_at.push(None);
                tracked[k].order.clone()
            }
            None => match snaps.remove(c) {
                Some(Ok(snapshot)) => {
                    first.insert(c, tracked.len());
                    read_at.push(Some(snapshot.read_at));
                    snapshot.order
                }
                Some(Err(f)) => {
                    entries[i] = Some(Entry::Own(answer::failure(n, &f)));
                    // Kept for the number's next mention.
                    snaps.insert(c.clone(), Err(f));
                    continue;
                }
                None => continue,
            },
        };
        tracked.push(tracked_of(order, &facts, c));
        places.push(i);
    }
    let outcomes = guard.confirm_bulk(&tracked).await;
    // Every upstream call this request made, read once.
    let calls = guard.api().sent();
    let mut said = upstream_messages(&calls, function::CONFIRM_ORDER);
    let confirms: Vec<&Sent> = calls
        .iter()
        .filter(|s| s.function == function::CONFIRM_ORDER)
        .collect();
    // One call, which RMS refused as a whole before acting (401, 400…): unless the proxy
    // has its own word about some order, the OMS gets RMS's own answer, as it came. A 5xx
    // is not such a refusal: RMS may have acted, and the proxy's entries say what it did
    // about that (not sent again before the hold).
    let refused_whole = match confirms.as_slice() {
        [only] => only
            .result
            .as_ref()
            .is_ok_and(|reply| (300..500).contains(&reply.status)),
        _ => false,
    };
    let rules = proxy.config.engine.rules();
    let mut sent = Vec::new();
    let mut local = entries.iter().any(Option::is_some);
    // RMS's messages about orders whose entry is the proxy's own.
    let mut unused = Vec::new();
    for ((_, outcome), &i) in outcomes.iter().zip(&places) {
        let n = &numbers[i];
        let c = &canonical[i];
        // An order is sent once however often it is named: its one message is taken.
        let upstream = said.take(c);
        entries[i] = Some(match outcome {
            Outcome::Denied(report) => {
                local = true;
                // RMS wrote about an order the proxy did not send to it: kept, after the
                // orders' entries.
                unused.extend(upstream);
                for f in denying(&report.findings) {
                    proxy.metrics.denied(&f.rule);
                }
                tracing::info!(order = %n.escape_debug(), rule = %report.findings.first().map_or("", |f| &f.rule), "denied");
                Entry::Own(answer::denial(n, report))
            }
            Outcome::Done(d) => {
                sent.push(c.clone());
                match upstream {
                    Some(m) => Entry::Rms(m),
                    None => {
                        local = true;
                        let progress = d.order.as_ref().map_or(0, |o| o.order_progress);
                        let status = rules.status(progress).map(|s| &s.name);
                        Entry::Own(answer::reconciled(n, progress, status))
                    }
                }
            }
            Outcome::Failed(f) => {
                sent.push(c.clone());
                match upstream {
                    Some(m) if m.is_error() => Entry::Rms(m),
                    upstream => {
                        // RMS's word, if any, did not say why: the proxy's entry does, and
                        // RMS's message is kept after the orders' entries.
                        unused.extend(upstream);
                        local |= !refused_whole;
                        Entry::Own(answer::failure(n, f))
                    }
                }
            }
        });
    }
    // An outcome RMS may or may not have acted on, or a claim held by a row in flight or
    // unknown: settle the shop's ledger before its next confirmation.
    let open = outcomes.iter().any(|(_, o)| match o {
        Outcome::Failed(f) => f.outcome_unknown,
        Outcome::Denied(r) => r.findings.iter().any(|f| {
            f.fields
                .iter()
                .any(|(k, v)| k == "ledger.state" && (v == "unknown" || v == "sending"))
        }),
        Outcome::Done(_) => false,
    });
    if open {
        proxy.unsettle(&caller.key);
    }
    // What was not sent is as RMS has it: its snapshot goes back for the next check.
    // (A number given again is denied as a repeat; its first mention decides.)
    let unsent: Vec<(String, tokio::time::Instant, Order)> = tracked
        .into_iter()
        .zip(read_at)
        .zip(places.iter().zip(&outcomes))
        .filter_map(|((t, at), (&i, (_, outcome)))| match outcome {
            Outcome::Denied(_) => Some((canonical[i].clone(), at?, t.order)),
            _ => None,
        })
        .collect();
    proxy.cache.restore(&caller.key, unsent);
    // A relayed read of a sent order during the call may hold its state before RMS acted.
    proxy.cache.forget(&caller.key, &sent);
    proxy.count_sent(&calls);
    if !confirms.is_empty() {
        proxy
            .metrics
            .forwarded(function::CONFIRM_ORDER, sent.len() as u64);
    }
    if let ([only], true, false) = (confirms.as_slice(), refused_whole, local) {
        if let Ok(reply) = &only.result {
            return json_body(reply.status, reply.body.clone());
        }
    }
    let mut entries: Vec<Entry> = entries
        .into_iter()
        .map(|e| e.unwrap_or(Entry::Own(Value::Null)))
        .collect();
    let extra = std::mem::take(&mut said.extra);
    entries.extend(unused.into_iter().map(Entry::Rms));
    entries.extend(said.unplaced().map(Entry::Rms));
    match serde_json::to_vec(&answer::Messages {
        list: &entries,
        extra: &extra,
    }) {
        Ok(body) => json_body(200, body),
        Err(e) => json(
            500,
            &answer::refusal("INTERNAL", &format!("the answer could not be written: {e}")),
        ),
    }
}

/// Report only: the verdicts the proxy would have given, logged and counted; the ledger
/// is read (not claimed).
async fn dry_run_confirm(
    proxy: &Proxy,
    guard: &Guard<UpstreamApi>,
    caller: &Caller,
    numbers: &[String],
    facts: &HashMap<String, OmsState>,
) {
    let snaps = snapshots(proxy, guard, &caller.key, numbers).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, n) in numbers.iter().enumerate() {
        let c = canonical_order_number(n);
        let Some(Ok(order)) = snaps.get(&c) else {
            tracing::info!(order = %n.escape_debug(), "dry run: could not be checked (not read)");
            continue;
        };
        let first = *seen.entry(c.clone()).or_insert(i);
        let row = proxy
            .config
            .ledger
            .get(&Key::new(&caller.key, &c, Action::Confirm))
            .await
            .ok()
            .flatten();
        let request = Request {
            shop: caller.settings.clone(),
            now: Some(crate::model::Timestamp::now_jst()),
            action: Action::Confirm,
            order: Some(order.clone()),
            oms: facts.get(&c).cloned().unwrap_or_default(),
            batch: BatchFacts {
                repeat_of: (first != i).then_some(first),
                ledger: row.map(|r| r.state.kind()),
            },
        };
        let verdict = proxy.config.engine.check(&request);
        for f in denying(&verdict.findings) {
            proxy.metrics.denied(&f.rule);
            tracing::info!(order = %n.escape_debug(), rule = %f.rule, source = %f.source, "dry run: would deny");
        }
    }
}

async fn guarded(
    proxy: &Proxy,
    function: &Function,
    action: Action,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let caller = proxy.caller(headers);
    if proxy.config.dry_run {
        let numbers = match &caller {
            Some(caller) => dry_run_guarded(proxy, function, action, caller, headers, &body).await,
            None => Vec::new(),
        };
        let response = relay(
            proxy,
            caller.as_ref(),
            method,
            path_and_query,
            headers,
            body,
        )
        .await;
        if let Some(caller) = &caller {
            proxy.cache.forget(&caller.key, &numbers);
        }
        proxy
            .metrics
            .forwarded(function.name, numbers.len().max(1) as u64);
        return response;
    }
    let Some(caller) = caller else {
        return bad_request(
            proxy,
            "NO_SHOP",
            "the request has no `Authorization: ESA …` header to know the shop by (or start the proxy with `--shop`)",
        );
    };
    let value = match request_json::parse(&body) {
        Ok(v) => v,
        Err(message) => return bad_request(proxy, "BAD_REQUEST", &message),
    };
    let numbers = match body_numbers(&value) {
        Ok(n) => n,
        Err(message) => return bad_request(proxy, "BAD_REQUEST", &message),
    };
    if numbers.is_empty() {
        return bad_request(proxy, "BAD_REQUEST", "the body names no `orderNumber`");
    }
    if numbers.len() > MAX_ORDER_NUMBERS {
        return bad_request(proxy, "BAD_REQUEST", "the body names more than 100 orders");
    }
    let facts = match oms_facts(headers) {
        Ok(f) => f,
        Err(message) => return bad_request(proxy, "BAD_REQUEST", &message),
    };
    let guard = proxy.guard(function, &caller);
    let snaps = snapshots(proxy, &guard, &caller.key, &numbers).await;
    let mut tracked = Vec::new();
    let mut unread = Vec::new();
    for n in &numbers {
        let c = canonical_order_number(n);
        match snaps.get(&c) {
            Some(Ok(o)) => tracked.push(tracked_of(o.clone(), &facts, &c)),
            Some(Err(f)) => unread.push(answer::failure(n, f)),
            None => {}
        }
    }
    if !unread.is_empty() {
        proxy.count_sent(&guard.api().sent());
        return json(200, &answer::messages(unread));
    }
    let reports = guard.check_bulk(action, &tracked);
    if reports.iter().any(|r| r.is_denied()) {
        proxy.count_sent(&guard.api().sent());
        let entries = numbers
            .iter()
            .zip(&reports)
            .filter(|(_, r)| r.is_denied())
            .map(|(n, r)| {
                for f in denying(&r.findings) {
                    proxy.metrics.denied(&f.rule);
                }
                answer::denial(n, r)
            })
            .collect();
        return json(200, &answer::messages(entries));
    }
    let outcome = guard
        .send_checked(action, &tracked, function.name, &value)
        .await;
    proxy.cache.forget(&caller.key, &numbers);
    let calls = guard.api().sent();
    proxy.count_sent(&calls);
    let reply = calls
        .into_iter()
        .rev()
        .find(|s| s.function == function.name)
        .and_then(|s| s.result.ok());
    match (reply, outcome) {
        (Some(reply), _) => {
            proxy.metrics.forwarded(function.name, numbers.len() as u64);
            json_body(reply.status, reply.body)
        }
        (None, Outcome::Denied(r)) => json(
            200,
            &answer::messages(vec![answer::denial(&numbers[0], &r)]),
        ),
        (None, Outcome::Failed(f)) => {
            let status = if f.outcome_unknown { 504 } else { 502 };
            json(
                status,
                &answer::messages(numbers.iter().map(|n| answer::failure(n, &f)).collect()),
            )
        }
        (None, Outcome::Done(_)) => json(200, &answer::messages(Vec::new())),
    }
}

async fn dry_run_guarded(
    proxy: &Proxy,
    function: &Function,
    action: Action,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Vec<String> {
    // What enforcing would refuse as unreadable is logged, as for confirmOrder.
    let would_refuse = |reason: &str| {
        tracing::warn!(
            function = function.name,
            reason,
            "dry run: relayed a call that would be refused"
        );
    };
    let value = match request_json::parse(body) {
        Ok(v) => v,
        Err(reason) => {
            would_refuse(&reason);
            return Vec::new();
        }
    };
    let numbers = match body_numbers(&value) {
        Ok(n) => n,
        Err(reason) => {
            would_refuse(&reason);
            return Vec::new();
        }
    };
    let facts = match oms_facts(headers) {
        Ok(f) => f,
        Err(reason) => {
            would_refuse(&reason);
            HashMap::new()
        }
    };
    let guard = proxy.guard(function, caller);
    let snaps = snapshots(proxy, &guard, &caller.key, &numbers).await;
    proxy.count_sent(&guard.api().sent());
    let tracked: Vec<Tracked> = numbers
        .iter()
        .filter_map(|n| {
            let c = canonical_order_number(n);
            snaps
                .get(&c)?
                .as_ref()
                .ok()
                .map(|o| tracked_of(o.clone(), &facts, &c))
        })
        .collect();
    for (t, r) in tracked.iter().zip(guard.check_bulk(action, &tracked)) {
        for f in denying(&r.findings) {
            proxy.metrics.denied(&f.rule);
            tracing::info!(order = %t.order_number().escape_debug(), rule = %f.rule, "dry run: would deny");
        }
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relayed `getOrder` answer fills the cache with each order that reads; an order
    /// that does not (a duplicate key, a missing `orderProgress`) is skipped, not trusted,
    /// and an answer that is not JSON adds nothing.
    #[test]
    fn an_order_an_answer_may_be_read_as_is_not_read() {
        // An entry that does not read names two orders (`orderNumber` twice, or spelled in
        // another case): a reader keeping the other one would take it for `1-2-2`, whose
        // clean copy follows, so neither is read.
        let body = br#"{"OrderModelList": [
            {"orderNumber": "1-2-1", "orderNumber": "1-2-2", "orderProgress": 100, "postagePrice": -9999},
            {"orderNumber": "1-2-2", "orderProgress": 100},
            {"OrderNumber": "1-2-4", "orderNumber": "1-2-3", "orderProgress": 100},
            {"orderNumber": "1-2-4", "orderProgress": 100},
            {"orderNumber": "1-2-5", "orderProgress": 100}
        ]}"#;
        let read = read_orders(body).unwrap();
        let mut unreadable: Vec<&str> = read.unreadable.keys().map(String::as_str).collect();
        unreadable.sort_unstable();
        assert_eq!(unreadable, ["1-2-1", "1-2-2", "1-2-3", "1-2-4"]);
        assert!(
            read.unreadable["1-2-2"].contains("duplicate field `orderNumber`"),
            "{:?}",
            read.unreadable
        );
        assert_eq!(read.orders.keys().collect::<Vec<_>>(), ["1-2-5"]);
        // An order the answer also reports an error about is not read; a message of
        // another type, or about an order the answer does not hold, changes nothing here.
        let body = br#"{"MessageModelList": [
            {"messageType": "ERROR", "messageCode": "ORDER_EXT_API_GET_ORDER_ERROR_101", "message": "x", "orderNumber": "1-3-1"},
            {"messageType": "INFO", "messageCode": "ORDER_EXT_API_GET_ORDER_INFO_101", "message": "x", "orderNumber": "1-3-2"},
            {"messageType": "error", "messageCode": "E", "message": "x", "orderNumber": "1-3-9"}
        ], "OrderModelList": [
            {"orderNumber": "1-3-1", "orderProgress": 100},
            {"orderNumber": "1-3-2", "orderProgress": 100}
        ]}"#;
        let read = read_orders(body).unwrap();
        assert_eq!(
            read.unreadable.get("1-3-1").map(String::as_str),
            Some("the answer also reports `ORDER_EXT_API_GET_ORDER_ERROR_101` about it")
        );
        assert_eq!(read.unreadable.len(), 1, "{:?}", read.unreadable);
        assert_eq!(read.orders.keys().collect::<Vec<_>>(), ["1-3-2"]);
        // Messages are read however their fields are spelled or repeated, as `check`
        // reads them: anything but `INFO` about an order (a type given twice, a code
        // that is a number, `order_number`, a WARNING) makes it unread.
        let body = r#"{"MessageModelList": [
            {"messageType": "ERROR", "messageType": "ERROR", "messageCode": 101, "message": "x", "orderNumber": "1-4-1"},
            {"messageType": " INFO ", "message": "x", "OrderNumber": "1-4-2"},
            {"messageType": "WARNING", "message": "x", "order_number": "1-4-3"},
            {"message": "x", "orderNumber": "1-4-4"}
        ], "OrderModelList": [
            {"orderNumber": "1-4-1", "orderProgress": 100},
            {"orderNumber": "1-4-2", "orderProgress": 100},
            {"orderNumber": "1-4-3", "orderProgress": 100},
            {"orderNumber": "1-4-4", "orderProgress": 100},
            {"order_number": "1-4-5", "orderNumber": "1-4-6", "orderProgress": 100},
            {"orderNumber": "1-4-5", "orderProgress": 100}
        ]}"#;
        let read = read_orders(body.as_bytes()).unwrap();
        let mut unreadable: Vec<&str> = read.unreadable.keys().map(String::as_str).collect();
        unreadable.sort_unstable();
        assert_eq!(unreadable, ["1-4-1", "1-4-3", "1-4-4", "1-4-5", "1-4-6"]);
        assert_eq!(read.orders.keys().collect::<Vec<_>>(), ["1-4-2"]);
        // Each says what was reported: a code that is not a string as its JSON, a message
        // with no code by its type.
        for (n, why) in [
            ("1-4-1", "the answer also reports `101` about it"),
            (
                "1-4-3",
                "the answer also reports a `WARNING` message without a code about it",
            ),
            (
                "1-4-4",
                "the answer also reports a message without a type or code about it",
            ),
        ] {
            assert_eq!(read.unreadable[n], why);
        }
        // A message of any type but INFO that names no order as a string (none, `null`, a
        // number, a list) may be about any of them: none is read.
        for named in [
            "",
            r#", "orderNumber": null"#,
            r#", "orderNumber": 101"#,
            r#", "orderNumber": ["1-7-1"]"#,
            r#", "orderNumber": {"n": "1-7-1"}"#,
            r#", "orderNumber": """#,
            r#", "orderNumber": " \u3000\u200b ""#,
            r#", "orderNumber": "", "OrderNumber": null"#,
        ] {
            let body = format!(
                r#"{{"MessageModelList": [
                    {{"messageType": "INFO", "messageCode": "ORDER_EXT_API_GET_ORDER_INFO_101", "message": "x"}},
                    {{"messageType": "ERROR", "messageCode": 101, "message": "x"{named}}}
                ], "OrderModelList": [
                    {{"orderNumber": "1-7-1", "orderProgress": 100}},
                    {{"orderNumber": "1-7-2", "orderProgress": 100}}
                ]}}"#
            );
            let read = read_orders(body.as_bytes()).unwrap();
            assert!(read.orders.is_empty(), "{named}: {:?}", read.orders.keys());
            assert_eq!(
                read.unreadable.get("1-7-2").map(String::as_str),
                Some("the answer also reports `101` without naming an order"),
                "{named}"
            );
        }
        // Messages that are not a list of objects: the answer does not read at all (as the
        // guard's own read refuses it).
        for messages in ["null", "{}", "\"x\"", "[1]", "[{\"a\": 1}, null]"] {
            let body = format!(
                r#"{{"MessageModelList": {messages}, "OrderModelList": [{{"orderNumber": "1-5-1", "orderProgress": 100}}]}}"#
            );
            assert!(read_orders(body.as_bytes()).is_none(), "{messages}");
        }
    }

    /// A relayed read replaces every snapshot kept of the orders it asked for: an answer
    /// that does not read, or leaves an order out, leaves none of them behind.
    #[test]
    fn a_relayed_read_replaces_the_snapshots_of_what_it_asked_for() {
        let engine = Arc::new(Engine::new(crate::RuleSet::embedded().unwrap()));
        let upstream = Upstream::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
        let proxy = Proxy::new(Config::new(
            upstream,
            engine,
            Arc::new(crate::ledger::MemoryLedger::new()),
        ));
        let clean = br#"{"OrderModelList": [
            {"orderNumber": "1-6-1", "orderProgress": 100},
            {"orderNumber": "1-6-2", "orderProgress": 100},
            {"orderNumber": "1-6-3", "orderProgress": 100}
        ]}"#;
        let request = br#"{"orderNumberList": ["1-6-1", "1-6-2", "1-6-3", 7], "version": 7}"#;
        let asked = requested_numbers(request).unwrap();
        assert_eq!(asked, ["1-6-1", "1-6-2", "1-6-3"]);
        assert_eq!(requested_numbers(b"{\"orderNumberList\": 1}"), None);
        cache_orders(&proxy, "shop", Some(&asked), clean);
        cache_orders(&proxy, "other", None, clean);
        assert_eq!(proxy.cache.len(), 6);
        // Truncated, and `OrderModelList` given twice: neither reads, so nothing asked for
        // is kept.
        cache_orders(
            &proxy,
            "shop",
            Some(&asked[..1]),
            br#"{"OrderModelList": ["#,
        );
        assert!(proxy.cache.get("shop", "1-6-1").is_none());
        cache_orders(
            &proxy,
            "shop",
            Some(&asked[1..2]),
            br#"{"OrderModelList": [], "OrderModelList": [{"orderNumber": "1-6-2", "orderProgress": 100}]}"#,
        );
        assert!(proxy.cache.get("shop", "1-6-2").is_none());
        // Left out of a readable answer: dropped too.
        cache_orders(
            &proxy,
            "shop",
            Some(&asked[2..]),
            br#"{"OrderModelList": []}"#,
        );
        assert!(proxy.cache.get("shop", "1-6-3").is_none());
        // A request that does not say what it asked for, answered unreadably: none of the
        // shop's snapshots is kept; another shop's are.
        cache_orders(&proxy, "other", None, b"not json");
        assert!(proxy.cache.get("other", "1-6-1").is_none());
        cache_orders(&proxy, "shop", Some(&asked), clean);
        assert_eq!(proxy.cache.len(), 3);
    }

    #[test]
    fn a_relayed_answer_caches_each_order_that_reads() {
        let engine = Arc::new(Engine::new(crate::RuleSet::embedded().unwrap()));
        let upstream = Upstream::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
        let proxy = Proxy::new(Config::new(
            upstream,
            engine,
            Arc::new(crate::ledger::MemoryLedger::new()),
        ));
        let body = br#"{"MessageModelList": [], "version": 7, "OrderModelList": [
            {"orderNumber": "1-1-1", "orderProgress": 100, "postagePrice": -9999, "x": {"y": [1]}},
            {"orderNumber": "1-1-2", "orderProgress": 100, "orderProgress": 300},
            {"orderNumber": "1-1-3"},
            {"orderNumber": "1-1-4", "orderProgress": 300}
        ]}"#;
        cache_orders(&proxy, "shop", None, body);
        let cached = |n: &str| proxy.cache.get("shop", n);
        assert_eq!(cached("1-1-1").map(|o| o.postage_price), Some(Some(-9999)));
        assert!(cached("1-1-2").is_none());
        assert!(cached("1-1-3").is_none());
        assert_eq!(cached("1-1-4").map(|o| o.order_progress), Some(300));
        assert_eq!(proxy.cache.len(), 2);
        cache_orders(
            &proxy,
            "shop",
            Some(&["1-1-9".to_owned()]),
            b"{\"OrderModelList\": [",
        );
        cache_orders(&proxy, "other", None, b"not json");
        assert_eq!(proxy.cache.len(), 2);
        // An order listed twice, or read again and unreadable now: no snapshot is kept,
        // the one kept before included.
        let body = br#"{"OrderModelList": [
            {"orderNumber": "1-1-4", "orderProgress": 100},
            {"orderNumber": "1-1-4", "orderProgress": 300},
            {"orderNumber": "1-1-1", "orderProgress": 100, "postage_price": -9999},
            {"orderNumber": "1-1-5", "orderProgress": 100}
        ]}"#;
        cache_orders(&proxy, "shop", None, body);
        assert!(cached("1-1-4").is_none());
        assert!(cached("1-1-1").is_none());
        assert!(cached("1-1-5").is_some());
        let read = read_orders(body).unwrap();
        assert_eq!(
            read.unreadable.get("1-1-4").map(String::as_str),
            Some("the answer lists the order twice")
        );
        assert!(
            read.unreadable["1-1-1"].contains("did you mean `postagePrice`"),
            "{:?}",
            read.unreadable
        );
        // An order whose number is spelled otherwise than it is sent and claimed (spaces
        // around it, full-width digits) is not taken for the order the OMS named.
        let body = r#"{"OrderModelList": [
            {"orderNumber": " 1-1-6", "orderProgress": 100},
            {"orderNumber": "１-１-７", "orderProgress": 100}
        ]}"#;
        cache_orders(&proxy, "shop", None, body.as_bytes());
        assert!(cached("1-1-6").is_none() && cached("1-1-7").is_none());
        let read = read_orders(body.as_bytes()).unwrap();
        assert!(read.orders.is_empty());
        assert!(
            read.unreadable["1-1-7"].contains("not in the form it is sent"),
            "{:?}",
            read.unreadable
        );
        assert!(read.unreadable.contains_key("1-1-6"));
    }

    /// A settle while serving never takes the proxy's own calls in flight for abandoned,
    /// whatever `--stale-after` says (zero is for start-up, when none of them exist).
    #[test]
    fn a_live_proxy_never_abandons_a_claim_younger_than_its_requests() {
        let engine = Arc::new(Engine::new(crate::RuleSet::embedded().unwrap()));
        let upstream = Upstream::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
        let mut config = Config::new(
            upstream,
            engine,
            Arc::new(crate::ledger::MemoryLedger::new()),
        );
        config.stale_after = Duration::ZERO;
        config.request_timeout = Duration::from_secs(300);
        let proxy = Proxy::new(config);
        assert_eq!(proxy.live_stale_after(), Duration::from_secs(361));
        let mut config = Config::new(
            Upstream::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap(),
            proxy.config.engine.clone(),
            Arc::new(crate::ledger::MemoryLedger::new()),
        );
        config.stale_after = Duration::from_secs(3600);
        assert_eq!(
            Proxy::new(config).live_stale_after(),
            Duration::from_secs(3600)
        );
    }

    /// A lone start with `--stale-after 0s` abandons a claim of a stopped process only
    /// once the upstream timeout has passed (its call may still be at RMS until then),
    /// and never a claim made after the start.
    #[tokio::test]
    async fn a_lone_start_waits_out_the_upstream_timeout_before_abandoning() {
        use crate::ledger::MemoryLedger;
        use crate::model::LedgerState;
        let engine = Arc::new(Engine::new(crate::RuleSet::embedded().unwrap()));
        let upstream = Upstream::new("http://127.0.0.1:9", Duration::from_millis(300)).unwrap();
        let ledger = Arc::new(MemoryLedger::new());
        let mut config = Config::new(upstream, engine, ledger.clone());
        config.stale_after = Duration::ZERO;
        let proxy = Proxy::new(config);
        let before = Key::new("shop", "100001-20240101-0000000001", Action::Confirm);
        let after = Key::new("shop", "100001-20240101-0000000002", Action::Confirm);
        ledger.claim(std::slice::from_ref(&before)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;

        let start = proxy.start_up(true).await.unwrap();
        assert_eq!(
            start.abandoned, 0,
            "a call of the stopped proxy may be at RMS"
        );
        assert!(start.leaves_some_behind());
        tokio::time::sleep(Duration::from_millis(5)).await;
        ledger.claim(std::slice::from_ref(&after)).await.unwrap();
        let waited = Instant::now();
        assert_eq!(proxy.settle_left_behind(&start).await.unwrap(), 1);
        assert!(waited.elapsed() >= Duration::from_millis(250));
        let state = |k: &Key| {
            let ledger = ledger.clone();
            let k = k.clone();
            async move { ledger.get(&k).await.unwrap().unwrap().state.kind() }
        };
        assert_eq!(state(&before).await, LedgerState::Unknown);
        assert_eq!(
            state(&after).await,
            LedgerState::Sending,
            "this process's claim"
        );

        // Not alone: the live stale time, and nothing left for later.
        let start = proxy.start_up(false).await.unwrap();
        assert_eq!(start.abandoned, 0);
        assert!(!start.leaves_some_behind());
    }
}
