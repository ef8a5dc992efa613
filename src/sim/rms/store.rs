//! The orders the simulated RMS holds: each one typed, and as RMS's JSON.
//!
//! RMS is a store of JSON documents (`OrderModel`s) with far more fields than a rule looks
//! at, and `getOrder` hands back every one of them. The simulator needs both faces of an
//! order:
//!
//! - the **typed** [`Order`] — what the state machine (`orderProgress`), the rules'
//!   sentinel check (a `-9999` anywhere) and `searchOrder` (the date fields) read;
//! - the **JSON** — what `getOrder` answers over the simulator's own template of RMS's
//!   whole `OrderModel` (`render.rs`), as the order was given and then changed: field
//!   order, `null`s, a timestamp's written form (`+0900` or `+09:00`), the fields `Order`
//!   does not type, inside `PackageModelList` too.
//!
//! `Order` cannot give the JSON back: it has no `Serialize`, keeps only the negative
//! integers of fields it does not type, and forgets how a value was written. So a
//! [`StoredOrder`] keeps the JSON as given — the fields `Order` does not type live only
//! there, like the `extra` of the wire types in `crate::rms::wire` — beside the `Order`
//! read from it, and keeps the two in step: the simulator's own changes (a new status, the
//! confirmation time) are written to both, and an edit of arbitrary fields is read again
//! whole, through the same reader as everything else ([`read_order`]), so the typed view
//! is never stale and never a second parser.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{Order, Timestamp};

/// Why an order cannot be stored or changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is keyed by order number.
    #[error("an order needs `orderNumber`")]
    NoNumber,
    /// The JSON is not an `OrderModel` the crate can read (a missing `orderProgress`, a
    /// string where an amount belongs, a key one typo away from a known field, …).
    #[error("order `{number}`: {source}")]
    Unreadable {
        number: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no order `{0}`")]
    Unknown(String),
}

/// Reads RMS's JSON for one order into an [`Order`] — the one place the simulated RMS turns
/// JSON into the typed model. Borrows: nothing is cloned to read it.
pub fn read_order(json: &Map<String, Value>) -> Result<Order, serde_json::Error> {
    Order::deserialize(json)
}

/// RMS's own timestamp form: `2026-11-30T12:00:00+0900` (no colon in a JST offset).
pub fn rms_time(t: Timestamp) -> String {
    t.to_string().replacen("+09:00", "+0900", 1)
}

/// One order as RMS holds it: the typed view and the JSON it was read from.
///
/// Invariant: `order == read_order(&json)`. Every change goes through a method below that
/// keeps it.
#[derive(Debug, Clone)]
pub(super) struct StoredOrder {
    order: Order,
    json: Map<String, Value>,
}

impl StoredOrder {
    /// Reads `json` (an `OrderModel`) into a stored order; `number` names it in errors.
    fn read(number: &str, json: Map<String, Value>) -> Result<StoredOrder, StoreError> {
        let order = read_order(&json).map_err(|source| StoreError::Unreadable {
            number: number.to_owned(),
            source,
        })?;
        Ok(StoredOrder { order, json })
    }

    /// The typed view.
    pub(super) fn order(&self) -> &Order {
        &self.order
    }

    /// RMS's JSON for the order: what `getOrder` answers.
    pub(super) fn json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// The RMS status (`orderProgress`).
    pub(super) fn progress(&self) -> i64 {
        self.order.order_progress
    }

    /// Moves the order to status `to` (the state machine has checked the transition).
    pub(super) fn set_progress(&mut self, to: i64) {
        self.order.order_progress = to;
        // An existing key keeps its place in the JSON; RMS's answer reads as before.
        self.json.insert("orderProgress".into(), Value::from(to));
    }

    /// Records the shop's confirmation (`shopOrderCfmDatetime`), written in RMS's form.
    pub(super) fn set_confirmed_at(&mut self, at: Timestamp) {
        self.order.shop_order_cfm_datetime = Some(at);
        self.json
            .insert("shopOrderCfmDatetime".into(), Value::from(rms_time(at)));
    }

    /// Sets fields as given (by Rakuten, the buyer, the shop by hand, or
    /// `updateOrderDelivery`). The order is read again whole; changes that would leave
    /// an order the crate cannot read are refused and the order is left as it was.
    fn edit(&mut self, number: &str, changes: &Map<String, Value>) -> Result<(), StoreError> {
        let mut json = self.json.clone();
        for (k, v) in changes {
            json.insert(k.clone(), v.clone());
        }
        *self = StoredOrder::read(number, json)?;
        Ok(())
    }
}

