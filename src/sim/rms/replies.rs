//! Every body the simulated RMS answers with, in RMS's own words.
//!
//! **This file deliberately restates RMS.** The rules file's error table says how the
//! *client* reads RMS's answers (`classify`); the simulator must *produce* those answers,
//! and if it read them from the same table it could never catch the table being wrong. So
//! the codes, texts, statuses and shapes below are written out again, from RMS's
//! documentation and observed traffic (`shared/notes/rms-api-facts.md`), as an independent
//! witness. This is the only place in the simulator that spells them; the endpoints name
//! a reply, never a code.
//!
//! Facts here that the notes mark `unsure`: the codes of per-order confirm errors
//! (`…_102` cancelled, `…_103` not confirmable, `…_105` fee not set), the QPS body, and
//! every `updateOrderDelivery` answer. `…_UPDATE_ORDERDELIVERY_ERROR_002` (a change the
//! order cannot take) is the simulator's own: RMS's answer to it is not recorded.
//!
//! The witness is itself held to recordings: `rms-preflight conformance` (`crate::conformance`)
//! sends every recorded request of `fixtures/cassettes/` and of the real 2020 recordings
//! (`shared/external/rakuten-ws/`) to the simulator and compares its answers with RMS's by
//! shape, codes and texts. It found getOrder's top-level `version` (absent in a version-1
//! answer); RMS's published samples gave the codes, texts and per-record shape of
//! `updateOrderShipping` and the text of `cancelOrder` (the cassettes now carry them).
//!
//! Three shapes:
//!
//! - a **message list**, `{"MessageModelList": [{"messageType", "messageCode", "message",
//!   "orderNumber"?}]}`, the order API's own answers ([`Message`]);
//! - the **gateway** shape, `{"Results": {"errorCode", "message"}}`, for what is refused
//!   before the function runs: authentication, a function the shop may not use, a path
//!   that is not the API ([`gateway`]);
//! - **bare** bodies, for the faults: QPS (`{"errors": […]}`), maintenance and API errors
//!   (plain text).
//!
//! One body is not RMS's: [`proxy_error`], the HTML page of a proxy in front of RMS.

use serde_json::{json, Value};

/// One `MessageModelList` entry RMS can send: its type, code and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Message {
    kind: &'static str,
    code: &'static str,
    text: &'static str,
}

impl Message {
    const fn info(code: &'static str, text: &'static str) -> Message {
        Message {
            kind: "INFO",
            code,
            text,
        }
    }

    const fn error(code: &'static str, text: &'static str) -> Message {
        Message {
            kind: "ERROR",
            code,
            text,
        }
    }

    /// The entry, about one order (`orderNumber` set).
    pub(super) fn about(self, order: &str) -> Value {
        entry(self.kind, self.code, self.text, Some(order))
    }

    /// The code.
    pub(super) fn code(self) -> &'static str {
        self.code
    }

    /// The entry, about the request as a whole.
    pub(super) fn general(self) -> Value {
        entry(self.kind, self.code, self.text, None)
    }

    /// A 400 answer carrying only this message: a request RMS refuses outright.
    pub(super) fn refusal(self) -> (u16, Value) {
        (400, messages(vec![self.general()]))
    }
}

fn entry(kind: &str, code: &str, text: &str, order: Option<&str>) -> Value {
    let mut m = json!({"messageType": kind, "messageCode": code, "message": text});
    if let Some(n) = order {
        m["orderNumber"] = json!(n);
    }
    m
}

/// `{"MessageModelList": messages}`.
pub(super) fn messages(messages: Vec<Value>) -> Value {
    json!({ "MessageModelList": messages })
}

/// An error in RMS's gateway shape: `{"Results": {"errorCode", "message"}}`.
pub(super) fn gateway(code: &str, message: &str) -> Value {
    json!({"Results": {"errorCode": code, "message": message}})
}

/// The gateway's code for a refused request: a function the shop may not use, a path or
/// a method the API does not have.
pub(super) const BAD_REQUEST: &str = "ES04-01";

/// 401: the licence key does not work (S17).
pub(super) fn unauthorised() -> (u16, Value) {
    (401, gateway("ES01-01", "Un-Authorised"))
}

/// 400: a function the shop's contract does not include (`updateOrderDelivery` without
/// the API option).
pub(super) fn not_enabled() -> (u16, Value) {
    (400, gateway(BAD_REQUEST, "Bad Request"))
}

/// 404: a function the simulator does not model.
pub(super) fn not_simulated(function: &str) -> (u16, Value) {
    (
        404,
        gateway(
            BAD_REQUEST,
            &format!("Bad Request: `{function}` is not simulated"),
        ),
    )
}

