//! getOrder's `OrderModel` as the simulator renders it: RMS's whole shape, from the
//! simulator's own template, with the order's facts written in.
//!
//! RMS answers every field of an `OrderModel`, whatever the order; the simulator knows
//! only a few of them (its typed [`Order`]: the number, the status, the sub-status, the
//! dates, the amounts, the flags, the packages and their amounts). So an answer is built
//! in three layers, each over the one before:
//!
//! 1. **the template**: every field of RMS's `OrderModel` as the real 2020 recording of
//!    getOrder shows it (`../shared/external/rakuten-ws/get_order.yaml`, version 1) — the
//!    field names, their order, their JSON types and their nullability — with neutral
//!    values (`0`, `""`, `null` where RMS has `null`), one package per package the order
//!    has (one if none), one item per package, no shipping record, a `ChangeReasonModel`
//!    of the confirmation (`changeType` 8) once the shop confirmed;
//! 2. **the facts** of the typed [`Order`], in their JSON types (an amount the order does
//!    not have is `0`; a date it does not have is `null`); fields RMS added after version
//!    1 (`paymentCharge`, `additionalFeeOccurAmountTo…`) only when the order has them;
//! 3. **the order's JSON as it was given** to the simulator (a scenario's order, an edit
//!    by `updateOrderDelivery`), merged in key by key (objects and list elements in
//!    place): what a scenario says of an order is what getOrder answers.
//!
//! `conformance` seeds the simulator with facts only, so what it compares with RMS's
//! recordings is layers 1 and 2: the simulator's own shape.

use serde_json::{json, Map, Value};

use super::store::{rms_time, StoredOrder};
use crate::model::{Order, Package, Timestamp};

/// A shipping record (`ShippingModelList[]`) as RMS answers it.
pub(super) fn shipping_record() -> Value {
    json!({
        "shippingDetailId": 0,
        "shippingNumber": "",
        "deliveryCompany": "",
        "deliveryCompanyName": "",
        "shippingDate": ""
    })
}

/// A person of the order (`OrdererModel`, `SenderModel`): the fields RMS answers.
fn person(orderer: bool) -> Value {
    let mut m = Map::new();
    for k in [
        "zipCode1",
        "zipCode2",
        "prefecture",
        "city",
        "subAddress",
        "familyName",
        "firstName",
        "familyNameKana",
        "firstNameKana",
        "phoneNumber1",
        "phoneNumber2",
        "phoneNumber3",
    ] {
        m.insert(k.into(), Value::from(""));
    }
    if orderer {
        for k in ["emailAddress", "sex", "birthYear", "birthMonth", "birthDay"] {
            m.insert(k.into(), Value::from(""));
        }
    }
    Value::Object(m)
}

fn item(price: i64) -> Value {
    json!({
        "itemDetailId": 0,
        "itemName": "",
        "itemId": 0,
        "itemNumber": "",
        "manageNumber": "",
        "price": price,
        "units": 1,
        "includePostageFlag": 0,
        "includeTaxFlag": 1,
        "includeCashOnDeliveryPostageFlag": 0,
        "selectedChoice": null,
        "pointRate": 1,
        "inventoryType": 1,
        "delvdateInfo": "",
        "restoreInventoryFlag": 0,
        "deleteItemFlag": 0
    })
}

fn package(p: &Package, basket: i64) -> Value {
    let goods = p.goods_price.unwrap_or(0);
    json!({
        "basketId": p.basket_id.unwrap_or(basket),
        "postagePrice": p.postage_price.unwrap_or(0),
        "deliveryPrice": p.delivery_price.unwrap_or(0),
        "goodsTax": p.goods_tax.unwrap_or(0),
        "goodsPrice": goods,
        "totalPrice": p.total_price.unwrap_or(0),
        "noshi": null,
        "packageDeleteFlag": 0,
        "SenderModel": person(false),
        "ItemModelList": [item(goods)],
        "ShippingModelList": [],
        "DeliveryCvsModel": null
    })
}

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::from(rms_time(t)))
}

