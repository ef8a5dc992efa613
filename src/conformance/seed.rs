//! What the simulator is seeded with for one recorded interaction.
//!
//! - **Orders**: each order a `getOrder` answer of the cassette shows, as the latest such
//!   answer recorded at or before the interaction shows it (a `getOrder` is seeded with its
//!   own answer), or else the earliest recorded after it.
//! - **RMS's own word about the order**: the rules file's `seed` entries, keyed by the
//!   function and the `messageCode` RMS answered for an order, set the state the answer
//!   proves (a confirmation RMS accepted was of an order in 100) or remove the order (RMS
//!   had no such order). An order no `getOrder` shows is created from those fields.
//! - **A search's hits**: every order a recorded `searchOrder` answer lists existed, in a
//!   status the request's `orderProgressList` allows and with the date its `dateType`
//!   names inside the period; an order the cassette does not show otherwise is created so
//!   (its date spread over the period in the listed order, its status the first allowed, or
//!   the rules' initial status).
//! - **The clock**: the cassette's `meta.recorded_at`, or else the latest timestamp written
//!   anywhere in it (so RMS's 14-day auto-cancel does not fire between an order's
//!   recording and its replay).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ignore::{Condition, ConformanceRules};
use crate::fixture::{Cassette, Interaction};
use crate::model::Timestamp;
use crate::rms::function;
use crate::sim::rms_time;

/// An order as one `getOrder` answer showed it: the interaction's index, the OrderModel.
type View = (usize, Map<String, Value>);

/// The getOrder views of every order, in recorded order.
#[derive(Debug, Default)]
pub(super) struct Views(BTreeMap<String, Vec<View>>);

impl Views {
    /// The views, or the interaction and list index of an order without a number (the
    /// simulator cannot hold it: the number is needed to seed).
    pub(super) fn of(cassette: &Cassette) -> Result<Views, (usize, usize, String)> {
        let mut views: BTreeMap<String, Vec<View>> = BTreeMap::new();
        for (i, it) in cassette.interactions.iter().enumerate() {
            if function_name(it) != function::GET_ORDER {
                continue;
            }
            let Some(body) = it.response.body().as_json() else {
                continue;
            };
            let Some(list) = body.get("OrderModelList").and_then(Value::as_array) else {
                continue;
            };
            for (k, order) in list.iter().enumerate() {
                let number = order.get("orderNumber");
                let Some(n) = number.and_then(Value::as_str) else {
                    return Err((
                        i,
                        k,
                        format!(
                            "`orderNumber` is needed to seed the simulator and must be a string, not {}",
                            number.map_or("absent", super::shape::type_name)
                        ),
                    ));
                };
                let Some(order) = order.as_object() else {
                    return Err((
                        i,
                        k,
                        "an order must be an object to seed the simulator".to_owned(),
                    ));
                };
                views
                    .entry(n.to_owned())
                    .or_default()
                    .push((i, order.clone()));
            }
        }
        Ok(Views(views))
    }

    /// Each order as it stood for interaction `i`.
    fn at(&self, i: usize) -> BTreeMap<String, Map<String, Value>> {
        self.0
            .iter()
            .filter_map(|(n, views)| {
                let before = views.iter().rev().find(|(j, _)| *j <= i);
                let view = before.or_else(|| views.first())?;
                Some((n.clone(), view.1.clone()))
            })
            .collect()
    }
}

/// The function an interaction called: its `function`, or the last segment of its path.
pub(super) fn function_name(it: &Interaction) -> String {
    it.function
        .clone()
        .or_else(|| crate::fixture::function_of(&it.request.path))
        .unwrap_or_default()
}

/// What the simulator starts from for one interaction.
#[derive(Debug)]
pub(super) struct Plan<'r> {
    /// Orders, by number, as RMS's JSON.
    pub(super) orders: BTreeMap<String, Map<String, Value>>,
    /// The condition the recorded status shows (a fault, an expired licence), if any.
    pub(super) condition: Option<&'r Condition>,
}

