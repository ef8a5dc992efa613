//! The simulated OMS: what the seed's OMS does around the guard.
//!
//! It keeps its own copy of each order and its own state (confirm_sent, the
//! 【楽天処理中】/【楽天処理済】 label, bundles, unreflected edits, the last error), polls RMS
//! every 5 minutes (S5, the rules' `timing.result_poll_interval`) to set the labels, and
//! performs every user action through the real [`Guard`] → engine → client, so a
//! scenario exercises the product, not a copy of it.
//!
//! With a ledger ([`Oms::with_ledger`]) its guard claims every confirmation there first
//! (S1, `confirm-ledger-claimed`). The ledger lives outside the OMS's process: when the
//! OMS restarts ([`Oms::restart`]) from its backup and forgets what it sent, the ledger
//! still remembers.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::clock::std_duration;
use super::rms::SimRms;
use crate::engine::Engine;
use crate::guard::{Done, Guard, Outcome, Report, Tracked};
use crate::ledger::Ledger;
use crate::model::{Action, Label, OmsState, Order, Shop, Timestamp};
use crate::rms::function;
use crate::rms::wire::{
    CancelOrderRequest, GetOrderRequest, UpdateOrderDeliveryRequest, UpdateOrderShippingRequest,
    MAX_ORDER_NUMBERS,
};
use crate::rms::RmsApi;

/// One order as the OMS holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OmsOrder {
    /// The OMS's copy of the OrderModel (with its own edits).
    pub snapshot: Map<String, Value>,
    pub state: OmsState,
    /// Edits made in the OMS and not yet in RMS.
    pub pending: Map<String, Value>,
    /// Polled for results (after a confirmation or a status fetch).
    pub watching: bool,
}

/// What one action did.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    /// The engine's verdict before anything was sent (one per order).
    pub reports: Vec<(String, Report)>,
    /// What happened, per order.
    pub outcomes: Vec<(String, Outcome)>,
}

/// The OMS.
pub struct Oms {
    shop: Shop,
    orders: BTreeMap<String, OmsOrder>,
    engine: Arc<Engine>,
    sim: Arc<SimRms>,
    next_poll: Timestamp,
    poll_interval: std::time::Duration,
    bundles: u32,
    polls: u64,
    /// The once-only ledger the guard claims confirmations in, if any.
    ledger: Option<Arc<dyn Ledger>>,
    /// Every order as imported: what a restart comes back with.
    backup: BTreeMap<String, OmsOrder>,
}

/// The shop key a scenario's OMS claims under in its ledger.
pub const LEDGER_SHOP: &str = "scenario-shop";

impl Oms {
    pub fn new(engine: Arc<Engine>, sim: Arc<SimRms>, shop: Shop) -> Self {
        let poll = engine.rules().facts().result_poll_interval.as_secs().max(1);
        let now = sim.clock().now();
        Oms {
            shop,
            orders: BTreeMap::new(),
            next_poll: Timestamp::from_unix(now.unix_seconds() + poll, now.offset_seconds()),
            poll_interval: std::time::Duration::from_secs(poll.unsigned_abs()),
            engine,
            sim,
            bundles: 0,
            polls: 0,
            ledger: None,
            backup: BTreeMap::new(),
        }
    }

    /// The guard claims every confirmation in `ledger` (under [`LEDGER_SHOP`]) before
    /// sending it.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The OMS's process restarts from its backup, the orders as imported: everything it
    /// did since (confirmations recorded as sent, labels, edits, bundles, errors) is
    /// forgotten. RMS and the ledger are other processes: they keep theirs.
    pub fn restart(&mut self) {
        self.orders = self.backup.clone();
    }

    /// Imports an order (as RMS holds it) with the OMS's initial state.
    pub fn import(&mut self, snapshot: Map<String, Value>, state: OmsState) {
        let number = snapshot
            .get("orderNumber")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let watching = state.confirm_sent && state.label != Label::Processed;
        let order = OmsOrder {
            snapshot,
            state,
            pending: Map::new(),
            watching,
        };
        self.backup.insert(number.clone(), order.clone());
        self.orders.insert(number, order);
    }

