//! `serve`: the engine as an HTTP service — "may I?" for any tool, in any language.
//!
//! Routes ([`Service::router`]; the contract is [`openapi`], checked in as
//! `rules/openapi.json`):
//!
//! - `POST /v1/check` — a `check` document (one request or a batch, JSON or YAML by
//!   `Content-Type`) in, exactly `check --format json`'s document out (`?lang=ja|en`,
//!   `?explain=true`); 200 for any verdict, 400 with the located error, 413 over the input
//!   limit. A batch streams in and out ([`check`](self::check)).
//! - `POST /v1/explain-error` — an RMS answer (or an OMS's message) in, exactly
//!   `explain-error --format json`'s document out (`?status=N`, `?lang`).
//! - `GET /v1/rules`, `GET /v1/rules/graph?format=mermaid|dot`, `GET /v1/errors`,
//!   `GET /healthz`, `GET /metrics` (Prometheus text), `GET /openapi.json`.
//!
//! The rule set is swapped whole ([`Service::reload`]): a request takes the current one
//! once and answers from it alone, so a reload never mixes two rule sets in one answer,
//! and a rules file that fails to load leaves the old set serving. Every answer names the
//! rule set it came from in the `x-rules-version` header (a hash of the rules text).

mod check;
mod metrics;
mod openapi;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Query, State};
use axum::http::{header, HeaderValue, Request as HttpRequest, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sha2::Digest;
use tower_http::limit::RequestBodyLimitLayer;

use crate::engine::Engine;
use crate::http::{Limits, Server};
use crate::rules::{GraphFormat, Lang, RuleSet, RulesError, EMBEDDED_RULES};

pub use metrics::Metrics;
pub use openapi::{openapi, ErrorAnswer, ErrorMessage, ErrorsAnswer, Health, RulesAnswer};

/// The header naming the rule set an answer came from.
pub const RULES_VERSION_HEADER: &str = "x-rules-version";

/// Where the rules come from, and come again from on a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesSource {
    /// The rules shipped in the binary (a reload keeps them).
    Embedded,
    /// A rules file, read again on every reload.
    File(std::path::PathBuf),
}

/// A loaded rule set and its version.
#[derive(Debug)]
pub struct Rules {
    pub engine: Engine,
    /// The first 16 hex digits of the SHA-256 of the rules text.
    pub version: String,
    /// `version` as the header value every answer carries, made once.
    version_header: Option<HeaderValue>,
    /// The rules' text as JSON, rendered once per language for every answer.
    fragments: [crate::render::JsonFragments; 2],
}

impl Rules {
    /// Loads rules from their text (`name` is used in diagnostics).
    pub fn from_text(name: &str, text: &str) -> Result<Rules, RulesError> {
        let engine = Engine::new(RuleSet::from_yaml(name, text)?);
        let fragments = [crate::Lang::Ja, crate::Lang::En]
            .map(|lang| crate::render::JsonFragments::new(engine.rules(), lang));
        let version = version_of(text);
        Ok(Rules {
            engine,
            version_header: HeaderValue::from_str(&version).ok(),
            version,
            fragments,
        })
    }

    /// The rules' JSON fragments in `lang`.
    pub fn fragments(&self, lang: crate::Lang) -> &crate::render::JsonFragments {
        match lang {
            crate::Lang::Ja => &self.fragments[0],
            crate::Lang::En => &self.fragments[1],
        }
    }

    /// Loads the rules of `source`.
    pub fn load(source: &RulesSource) -> Result<Rules, RulesError> {
        match source {
            RulesSource::Embedded => Rules::from_text(crate::rules::EMBEDDED_NAME, EMBEDDED_RULES),
            RulesSource::File(path) => {
                let name = path.display().to_string();
                let text = crate::model::limits::read_file_capped(path).map_err(|source| {
                    RulesError::Io {
                        path: name.clone(),
                        source,
                    }
                })?;
                Rules::from_text(&name, &text)
            }
        }
    }
}

/// The version of a rules text: the first 16 hex digits of its SHA-256.
pub fn version_of(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The service: its current rule set, its counters, and its routes.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
}

