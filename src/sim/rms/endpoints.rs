//! The six RakutenPayOrderAPI functions the simulator answers.
//!
//! Each takes the request body RMS would receive and returns an [`Answer`]: the status and
//! body RMS would send, and which orders the call confirmed (for the call log). Faults and
//! the licence are dealt with before a call gets here (`SimRms::answer`); what an endpoint
//! says comes from [`replies`](super::replies), the one place RMS's words are restated.
//!
//! | function              | does                                                        |
//! |-----------------------|-------------------------------------------------------------|
//! | `confirmOrder`        | confirms up to 100 orders, each answered on its own         |
//! | `getOrder`            | the orders in RMS's whole `OrderModel` shape ([`render`](super::render)) |
//! | `searchOrder`         | order numbers by status and date, paginated                 |
//! | `updateOrderShipping` | moves one order along the rules' `updateOrderShipping`      |
//! | `cancelOrder`         | moves one order along the rules' `cancelOrder`              |
//! | `updateOrderDelivery` | changes fields of one order (only with the API option)      |

use serde_json::{json, Map, Value};

use super::replies::{self, Message, OneOrder};
use super::store::{StoreError, StoredOrder};
use super::SimRms;
use crate::model::{Order, Timestamp};
use crate::rms::function;
use crate::rms::wire::MAX_ORDER_NUMBERS;

/// What RMS sends back for one call.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
    /// Orders this call confirmed.
    pub(super) confirmed: Vec<String>,
}

impl From<(u16, Value)> for Answer {
    fn from((status, body): (u16, Value)) -> Self {
        Answer {
            status,
            body,
            confirmed: Vec::new(),
        }
    }
}

/// The statuses of a cancelled order (キャンセル確定待ち, キャンセル確定), for which
/// `confirmOrder` answers "cancelled" rather than "not confirmable". RMS's behaviour,
/// restated like the replies: the rules' `confirm_error` says the same for the client.
const CANCELLED_STATUSES: [i64; 2] = [800, 900];

/// `searchOrder`'s limits: a period of at most 63 days, 1 to 1,000 numbers a page (30
/// when not asked), at most 15,000 hits in all.
const SEARCH_MAX_PERIOD_SECS: i64 = 63 * 86_400;
const SEARCH_PAGE_SIZES: std::ops::RangeInclusive<u64> = 1..=1000;
const SEARCH_DEFAULT_PAGE_SIZE: u64 = 30;
const SEARCH_MAX_HITS: usize = 15_000;

/// The first `shippingDetailId` the simulator gives a shipping record it adds.
const NEW_SHIPPING_DETAIL_ID: i64 = 100_000_001;

impl SimRms {
    /// Runs the function `function` names; `numbers` are the orders its body names.
    pub(super) fn dispatch(
        &self,
        function: &str,
        body: &Value,
        numbers: &[String],
        now: Timestamp,
    ) -> Answer {
        match function {
            function::CONFIRM_ORDER => self.confirm(numbers, now),
            function::GET_ORDER => self.get(body, numbers).into(),
            function::SEARCH_ORDER => self.search(body).into(),
            function::UPDATE_ORDER_SHIPPING => self.ship(body, now).into(),
            function::CANCEL_ORDER => self
                .one_order(body, function, replies::CANCEL_ORDER, now)
                .into(),
            function::UPDATE_ORDER_DELIVERY => self.update_delivery(body).into(),
            other => replies::not_simulated(other).into(),
        }
    }