/// 504: `sim-server`'s answer when the simulated call got no answer (a timeout or a lost
/// response fault). What sits in front of RMS would answer so; the body is the server's
/// own, not RMS's.
pub(super) fn gateway_timeout() -> Value {
    json!({"error": "Gateway Timeout"})
}

/// 403: the QPS limit (S20).
pub(super) fn qps_exceeded() -> (u16, String) {
    let body =
        json!({"errors": [{"code": "GA0003", "message": "Forbidden- Exceeded QPS Limitation"}]});
    (403, body.to_string())
}

/// 503: maintenance (S21). Plain text, not JSON.
pub(super) fn in_maintenance() -> (u16, String) {
    (503, "API In Maintenance".to_owned())
}

/// 500: RMS's own failure (S19). Plain text, not JSON.
pub(super) fn api_error() -> (u16, String) {
    (500, "APIエラー".to_owned())
}

/// 403 from something in front of RMS (a proxy, a firewall, a load balancer): its own
/// HTML error page, not RMS's words. Not RMS's answer, so not held to the cassettes; it
/// stands for every answer the error table does not know (its fallback, `unrecognised`).
pub(super) fn proxy_error() -> (u16, String) {
    (
        403,
        "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>"
            .to_owned(),
    )
}

/// `confirmOrder`.
pub(super) mod confirm {
    use super::Message;

    pub(crate) const BAD_LIST: Message = Message::error(
        "ORDER_EXT_API_CONFIRM_ORDER_ERROR_001",
        "orderNumberListは1件以上100件以下で指定して下さい。",
    );
    pub(crate) const NO_SUCH_ORDER: Message = Message::error(
        "ORDER_EXT_API_CONFIRM_ORDER_ERROR_101",
        "注文が存在しません。",
    );
    pub(crate) const CANCELLED: Message = Message::error(
        "ORDER_EXT_API_CONFIRM_ORDER_ERROR_102",
        "キャンセル済みの注文です。",
    );
    pub(crate) const NOT_CONFIRMABLE: Message = Message::error(
        "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103",
        "該当の注文は注文確認ができる状態ではありませんでした。",
    );
    pub(crate) const FEE_NOT_SET: Message = Message::error(
        "ORDER_EXT_API_CONFIRM_ORDER_ERROR_105",
        "送料が未設定の注文です。",
    );
    pub(crate) const CONFIRMED: Message = Message::info(
        "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
        "注文確認に成功しました。",
    );
}

/// `getOrder`.
pub(super) mod get {
    use super::Message;
    use serde_json::Value;

    pub(crate) const NO_VERSION: Message = Message::error(
        "ORDER_EXT_API_GET_ORDER_ERROR_009",
        "versionを指定して下さい。",
    );
    pub(crate) const BAD_LIST: Message = Message::error(
        "ORDER_EXT_API_GET_ORDER_ERROR_001",
        "orderNumberListは1件以上100件以下で指定して下さい。",
    );
    /// The answer carries the request's `version` at the top only from version 6 on: a
    /// real version-1 answer (recorded in 2020, `shared/external/rakuten-ws/get_order.yaml`)
    /// has none, and the notes say v6 added it.
    pub(crate) const VERSION_ECHOED_FROM: u64 = 6;
    pub(crate) const NOT_FOUND: Message = Message::info(
        "ORDER_EXT_API_GET_ORDER_INFO_102",
        "受注情報が取得できませんでした。",
    );

    /// The first entry of every successful answer, with the number of orders found.
    pub(crate) fn found(count: usize) -> Value {
        super::entry(
            "INFO",
            "ORDER_EXT_API_GET_ORDER_INFO_101",
            &format!("受注情報取得に成功しました。(取得件数{count}件)"),
            None,
        )
    }
}

/// `searchOrder`.
pub(super) mod search {
    use super::Message;

    pub(crate) const NO_DATE_TYPE: Message = Message::error(
        "ORDER_EXT_API_SEARCH_ORDER_ERROR_009",
        "dateTypeの項目を指定して下さい。",
    );
    pub(crate) const BAD_PERIOD: Message = Message::error(
        "ORDER_EXT_API_SEARCH_ORDER_ERROR_010",
        "startDatetime、endDatetimeを正しく指定して下さい。",
    );
    pub(crate) const PERIOD_TOO_LONG: Message = Message::error(
        "ORDER_EXT_API_SEARCH_ORDER_ERROR_011",
        "検索期間は63日以内で指定して下さい。",
    );
    pub(crate) const BAD_PAGE_SIZE: Message = Message::error(
        "ORDER_EXT_API_SEARCH_ORDER_ERROR_012",
        "requestRecordsAmountは1以上1000以下で指定して下さい。",
    );
    pub(crate) const NONE_FOUND: Message = Message::info(
        "ORDER_EXT_API_SEARCH_ORDER_INFO_102",
        "注文検索結果が0件でした。",
    );
    pub(crate) const FOUND: Message = Message::info(
        "ORDER_EXT_API_SEARCH_ORDER_INFO_101",
        "注文検索に成功しました。",
    );
}