struct Shared {
    rules: RwLock<Arc<Rules>>,
    source: RulesSource,
    metrics: Metrics,
    /// The largest body of a route that reads its body whole (not `/v1/check`, which
    /// counts per document or batch entry, as the CLI does).
    max_body: usize,
    /// How long `/v1/check` waits for the next piece of a body.
    body_idle: std::time::Duration,
    /// The request timeout of the server's stack: an answer dropped unfinished after it
    /// was cut by it (408).
    request_timeout: std::time::Duration,
    /// Streamed checks running at once.
    streams: Arc<tokio::sync::Semaphore>,
    openapi: String,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("source", &self.shared.source)
            .field("version", &self.version())
            .finish()
    }
}

impl Service {
    /// Loads the rules of `source`; `limits` bounds the routes (see [`Service::start`]).
    pub fn new(source: RulesSource, limits: &Limits) -> Result<Service, RulesError> {
        let rules = Rules::load(&source)?;
        Ok(Service::with_rules(rules, source, limits))
    }

    /// A service answering from `rules` (a reload reads `source`).
    pub fn with_rules(rules: Rules, source: RulesSource, limits: &Limits) -> Service {
        let max_input =
            usize::try_from(crate::model::limits::max_input_bytes()).unwrap_or(usize::MAX);
        Service {
            shared: Arc::new(Shared {
                metrics: Metrics::new(),
                rules: RwLock::new(Arc::new(rules)),
                source,
                max_body: limits.max_body.min(max_input),
                body_idle: limits.request_timeout,
                request_timeout: limits.request_timeout,
                streams: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight.max(1))),
                openapi: serde_json::to_string_pretty(&openapi()).unwrap_or_default() + "\n",
            }),
        }
    }

    /// The rule set answering now.
    pub fn rules(&self) -> Arc<Rules> {
        self.shared.current()
    }

    /// The version of the rule set answering now.
    pub fn version(&self) -> String {
        self.shared.current().version.clone()
    }

    /// The counters behind `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Reads the rules source again and, if it loads, answers from it from now on; if it
    /// does not, the rule set answering now stays, and the error (with its diagnostics)
    /// is returned. Returns the new version.
    pub fn reload(&self) -> Result<String, RulesError> {
        let loaded = Rules::load(&self.shared.source);
        self.install(loaded)
    }

    /// [`Service::reload`] from a given text instead of the source.
    pub fn reload_text(&self, name: &str, text: &str) -> Result<String, RulesError> {
        self.install(Rules::from_text(name, text))
    }

    fn install(&self, loaded: Result<Rules, RulesError>) -> Result<String, RulesError> {
        match loaded {
            Ok(rules) => {
                let version = rules.version.clone();
                let rules = Arc::new(rules);
                match self.shared.rules.write() {
                    Ok(mut current) => *current = rules,
                    Err(poisoned) => *poisoned.into_inner() = rules,
                }
                self.shared.metrics.reloaded(Some(&version));
                Ok(version)
            }
            Err(e) => {
                self.shared.metrics.reloaded(None);
                Err(e)
            }
        }
    }

    /// Binds `addr` and serves [`Service::router`] within `limits` (`http::start`).
    ///
    /// `limits.max_body` bounds the bodies read whole (`/v1/explain-error`); `/v1/check`
    /// streams and bounds each document — or each entry of a JSON batch — by the input
    /// limit (`--max-input-size`), as the CLI does, so the server-wide body limit is
    /// lifted for it.
    pub async fn start(
        &self,
        addr: std::net::SocketAddr,
        limits: Limits,
    ) -> std::io::Result<Server> {
        let limits = Limits {
            max_body: usize::MAX,
            ..limits
        };
        crate::http::start_with(addr, self.router(), limits, layer_refusal).await
    }

    /// The routes, with the metrics middleware.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let max_body = shared.max_body;
        Router::new()
            .route("/v1/check", post(check::check))
            .route(
                "/v1/explain-error",
                post(explain_error).layer(RequestBodyLimitLayer::new(max_body)),
            )
            .route("/v1/rules", get(rules))
            .route("/v1/rules/graph", get(graph))
            .route("/v1/errors", get(errors))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_text))
            .route("/openapi.json", get(openapi_json))
            .fallback(not_found)
            .layer(CountLayer(shared.clone()))
            .with_state(shared)
    }
}

