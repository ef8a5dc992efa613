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
//! Facts it relies on that are `unsure` in `shared/notes/rms-api-facts.md`: the codes of
//! per-order confirm errors (`…_102` cancelled, `…_103` not confirmable, `…_105` fee not
//! set), the QPS body, and `updateOrderDelivery` as the function behind
//! 入力内容を反映する (API option).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::clock::{std_duration, SimClock};
use crate::engine::Engine;
use crate::model::{Order, Timestamp};
use crate::rms::{function, RmsApi, RmsCall, RmsError, RmsReply};
use crate::rules::TransportFailure;

/// An injected failure.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 403 `Forbidden-Exceeded QPS Limitation` (S20).
    Qps,
    /// 503 `API In Maintenance` (S21).
    Maintenance,
    /// 500 `APIエラー` (S19).
    ApiError,
    /// No answer; RMS did nothing (S19).
    Timeout,
    /// RMS acted, but the answer never arrives.
    LostResponse,
}

/// A fault that applies to the next `calls` calls (or until `until`) of some functions.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Functions it hits; empty is every function.
    pub functions: Vec<String>,
    pub remaining: Option<u32>,
    pub until: Option<Timestamp>,
}

/// Random faults: each call fails with probability `rate`, the kind drawn from `kinds`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
}

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

/// One call RMS received.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub at: Timestamp,
    pub function: String,
    pub orders: Vec<String>,
    pub status: u16,
    pub fault: Option<FaultKind>,
    /// Orders this call confirmed (a `confirmOrder` RMS accepted).
    pub confirmed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: i64,
    seq: u64,
    order: String,
    via: String,
}

struct State {
    orders: BTreeMap<String, Map<String, Value>>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    license_expires_at: Option<Timestamp>,
    license_active_from: Option<Timestamp>,
    faults: Vec<FaultRule>,
    rng: u64,
    calls: CallLog,
    accepted_confirms: HashMap<String, u32>,
}

/// The calls received: a count of all, and their records — every one, or the last
/// `limit` ([`SimRms::limit_call_log`], what `sim-server` sets).
#[derive(Default)]
struct CallLog {
    kept: std::collections::VecDeque<CallRecord>,
    /// Records dropped from the front.
    dropped: usize,
    limit: Option<usize>,
}

impl CallLog {
    fn push(&mut self, record: CallRecord) {
        self.kept.push_back(record);
        self.trim();
    }

    fn trim(&mut self) {
        if let Some(limit) = self.limit {
            while self.kept.len() > limit {
                self.kept.pop_front();
                self.dropped += 1;
            }
        }
    }