/// Every order RMS holds, by order number (sorted, so every listing is deterministic).
#[derive(Debug, Default)]
pub(super) struct OrderStore {
    orders: std::collections::BTreeMap<String, StoredOrder>,
}

impl OrderStore {
    /// Adds (or replaces) an order given as RMS's JSON; returns its number.
    pub(super) fn add(&mut self, json: Map<String, Value>) -> Result<String, StoreError> {
        let number = json
            .get("orderNumber")
            .and_then(Value::as_str)
            .ok_or(StoreError::NoNumber)?
            .to_owned();
        let stored = StoredOrder::read(&number, json)?;
        self.orders.insert(number.clone(), stored);
        Ok(number)
    }

    pub(super) fn get(&self, number: &str) -> Option<&StoredOrder> {
        self.orders.get(number)
    }

    /// The order, or [`StoreError::Unknown`].
    pub(super) fn get_mut(&mut self, number: &str) -> Result<&mut StoredOrder, StoreError> {
        self.orders
            .get_mut(number)
            .ok_or_else(|| StoreError::Unknown(number.to_owned()))
    }

    /// Changes fields of an order (see [`StoredOrder::edit`]).
    pub(super) fn edit(
        &mut self,
        number: &str,
        changes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.get_mut(number)?.edit(number, changes)
    }

    /// Every order, by number.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&String, &StoredOrder)> {
        self.orders.iter()
    }

    /// Every order number, sorted.
    pub(super) fn numbers(&self) -> Vec<String> {
        self.orders.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// What `getOrder` answers is the JSON as given — field order, `null`, a timestamp's
    /// written form, fields `Order` does not type (inside packages too) — with only the
    /// simulator's own changes written in, in place.
    #[test]
    fn the_json_is_given_back_as_it_was_written() {
        let given = json!({
            "orderNumber": "375055-20261130-00000001",
            "orderDatetime": "2026-11-30T08:00:00+09:00",
            "orderProgress": 100,
            "goodsPrice": null,
            "SettlementModel": {"settlementMethod": "クレジットカード"},
            "PackageModelList": [{"basketId": 1, "postagePrice": -9999,
                                  "SenderModel": {"familyName": "楽天"}}]
        });
        let mut store = OrderStore::default();
        let number = store.add(object(given.clone())).unwrap();
        let stored = store.get_mut(&number).unwrap();
        assert_eq!(
            stored.order().package_model_list[0].postage_price,
            Some(-9999)
        );
        assert_eq!(
            Value::Object(stored.json().clone()).to_string(),
            given.to_string()
        );

        let at: Timestamp = "2026-11-30T09:00:00+09:00".parse().unwrap();
        stored.set_progress(200);
        stored.set_confirmed_at(at);
        let mut expected = given.clone();
        expected["orderProgress"] = json!(200);
        expected["shopOrderCfmDatetime"] = json!("2026-11-30T09:00:00+0900");
        assert_eq!(
            Value::Object(stored.json().clone()).to_string(),
            expected.to_string()
        );
        // The typed view is what reading the JSON again gives.
        assert_eq!(&read_order(stored.json()).unwrap(), stored.order());
    }

    #[test]
    fn an_edit_is_read_again_and_a_bad_one_changes_nothing() {
        let mut store = OrderStore::default();
        let number = store
            .add(object(
                json!({"orderNumber": "a", "orderProgress": 100, "postagePrice": -9999}),
            ))
            .unwrap();
        store
            .edit(
                &number,
                &object(json!({"postagePrice": 660, "newField": -1})),
            )
            .unwrap();
        let stored = store.get(&number).unwrap();
        assert_eq!(stored.order().postage_price, Some(660));
        assert_eq!(
            stored.order().other_negatives,
            vec![("newField".to_owned(), -1)]
        );

        let before = stored.json().clone();
        let err = store
            .edit(&number, &object(json!({"postage_price": -9999})))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("order `a`: unknown field `postage_price`"),
            "{err}"
        );
        assert_eq!(store.get(&number).unwrap().json(), &before);
        assert!(matches!(
            store.edit("b", &Map::new()),
            Err(StoreError::Unknown(n)) if n == "b"
        ));
    }

    #[test]
    fn an_order_without_a_number_or_a_status_is_refused() {
        let mut store = OrderStore::default();
        let err = store
            .add(object(json!({"orderProgress": 100})))
            .unwrap_err();
        assert_eq!(err.to_string(), "an order needs `orderNumber`");
        let err = store.add(object(json!({"orderNumber": "a"}))).unwrap_err();
        assert_eq!(err.to_string(), "order `a`: missing field `orderProgress`");
    }
}
