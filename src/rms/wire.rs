//! RakutenPayOrderAPI request and response bodies, field for field as RMS writes them.
//!
//! Every type keeps the fields it does not name in `extra`, so a response with fields
//! this version does not know still parses and re-serialises without loss.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Order;

/// RMS's limit of order numbers per `confirmOrder` / `getOrder` call.
pub const MAX_ORDER_NUMBERS: usize = 100;

/// `{messageType, messageCode, message, orderNumber}`: every response carries a list.
///
/// Read by hand ([`Deserialize`] below) rather than derived: serde's derive buffers a
/// struct with a flattened field whole before reading it, which made reading a
/// 100-message `confirmOrder` answer several times dearer than the answer itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageModel {
    /// `INFO`, `WARNING` or `ERROR`.
    pub message_type: String,
    pub message_code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageModel {
    pub fn is_error(&self) -> bool {
        self.message_type.eq_ignore_ascii_case("ERROR")
    }
}

/// A map key: the index of a known name, or the key itself (read without allocating for a
/// known one).
struct KeySeed(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Result<usize, String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = Result<usize, String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .position(|k| *k == key)
            .ok_or_else(|| key.to_owned()))
    }
}

/// A known key given twice is refused, as serde's derive refuses it; an unknown key goes
/// to `extra` (the last of a repeated one wins, as in a flattened map).
fn once<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(serde::de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Deserialize<'de> for MessageModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = MessageModel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a message model")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MessageModel, A::Error> {
                let (mut message_type, mut message_code, mut message) = (None, None, None);
                let mut order_number: Option<Option<String>> = None;
                let mut extra = Map::new();
                const KEYS: &[&str] = &["messageType", "messageCode", "message", "orderNumber"];
                while let Some(key) = map.next_key_seed(KeySeed(KEYS))? {
                    match key {
                        Ok(0) => once(&mut message_type, KEYS[0], &mut map)?,
                        Ok(1) => once(&mut message_code, KEYS[1], &mut map)?,
                        Ok(2) => once(&mut message, KEYS[2], &mut map)?,
                        Ok(_) => once(&mut order_number, KEYS[3], &mut map)?,
                        Err(other) => {
                            extra.insert(other, map.next_value()?);
                        }
                    }
                }
                use serde::de::Error;
                Ok(MessageModel {
                    message_type: message_type
                        .ok_or_else(|| A::Error::missing_field("messageType"))?,
                    message_code: message_code
                        .ok_or_else(|| A::Error::missing_field("messageCode"))?,
                    message: message.ok_or_else(|| A::Error::missing_field("message"))?,
                    order_number: order_number.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl<'de> Deserialize<'de> for MessagesResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = MessagesResponse;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a response of messages")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MessagesResponse, A::Error> {
                let mut list: Option<Vec<MessageModel>> = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key_seed(KeySeed(&["MessageModelList"]))? {
                    match key {
                        Ok(_) => once(&mut list, "MessageModelList", &mut map)?,
                        Err(other) => {
                            extra.insert(other, map.next_value()?);
                        }
                    }
                }
                Ok(MessagesResponse {
                    message_model_list: list.unwrap_or_default(),
                    extra,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

/// `confirmOrder` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOrderRequest {
    pub order_number_list: Vec<String>,
}

/// A response that is only messages (`confirmOrder`, `updateOrderShipping`, `cancelOrder`).
/// Read by hand, like [`MessageModel`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessagesResponse {
    #[serde(rename = "MessageModelList", default)]
    pub message_model_list: Vec<MessageModel>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesResponse {
    /// The message about one order, if RMS wrote one.
    pub fn for_order(&self, order_number: &str) -> Option<&MessageModel> {
        self.message_model_list
            .iter()
            .find(|m| m.order_number.as_deref() == Some(order_number))
    }
}

/// `getOrder` request; `version` is required by RMS (3–10 today).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetOrderRequest {
    pub order_number_list: Vec<String>,
    pub version: u32,
}

/// `getOrder` response: the orders are kept as RMS sent them. Read by hand, like
/// [`MessageModel`] (a hundred orders were buffered twice).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GetOrderResponse {
    #[serde(rename = "MessageModelList", default)]
    pub message_model_list: Vec<MessageModel>,
    #[serde(rename = "OrderModelList", default)]
    pub order_model_list: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for GetOrderResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = GetOrderResponse;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a getOrder response")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<GetOrderResponse, A::Error> {
                const KEYS: &[&str] = &["MessageModelList", "OrderModelList"];
                let (mut messages, mut orders) = (None, None);
                let mut extra = Map::new();
                while let Some(key) = map.next_key_seed(KeySeed(KEYS))? {
                    match key {
                        Ok(0) => once(&mut messages, KEYS[0], &mut map)?,
                        Ok(_) => once(&mut orders, KEYS[1], &mut map)?,
                        Err(other) => {
                            extra.insert(other, map.next_value()?);
                        }
                    }
                }
                Ok(GetOrderResponse {
                    message_model_list: messages.unwrap_or_default(),
                    order_model_list: orders.unwrap_or_default(),
                    extra,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl GetOrderResponse {
    /// The orders, typed for the engine. A malformed order is an error naming its index.
    pub fn orders(&self) -> Result<Vec<Order>, String> {
        self.order_model_list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                <Order as Deserialize>::deserialize(v)
                    .map_err(|e| format!("OrderModelList[{i}]: {e}"))
            })
            .collect()
    }
}

/// `PaginationRequestModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationRequestModel {
    /// At most 1000.
    pub request_records_amount: u32,
    pub request_page: u32,
    #[serde(
        rename = "SortModelList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_model_list: Option<Vec<SortModel>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SortModel {
    pub sort_column: u32,
    pub sort_direction: u32,
}

/// `searchOrder` request. Dates are `YYYY-MM-DDThh:mm:ss+0900`, a window of at most 63 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchOrderRequest {
    /// 1 order date … 6.
    pub date_type: u32,
    pub start_datetime: String,
    pub end_datetime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_progress_list: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status_id_list: Option<Vec<i64>>,
    #[serde(
        rename = "PaginationRequestModel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pagination_request_model: Option<PaginationRequestModel>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `PaginationResponseModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationResponseModel {
    pub total_records_amount: u64,
    pub total_pages: u64,
    pub request_page: u64,
}

/// `searchOrder` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchOrderResponse {
    #[serde(rename = "orderNumberList", default)]
    pub order_number_list: Vec<String>,
    #[serde(rename = "MessageModelList", default)]
    pub message_model_list: Vec<MessageModel>,
    #[serde(rename = "PaginationResponseModel", default)]
    pub pagination_response_model: Option<PaginationResponseModel>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One shipment of a basket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_detail_id: Option<i64>,
    pub delivery_company: String,
    pub shipping_number: String,
    /// `YYYY-MM-DD`.
    pub shipping_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_delete_flag: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasketidModel {
    pub basket_id: i64,
    #[serde(rename = "ShippingModelList")]
    pub shipping_model_list: Vec<ShippingModel>,
}

/// `updateOrderShipping` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrderShippingRequest {
    pub order_number: String,
    #[serde(rename = "BasketidModelList")]
    pub basketid_model_list: Vec<BasketidModel>,
}