    /// `confirmOrder`: each order is answered on its own, in the order asked. An order is
    /// confirmed only if it exists, is not cancelled, the rules have a `confirmOrder`
    /// transition from its status, and no field holds a sentinel (`-9999`).
    fn confirm(&self, numbers: &[String], now: Timestamp) -> Answer {
        if numbers.is_empty() || numbers.len() > MAX_ORDER_NUMBERS {
            return replies::confirm::BAD_LIST.refusal().into();
        }
        let mut messages = Vec::with_capacity(numbers.len());
        let mut confirmed = Vec::new();
        let mut s = self.lock();
        for n in numbers {
            let refusal = s
                .orders
                .get(n)
                .map_or(Some(replies::confirm::NO_SUCH_ORDER), |o: &StoredOrder| {
                    self.confirm_refusal(o.order())
                });
            let message = match refusal {
                Some(refusal) => refusal,
                None => match self.apply(&mut s, n, function::CONFIRM_ORDER, now) {
                    Ok(_) => {
                        confirmed.push(n.clone());
                        replies::confirm::CONFIRMED
                    }
                    Err(_) => replies::confirm::NOT_CONFIRMABLE,
                },
            };
            messages.push(message.about(n));
        }
        Answer {
            status: 200,
            body: replies::messages(messages),
            confirmed,
        }
    }

    /// Why RMS refuses to confirm `order`, if it does.
    fn confirm_refusal(&self, order: &Order) -> Option<Message> {
        let progress = order.order_progress;
        if CANCELLED_STATUSES.contains(&progress) {
            Some(replies::confirm::CANCELLED)
        } else if self
            .transition_to(progress, function::CONFIRM_ORDER)
            .is_none()
        {
            Some(replies::confirm::NOT_CONFIRMABLE)
        } else if self.engine.holds_sentinel(order) {
            Some(replies::confirm::FEE_NOT_SET)
        } else {
            None
        }
    }

    /// `getOrder`: the orders found, as RMS holds them, and a message for each not found.
    fn get(&self, body: &Value, numbers: &[String]) -> (u16, Value) {
        if body.get("version").and_then(Value::as_u64).is_none() {
            return replies::get::NO_VERSION.refusal();
        }
        if numbers.is_empty() || numbers.len() > MAX_ORDER_NUMBERS {
            return replies::get::BAD_LIST.refusal();
        }
        let s = self.lock();
        let mut messages = Vec::new();
        let mut found = Vec::new();
        for n in numbers {
            match s.orders.get(n) {
                Some(o) => found.push(super::render::order_model(o)),
                None => messages.push(replies::get::NOT_FOUND.about(n)),
            }
        }
        messages.insert(0, replies::get::found(found.len()));
        let mut answer = json!({"MessageModelList": messages, "OrderModelList": found});
        if body["version"]
            .as_u64()
            .is_some_and(|v| v >= replies::get::VERSION_ECHOED_FROM)
        {
            answer["version"] = body["version"].clone();
        }
        (200, answer)
    }