impl Shared {
    fn current(&self) -> Arc<Rules> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Counts every answer: route, status, time to the answer's head. A tower layer rather
/// than `axum::middleware::from_fn`, which boxes a clone of the routes and its future for
/// every request (a few percent of a single check's time).
#[derive(Clone)]
struct CountLayer(Arc<Shared>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Count<S>;
    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            shared: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Count<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> tower::Service<HttpRequest<Body>> for Count<S>
where
    S: tower::Service<HttpRequest<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<Body>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Counted {
            inner: self.inner.call(request),
            shared: self.shared.clone(),
            route,
            start: Instant::now(),
            done: false,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer on its way, counted when it is ready — or, when it is dropped
    /// unfinished, as the 408 the request timeout answered in its place (the timeout layer
    /// sits outside this one), or as 499 (nginx's "client closed request") when the
    /// client left or the server stopped before.
    struct Counted<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        route: Option<MatchedPath>,
        start: Instant,
        done: bool,
    }

    impl<F> PinnedDrop for Counted<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.done {
                return;
            }
            let took = this.start.elapsed();
            let status = if took >= this.shared.request_timeout { 408 } else { 499 };
            this.shared.metrics.request(
                this.route.as_ref().map_or("other", MatchedPath::as_str),
                status,
                took,
            );
        }
    }
}

impl<F, E> std::future::Future for Counted<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        *this.done = true;
        if let Ok(response) = &result {
            this.shared.metrics.request(
                this.route.as_ref().map_or("other", MatchedPath::as_str),
                response.status().as_u16(),
                this.start.elapsed(),
            );
        }
        std::task::Poll::Ready(result)
    }
}

/// A JSON answer stamped with the rule set's version.
fn json_answer(status: StatusCode, version: &str, body: Vec<u8>) -> Response {
    answer(status, version, "application/json", body)
}

fn answer(
    status: StatusCode,
    version: &str,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    answer_with(
        status,
        HeaderValue::from_str(version).ok(),
        content_type,
        body,
    )
}

/// [`answer`] with the rule set's header value made at load (the hot path's).
fn answer_from(
    rules: &Rules,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    answer_with(status, rules.version_header.clone(), content_type, body)
}

fn answer_with(
    status: StatusCode,
    version: Option<HeaderValue>,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = version {
        headers.insert(RULES_VERSION_HEADER, v);
    }
    response
}

/// `{"error": {"message": …}}`.
/// The limit layers' own refusals, in the service's error shape (no rules version: the
/// layers answer before any rule set is looked at).
fn layer_refusal(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(axum::body::Body::from(error_body(message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_answer(status: StatusCode, version: &str, message: &str) -> Response {
    json_answer(status, version, error_body(message))
}

/// `{"error": {"message": …}}`.
fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&openapi::ErrorAnswer {
        error: openapi::ErrorMessage {
            message: message.to_owned(),
        },
    })
    .unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    body
}

/// The query of `/v1/explain-error`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    status: Option<String>,
    lang: Option<String>,
}

/// `ja` or `en`.
fn parse_lang(lang: Option<&str>) -> Result<Lang, String> {
    match lang {
        None | Some("ja") => Ok(Lang::Ja),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(format!(
            "unknown language `{}`: expected `ja` or `en`",
            other.escape_debug()
        )),
    }
}

fn query_message(e: &axum::extract::rejection::QueryRejection) -> String {
    format!("bad query: {}", e.body_text().to_lowercase())
}

async fn explain_error(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ExplainQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let rules = shared.current();
    let version = &rules.version;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                crate::model::limits::too_large_message()
            } else {
                format!("cannot read the body: {}", e.body_text().to_lowercase())
            };
            return error_answer(status, version, &message);
        }
    };
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return error_answer(StatusCode::BAD_REQUEST, version, &query_message(&e)),
    };
    let lang = match parse_lang(query.lang.as_deref()) {
        Ok(l) => l,
        Err(m) => return error_answer(StatusCode::BAD_REQUEST, version, &m),
    };
    let status = match query.status.as_deref().map(str::parse::<u16>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            let given = query
                .status
                .as_deref()
                .unwrap_or_default()
                .escape_debug()
                .to_string();
            return error_answer(
                StatusCode::BAD_REQUEST,
                version,
                &format!("invalid status `{given}`: expected an HTTP status such as `401`"),
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error_answer(
            StatusCode::BAD_REQUEST,
            version,
            "the body is not UTF-8 text",
        );
    };
    if body.len() <= EXPLAIN_INLINE {
        return match crate::render::explain_error(&rules.engine, status, text, lang) {
            Ok(out) => json_answer(StatusCode::OK, version, to_json(&out)),
            Err(e) => error_answer(StatusCode::BAD_REQUEST, version, &e.to_string()),
        };
    }
    // A long answer takes a blocking thread (one of the streams' permits), so the
    // server's workers keep answering and `--request-timeout` can still answer 408.
    let Ok(permit) = shared.streams.clone().acquire_owned().await else {
        return error_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            version,
            "the service is stopping",
        );
    };
    let work_rules = rules.clone();
    let worked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // UTF-8 was checked above.
        let text = std::str::from_utf8(&body).unwrap_or_default();
        crate::render::explain_error(&work_rules.engine, status, text, lang)
            .map(|out| to_json(&out))
            .map_err(|e| e.to_string())
    })
    .await;
    match worked {
        Ok(Ok(json)) => json_answer(StatusCode::OK, version, json),
        Ok(Err(message)) => error_answer(StatusCode::BAD_REQUEST, version, &message),
        Err(_) => error_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            version,
            "the answer could not be classified",
        ),
    }
}

