//! [`SimRms`]: a stateful model of RMS's RakutenPayOrderAPI.
//!
//! Orders move only along the rules file's `transitions` (looked up by `via`: a confirm is
//! the transition `via: confirmOrder` from the order's status, screening is
//! `via: screening`, …), so the simulator cannot disagree with the rules about the state
//! machine. What it adds is behaviour: answers in RMS's own shapes and codes, Rakuten's
//! screening after a delay, the 14-day auto-cancel, licence keys that expire and take
//! minutes to work, and injected faults — QPS, maintenance, API errors, timeouts and the
//! nasty one, a confirmation that succeeds but whose answer is lost.
//!
//! # Layout
//!
//! One file per part of RMS the simulator models; this one holds [`SimRms`]'s public API
//! and the path of one call through the parts ([`SimRms::send`](RmsApi::send)):
//!
//! - `store.rs` — the orders: each a typed [`Order`](crate::model::Order) and RMS's JSON
//!   for it, kept in step ([`read_order`] is the one JSON → `Order` reading);
//! - `transitions.rs` — the state machine, read from the rules' `transitions`;
//! - `events.rs` — what happens later on its own (screening, auto-cancel, a
//!   cancellation's confirmation), on a time-ordered queue;
//! - `license.rs` — when the shop's licence key works (S17);
//! - `faults.rs` — which injected fault, if any, a call meets (seeded, replayable);
//! - `calls.rs` — the call log and the confirmations RMS accepted (S1's witness);
//! - `endpoints.rs` — the six functions;
//! - `replies.rs` — every body in RMS's words, deliberately restated (the only place);
//! - `http.rs` — [`SimHandler`]: the simulator behind RMS's wire protocol (`sim-server`).
//!
//! A call goes: run the events that are due → pick a fault → check the licence → run the
//! function → record the call → answer (or, for a lost response, act and wait out the
//! timeout).
//!
//! Facts it relies on that are `unsure` in `shared/notes/rms-api-facts.md` are listed in
//! `replies.rs`.

mod calls;
mod endpoints;
mod events;
mod faults;
mod http;
mod license;
mod render;
mod replies;
mod store;
mod transitions;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::clock::SimClock;
use crate::engine::Engine;
use crate::model::Timestamp;
use crate::rms::{RmsApi, RmsCall, RmsError, RmsReply};
use crate::rules::TransportFailure;

pub use calls::CallRecord;
pub use faults::{until, FaultKind, FaultRule, RandomFaults};
pub use http::SimHandler;
pub use store::{read_order, rms_time};

use calls::CallLog;
use events::EventQueue;
use faults::Faults;
use license::License;
use store::OrderStore;

/// How the simulated RMS behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Confirmed (200) → awaiting shipment (300).
    pub screening_delay: Duration,
    /// Awaiting cancellation (800) → cancelled (900).
    pub cancel_delay: Duration,
    /// How long a timeout fault keeps the caller waiting.
    pub timeout: Duration,
    /// The shop has the API option (`updateOrderDelivery` works).
    pub api_option: bool,
    pub random_faults: Option<RandomFaults>,
    /// Seeds the random faults.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            screening_delay: Duration::from_secs(600),
            cancel_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            api_option: false,
            random_faults: None,
            seed: 1,
        }
    }
}

/// Everything RMS holds, behind one lock: a call sees and changes it as a whole.
#[derive(Debug)]
struct State {
    orders: OrderStore,
    events: EventQueue,
    license: License,
    faults: Faults,
    calls: CallLog,
    /// Every move of an order, kept only while a runner asks for them
    /// ([`SimRms::record_moves`]): a report's timeline, never the explorer or a server.
    moves: Option<Vec<Moved>>,
}

/// One move of an order along a transition of the rules: by a call, an event RMS made on
/// its own (screening, auto-cancel, a cancellation's confirmation) or one a scenario
/// played (a buyer's cancellation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub at: Timestamp,
    pub order: String,
    pub from: i64,
    pub to: i64,
    /// The transition's `via`: a function or an event.
    pub via: String,
}