/// The answers of a function that moves one order (`updateOrderShipping`,
/// `cancelOrder`).
#[derive(Debug, Clone, Copy)]
pub(super) struct OneOrder {
    pub(super) no_number: Message,
    pub(super) done: Message,
    pub(super) refused: Message,
}

/// `updateOrderShipping`.
pub(super) const UPDATE_ORDER_SHIPPING: OneOrder = OneOrder {
    no_number: Message::error(
        "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_001",
        "orderNumberを指定して下さい。",
    ),
    // RMS spells the function `ORDERSHIPPING` in its codes (its published message table:
    // 101 "発送情報の追加設定が完了しました。" for a shipping record added, 102 for one
    // updated). A success is answered per shipping record ([`shipping_record`]); `done`
    // is the answer to a body that names none.
    done: Message::info(
        "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101",
        "発送情報の追加設定が完了しました。",
    ),
    refused: Message::error(
        "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_103",
        "この状態の注文には実行できません。",
    ),
};

/// `updateOrderShipping`'s success, one entry per shipping record of the request, as
/// RMS's published samples show it: no `orderNumber`, the record's position in the request
/// (`dataNumber`, from 1) and its `shippingDetailId` (the one given: 102 updated; a new
/// one: 101 added).
pub(super) fn shipping_record(data_number: usize, given: Option<i64>, new_id: i64) -> Value {
    let (code, text, id) = match given {
        Some(id) => (
            "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_102",
            "発送情報の更新設定が完了しました。",
            id,
        ),
        None => (
            "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101",
            "発送情報の追加設定が完了しました。",
            new_id,
        ),
    };
    json!({"messageType": "INFO", "messageCode": code, "message": text,
           "dataNumber": data_number, "shippingDetailId": id})
}

/// `cancelOrder`.
pub(super) const CANCEL_ORDER: OneOrder = OneOrder {
    no_number: Message::error(
        "ORDER_EXT_API_CANCEL_ORDER_ERROR_001",
        "orderNumberを指定して下さい。",
    ),
    done: Message::info(
        "ORDER_EXT_API_CANCEL_ORDER_INFO_101",
        "キャンセル申請に成功しました。",
    ),
    refused: Message::error(
        "ORDER_EXT_API_CANCEL_ORDER_ERROR_103",
        "この状態の注文には実行できません。",
    ),
};

/// `updateOrderDelivery` (入力内容を反映する).
pub(super) mod delivery {
    use super::Message;

    pub(crate) const NO_NUMBER: Message = Message::error(
        "ORDER_EXT_API_UPDATE_ORDERDELIVERY_ERROR_001",
        "orderNumberを指定して下さい。",
    );
    pub(crate) const UPDATED: Message = Message::info(
        "ORDER_EXT_API_UPDATE_ORDERDELIVERY_INFO_101",
        "受注情報の更新に成功しました。",
    );
    pub(crate) const NO_SUCH_ORDER: Message = Message::error(
        "ORDER_EXT_API_UPDATE_ORDERDELIVERY_ERROR_101",
        "注文が存在しません。",
    );
    /// The simulator's own (see the module's documentation).
    pub(crate) const NOT_APPLICABLE: Message = Message::error(
        "ORDER_EXT_API_UPDATE_ORDERDELIVERY_ERROR_002",
        "更新内容が正しくありません。",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry's keys in RMS's order, `orderNumber` last: a client may record the
    /// simulator's answers and compare them as bytes.
    #[test]
    fn a_message_entry_reads_like_rms() {
        assert_eq!(
            confirm::CONFIRMED
                .about("375055-20261130-00000001")
                .to_string(),
            r#"{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認に成功しました。","orderNumber":"375055-20261130-00000001"}"#
        );
        assert_eq!(
            get::BAD_LIST.refusal().1.to_string(),
            r#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_GET_ORDER_ERROR_001","message":"orderNumberListは1件以上100件以下で指定して下さい。"}]}"#
        );
        assert_eq!(
            unauthorised().1.to_string(),
            r#"{"Results":{"errorCode":"ES01-01","message":"Un-Authorised"}}"#
        );
    }
}