/// Bodies up to this size are classified on the server's worker (most answers are a few
/// KiB); longer ones on a blocking thread.
const EXPLAIN_INLINE: usize = 64 * 1024;

async fn rules(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.current();
    let file = rules.engine.rules().file();
    let body = to_json(&openapi::RulesAnswer {
        version: &rules.version,
        rules: &file.rules,
    });
    json_answer(StatusCode::OK, &rules.version, body)
}

async fn errors(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.current();
    let file = rules.engine.rules().file();
    let body = to_json(&openapi::ErrorsAnswer {
        version: &rules.version,
        errors: &file.errors,
        success: &file.success,
    });
    json_answer(StatusCode::OK, &rules.version, body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphQuery {
    format: Option<String>,
}

async fn graph(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<GraphQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let rules = shared.current();
    let version = &rules.version;
    let format = match query.as_ref().map(|Query(q)| q.format.as_deref()) {
        Err(e) => return error_answer(StatusCode::BAD_REQUEST, version, &query_message(e)),
        Ok(None | Some("mermaid")) => GraphFormat::Mermaid,
        Ok(Some("dot")) => GraphFormat::Dot,
        Ok(Some(other)) => {
            return error_answer(
                StatusCode::BAD_REQUEST,
                version,
                &format!(
                    "unknown graph format `{}`: expected `mermaid` or `dot`",
                    other.escape_debug()
                ),
            )
        }
    };
    let text = crate::rules::render_graph(rules.engine.rules().file(), format);
    let content_type = match format {
        GraphFormat::Mermaid => "text/vnd.mermaid; charset=utf-8",
        GraphFormat::Dot => "text/vnd.graphviz; charset=utf-8",
    };
    answer(StatusCode::OK, version, content_type, text.into_bytes())
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.current();
    let body = to_json(&openapi::Health {
        status: "ok",
        rules_version: rules.version.clone(),
    });
    json_answer(StatusCode::OK, &rules.version, body)
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.current();
    let text = shared.metrics.render(&rules.version);
    answer(
        StatusCode::OK,
        &rules.version,
        "text/plain; version=0.0.4; charset=utf-8",
        text.into_bytes(),
    )
}

async fn openapi_json(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.current();
    json_answer(
        StatusCode::OK,
        &rules.version,
        shared.openapi.clone().into_bytes(),
    )
}

async fn not_found(State(shared): State<Arc<Shared>>, uri: axum::http::Uri) -> Response {
    let rules = shared.current();
    error_answer(
        StatusCode::NOT_FOUND,
        &rules.version,
        &format!(
            "no route `{}` (see /openapi.json)",
            uri.path().escape_debug()
        ),
    )
}
