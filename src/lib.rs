//! # rms-preflight
//!
//! Stops bad Rakuten Pay order actions before they reach Rakuten's RMS API.
//!
//! An OMS asks "may I do this to this order now?" — confirm it, ship it, bundle it — and
//! the [`Engine`] answers `allow`, `warn` or `deny`, with the seed rule behind the answer
//! and the remedy, in Japanese and English. Every rule, message and remedy lives in the
//! rules file (`rules/rakuten_pay.yaml`, embedded as [`RuleSet::embedded`]); the Rust code
//! only knows how to read it.
//!
//! ```
//! use rms_preflight::{Engine, RuleSet, Request, Action, Order, Decision};
//!
//! let engine = Engine::new(RuleSet::embedded().unwrap());
//! let order = Order { order_progress: 200, ..Order::default() };
//! let verdict = engine.check(&Request::new(Action::Confirm, Some(order)));
//! assert_eq!(verdict.decision, Decision::Deny);
//! assert_eq!(verdict.findings[0].source, "S2");
//! ```
//!
//! ## Layout
//!
//! The modules read as the pipeline a request travels:
//!
//! - [`model`]: the request — RMS's `OrderModel` as RMS sends it, the OMS's state, the
//!   shop — and the reading of check documents (single or streamed batch);
//! - [`expr`]: the guard-expression language of the rules file (parse → check → eval);
//! - [`rules`]: the rules file's types, loading with source spans, and `lint`;
//! - [`engine`]: a compiled rule set; `check` → [`Verdict`], `classify` → error entry;
//! - [`rms`]: the client side of RMS — wire types, the one-method [`RmsApi`](rms::RmsApi)
//!   trait, `HttpRms` (reqwest) with its rate limit and retries of safe reads;
//! - [`render`]: the JSON answers of `check` and `explain-error` (the public contract),
//!   written by the CLI and the service alike;
//! - [`guard`]: the engine in front of any client — every state-changing call is checked
//!   first, bulk confirmations are chunked and reconciled (S1);
//! - [`ledger`]: the durable once-only ledger the guard claims each confirmation in before
//!   sending it (S1 across processes) — SQLite (embedded) or PostgreSQL;
//! - [`http`]: the server stack of `serve` and `proxy` — an axum router on hyper,
//!   bounded by tower layers (body size, timeouts, concurrency), with a graceful drain;
//! - [`proxy`]: the guarding RMS proxy — RMS's wire protocol in and out, the guard and
//!   the ledger in between, so an OMS in any language cannot bypass the pre-flight;
//! - [`service`]: `serve`, the engine as an HTTP service (`/v1/check`, `/v1/explain-error`,
//!   rules, metrics, OpenAPI), its rules reloaded whole without a restart;
//! - [`fixture`]: recorded RMS traffic — cassettes, VCR import, redaction, the recording
//!   proxy, the replay server;
//! - [`sim`]: the simulated RMS and OMS, scenarios, reports and the explorer;
//! - [`conformance`]: the simulator's answers against real recordings, by shape (typed
//!   diff, ignore rules from `rules/conformance.yaml`), and drift: RMS's answers now against
//!   a recording, through an [`RmsApi`](rms::RmsApi).
//!
//! The command-line edge (arguments, output formats, rendered diagnostics, exit codes)
//! is the binary's own (`src/main.rs` and `src/cli/`): clap and miette are not part of
//! this library's API.

pub mod conformance;
pub mod engine;
pub mod expr;
pub mod fixture;
pub mod guard;
pub mod http;
pub mod ledger;
pub mod model;
pub mod proxy;
pub mod render;
pub mod rms;
pub mod rules;
pub mod service;
pub mod sim;

pub use engine::{
    Decision, Engine, Explanation, Finding, RuleTrace, TracePath, TraceValue, Verdict,
};
pub use model::{Action, Label, OmsState, Order, Package, Request, Shop, Timestamp};
pub use rules::{Lang, RuleSet, RulesError};