/// `cancelOrder` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrderRequest {
    pub order_number: String,
    pub inventory_restore_type: u8,
    pub change_reason_detail_apply: u8,
}

/// `updateOrderDelivery` request (入力内容を反映する): the order and the fields the OMS
/// changed, in RMS's names. RMS's exact body for this function is not documented
/// publicly (rms-api-facts.md: unsure); this is the shape the simulator takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrderDeliveryRequest {
    pub order_number: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// The API gateway's error shape: `{"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayError {
    #[serde(rename = "Results")]
    pub results: GatewayResults,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayResults {
    pub error_code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde's derive made of the two types before they were read by hand.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DerivedMessage {
        message_type: String,
        message_code: String,
        message: String,
        #[serde(default)]
        order_number: Option<String>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct DerivedMessages {
        #[serde(rename = "MessageModelList", default)]
        message_model_list: Vec<DerivedMessage>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct DerivedGetOrder {
        #[serde(rename = "MessageModelList", default)]
        message_model_list: Vec<DerivedMessage>,
        #[serde(rename = "OrderModelList", default)]
        order_model_list: Vec<Value>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    fn same(a: &MessageModel, b: &DerivedMessage) -> bool {
        a.message_type == b.message_type
            && a.message_code == b.message_code
            && a.message == b.message
            && a.order_number == b.order_number
            && a.extra == b.extra
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"ERROR\"".to_owned()),
            Just("\"注文\\u78ba認\"".to_owned()),
            Just("null".to_owned()),
            Just("-9999".to_owned()),
            Just("[1, {\"a\": 2}]".to_owned()),
            Just("{\"orderNumber\": \"x\"}".to_owned()),
            Just("true".to_owned()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("messageType"),
            Just("messageCode"),
            Just("message"),
            Just("orderNumber"),
            Just("MessageModelList"),
            Just("message_type"),
            Just("other"),
            Just("\\u006dessage"),
        ]
        .prop_map(str::to_owned)
    }

    fn object(inner: Option<String>) -> impl Strategy<Value = String> {
        prop::collection::vec((key(), value()), 0..7).prop_map(move |pairs| {
            let mut fields: Vec<String> =
                pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            if let Some(list) = &inner {
                fields.push(format!("\"MessageModelList\": {list}"));
            }
            format!("{{{}}}", fields.join(", "))
        })
    }

    proptest! {
        /// The hand-written readers accept exactly what the derived ones accepted and
        /// read the same values: known keys, unknown ones, repeats, nulls, wrong types,
        /// escaped keys.
        #[test]
        fn reading_by_hand_equals_the_derive(message in object(None), response in object(Some("[]".into()))) {
            let ours = serde_json::from_str::<MessageModel>(&message);
            let derived = serde_json::from_str::<DerivedMessage>(&message);
            prop_assert_eq!(ours.is_ok(), derived.is_ok(), "{}", message);
            if let (Ok(a), Ok(b)) = (&ours, &derived) {
                prop_assert!(same(a, b), "{}", message);
            }
            let full = format!("{{\"MessageModelList\": [{message}], \"x\": 1}}");
            let orders = format!("{{\"OrderModelList\": [{message}], \"MessageModelList\": [{message}]}}");
            for body in [full.as_str(), response.as_str(), orders.as_str()] {
                let ours = serde_json::from_str::<GetOrderResponse>(body);
                let derived = serde_json::from_str::<DerivedGetOrder>(body);
                prop_assert_eq!(ours.is_ok(), derived.is_ok(), "{}", body);
                if let (Ok(a), Ok(b)) = (&ours, &derived) {
                    prop_assert_eq!(&a.extra, &b.extra);
                    prop_assert_eq!(&a.order_model_list, &b.order_model_list);
                    prop_assert_eq!(a.message_model_list.len(), b.message_model_list.len());
                }
                let ours = serde_json::from_str::<MessagesResponse>(body);
                let derived = serde_json::from_str::<DerivedMessages>(body);
                prop_assert_eq!(ours.is_ok(), derived.is_ok(), "{}", body);
                if let (Ok(a), Ok(b)) = (&ours, &derived) {
                    prop_assert_eq!(&a.extra, &b.extra);
                    prop_assert_eq!(a.message_model_list.len(), b.message_model_list.len());
                    for (x, y) in a.message_model_list.iter().zip(&b.message_model_list) {
                        prop_assert!(same(x, y), "{}", body);
                    }
                }
            }
        }
    }

    #[test]
    fn a_message_reads_and_writes_back_whole() {
        let body = r#"{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_003","message":"x","orderNumber":"1-2-3","extra":[1]}"#;
        let m: MessageModel = serde_json::from_str(body).expect("message");
        assert_eq!(serde_json::to_string(&m).expect("json"), body);
        let e = serde_json::from_str::<MessageModel>(r#"{"messageType":"ERROR","message":"x"}"#)
            .expect_err("no code");
        assert_eq!(
            e.to_string(),
            "missing field `messageCode` at line 1 column 37"
        );
    }
}