    pub fn sim(&self) -> &Arc<SimRms> {
        &self.sim
    }

    /// The shop's settings the OMS works with.
    pub fn shop(&self) -> &Shop {
        &self.shop
    }

    /// Changes the shop's settings from here on (a scenario's `shop` step).
    pub fn set_shop(&mut self, shop: Shop) {
        self.shop = shop;
    }

    /// The shop renewed its licence key now (S17): the OMS records the new key's issue
    /// date, and its expiry if the shop keeps one.
    pub fn record_license_renewal(&mut self) {
        let now = self.sim.clock().now();
        self.shop.license_issued_at = Some(now);
        if self.shop.license_expires_at.is_some() {
            let renewed = Shop {
                license_expires_at: None,
                ..self.shop.clone()
            };
            self.shop.license_expires_at = self.engine.rules().facts().license_expiry(&renewed);
        }
    }

    /// One order as the OMS holds it.
    pub fn order(&self, number: &str) -> Option<&OmsOrder> {
        self.orders.get(number)
    }

    /// Every order the OMS holds, by number.
    pub fn orders(&self) -> impl Iterator<Item = (&String, &OmsOrder)> {
        self.orders.iter()
    }

    /// Polls run so far.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    fn guard(&self) -> Guard<Arc<SimRms>> {
        let guard = Guard::new(self.sim.clone(), self.engine.clone(), self.shop.clone())
            .with_clock(Arc::new(self.sim.clock()));
        match &self.ledger {
            Some(ledger) => guard.with_ledger(ledger.clone(), LEDGER_SHOP),
            None => guard,
        }
    }

    /// The order as the guard sees it.
    pub fn tracked(&self, number: &str) -> Option<Tracked> {
        let o = self.orders.get(number)?;
        let order: Order = super::rms::read_order(&o.snapshot).ok()?;
        Some(Tracked {
            order,
            oms: o.state.clone(),
        })
    }

    fn tracked_or_err(&self, number: &str) -> Result<Tracked, String> {
        self.tracked(number)
            .ok_or_else(|| format!("the OMS has no order `{number}`"))
    }

    /// The verdict for `action` on `number`, without doing anything.
    pub fn check(&self, action: Action, number: &str) -> Result<Report, String> {
        Ok(self.guard().check(action, &self.tracked_or_err(number)?))
    }

    fn record_failure(&mut self, number: &str, outcome: &Outcome) {
        if let (Some(f), Some(o)) = (outcome.failure(), self.orders.get_mut(number)) {
            o.state.last_error = Some(f.error.clone());
        }
    }

    /// 注文確認通知を送る, for one order or many (S3).
    pub async fn confirm(&mut self, numbers: &[String]) -> Result<ActionResult, String> {
        let tracked: Vec<Tracked> = numbers
            .iter()
            .map(|n| self.tracked_or_err(n))
            .collect::<Result<_, _>>()?;
        let guard = self.guard();
        let outcomes = guard.confirm_bulk(&tracked).await;
        // The guard's own check, carried by each outcome: no second evaluation.
        let reports = outcomes
            .iter()
            .map(|(n, o)| (n.clone(), o.report()))
            .collect();
        for (n, outcome) in &outcomes {
            match outcome {
                Outcome::Done(_) => {
                    if let Some(o) = self.orders.get_mut(n) {
                        o.state.confirm_sent = true;
                        o.state.last_error = None;
                        o.watching = true;
                    }
                }
                Outcome::Failed(_) => self.record_failure(n, outcome),
                Outcome::Denied(_) => {}
            }
        }
        Ok(ActionResult { reports, outcomes })
    }

    fn apply_read(&mut self, number: &str, order_json: Option<Map<String, Value>>) {
        let Some(fresh) = order_json else { return };
        let Some(o) = self.orders.get_mut(number) else {
            return;
        };
        let progress = fresh
            .get("orderProgress")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        // RMS's view, with the OMS's own unpushed edits on top.
        let mut snapshot = fresh;
        for (k, v) in &o.pending {
            snapshot.insert(k.clone(), v.clone());
        }
        o.snapshot = snapshot;
        // The label the rules give the status read (S5), or the one it had.
        let rules = self.engine.rules();
        let label = rules.label_of(progress).unwrap_or(o.state.label);
        if label == Label::Processed && o.state.label != Label::Processed {
            o.state.modified_after_processed = false;
        }
        o.state.label = label;
        // Nothing more to wait for once 【楽天処理済】 or cancelled.
        if rules.label_of(progress) == Some(Label::Processed)
            || rules.confirm_error_of(progress).is_some()
        {
            o.watching = false;
        }
    }

    /// RMSステータスを取得.
    pub async fn fetch_status(&mut self, number: &str) -> Result<ActionResult, String> {
        let tracked = self.tracked_or_err(number)?;
        let guard = self.guard();
        let outcome = guard.fetch_status(&tracked).await;
        let report = outcome.report();
        match &outcome {
            Outcome::Done(d) => {
                let fresh = self.sim.order(number);
                self.apply_read(number, fresh);
                let _ = d;
                if let Some(o) = self.orders.get_mut(number) {
                    o.state.last_error = None;
                    o.watching = o.state.label != Label::Processed;
                }
            }
            Outcome::Failed(_) => self.record_failure(number, &outcome),
            Outcome::Denied(_) => {}
        }
        Ok(ActionResult {
            reports: vec![(number.to_owned(), report)],
            outcomes: vec![(number.to_owned(), outcome)],
        })
    }

    fn local(&self, action: Action, number: &str) -> Result<(Report, Outcome), String> {
        let report = self.check(action, number)?;
        let outcome = if report.is_denied() {
            Outcome::Denied(report.clone())
        } else {
            Outcome::Done(Box::new(Done {
                warnings: report.findings.clone(),
                reconciled: false,
                order: None,
            }))
        };
        Ok((report, outcome))
    }

    fn single(number: &str, report: Report, outcome: Outcome) -> ActionResult {
        ActionResult {
            reports: vec![(number.to_owned(), report)],
            outcomes: vec![(number.to_owned(), outcome)],
        }
    }

    /// 注文内容修正: edits the OMS's copy.
    pub fn modify(
        &mut self,
        number: &str,
        set: &Map<String, Value>,
    ) -> Result<ActionResult, String> {
        let (report, outcome) = self.local(Action::Modify, number)?;
        if outcome.is_done() {
            if let Some(o) = self.orders.get_mut(number) {
                for (k, v) in set {
                    o.snapshot.insert(k.clone(), v.clone());
                    o.pending.insert(k.clone(), v.clone());
                }
                o.state.unreflected_changes = !o.pending.is_empty();
                if o.state.label == Label::Processed {
                    o.state.modified_after_processed = true;
                }
            }
        }
        Ok(Self::single(number, report, outcome))
    }

    /// 入力内容を反映する (API option): pushes the OMS's edits to RMS, through the guard.
    pub async fn reflect(&mut self, number: &str) -> Result<ActionResult, String> {
        let tracked = self.tracked_or_err(number)?;
        let guard = self.guard();
        let fields = self
            .orders
            .get(number)
            .map(|o| o.pending.clone())
            .unwrap_or_default();
        let request = UpdateOrderDeliveryRequest {
            order_number: number.to_owned(),
            fields,
        };
        let outcome = guard.reflect(&tracked, &request).await;
        let report = outcome.report();
        if outcome.is_done() {
            if let Some(o) = self.orders.get_mut(number) {
                o.pending.clear();
                o.state.unreflected_changes = false;
            }
        }
        self.record_failure(number, &outcome);
        Ok(Self::single(number, report, outcome))
    }

    /// The shop edits the order in RMS's own screens (S15's manual step).
    pub fn rms_edit(&mut self, number: &str, set: &Map<String, Value>) -> Result<(), String> {
        self.sim.edit(number, set)?;
        if let Some(o) = self.orders.get_mut(number) {
            for (k, v) in set {
                if o.pending.get(k) == Some(v) {
                    o.pending.remove(k);
                }
                o.snapshot.insert(k.clone(), v.clone());
            }
            o.state.unreflected_changes = !o.pending.is_empty();
        }
        Ok(())
    }

    /// 同梱: bundles orders, each checked (S9).
    pub fn bundle(&mut self, numbers: &[String]) -> Result<ActionResult, String> {
        let mut reports = Vec::new();
        let mut outcomes = Vec::new();
        for n in numbers {
            let (r, o) = self.local(Action::Bundle, n)?;
            reports.push((n.clone(), r));
            outcomes.push((n.clone(), o));
        }
        if outcomes.iter().all(|(_, o)| o.is_done()) {
            self.bundles += 1;
            let id = format!("B-{}", self.bundles);
            for n in numbers {
                if let Some(o) = self.orders.get_mut(n) {
                    o.state.bundle_id = Some(id.clone());
                }
            }
        }
        Ok(ActionResult { reports, outcomes })
    }

    /// 同梱解除.
    pub fn unbundle(&mut self, number: &str) -> Result<ActionResult, String> {
        let (report, outcome) = self.local(Action::Unbundle, number)?;
        if outcome.is_done() {
            let id = self
                .orders
                .get(number)
                .and_then(|o| o.state.bundle_id.clone());
            if let Some(id) = id {
                for o in self.orders.values_mut() {
                    if o.state.bundle_id.as_deref() == Some(id.as_str()) {
                        o.state.bundle_id = None;
                    }
                }
            }
        }
        Ok(Self::single(number, report, outcome))
    }

    /// 受注取込 with the shop's import settings (S11, S12): a check, no order.
    pub fn import_check(&self) -> ActionResult {
        let request = crate::model::Request {
            shop: self.shop.clone(),
            now: Some(self.sim.clock().now()),
            action: Action::Import,
            order: None,
            oms: OmsState::default(),
            batch: crate::model::BatchFacts::default(),
        };
        let report = self.engine.check(&request).into_owned();
        let outcome = if report.is_denied() {
            Outcome::Denied(report.clone())
        } else {
            Outcome::Done(Box::new(Done {
                warnings: report.findings.clone(),
                reconciled: false,
                order: None,
            }))
        };
        Self::single("(shop)", report, outcome)
    }

    /// A processing action that stays in the OMS (mail, slips).
    pub fn process(&mut self, action: Action, number: &str) -> Result<ActionResult, String> {
        let (report, outcome) = self.local(action, number)?;
        Ok(Self::single(number, report, outcome))
    }

    /// Ships (`updateOrderShipping`).
    pub async fn ship(&mut self, number: &str) -> Result<ActionResult, String> {
        let tracked = self.tracked_or_err(number)?;
        let guard = self.guard();
        let basket = tracked
            .order
            .package_model_list
            .first()
            .and_then(|p| p.basket_id)
            .unwrap_or(1);
        let request = UpdateOrderShippingRequest {
            order_number: number.to_owned(),
            basketid_model_list: vec![crate::rms::wire::BasketidModel {
                basket_id: basket,
                shipping_model_list: vec![crate::rms::wire::ShippingModel {
                    shipping_detail_id: None,
                    delivery_company: "1001".into(),
                    shipping_number: format!("SIM{}", number.replace('-', "")),
                    shipping_date: self
                        .sim
                        .clock()
                        .now()
                        .to_string()
                        .chars()
                        .take(10)
                        .collect(),
                    shipping_delete_flag: None,
                }],
            }],
        };
        let outcome = guard.ship(&tracked, &request).await;
        let report = outcome.report();
        if outcome.is_done() {
            let fresh = self.sim.order(number);
            self.apply_read(number, fresh);
        }
        self.record_failure(number, &outcome);
        Ok(Self::single(number, report, outcome))
    }

    /// Cancels (`cancelOrder`).
    pub async fn cancel(&mut self, number: &str) -> Result<ActionResult, String> {
        let tracked = self.tracked_or_err(number)?;
        let guard = self.guard();
        let outcome = guard
            .cancel(
                &tracked,
                &CancelOrderRequest {
                    order_number: number.to_owned(),
                    inventory_restore_type: 1,
                    change_reason_detail_apply: 1,
                },
            )
            .await;
        let report = outcome.report();
        if outcome.is_done() {
            let fresh = self.sim.order(number);
            self.apply_read(number, fresh);
        }
        self.record_failure(number, &outcome);
        Ok(Self::single(number, report, outcome))
    }

    /// The 5-minute poll (S5): reads the orders awaiting a result and sets their labels.
    pub async fn poll(&mut self) {
        self.polls += 1;
        let watched: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, o)| o.watching)
            .map(|(n, _)| n.clone())
            .collect();
        for chunk in watched.chunks(MAX_ORDER_NUMBERS) {
            let read = self
                .sim
                .get_order(&GetOrderRequest {
                    order_number_list: chunk.to_vec(),
                    version: 7,
                })
                .await;
            // A failed poll is simply retried at the next one, as the OMS does.
            let Ok(read) = read else { continue };
            for v in read.order_model_list {
                let Value::Object(map) = v else { continue };
                let Some(n) = map
                    .get("orderNumber")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                self.apply_read(&n, Some(map));
            }
        }
    }

    /// Moves time forward by `d`, running RMS's scheduled events and the OMS's polls in
    /// time order.
    pub async fn advance(&mut self, d: crate::model::Duration) {
        let clock = self.sim.clock();
        let end = clock
            .now()
            .unix_seconds()
            .saturating_add(std_duration(d).as_secs() as i64);
        loop {
            let now = clock.now().unix_seconds();
            let next_poll = self.next_poll.unix_seconds();
            let next = next_poll.min(end).max(now);
            if next > now {
                tokio::time::sleep(std::time::Duration::from_secs((next - now).unsigned_abs()))
                    .await;
            }
            self.sim.catch_up();
            if clock.now().unix_seconds() >= next_poll {
                self.poll().await;
                let t = self.next_poll.unix_seconds() + self.poll_interval.as_secs() as i64;
                self.next_poll = Timestamp::from_unix(t, self.next_poll.offset_seconds());
            }
            if clock.now().unix_seconds() >= end {
                break;
            }
        }
    }

    /// Rakuten or the buyer moved the order (`buyer_cancel`, `rakuten_cancel`, or the
    /// shop's confirmation in RMS's screens: S7b, S7c).
    /// The shop confirmed `number` in RMS's screens without the OMS user knowing (S7c
    /// unseen): the OMS keeps no record of it.
    /// (Whether or not RMS took it, the OMS is left without that record.)
    pub fn confirm_in_rms_unseen(&mut self, number: &str) -> Result<i64, String> {
        let moved = self.event(number, function::CONFIRM_ORDER);
        if let Some(o) = self.orders.get_mut(number) {
            o.state.confirmed_in_rms = false;
        }
        moved
    }

    pub fn event(&mut self, number: &str, via: &str) -> Result<i64, String> {
        let to = self.sim.event(number, via)?;
        if via == function::CONFIRM_ORDER {
            if let Some(o) = self.orders.get_mut(number) {
                o.state.confirmed_in_rms = true;
            }
        }
        Ok(to)
    }
}

impl std::fmt::Debug for Oms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oms")
            .field("orders", &self.orders.len())
            .field("polls", &self.polls)
            .finish()
    }
}