    /// `searchOrder`: the numbers of the orders in the statuses asked (all, if none) whose
    /// date of `dateType` falls in the period, oldest first, one page of them.
    fn search(&self, body: &Value) -> (u16, Value) {
        let Some(date_type) = body.get("dateType").and_then(Value::as_u64) else {
            return replies::search::NO_DATE_TYPE.refusal();
        };
        let time = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Timestamp>().ok())
        };
        let (Some(start), Some(end)) = (time("startDatetime"), time("endDatetime")) else {
            return replies::search::BAD_PERIOD.refusal();
        };
        let (start, end) = (start.unix_seconds(), end.unix_seconds());
        if end < start || end - start > SEARCH_MAX_PERIOD_SECS {
            return replies::search::PERIOD_TOO_LONG.refusal();
        }
        let pagination = body.get("PaginationRequestModel");
        let per_page = pagination
            .and_then(|p| p.get("requestRecordsAmount"))
            .and_then(Value::as_u64)
            .unwrap_or(SEARCH_DEFAULT_PAGE_SIZE);
        let page = pagination
            .and_then(|p| p.get("requestPage"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        if !SEARCH_PAGE_SIZES.contains(&per_page) {
            return replies::search::BAD_PAGE_SIZE.refusal();
        }
        let statuses: Option<Vec<i64>> = body
            .get("orderProgressList")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect());
        let date_of = |o: &Order| match date_type {
            2 => o.order_fix_datetime,
            3 => o.shipping_inst_datetime,
            4 => o.shipping_cmpl_rpt_datetime,
            _ => o.order_datetime,
        };
        let s = self.lock();
        let mut hits: Vec<(i64, String)> = s
            .orders
            .iter()
            .map(|(n, o)| (n, o.order()))
            .filter(|(_, o)| {
                statuses
                    .as_ref()
                    .is_none_or(|l| l.contains(&o.order_progress))
            })
            .filter_map(|(n, o)| {
                let t = date_of(o)?.unix_seconds();
                (start..=end).contains(&t).then(|| (t, n.clone()))
            })
            .collect();
        hits.sort();
        hits.truncate(SEARCH_MAX_HITS);
        let total = hits.len() as u64;
        let pages = total.div_ceil(per_page);
        let list: Vec<&String> = hits
            .iter()
            .skip(usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX))
            .take(usize::try_from(per_page).unwrap_or(0))
            .map(|(_, n)| n)
            .collect();
        let message = if total == 0 {
            replies::search::NONE_FOUND
        } else {
            replies::search::FOUND
        };
        (
            200,
            json!({"orderNumberList": list, "MessageModelList": [message.general()],
            "PaginationResponseModel": {"totalRecordsAmount": total, "totalPages": pages, "requestPage": page}}),
        )
    }

    /// A function that moves one order along the transition `via` (`updateOrderShipping`,
    /// `cancelOrder`).
    fn one_order(&self, body: &Value, via: &str, says: OneOrder, now: Timestamp) -> (u16, Value) {
        let Some(n) = body.get("orderNumber").and_then(Value::as_str) else {
            return says.no_number.refusal();
        };
        let mut s = self.lock();
        let message = match self.apply(&mut s, n, via, now) {
            Ok(_) => says.done,
            Err(_) => says.refused,
        };
        (200, replies::messages(vec![message.about(n)]))
    }

    /// `updateOrderShipping`: moves the order along the rules' `updateOrderShipping`; a
    /// success is answered per shipping record of the body (RMS's published shape: no
    /// `orderNumber`, `dataNumber` and `shippingDetailId` instead), a refusal as
    /// [`one_order`](Self::one_order) answers it.
    fn ship(&self, body: &Value, now: Timestamp) -> (u16, Value) {
        let records: Vec<Option<i64>> = body
            .get("BasketidModelList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("ShippingModelList").and_then(Value::as_array))
            .flatten()
            .map(|s| s.get("shippingDetailId").and_then(Value::as_i64))
            .collect();
        let (status, answer) = self.one_order(
            body,
            function::UPDATE_ORDER_SHIPPING,
            replies::UPDATE_ORDER_SHIPPING,
            now,
        );
        let done = replies::UPDATE_ORDER_SHIPPING.done.code();
        let succeeded = answer["MessageModelList"][0]["messageCode"] == done;
        if !succeeded || records.is_empty() {
            return (status, answer);
        }
        // New ids: RMS's own, unknowable; the simulator counts up from one it picks.
        let messages = records
            .iter()
            .enumerate()
            .map(|(i, given)| {
                let new_id = NEW_SHIPPING_DETAIL_ID + i64::try_from(i).unwrap_or(0);
                replies::shipping_record(i + 1, *given, new_id)
            })
            .collect();
        (status, replies::messages(messages))
    }

    /// `updateOrderDelivery` (入力内容を反映する, the API option): sets the fields the body
    /// carries besides `orderNumber`.
    fn update_delivery(&self, body: &Value) -> (u16, Value) {
        if !self.config.api_option {
            return replies::not_enabled();
        }
        let Some(n) = body.get("orderNumber").and_then(Value::as_str) else {
            return replies::delivery::NO_NUMBER.refusal();
        };
        let mut changes: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
        changes.remove("orderNumber");
        let message = match self.lock().orders.edit(n, &changes) {
            Ok(()) => replies::delivery::UPDATED,
            Err(StoreError::Unknown(_)) => replies::delivery::NO_SUCH_ORDER,
            Err(_) => replies::delivery::NOT_APPLICABLE,
        };
        (200, replies::messages(vec![message.about(n)]))
    }
}

/// The order numbers a request body names: `orderNumberList`, or a single `orderNumber`.
pub(super) fn order_numbers(body: &Value) -> Vec<String> {
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
