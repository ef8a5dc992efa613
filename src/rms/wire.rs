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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `confirmOrder` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOrderRequest {
    pub order_number_list: Vec<String>,
}

/// A response that is only messages (`confirmOrder`, `updateOrderShipping`, `cancelOrder`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// `getOrder` response: the orders are kept as RMS sent them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetOrderResponse {
    #[serde(rename = "MessageModelList", default)]
    pub message_model_list: Vec<MessageModel>,
    #[serde(rename = "OrderModelList", default)]
    pub order_model_list: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GetOrderResponse {
    /// The orders, typed for the engine. A malformed order is an error naming its index.
    pub fn orders(&self) -> Result<Vec<Order>, String> {
        self.order_model_list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v.clone()).map_err(|e| format!("OrderModelList[{i}]: {e}"))
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
