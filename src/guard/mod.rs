//! The guard: the engine in front of any [`RmsApi`].
//!
//! Every state-changing call goes through [`Engine::check`] first, against the order's
//! current snapshot and the OMS's state; a denied call returns the verdict and **no
//! request is sent**. Allowed confirmations go out in chunks of 100 (S3), and a
//! confirmation whose outcome is unknown (timeout, 5xx, QPS, maintenance: S19–S21) is
//! never sent again blindly: the guard reads the orders back with `getOrder` and resends
//! only those still in 100, so S1 holds even under faults. With a ledger
//! ([`Guard::with_ledger`]) each confirmation is also claimed in it before it is sent, so S1
//! holds across guards, processes and restarts (`claims.rs`).

mod claims;
mod outcome;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use claims::{DeferredMarks, Reconciled, DEFAULT_STALE_AFTER};
pub use outcome::{Done, Failure, Outcome, OwnedFinding, OwnedRemedy, Report};

use crate::engine::{Classification, Engine, MatchedBy};
use crate::model::{Action, OmsState, Order, Request, Shop, Timestamp};
use crate::rms::function;
use crate::rms::wire::{
    CancelOrderRequest, ConfirmOrderRequest, GetOrderRequest, MessageModel, MessagesResponse,
    UpdateOrderDeliveryRequest, UpdateOrderShippingRequest, MAX_ORDER_NUMBERS,
};
use crate::rms::{RmsApi, RmsError};
use crate::rules::Retry;

/// Where the guard reads the time of its checks.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock (JST).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now_jst()
    }
}

/// What the OMS holds for one order: RMS's snapshot and its own state.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub order: Order,
    pub oms: OmsState,
}

impl Tracked {
    pub fn new(order: Order) -> Self {
        Tracked {
            order,
            oms: OmsState::default(),
        }
    }

    pub fn order_number(&self) -> &str {
        self.order.order_number.as_deref().unwrap_or("")
    }
}

/// [`Engine`] + [`RmsApi`]: calls only what the rules allow.
pub struct Guard<C> {
    api: C,
    engine: Arc<Engine>,
    shop: Shop,
    clock: Arc<dyn Clock>,
    get_order_version: u32,
    confirm_attempts: u32,
    resend_hold: Duration,
    ledger: Option<claims::Binding>,
}

impl<C: RmsApi> Guard<C> {
    /// A guard for one shop.
    pub fn new(api: C, engine: Arc<Engine>, shop: Shop) -> Self {
        Guard {
            api,
            engine,
            shop,
            clock: Arc::new(SystemClock),
            get_order_version: 7,
            confirm_attempts: 3,
            resend_hold: Duration::ZERO,
            ledger: None,
        }
    }

    /// Takes the time of checks from `clock` (a virtual clock in the simulator).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many times one order may be *sent* for confirmation (each resend only after a
    /// read-back shows it still in 100). Default 3.
    pub fn with_confirm_attempts(mut self, attempts: u32) -> Self {
        self.confirm_attempts = attempts.max(1);
        self
    }

    /// How long a confirmation RMS may have received but did not answer (no answer in time,
    /// a broken connection, a 5xx, an unreadable answer) keeps its order from being sent
    /// again. RMS may still act on such a call after the client stopped waiting, so a
    /// read-back that finds the order still awaiting confirmation proves nothing at once:
    /// the order is not resent, its outcome is unknown (its ledger row `unknown`, which
    /// refuses every claim), and [`reconcile_ledger`](Guard::reconcile_ledger) takes a
    /// read-back in 100 for "RMS did not act" only once the row has been untouched this
    /// long. Set it to at least the client's timeout (the proxy uses its
    /// `--upstream-timeout`). Default zero: the read-back decides at once, and a still
    /// confirmable order is resent (S19's remedy, "press it again").
    pub fn with_resend_hold(mut self, hold: Duration) -> Self {
        self.resend_hold = hold;
        self
    }

    /// The `version` of `getOrder` used to read orders back. Default 7.
    pub fn with_get_order_version(mut self, version: u32) -> Self {
        self.get_order_version = version;
        self
    }