/// The simulated RMS. Cheap to share (`Arc`).
pub struct SimRms {
    engine: Arc<Engine>,
    clock: SimClock,
    config: SimConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for SimRms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRms")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SimRms {
    /// An RMS holding no orders, with a licence key that always works, on `clock`.
    pub fn new(engine: Arc<Engine>, clock: SimClock, config: SimConfig) -> Self {
        let faults = Faults::new(config.random_faults.clone(), config.seed);
        SimRms {
            engine,
            clock,
            config,
            state: Mutex::new(State {
                orders: OrderStore::default(),
                events: EventQueue::default(),
                license: License::default(),
                faults,
                calls: CallLog::default(),
                moves: None,
            }),
        }
    }

    /// The state. A panic while it was held (a bug) does not poison the simulator for the
    /// other callers: every change to it is complete before the lock is released.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn clock(&self) -> SimClock {
        self.clock
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    // --- orders ---------------------------------------------------------------------

    /// Adds an order as RMS holds it (an OrderModel). Orders left in 100 are cancelled
    /// after the rules' `timing.auto_cancel_after`.
    pub fn add_order(&self, order: Map<String, Value>) -> Result<(), String> {
        let after = self.engine.rules().facts().auto_cancel_after.as_secs();
        let mut s = self.lock();
        let number = s.orders.add(order).map_err(|e| e.to_string())?;
        let placed = s.orders.get(&number).and_then(|o| o.order().order_datetime);
        if let Some(placed) = placed {
            let at = placed.unix_seconds().saturating_add(after);
            s.events.schedule(at, &number, transitions::AUTO_CANCEL);
        }
        Ok(())
    }

    /// The order as RMS holds it now (what `getOrder` answers).
    pub fn order(&self, number: &str) -> Option<Map<String, Value>> {
        self.catch_up();
        self.lock().orders.get(number).map(|o| o.json().clone())
    }

    /// Every order number, sorted.
    pub fn order_numbers(&self) -> Vec<String> {
        self.lock().orders.numbers()
    }

    /// Moves an order along the transition `via` (an event: `buyer_cancel`,
    /// `rakuten_cancel`, a confirmation made in RMS's screens, …). Returns the new status,
    /// or why it cannot.
    pub fn event(&self, number: &str, via: &str) -> Result<i64, String> {
        self.catch_up();
        let now = self.clock.now();
        let mut s = self.lock();
        self.apply(&mut s, number, via, now)
            .map_err(|e| e.to_string())
    }

    /// Changes fields of an order in RMS (by Rakuten, the buyer, or the shop by hand).
    /// Changes that would leave an order the crate cannot read (`orderProgress: "x"`, a
    /// key one typo away from a known field) are refused, and the order is left as it was.
    pub fn edit(&self, number: &str, changes: &Map<String, Value>) -> Result<(), String> {
        self.lock()
            .orders
            .edit(number, changes)
            .map_err(|e| e.to_string())
    }

    // --- time -----------------------------------------------------------------------

    /// Runs the events that are due.
    pub fn catch_up(&self) {
        let now = self.clock.now();
        let mut s = self.lock();
        self.run_due(&mut s, now);
    }

    /// When the next scheduled event is due.
    pub fn next_event_at(&self) -> Option<Timestamp> {
        let offset = self.clock.now().offset_seconds();
        self.lock()
            .events
            .next_at()
            .map(|at| Timestamp::from_unix(at, offset))
    }

    // --- licence and faults -----------------------------------------------------------

    /// Sets the licence key's expiry (`None`: never).
    pub fn set_license_expiry(&self, at: Option<Timestamp>) {
        self.lock().license.expires_at = at;
    }

    /// A renewed key: it works from `now + activation` and lasts the rules' lifetime.
    pub fn renew_license(&self, activation: Duration) {
        let now = self.clock.now();
        let lifetime = self.engine.rules().facts().license_lifetime.as_secs();
        self.lock().license.renew(now, activation, lifetime);
    }