/// The plan for interaction `i` of a cassette; `initial` is the rules' initial status.
pub(super) fn plan<'r>(
    rules: &'r ConformanceRules,
    views: &Views,
    i: usize,
    it: &Interaction,
    now: Timestamp,
    initial: i64,
) -> Plan<'r> {
    let function = function_name(it);
    let request = it.request.body().as_json().unwrap_or(Value::Null);
    let answer = it.response.body().as_json().unwrap_or(Value::Null);
    let mut orders = views.at(i);
    let stub = |n: &str| {
        let mut m = Map::new();
        m.insert("orderNumber".into(), Value::from(n));
        m.insert("orderProgress".into(), Value::from(initial));
        m
    };
    // RMS's word about each order it names.
    let single = request.get("orderNumber").and_then(Value::as_str);
    for message in answer
        .get("MessageModelList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(code) = message.get("messageCode").and_then(Value::as_str) else {
            continue;
        };
        let Some(n) = message
            .get("orderNumber")
            .and_then(Value::as_str)
            .or(single)
        else {
            continue;
        };
        let Some(seed) = rules.seed_for(&function, code) else {
            continue;
        };
        if seed.absent {
            orders.remove(n);
        } else if let Some(set) = &seed.set {
            let order = orders.entry(n.to_owned()).or_insert_with(|| stub(n));
            for (k, v) in set {
                order.insert(k.clone(), v.clone());
            }
        }
    }
    if function == function::SEARCH_ORDER && it.response.status == 200 {
        seed_search_hits(&request, &answer, &mut orders, now, initial, stub);
    }
    Plan {
        orders,
        condition: rules.condition_for(&function, it.response.status),
    }
}