    fn count(&self) -> usize {
        self.dropped + self.kept.len()
    }
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

fn progress(o: &Map<String, Value>) -> i64 {
    o.get("orderProgress").and_then(Value::as_i64).unwrap_or(0)
}

impl SimRms {
    pub fn new(engine: Arc<Engine>, clock: SimClock, config: SimConfig) -> Self {
        let rng = config.seed.max(1);
        SimRms {
            engine,
            clock,
            config,
            state: Mutex::new(State {
                orders: BTreeMap::new(),
                queue: BinaryHeap::new(),
                seq: 0,
                license_expires_at: None,
                license_active_from: None,
                faults: Vec::new(),
                rng,
                calls: CallLog::default(),
                accepted_confirms: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn clock(&self) -> SimClock {
        self.clock
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Adds an order as RMS holds it (an OrderModel). Orders left in 100 are cancelled
    /// after the rules' `timing.auto_cancel_after`.
    pub fn add_order(&self, order: Map<String, Value>) -> Result<(), String> {
        let number = order
            .get("orderNumber")
            .and_then(Value::as_str)
            .ok_or("an order needs `orderNumber`")?
            .to_owned();
        let typed: Order = serde_json::from_value(Value::Object(order.clone()))
            .map_err(|e| format!("order `{number}`: {e}"))?;
        let mut s = self.lock();
        if let (Some(placed), Some(after)) = (
            typed.order_datetime,
            self.engine.rules().timing("auto_cancel_after"),
        ) {
            let at = placed.unix_seconds().saturating_add(after.as_secs());
            schedule(&mut s, at, &number, "auto_cancel");
        }
        s.orders.insert(number, order);
        Ok(())
    }

    /// The order as RMS holds it now.
    pub fn order(&self, number: &str) -> Option<Map<String, Value>> {
        self.catch_up();
        self.lock().orders.get(number).cloned()
    }

    /// Every order number, sorted.
    pub fn order_numbers(&self) -> Vec<String> {
        self.lock().orders.keys().cloned().collect()
    }

    /// Sets the licence key's expiry (`None`: never).
    pub fn set_license_expiry(&self, at: Option<Timestamp>) {
        self.lock().license_expires_at = at;
    }

    /// A renewed key: it works from `now + activation` and lasts the rules' lifetime.
    pub fn renew_license(&self, activation: Duration) {
        let now = self.clock.now();
        let lifetime = self
            .engine
            .rules()
            .timing("license_lifetime")
            .map_or(90 * 86_400, |d| d.as_secs());
        let mut s = self.lock();
        let active = now.unix_seconds() + i64::try_from(activation.as_secs()).unwrap_or(0);
        s.license_active_from = Some(Timestamp::from_unix(active, now.offset_seconds()));
        s.license_expires_at = Some(Timestamp::from_unix(
            now.unix_seconds() + lifetime,
            now.offset_seconds(),
        ));
    }

    /// Injects a fault.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().faults.push(rule);
    }

    /// Every call received so far (the last `keep` with [`SimRms::limit_call_log`]).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.kept.iter().cloned().collect()
    }

    /// The calls received after the first `n` (those still kept).
    pub fn calls_since(&self, n: usize) -> Vec<CallRecord> {
        let s = self.lock();
        let from = n.saturating_sub(s.calls.dropped).min(s.calls.kept.len());
        s.calls.kept.range(from..).cloned().collect()
    }

    /// How many calls were received so far (all of them, kept or not).
    pub fn call_count(&self) -> usize {
        self.lock().calls.count()
    }

    /// Keeps only the last `keep` call records from now on ([`SimRms::call_count`]
    /// still counts every call): a long-running server stays in bounded memory. Without
    /// it every record is kept (a scenario or an exploration checks them step by step).
    pub fn limit_call_log(&self, keep: usize) {
        let mut s = self.lock();
        s.calls.limit = Some(keep);
        s.calls.trim();
    }

    /// How many confirmations RMS accepted for an order.
    pub fn accepted_confirms(&self, number: &str) -> u32 {
        self.lock()
            .accepted_confirms
            .get(number)
            .copied()
            .unwrap_or(0)
    }

    /// Moves an order along the transition `via` (an event: `buyer_cancel`,
    /// `rakuten_cancel`, a confirmation made in RMS's screens, …). Returns the new status,
    /// or why it cannot.
    pub fn event(&self, number: &str, via: &str) -> Result<i64, String> {
        self.catch_up();
        let now = self.clock.now();
        let mut s = self.lock();
        self.apply(&mut s, number, via, now)
    }

    /// Changes fields of an order in RMS (by Rakuten, the buyer, or the shop by hand).
    pub fn edit(&self, number: &str, changes: &Map<String, Value>) -> Result<(), String> {
        let mut s = self.lock();
        let o = s
            .orders
            .get_mut(number)
            .ok_or_else(|| format!("no order `{number}`"))?;
        for (k, v) in changes {
            o.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn transition_to(&self, from: i64, via: &str) -> Option<i64> {
        self.engine
            .rules()
            .file()
            .transitions
            .iter()
            .find(|t| t.from == from && t.via == via)
            .map(|t| t.to)
    }

    fn apply(&self, s: &mut State, number: &str, via: &str, now: Timestamp) -> Result<i64, String> {
        let o = s
            .orders
            .get_mut(number)
            .ok_or_else(|| format!("no order `{number}`"))?;
        let from = progress(o);
        let to = self
            .transition_to(from, via)
            .ok_or_else(|| format!("no transition `{via}` from {from} in the rules file"))?;
        o.insert("orderProgress".into(), json!(to));
        if via == "confirmOrder" {
            o.insert("shopOrderCfmDatetime".into(), json!(rms_time(now)));
        }
        // What follows on its own.
        let after = |d: Duration| {
            now.unix_seconds()
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(0))
        };
        if self.transition_to(to, "screening").is_some() {
            let at = after(self.config.screening_delay);
            schedule(s, at, number, "screening");
        }
        if self.transition_to(to, "cancel_confirmed").is_some() {
            let at = after(self.config.cancel_delay);
            schedule(s, at, number, "cancel_confirmed");
        }
        Ok(to)
    }

    /// Runs the events that are due.
    pub fn catch_up(&self) {
        let now = self.clock.now();
        let mut s = self.lock();
        while let Some(Reverse(next)) = s.queue.peek().cloned() {
            if next.at > now.unix_seconds() {
                break;
            }
            s.queue.pop();
            let at = Timestamp::from_unix(next.at, now.offset_seconds());
            // An event whose transition no longer applies (cancelled meanwhile) is dropped.
            let _ = self.apply(&mut s, &next.order, &next.via, at);
        }
    }

    /// When the next scheduled event is due.
    pub fn next_event_at(&self) -> Option<Timestamp> {
        let s = self.lock();
        s.queue
            .peek()
            .map(|Reverse(e)| Timestamp::from_unix(e.at, self.clock.now().offset_seconds()))
    }

    fn pick_fault(&self, s: &mut State, function: &str, now: Timestamp) -> Option<FaultKind> {
        s.faults.retain(|f| {
            f.remaining != Some(0)
                && f.until
                    .is_none_or(|u| now.unix_seconds() < u.unix_seconds())
        });
        if let Some(rule) = s
            .faults
            .iter_mut()
            .find(|f| f.functions.is_empty() || f.functions.iter().any(|x| x == function))
        {
            if let Some(r) = rule.remaining.as_mut() {
                *r -= 1;
            }
            return Some(rule.kind);
        }
        let random = self.config.random_faults.as_ref()?;
        if random.kinds.is_empty() {
            return None;
        }
        let roll = next_random(&mut s.rng);
        if (roll % 1_000_000) as f64 / 1_000_000.0 < random.rate {
            let pick = (next_random(&mut s.rng) % random.kinds.len() as u64) as usize;
            return Some(random.kinds[pick]);
        }
        None
    }

    fn license_ok(&self, s: &State, now: Timestamp) -> bool {
        let t = now.unix_seconds();
        s.license_expires_at.is_none_or(|e| t <= e.unix_seconds())
            && s.license_active_from.is_none_or(|a| t >= a.unix_seconds())
    }

    /// Answers one call (what `send` and the HTTP server share).
    async fn answer(&self, call: &RmsCall) -> Result<RmsReply, RmsError> {
        self.catch_up();
        let now = self.clock.now();
        let numbers = order_numbers(&call.body);
        let (fault, licensed) = {
            let mut s = self.lock();
            let fault = self.pick_fault(&mut s, &call.function, now);
            (fault, self.license_ok(&s, now))
        };
        let record = |status: u16, fault: Option<FaultKind>, confirmed: Vec<String>| CallRecord {
            at: now,
            function: call.function.clone(),
            orders: numbers.clone(),
            status,
            fault,
            confirmed,
        };
        let canned = match fault {
            Some(FaultKind::Qps) => Some((403, json!({"errors": [{"code": "GA0003", "message": "Forbidden- Exceeded QPS Limitation"}]}).to_string())),
            Some(FaultKind::Maintenance) => Some((503, "API In Maintenance".to_owned())),
            Some(FaultKind::ApiError) => Some((500, "APIエラー".to_owned())),
            _ => None,
        };
        if let Some((status, body)) = canned {
            self.lock().calls.push(record(status, fault, vec![]));
            return Ok(reply(status, body));
        }
        if fault == Some(FaultKind::Timeout) {
            self.lock().calls.push(record(0, fault, vec![]));
            tokio::time::sleep(self.config.timeout).await;
            return Err(timeout());
        }
        if !licensed {
            self.lock().calls.push(record(401, fault, vec![]));
            return Ok(reply(
                401,
                json!({"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}})
                    .to_string(),
            ));
        }
        let (status, body, confirmed) = self.dispatch(call, &numbers, now);
        self.lock().calls.push(record(status, fault, confirmed));
        if fault == Some(FaultKind::LostResponse) {
            tokio::time::sleep(self.config.timeout).await;
            return Err(timeout());
        }
        Ok(reply(status, body.to_string()))
    }

    fn dispatch(
        &self,
        call: &RmsCall,
        numbers: &[String],
        now: Timestamp,
    ) -> (u16, Value, Vec<String>) {
        match call.function.as_str() {
            function::CONFIRM_ORDER => self.confirm(numbers, now),
            function::GET_ORDER => {
                let (s, b) = self.get(&call.body, numbers);
                (s, b, vec![])
            }
            function::SEARCH_ORDER => {
                let (s, b) = self.search(&call.body);
                (s, b, vec![])
            }
            function::UPDATE_ORDER_SHIPPING => self.one_order(
                &call.body,
                "updateOrderShipping",
                "UPDATE_ORDER_SHIPPING",
                now,
            ),
            function::CANCEL_ORDER => {
                self.one_order(&call.body, "cancelOrder", "CANCEL_ORDER", now)
            }
            "updateOrderDelivery" => {
                let (s, b) = self.update_delivery(&call.body);
                (s, b, vec![])
            }
            other => (
                404,
                json!({"Results": {"errorCode": "ES04-01", "message": format!("Bad Request: `{other}` is not simulated")}}),
                vec![],
            ),
        }
    }

    fn has_sentinel(&self, o: &Map<String, Value>) -> bool {
        serde_json::from_value::<Order>(Value::Object(o.clone()))
            .is_ok_and(|order| self.engine.holds_sentinel(&order))
    }

    fn confirm(&self, numbers: &[String], now: Timestamp) -> (u16, Value, Vec<String>) {
        if numbers.is_empty() || numbers.len() > 100 {
            return (
                400,
                json!({"MessageModelList": [error::<str>("ORDER_EXT_API_CONFIRM_ORDER_ERROR_001", "orderNumberListは1件以上100件以下で指定して下さい。", None)]}),
                vec![],
            );
        }
        let mut messages = Vec::new();
        let mut confirmed = Vec::new();
        for n in numbers {
            let state = self.lock().orders.get(n).cloned();
            let m = match state {
                None => error(
                    "ORDER_EXT_API_CONFIRM_ORDER_ERROR_101",
                    "注文が存在しません。",
                    Some(n),
                ),
                Some(o) if matches!(progress(&o), 800 | 900) => error(
                    "ORDER_EXT_API_CONFIRM_ORDER_ERROR_102",
                    "キャンセル済みの注文です。",
                    Some(n),
                ),
                Some(o) if self.transition_to(progress(&o), "confirmOrder").is_none() => error(
                    "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103",
                    "該当の注文は注文確認ができる状態ではありませんでした。",
                    Some(n),
                ),
                Some(o) if self.has_sentinel(&o) => error(
                    "ORDER_EXT_API_CONFIRM_ORDER_ERROR_105",
                    "送料が未設定の注文です。",
                    Some(n),
                ),
                Some(_) => {
                    let mut s = self.lock();
                    match self.apply(&mut s, n, "confirmOrder", now) {
                        Ok(_) => {
                            *s.accepted_confirms.entry(n.clone()).or_default() += 1;
                            confirmed.push(n.clone());
                            info(
                                "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
                                "注文確認に成功しました。",
                                Some(n),
                            )
                        }
                        Err(_) => error(
                            "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103",
                            "該当の注文は注文確認ができる状態ではありませんでした。",
                            Some(n),
                        ),
                    }
                }
            };
            messages.push(m);
        }
        (200, json!({ "MessageModelList": messages }), confirmed)
    }

    fn get(&self, body: &Value, numbers: &[String]) -> (u16, Value) {
        if body.get("version").and_then(Value::as_u64).is_none() {
            return (
                400,
                json!({"MessageModelList": [error::<str>("ORDER_EXT_API_GET_ORDER_ERROR_009", "versionを指定して下さい。", None)]}),
            );
        }
        if numbers.is_empty() || numbers.len() > 100 {
            return (
                400,
                json!({"MessageModelList": [error::<str>("ORDER_EXT_API_GET_ORDER_ERROR_001", "orderNumberListは1件以上100件以下で指定して下さい。", None)]}),
            );
        }
        let s = self.lock();
        let mut messages = Vec::new();
        let mut found = Vec::new();
        for n in numbers {
            match s.orders.get(n) {
                Some(o) => found.push(Value::Object(o.clone())),
                None => messages.push(info(
                    "ORDER_EXT_API_GET_ORDER_INFO_102",
                    "受注情報が取得できませんでした。",
                    Some(n),
                )),
            }
        }
        messages.insert(
            0,
            info::<str>(
                "ORDER_EXT_API_GET_ORDER_INFO_101",
                &format!("受注情報取得に成功しました。(取得件数{}件)", found.len()),
                None,
            ),
        );
        (
            200,
            json!({"MessageModelList": messages, "OrderModelList": found, "version": body["version"]}),
        )
    }

    fn search(&self, body: &Value) -> (u16, Value) {
        let bad = |code: &str, message: &str| {
            (
                400,
                json!({"MessageModelList": [error::<str>(code, message, None)]}),
            )
        };
        let Some(date_type) = body.get("dateType").and_then(Value::as_u64) else {
            return bad(
                "ORDER_EXT_API_SEARCH_ORDER_ERROR_009",
                "dateTypeの項目を指定して下さい。",
            );
        };
        let time = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Timestamp>().ok())
        };
        let (Some(start), Some(end)) = (time("startDatetime"), time("endDatetime")) else {
            return bad(
                "ORDER_EXT_API_SEARCH_ORDER_ERROR_010",
                "startDatetime、endDatetimeを正しく指定して下さい。",
            );
        };
        if end.unix_seconds() < start.unix_seconds()
            || end.unix_seconds() - start.unix_seconds() > 63 * 86_400
        {
            return bad(
                "ORDER_EXT_API_SEARCH_ORDER_ERROR_011",
                "検索期間は63日以内で指定して下さい。",
            );
        }
        let pagination = body.get("PaginationRequestModel");
        let per_page = pagination
            .and_then(|p| p.get("requestRecordsAmount"))
            .and_then(Value::as_u64)
            .unwrap_or(30);
        let page = pagination
            .and_then(|p| p.get("requestPage"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        if !(1..=1000).contains(&per_page) {
            return bad(
                "ORDER_EXT_API_SEARCH_ORDER_ERROR_012",
                "requestRecordsAmountは1以上1000以下で指定して下さい。",
            );
        }
        let statuses: Option<Vec<i64>> = body
            .get("orderProgressList")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect());
        let date_key = match date_type {
            2 => "orderFixDatetime",
            3 => "shippingInstDatetime",
            4 => "shippingCmplRptDatetime",
            _ => "orderDatetime",
        };
        let s = self.lock();
        let mut hits: Vec<(i64, String)> = s
            .orders
            .iter()
            .filter(|(_, o)| statuses.as_ref().is_none_or(|l| l.contains(&progress(o))))
            .filter_map(|(n, o)| {
                let t = o
                    .get(date_key)?
                    .as_str()?
                    .parse::<Timestamp>()
                    .ok()?
                    .unix_seconds();
                (start.unix_seconds()..=end.unix_seconds())
                    .contains(&t)
                    .then(|| (t, n.clone()))
            })
            .collect();
        hits.sort();
        hits.truncate(15_000);
        let total = hits.len() as u64;
        let pages = total.div_ceil(per_page);
        let list: Vec<&String> = hits
            .iter()
            .skip(usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX))
            .take(usize::try_from(per_page).unwrap_or(0))
            .map(|(_, n)| n)
            .collect();
        let message = if total == 0 {
            info::<str>(
                "ORDER_EXT_API_SEARCH_ORDER_INFO_102",
                "注文検索結果が0件でした。",
                None,
            )
        } else {
            info::<str>(
                "ORDER_EXT_API_SEARCH_ORDER_INFO_101",
                "注文検索に成功しました。",
                None,
            )
        };
        (
            200,
            json!({"orderNumberList": list, "MessageModelList": [message],
            "PaginationResponseModel": {"totalRecordsAmount": total, "totalPages": pages, "requestPage": page}}),
        )
    }

    fn one_order(
        &self,
        body: &Value,
        via: &str,
        code: &str,
        now: Timestamp,
    ) -> (u16, Value, Vec<String>) {
        let Some(n) = body.get("orderNumber").and_then(Value::as_str) else {
            return (
                400,
                json!({"MessageModelList": [error::<str>(&format!("ORDER_EXT_API_{code}_ERROR_001"), "orderNumberを指定して下さい。", None)]}),
                vec![],
            );
        };
        let mut s = self.lock();
        let m = match self.apply(&mut s, n, via, now) {
            Ok(_) => info(
                &format!("ORDER_EXT_API_{code}_INFO_101"),
                "処理に成功しました。",
                Some(n),
            ),
            Err(_) => error(
                &format!("ORDER_EXT_API_{code}_ERROR_103"),
                "この状態の注文には実行できません。",
                Some(n),
            ),
        };
        (200, json!({ "MessageModelList": [m] }), vec![])
    }

    fn update_delivery(&self, body: &Value) -> (u16, Value) {
        if !self.config.api_option {
            return (
                400,
                json!({"Results": {"errorCode": "ES04-01", "message": "Bad Request"}}),
            );
        }
        let Some(n) = body.get("orderNumber").and_then(Value::as_str) else {
            return (
                400,
                json!({"MessageModelList": [error::<str>("ORDER_EXT_API_UPDATE_ORDERDELIVERY_ERROR_001", "orderNumberを指定して下さい。", None)]}),
            );
        };
        let mut changes = body.as_object().cloned().unwrap_or_default();
        changes.remove("orderNumber");
        match self.edit(n, &changes) {
            Ok(()) => (
                200,
                json!({"MessageModelList": [info("ORDER_EXT_API_UPDATE_ORDERDELIVERY_INFO_101", "受注情報の更新に成功しました。", Some(n))]}),
            ),
            Err(_) => (
                200,
                json!({"MessageModelList": [error("ORDER_EXT_API_UPDATE_ORDERDELIVERY_ERROR_101", "注文が存在しません。", Some(n))]}),
            ),
        }
    }
}

fn schedule(s: &mut State, at: i64, order: &str, via: &str) {
    s.seq += 1;
    let seq = s.seq;
    s.queue.push(Reverse(Scheduled {
        at,
        seq,
        order: order.to_owned(),
        via: via.to_owned(),
    }));
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64*: deterministic for a seed, good enough for fault schedules.
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn order_numbers(body: &Value) -> Vec<String> {
    match body.get("orderNumberList").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        None => body
            .get("orderNumber")
            .and_then(Value::as_str)
            .map(|n| vec![n.to_owned()])
            .unwrap_or_default(),
    }
}

fn message(kind: &str, code: &str, text: &str, order: Option<&str>) -> Value {
    let mut m = json!({"messageType": kind, "messageCode": code, "message": text});
    if let Some(n) = order {
        m["orderNumber"] = json!(n);
    }
    m
}

fn info<S: AsRef<str> + ?Sized>(code: &str, text: &str, order: Option<&S>) -> Value {
    message("INFO", code, text, order.map(AsRef::as_ref))
}

fn error<S: AsRef<str> + ?Sized>(code: &str, text: &str, order: Option<&S>) -> Value {
    message("ERROR", code, text, order.map(AsRef::as_ref))
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

/// RMS's own timestamp form: `2026-11-30T12:00:00+0900`.
pub fn rms_time(t: Timestamp) -> String {
    t.to_string().replacen("+09:00", "+0900", 1)
}

impl RmsApi for SimRms {
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        self.answer(&call).await
    }
}

/// `sim-server`: the simulator behind RMS's wire protocol.
///
/// It answers `POST /es/2.0/order/<function>` (with or without a trailing slash) like
/// RMS; any other path gets 404 and another method on an RMS path 405, both in RMS's
/// gateway shape (`{"Results": {"errorCode", "message"}}`).
pub struct SimHandler {
    pub sim: Arc<SimRms>,
}

/// How many call records [`SimHandler::new`] keeps (the most recent; every call is still
/// counted).
pub const SERVER_CALL_LOG: usize = 1_000;

/// Where RMS's RakutenPayOrderAPI functions live.
const ORDER_API_PREFIX: &str = "/es/2.0/order/";

impl SimHandler {
    /// Serves `sim` for a long run: only the last [`SERVER_CALL_LOG`] call records are
    /// kept ([`SimRms::limit_call_log`]).
    pub fn new(sim: Arc<SimRms>) -> Self {
        sim.limit_call_log(SERVER_CALL_LOG);
        SimHandler { sim }
    }
}

/// The function an RMS order API path names: `/es/2.0/order/confirmOrder/` →
/// `confirmOrder` (the query, if any, ignored).
fn order_api_function(path: &str) -> Option<&str> {
    let path = path.split('?').next().unwrap_or(path);
    let rest = path.strip_prefix(ORDER_API_PREFIX)?;
    let function = rest.strip_suffix('/').unwrap_or(rest);
    (!function.is_empty() && function.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(function)
}

/// An error in RMS's gateway shape.
fn gateway_error(status: u16, message: String) -> crate::fixture::HttpResponse {
    crate::fixture::HttpResponse::json(
        status,
        &json!({"Results": {"errorCode": "ES04-01", "message": message}}),
    )
}

/// A client's text, short enough for a message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl crate::fixture::Handler for SimHandler {
    async fn handle(&self, request: crate::fixture::HttpRequest) -> crate::fixture::HttpResponse {
        let Some(function) = order_api_function(&request.path) else {
            return gateway_error(
                404,
                format!(
                    "Not Found: `{}` is not an RMS order API path (POST {ORDER_API_PREFIX}<function>/)",
                    shown(&request.path)
                ),
            );
        };
        if request.method != "POST" {
            let mut refused = gateway_error(
                405,
                format!(
                    "Method Not Allowed: `{}`: RMS's order API takes POST",
                    shown(&request.method)
                ),
            );
            refused.headers.push(("allow".into(), "POST".into()));
            return refused;
        }
        let function = function.to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match self.sim.send(RmsCall { function, body }).await {
            Ok(r) => crate::fixture::HttpResponse {
                status: r.status,
                headers: vec![(
                    "content-type".into(),
                    "application/json;charset=UTF-8".into(),
                )],
                body: r.body,
            },
            Err(_) => crate::fixture::HttpResponse::json(504, &json!({"error": "Gateway Timeout"})),
        }
    }
}

/// A fault's duration helper for scenarios.
pub fn until(clock: &SimClock, d: crate::model::Duration) -> Timestamp {
    let now = clock.now();
    Timestamp::from_unix(
        now.unix_seconds()
            .saturating_add(std_duration(d).as_secs() as i64),
        now.offset_seconds(),
    )
}