/// Layers 1 and 2: the template with the typed order's facts.
fn template(o: &Order) -> Map<String, Value> {
    let amount = |v: Option<i64>| Value::from(v.unwrap_or(0));
    let packages: Vec<Value> = if o.package_model_list.is_empty() {
        // RMS has no order without a package: one, with the order's amounts.
        let p = Package {
            postage_price: o.postage_price,
            delivery_price: o.delivery_price,
            goods_tax: o.goods_tax,
            goods_price: o.goods_price,
            total_price: o.total_price,
            ..Package::default()
        };
        vec![package(&p, 1)]
    } else {
        o.package_model_list
            .iter()
            .zip(1..)
            .map(|(p, b)| package(p, b))
            .collect()
    };
    let changes = o.shop_order_cfm_datetime.map_or(Value::Null, |at| {
        json!([{
            "changeId": 0,
            "changeType": 8,
            "changeTypeDetail": null,
            "changeReason": null,
            "changeReasonDetail": null,
            "changeApplyDatetime": rms_time(at),
            "changeFixDatetime": rms_time(at),
            "changeCmplDatetime": rms_time(at)
        }])
    });
    let fields: Vec<(&str, Value)> = vec![
        (
            "orderNumber",
            Value::from(o.order_number.clone().unwrap_or_default()),
        ),
        ("orderProgress", Value::from(o.order_progress)),
        (
            "subStatusId",
            o.sub_status_id.map_or(Value::Null, Value::from),
        ),
        ("subStatusName", Value::Null),
        ("orderDatetime", time(o.order_datetime)),
        ("shopOrderCfmDatetime", time(o.shop_order_cfm_datetime)),
        ("orderFixDatetime", time(o.order_fix_datetime)),
        ("shippingInstDatetime", time(o.shipping_inst_datetime)),
        (
            "shippingCmplRptDatetime",
            time(o.shipping_cmpl_rpt_datetime),
        ),
        ("cancelDueDate", Value::Null),
        ("deliveryDate", Value::Null),
        ("shippingTerm", Value::from(0)),
        ("remarks", Value::from("")),
        ("giftCheckFlag", Value::from(0)),
        ("severalSenderFlag", Value::from(0)),
        ("equalSenderFlag", Value::from(1)),
        ("isolatedIslandFlag", amount(o.isolated_island_flag)),
        ("rakutenMemberFlag", Value::from(1)),
        ("carrierCode", Value::from(0)),
        ("emailCarrierCode", Value::from(0)),
        ("orderType", Value::from(1)),
        ("reserveNumber", Value::Null),
        ("reserveDeliveryCount", Value::Null),
        ("cautionDisplayType", Value::from(0)),
        ("rakutenConfirmFlag", amount(o.rakuten_confirm_flag)),
        ("goodsPrice", amount(o.goods_price)),
        ("goodsTax", amount(o.goods_tax)),
        ("postagePrice", amount(o.postage_price)),
        ("deliveryPrice", amount(o.delivery_price)),
        ("totalPrice", amount(o.total_price)),
        ("requestPrice", amount(o.request_price)),
        ("couponAllTotalPrice", amount(o.coupon_all_total_price)),
        ("couponShopPrice", amount(o.coupon_shop_price)),
        ("couponOtherPrice", amount(o.coupon_other_price)),
        ("asurakuFlag", Value::from(0)),
        ("drugFlag", Value::from(0)),
        ("dealFlag", Value::from(0)),
        ("membershipType", Value::from(0)),
        ("memo", Value::Null),
        ("operator", Value::Null),
        ("mailPlugSentence", Value::Null),
        ("modifyFlag", amount(o.modify_flag)),
        ("isTaxRecalc", Value::from(1)),
        ("OrdererModel", person(true)),
        (
            "SettlementModel",
            json!({ "settlementMethod": "", "cardName": "", "cardNumber": "", "cardOwner": "", "cardYm": "", "cardPayType": "", "cardInstallmentDesc": "" }),
        ),
        (
            "DeliveryModel",
            json!({"deliveryName": "", "deliveryClass": null}),
        ),
        ("PointModel", json!({"usedPoint": 0})),
        ("WrappingModel1", Value::Null),
        ("WrappingModel2", Value::Null),
        ("PackageModelList", Value::Array(packages)),
        ("CouponModelList", Value::Null),
        ("ChangeReasonModelList", changes),
    ];
    let mut m: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // Fields RMS added after version 1: only when the order has them.
    for (k, v) in [
        ("paymentCharge", o.payment_charge),
        (
            "additionalFeeOccurAmountToUser",
            o.additional_fee_occur_amount_to_user,
        ),
        (
            "additionalFeeOccurAmountToShop",
            o.additional_fee_occur_amount_to_shop,
        ),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::from(v));
        }
    }
    m
}

/// What an element of the list `key` starts from when the given JSON has more elements
/// than the template (or the template has none).
fn element_template(key: &str, template: &[Value]) -> Option<Value> {
    match key {
        "ShippingModelList" => Some(shipping_record()),
        _ => template.first().cloned(),
    }
}

/// Layer 3: `given` merged into `base`, key by key; objects and the elements of lists
/// in place.
fn merge(base: &mut Value, given: &Value, key: &str) {
    match (base, given) {
        (Value::Object(b), Value::Object(g)) => {
            for (k, v) in g {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v, k),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        // A package list given empty: RMS has no order without a package.
        (Value::Array(_), Value::Array(g)) if key == "PackageModelList" && g.is_empty() => {}
        (Value::Array(b), Value::Array(g)) => {
            let merged = g
                .iter()
                .enumerate()
                .map(
                    |(i, v)| match b.get(i).cloned().or_else(|| element_template(key, b)) {
                        Some(mut e) if e.is_object() && v.is_object() => {
                            merge(&mut e, v, "");
                            e
                        }
                        _ => v.clone(),
                    },
                )
                .collect();
            *b = merged;
        }
        (b, g) => *b = g.clone(),
    }
}

/// The `OrderModel` getOrder answers for a stored order.
pub(super) fn order_model(stored: &StoredOrder) -> Value {
    let mut out = Value::Object(template(stored.order()));
    merge(&mut out, &Value::Object(stored.json().clone()), "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ORDER_KEYS;

    /// Every key the typed model reads is a key of the template (or one RMS added after
    /// version 1): a fact always has its place.
    #[test]
    fn the_template_has_a_place_for_every_fact() {
        let o = Order {
            payment_charge: Some(0),
            additional_fee_occur_amount_to_user: Some(0),
            additional_fee_occur_amount_to_shop: Some(0),
            ..Order::default()
        };
        let t = template(&o);
        for k in ORDER_KEYS {
            assert!(t.contains_key(*k), "{k}");
        }
    }
}