    pub fn api(&self) -> &C {
        &self.api
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The verdict for `action` on `tracked`, without calling anything.
    pub fn check(&self, action: Action, tracked: &Tracked) -> Report {
        self.check_in_batch(action, tracked, crate::model::BatchFacts::default())
    }

    /// The verdicts for a bulk call of `action` on `orders`, as [`confirm_bulk`] judges
    /// them: for `confirm`, an order number given again (compared after trimming) is
    /// checked as a repeat of its first entry (S1: one bulk run confirms an order once).
    ///
    /// [`confirm_bulk`]: Guard::confirm_bulk
    pub fn check_bulk(&self, action: Action, orders: &[Tracked]) -> Vec<Report> {
        let mut first_of: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(orders.len());
        // One request for the whole batch, read at one instant: each entry puts its own
        // order in (the shop's settings are copied once, not once per order).
        let mut request = Request {
            shop: self.shop.clone(),
            now: Some(self.clock.now()),
            action,
            order: None,
            oms: OmsState::default(),
            batch: crate::model::BatchFacts::default(),
        };
        orders
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let number = crate::model::canonical_order_number(t.order_number());
                let mut batch = crate::model::BatchFacts::default();
                if action == Action::Confirm && !number.is_empty() {
                    let first = *first_of.entry(number).or_insert(i);
                    batch.repeat_of = (first != i).then_some(first);
                }
                request.order = Some(t.order.clone());
                request.oms.clone_from(&t.oms);
                request.batch = batch;
                self.engine.check(&request).into_owned()
            })
            .collect()
    }

    /// The verdict for one entry of a bulk call, with what the bulk call knows across
    /// entries (an earlier entry for the same order: S1).
    fn check_in_batch(
        &self,
        action: Action,
        tracked: &Tracked,
        batch: crate::model::BatchFacts,
    ) -> Report {
        let request = Request {
            shop: self.shop.clone(),
            now: Some(self.clock.now()),
            action,
            order: Some(tracked.order.clone()),
            oms: tracked.oms.clone(),
            batch,
        };
        self.engine.check(&request).into_owned()
    }

    fn failure(&self, c: Classification<'_>, detail: impl Into<String>) -> Failure {
        Failure::from_classification(&c, detail.into())
    }

    fn failure_of(&self, e: &RmsError) -> Failure {
        self.failure(e.classify(&self.engine), e.to_string())
    }

    /// Sends the confirmation of one order (注文確認通知を送る).
    pub async fn confirm(&self, tracked: &Tracked) -> Outcome {
        let mut all = self.confirm_bulk(std::slice::from_ref(tracked)).await;
        all.pop().map_or_else(
            || Outcome::Failed(self.failure(self.engine.classify(None, ""), "no outcome")),
            |(_, o)| o,
        )
    }

    /// Bulk confirmation (S3): each order is checked; the allowed ones are sent in chunks
    /// of 100; every order gets its own outcome, in input order. An order number given
    /// twice (compared after trimming) is sent at most once: every later entry is checked
    /// as a repeat and denied by the rules (S1).
    pub async fn confirm_bulk(&self, orders: &[Tracked]) -> Vec<(String, Outcome)> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; orders.len()];
        let mut allowed: Vec<usize> = Vec::new();
        let reports = self.check_bulk(Action::Confirm, orders);
        // The warnings each allowed order was sent with, for its outcome whatever it is.
        let warnings: Vec<Vec<crate::guard::OwnedFinding>> = reports
            .iter()
            .map(|r| {
                if r.is_denied() {
                    Vec::new()
                } else {
                    r.findings.clone()
                }
            })
            .collect();
        for (i, (t, report)) in orders.iter().zip(reports).enumerate() {
            if report.is_denied() {
                outcomes[i] = Some(Outcome::Denied(report));
            } else if t.order.order_number.is_none() {
                outcomes[i] = Some(Outcome::Failed(self.failure(
                    self.engine.classify(None, ""),
                    "the order has no `orderNumber`",
                )));
            } else {
                outcomes[i] = Some(Outcome::Done(Box::new(Done {
                    warnings: report.findings,
                    reconciled: false,
                    order: None,
                })));
                allowed.push(i);
            }
        }
        for chunk in allowed.chunks(MAX_ORDER_NUMBERS) {
            match &self.ledger {
                None => self.confirm_chunk(orders, chunk, &mut outcomes, None).await,
                Some(binding) => {
                    self.confirm_chunk_claimed(binding, orders, chunk, &mut outcomes)
                        .await
                }
            }
        }
        orders
            .iter()
            .zip(outcomes)
            .zip(warnings)
            .map(|((t, o), w)| {
                let o = o.unwrap_or_else(|| {
                    Outcome::Failed(self.failure(self.engine.classify(None, ""), "no outcome"))
                });
                (t.order_number().to_owned(), with_warnings(o, w))
            })
            .collect()
    }

    /// Sends one chunk and reconciles what stays uncertain. With a ledger, `tickets`
    /// holds the chunk's claims, and an order is resent only while its claim holds.
    async fn confirm_chunk(
        &self,
        orders: &[Tracked],
        chunk: &[usize],
        outcomes: &mut [Option<Outcome>],
        tickets: Option<&std::collections::HashMap<usize, crate::ledger::Ticket>>,
    ) {
        let mut to_send: Vec<usize> = chunk.to_vec();
        let mut attempt = 1;
        loop {
            let numbers: Vec<String> = to_send
                .iter()
                .map(|&i| orders[i].order_number().to_owned())
                .collect();
            let sent = self
                .api
                .confirm_order(&ConfirmOrderRequest {
                    order_number_list: numbers.clone(),
                })
                .await;
            let (uncertain, cause) = self.settle_confirm(orders, &to_send, sent, outcomes);
            if uncertain.is_empty() {
                return;
            }
            let cause = cause.unwrap_or_else(|| RmsError::Decode {
                function: function::CONFIRM_ORDER.into(),
                message: "no message for the order".into(),
            });
            // The outcome is unknown: read the orders back before anything else.
            let wait = cause.classify(&self.engine).entry.wait;
            if let Some(w) = wait {
                tokio::time::sleep(Duration::from_secs(w.as_secs().max(0).unsigned_abs())).await;
            }
            let mut still_100 = self.reconcile(orders, &uncertain, &cause, outcomes).await;
            if !self.resend_hold.is_zero() && cause.may_have_reached_rms() {
                // RMS may yet act on the call it did not answer: nothing is resent now.
                for i in still_100 {
                    let mut f = self.failure_of(&cause);
                    f.detail = format!(
                        "{}; still awaiting confirmation when read back, but RMS may yet act on the call it did not answer, so it is not sent again for {} s",
                        f.detail,
                        self.resend_hold.as_secs_f64()
                    );
                    f.outcome_unknown = true;
                    outcomes[i] = Some(Outcome::Failed(f));
                }
                return;
            }
            if let (Some(tickets), true) = (tickets, attempt < self.confirm_attempts) {
                still_100 = self.resend_gate(tickets, still_100, &cause, outcomes).await;
            }
            if still_100.is_empty() {
                return;
            }
            if attempt >= self.confirm_attempts {
                for i in still_100 {
                    let mut f = self.failure_of(&cause);
                    f.detail = format!("{} (still in 100 after {attempt} attempts)", f.detail);
                    outcomes[i] = Some(Outcome::Failed(f));
                }
                return;
            }
            attempt += 1;
            to_send = still_100;
        }
    }

    /// Applies a confirmOrder answer; returns the orders whose outcome is unknown.
    fn settle_confirm(
        &self,
        orders: &[Tracked],
        sent: &[usize],
        result: Result<MessagesResponse, RmsError>,
        outcomes: &mut [Option<Outcome>],
    ) -> (Vec<usize>, Option<RmsError>) {
        match result {
            Ok(response) => {
                // RMS's word per order number, looked up once per order (the first message
                // about a number counts, as `for_order` finds it).
                let mut said: HashMap<&str, &MessageModel> =
                    HashMap::with_capacity(response.message_model_list.len());
                for m in &response.message_model_list {
                    if let Some(n) = m.order_number.as_deref() {
                        said.entry(n).or_insert(m);
                    }
                }
                let mut uncertain = Vec::new();
                for &i in sent {
                    match said.get(orders[i].order_number()).copied() {
                        Some(m) if m.is_error() => {
                            let body = serde_json::json!({ "MessageModelList": [m] });
                            let c = self.engine.classify_value(Some(200), &body);
                            outcomes[i] = Some(Outcome::Failed(
                                self.failure(c, format!("{}: {}", m.message_code, m.message)),
                            ));
                        }
                        Some(_) => mark_done(&mut outcomes[i], false, None),
                        None => uncertain.push(i),
                    }
                }
                (uncertain, None)
            }
            Err(e) => {
                let retry = e.classify(&self.engine).entry.retry;
                if e.outcome_unknown() || retry == Retry::AfterReconcile {
                    (sent.to_vec(), Some(e))
                } else {
                    for &i in sent {
                        outcomes[i] = Some(Outcome::Failed(self.failure_of(&e)));
                    }
                    (Vec::new(), None)
                }
            }
        }
    }

    /// Reads `uncertain` orders back; settles those RMS already moved on; returns those
    /// still in 100 (the only ones that may be sent again).
    async fn reconcile(
        &self,
        orders: &[Tracked],
        uncertain: &[usize],
        cause: &RmsError,
        outcomes: &mut [Option<Outcome>],
    ) -> Vec<usize> {
        let numbers: Vec<String> = uncertain
            .iter()
            .map(|&i| orders[i].order_number().to_owned())
            .collect();
        let read = self
            .api
            .get_order(&GetOrderRequest {
                order_number_list: numbers,
                version: self.get_order_version,
            })
            .await
            .and_then(|r| {
                r.orders().map_err(|message| RmsError::Decode {
                    function: function::GET_ORDER.into(),
                    message,
                })
            });
        let found = match read {
            Ok(found) => found,
            Err(read_error) => {
                // Cannot tell: report the original failure; its remedy says to fetch the status.
                for &i in uncertain {
                    let mut f = self.failure_of(cause);
                    f.detail = format!(
                        "{}; reading the order back failed too: {read_error}",
                        f.detail
                    );
                    f.outcome_unknown = true;
                    outcomes[i] = Some(Outcome::Failed(f));
                }
                return Vec::new();
            }
        };
        let rules = self.engine.rules();
        let mut still_100 = Vec::new();
        for &i in uncertain {
            let number = orders[i].order_number();
            match found
                .iter()
                .find(|o| o.order_number.as_deref() == Some(number))
            {
                None => {
                    let mut f = self.failure(
                        self.engine.classify(None, ""),
                        format!("getOrder did not return `{number}`"),
                    );
                    f.outcome_unknown = true;
                    outcomes[i] = Some(Outcome::Failed(f));
                }
                Some(o) if o.order_progress == rules.initial_status() => still_100.push(i),
                Some(o) if rules.confirm_error_of(o.order_progress).is_some() => {
                    let entry = rules.confirm_error_of(o.order_progress);
                    let c = entry.map_or_else(
                        || self.engine.classify(None, ""),
                        |entry| Classification {
                            entry,
                            matched_by: MatchedBy::OrderStatus(o.order_progress),
                        },
                    );
                    let f = self.failure(c, format!("`{number}` is in {}", o.order_progress));
                    outcomes[i] = Some(Outcome::Failed(f));
                }
                Some(o) => mark_done(&mut outcomes[i], true, Some(o.clone())),
            }
        }
        still_100
    }

    /// Ships (`updateOrderShipping`), if the rules allow (S6: only after 【楽天処理済】).
    pub async fn ship(&self, tracked: &Tracked, request: &UpdateOrderShippingRequest) -> Outcome {
        self.guarded(
            Action::Ship,
            tracked,
            self.api.update_order_shipping(request),
        )
        .await
    }

    /// Cancels (`cancelOrder`), if the rules allow.
    pub async fn cancel(&self, tracked: &Tracked, request: &CancelOrderRequest) -> Outcome {
        self.guarded(Action::Cancel, tracked, self.api.cancel_order(request))
            .await
    }

    /// Fetches the RMS status (RMSステータスを取得) of one order, if the rules allow.
    /// 入力内容を反映する (API option): pushes the OMS's edits to RMS, if the rules allow.
    pub async fn reflect(
        &self,
        tracked: &Tracked,
        request: &UpdateOrderDeliveryRequest,
    ) -> Outcome {
        self.guarded(
            Action::Reflect,
            tracked,
            self.api.update_order_delivery(request),
        )
        .await
    }

    pub async fn fetch_status(&self, tracked: &Tracked) -> Outcome {
        let report = self.check(Action::FetchStatus, tracked);
        if report.is_denied() {
            return Outcome::Denied(report);
        }
        let read = self
            .api
            .get_order(&GetOrderRequest {
                order_number_list: vec![tracked.order_number().to_owned()],
                version: self.get_order_version,
            })
            .await;
        match read.and_then(|r| {
            r.orders().map_err(|message| RmsError::Decode {
                function: function::GET_ORDER.into(),
                message,
            })
        }) {
            Ok(mut found) if !found.is_empty() => Outcome::Done(Box::new(Done {
                warnings: report.findings,
                reconciled: false,
                order: Some(found.remove(0)),
            })),
            Ok(_) => with_warnings(
                Outcome::Failed(self.failure(
                    self.engine.classify(None, ""),
                    format!("getOrder did not return `{}`", tracked.order_number()),
                )),
                report.findings,
            ),
            Err(e) => with_warnings(Outcome::Failed(self.failure_of(&e)), report.findings),
        }
    }

    /// Sends a state-changing call with the caller's own body (`function`, `body`), if the
    /// rules allow `action` on every order it names (`orders`): the guarded path of the
    /// proxy, which relays what the OMS wrote instead of rebuilding it. One denied order
    /// denies the whole call (its verdict is returned; nothing is sent). `confirmOrder` is
    /// refused here: confirmations go through [`confirm_bulk`](Guard::confirm_bulk), the
    /// only path that claims them in the ledger and reconciles lost answers (S1).
    pub async fn send_checked(
        &self,
        action: Action,
        orders: &[Tracked],
        function: &str,
        body: &serde_json::Value,
    ) -> Outcome {
        if action == Action::Confirm || function.eq_ignore_ascii_case(function::CONFIRM_ORDER) {
            return Outcome::Failed(self.failure(
                self.engine.classify(None, ""),
                "a confirmation is sent only through `confirm_bulk`",
            ));
        }
        let reports = self.check_bulk(action, orders);
        if let Some(denied) = reports.iter().find(|r| r.is_denied()) {
            return Outcome::Denied(denied.clone());
        }
        let warnings: Vec<OwnedFinding> = reports.into_iter().flat_map(|r| r.findings).collect();
        let first = orders
            .first()
            .cloned()
            .unwrap_or_else(|| Tracked::new(Order::default()));
        // Checked above, all of them: `guarded` re-checks only the first, which passed.
        let outcome = self
            .guarded(action, &first, self.api.call(function, body))
            .await;
        match outcome {
            Outcome::Done(mut d) => {
                d.warnings = warnings;
                Outcome::Done(d)
            }
            other => with_warnings(other, warnings),
        }
    }

    async fn guarded(
        &self,
        action: Action,
        tracked: &Tracked,
        call: impl std::future::Future<Output = Result<MessagesResponse, RmsError>>,
    ) -> Outcome {
        let report = self.check(action, tracked);
        if report.is_denied() {
            // `call` is dropped unpolled: nothing is sent.
            return Outcome::Denied(report);
        }
        match call.await {
            Ok(response) => match response.message_model_list.iter().find(|m| m.is_error()) {
                Some(m) => {
                    let body = serde_json::json!({ "MessageModelList": [m] });
                    let c = self.engine.classify_value(Some(200), &body);
                    with_warnings(
                        Outcome::Failed(
                            self.failure(c, format!("{}: {}", m.message_code, m.message)),
                        ),
                        report.findings,
                    )
                }
                None => Outcome::Done(Box::new(Done {
                    warnings: report.findings,
                    reconciled: false,
                    order: None,
                })),
            },
            Err(e) => with_warnings(Outcome::Failed(self.failure_of(&e)), report.findings),
        }
    }
}

/// A failure keeps the warnings of the check that let the call go.
fn with_warnings(outcome: Outcome, warnings: Vec<crate::guard::OwnedFinding>) -> Outcome {
    match outcome {
        Outcome::Failed(mut f) => {
            f.warnings = warnings;
            Outcome::Failed(f)
        }
        other => other,
    }
}

fn mark_done(slot: &mut Option<Outcome>, reconciled: bool, order: Option<Order>) {
    let warnings = match slot.take() {
        Some(Outcome::Done(d)) => d.warnings,
        _ => Vec::new(),
    };
    *slot = Some(Outcome::Done(Box::new(Done {
        warnings,
        reconciled,
        order,
    })));
}