    /// Injects a fault.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().faults.inject(rule);
    }

    // --- the call log -----------------------------------------------------------------

    /// Every call received so far (the last `keep` with [`SimRms::limit_call_log`]).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.kept().cloned().collect()
    }

    /// The calls received after the first `n` (those still kept).
    pub fn calls_since(&self, n: usize) -> Vec<CallRecord> {
        self.lock().calls.since(n).cloned().collect()
    }

    /// How many calls were received so far (all of them, kept or not).
    pub fn call_count(&self) -> usize {
        self.lock().calls.count()
    }

    /// Keeps only the last `keep` call records from now on ([`SimRms::call_count`]
    /// still counts every call): a long-running server stays in bounded memory. Without
    /// it every record is kept (a scenario or an exploration checks them step by step).
    pub fn limit_call_log(&self, keep: usize) {
        self.lock().calls.limit(keep);
    }

    /// Keeps every move of an order from now on, for [`SimRms::take_moves`].
    pub fn record_moves(&self) {
        let mut s = self.lock();
        if s.moves.is_none() {
            s.moves = Some(Vec::new());
        }
    }

    /// The moves recorded since the last call (none unless [`SimRms::record_moves`]).
    pub fn take_moves(&self) -> Vec<Moved> {
        self.lock()
            .moves
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The order's `orderProgress` as RMS holds it, without running the events that are
    /// due (a report reads the state; reading must not change when events run).
    pub fn peek_progress(&self, number: &str) -> Option<i64> {
        self.lock().orders.get(number).map(|o| o.progress())
    }

    /// How many confirmations RMS accepted for an order.
    pub fn accepted_confirms(&self, number: &str) -> u32 {
        self.lock().calls.accepted_confirms(number)
    }

    // --- one call ---------------------------------------------------------------------

    /// Answers one call (what `send` and the HTTP server share).
    async fn answer(&self, call: &RmsCall) -> Result<RmsReply, RmsError> {
        self.catch_up();
        let now = self.clock.now();
        let numbers = endpoints::order_numbers(&call.body);
        let (fault, licensed) = {
            let mut s = self.lock();
            (s.faults.pick(&call.function, now), s.license.works_at(now))
        };
        let record = |status: u16, confirmed: Vec<String>| CallRecord {
            at: now,
            function: call.function.clone(),
            orders: numbers.clone(),
            status,
            fault,
            confirmed,
        };
        let canned = match fault {
            Some(FaultKind::Qps) => Some(replies::qps_exceeded()),
            Some(FaultKind::Maintenance) => Some(replies::in_maintenance()),
            Some(FaultKind::ApiError) => Some(replies::api_error()),
            Some(FaultKind::ProxyError) => Some(replies::proxy_error()),
            Some(FaultKind::Timeout | FaultKind::LostResponse) | None => None,
        };
        if let Some((status, body)) = canned {
            self.lock().calls.push(record(status, vec![]));
            return Ok(reply(status, body));
        }
        if fault == Some(FaultKind::Timeout) {
            // RMS never saw it: nothing happens, and the caller waits.
            self.lock().calls.push(record(0, vec![]));
            tokio::time::sleep(self.config.timeout).await;
            return Err(timeout());
        }
        if !licensed {
            let (status, body) = replies::unauthorised();
            self.lock().calls.push(record(status, vec![]));
            return Ok(reply(status, body.to_string()));
        }
        let answer = self.dispatch(&call.function, &call.body, &numbers, now);
        self.lock()
            .calls
            .push(record(answer.status, answer.confirmed));
        if fault == Some(FaultKind::LostResponse) {
            // RMS acted (and the log says so); the answer never arrives.
            tokio::time::sleep(self.config.timeout).await;
            return Err(timeout());
        }
        Ok(reply(answer.status, answer.body.to_string()))
    }
}

fn reply(status: u16, body: String) -> RmsReply {
    RmsReply {
        status,
        body: Bytes::from(body),
    }
}

fn timeout() -> RmsError {
    RmsError::Transport {
        kind: TransportFailure::Timeout,
        message: "no answer before the timeout".into(),
    }
}

impl RmsApi for SimRms {
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        self.answer(&call).await
    }
}