/// Every order a recorded search listed: it exists, its status passes the filter, its
/// date of `dateType` is in the period.
fn seed_search_hits(
    request: &Value,
    answer: &Value,
    orders: &mut BTreeMap<String, Map<String, Value>>,
    now: Timestamp,
    initial: i64,
    stub: impl Fn(&str) -> Map<String, Value>,
) {
    let time = |k: &str| {
        request
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
    };
    let (Some(start), Some(end)) = (time("startDatetime"), time("endDatetime")) else {
        return;
    };
    let field = match request.get("dateType").and_then(Value::as_u64) {
        Some(2) => "orderFixDatetime",
        Some(3) => "shippingInstDatetime",
        Some(4) => "shippingCmplRptDatetime",
        _ => "orderDatetime",
    };
    let allowed: Vec<i64> = request
        .get("orderProgressList")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let listed: Vec<&str> = answer
        .get("orderNumberList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // Dates for orders placed here: as late in the period as the clock allows (an order
    // RMS still listed in 100 was not auto-cancelled yet), one second apart in the listed
    // order.
    let (first, mut last) = (start.unix_seconds(), end.unix_seconds());
    if (first..last).contains(&now.unix_seconds()) {
        last = now.unix_seconds();
    }
    let count = i64::try_from(listed.len()).unwrap_or(i64::MAX);
    for (k, n) in listed.into_iter().enumerate() {
        let order = orders.entry(n.to_owned()).or_insert_with(|| stub(n));
        let progress = order.get("orderProgress").and_then(Value::as_i64);
        if !allowed.is_empty() && !progress.is_some_and(|p| allowed.contains(&p)) {
            order.insert("orderProgress".into(), Value::from(allowed[0]));
        } else if progress.is_none() {
            order.insert("orderProgress".into(), Value::from(initial));
        }
        let inside = order
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_some_and(|t| {
                (start.unix_seconds()..=end.unix_seconds()).contains(&t.unix_seconds())
            });
        if !inside {
            let k = i64::try_from(k).unwrap_or(i64::MAX);
            let at = Timestamp::from_unix(
                last.saturating_sub(count - 1 - k).max(first),
                start.offset_seconds(),
            );
            order.insert(field.into(), Value::from(rms_time(at)));
        }
    }
}

/// When the simulator's clock starts: `meta.recorded_at`, or the latest timestamp the
/// cassette holds, or `None` (then: now).
pub(super) fn start_time(cassette: &Cassette) -> Option<Timestamp> {
    if let Some(t) = cassette.meta.recorded_at {
        return Some(t);
    }
    let mut latest: Option<Timestamp> = None;
    let mut visit = |v: &Value| {
        walk_strings(v, &mut |s| {
            if s.len() >= 19 && s.as_bytes().get(10) == Some(&b'T') {
                if let Ok(t) = s.parse::<Timestamp>() {
                    if latest.is_none_or(|l| t.unix_seconds() > l.unix_seconds()) {
                        latest = Some(t);
                    }
                }
            }
        });
    };
    for it in &cassette.interactions {
        if let Some(v) = it.request.body().as_json() {
            visit(&v);
        }
        if let Some(v) = it.response.body().as_json() {
            visit(&v);
        }
    }
    latest
}

fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(o) => o.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// The keys of a shipping record (`ShippingModelList[]`) the simulator takes as facts, and
/// whether each is an integer (else a string).
const SHIPPING_KEYS: &[(&str, bool)] = &[
    ("shippingDetailId", true),
    ("shippingNumber", false),
    ("deliveryCompany", false),
    ("deliveryCompanyName", false),
    ("shippingDate", false),
];

/// Whether `value` under `key` reads into the typed model (alone, beside a number and a
/// status): `package` for a key of a `PackageModelList` entry.
fn reads(key: &str, value: &Value, package: bool) -> bool {
    let mut m = Map::new();
    m.insert("orderNumber".into(), Value::from("-"));
    m.insert("orderProgress".into(), Value::from(0));
    if package {
        let mut p = Map::new();
        p.insert(key.into(), value.clone());
        m.insert(
            "PackageModelList".into(),
            Value::Array(vec![Value::Object(p)]),
        );
    } else {
        m.insert(key.into(), value.clone());
    }
    <crate::model::Order as serde::Deserialize>::deserialize(&m).is_ok()
}

/// A fact is seeded when it reads into the typed model and is not `null`: a `null` is the
/// model's "none", and the simulator renders its own nullability for it (a date it does not
/// have is `null`, an amount `0`), so a recorded `null` is compared, never echoed.
fn seedable(key: &str, value: &Value, package: bool) -> bool {
    !value.is_null() && reads(key, value, package)
}

/// The facts of an order as a recording shows it: what the simulator's typed model reads
/// (the number, the status, the sub-status, the dates, the amounts, the flags; per
/// package its id and amounts and its shipping records), nothing else. The simulator
/// renders every other field of its answer itself, so `conformance` compares *its* shape
/// with RMS's: a field the recording has and the simulator does not (a new field, a
/// misspelled one) is a difference, and so is a fact of another JSON type than the
/// simulator's (it is not seeded, and the simulator's own type shows).
///
/// The number and the status are needed to seed: an order without them is refused, and
/// the message says so.
pub(super) fn facts(order: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    match order.get("orderNumber") {
        Some(Value::String(n)) => out.insert("orderNumber".into(), Value::from(n.as_str())),
        other => {
            return Err(format!(
                "`orderNumber` is needed to seed the simulator and must be a string, not {}",
                other.map_or("absent", super::shape::type_name)
            ))
        }
    };
    match order.get("orderProgress") {
        Some(v @ Value::Number(n)) if n.as_i64().is_some() => {
            out.insert("orderProgress".into(), v.clone())
        }
        other => {
            return Err(format!(
                "`orderProgress` is needed to seed the simulator (the order's status) and must be an integer, not {}",
                other.map_or("absent", super::shape::type_name)
            ))
        }
    };
    for key in crate::model::ORDER_KEYS {
        if matches!(*key, "orderNumber" | "orderProgress" | "PackageModelList") {
            continue;
        }
        if let Some(v) = order.get(*key).filter(|v| seedable(key, v, false)) {
            out.insert((*key).into(), v.clone());
        }
    }
    if let Some(list) = order.get("PackageModelList").and_then(Value::as_array) {
        let packages = list
            .iter()
            .filter_map(Value::as_object)
            .map(|p| {
                let mut fact = Map::new();
                for key in crate::model::PACKAGE_KEYS {
                    if let Some(v) = p.get(*key).filter(|v| seedable(key, v, true)) {
                        fact.insert((*key).into(), v.clone());
                    }
                }
                if let Some(records) = p.get("ShippingModelList").and_then(Value::as_array) {
                    let records = records
                        .iter()
                        .filter_map(Value::as_object)
                        .map(|r| {
                            SHIPPING_KEYS
                                .iter()
                                .filter_map(|(k, int)| {
                                    let v = r.get(*k)?;
                                    let ok = if *int { v.is_i64() } else { v.is_string() };
                                    ok.then(|| ((*k).to_owned(), v.clone()))
                                })
                                .collect::<Map<String, Value>>()
                        })
                        .map(Value::Object)
                        .collect();
                    fact.insert("ShippingModelList".into(), Value::Array(records));
                }
                Value::Object(fact)
            })
            .collect();
        out.insert("PackageModelList".into(), Value::Array(packages));
    }
    Ok(out)
}
