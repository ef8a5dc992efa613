//! The RMS RakutenPayOrderAPI client side: wire types, the [`RmsApi`] trait, and
//! [`HttpRms`], the real client (reqwest + tokio).
//!
//! [`RmsApi`] has one required method, [`send`](RmsApi::send): one POST of a JSON body to
//! `order/<function>/`, answered by a status and a body. Everything else — the typed
//! `confirmOrder`, `getOrder`, `searchOrder`, `updateOrderShipping`, `cancelOrder` — is
//! built on it, so a transport (the network, a cassette, the simulator) implements one
//! method and gets the whole API. New RMS functions are added the same way: a request
//! type in [`wire`] and a provided method calling [`RmsApi::call`].
//!
//! This module is the only one that opens connections to RMS. Nothing here decides
//! whether a call *should* be made: that is the [`Guard`](crate::guard::Guard)'s job.

mod credentials;
mod http;
mod rate_limit;
mod upstream;
pub mod wire;

use std::future::Future;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use credentials::{decode_esa, Credentials, CredentialsError, Secret};
pub use http::{HttpRms, HttpRmsConfig, DEFAULT_BASE};
pub use rate_limit::RateLimiter;
pub use upstream::{Relayed, Sent, Upstream, UpstreamApi};
use wire::*;

use crate::engine::{Classification, Engine};
use crate::rules::TransportFailure;

/// RakutenPayOrderAPI function names.
pub mod function {
    pub const CONFIRM_ORDER: &str = "confirmOrder";
    pub const GET_ORDER: &str = "getOrder";
    pub const SEARCH_ORDER: &str = "searchOrder";
    pub const UPDATE_ORDER_SHIPPING: &str = "updateOrderShipping";
    pub const CANCEL_ORDER: &str = "cancelOrder";
    /// 入力内容を反映する (API option): push the OMS's edits of an order to RMS.
    pub const UPDATE_ORDER_DELIVERY: &str = "updateOrderDelivery";

    /// The read-only functions `drift` sends again to a live RMS (nothing else: a
    /// recording's state-changing call must never be replayed against the real shop).
    pub const READ_ONLY: &[&str] = &[GET_ORDER, SEARCH_ORDER];

    /// Functions that only read: safe to retry.
    pub fn is_read(function: &str) -> bool {
        matches!(
            function,
            GET_ORDER | SEARCH_ORDER | "getSubStatusList" | "getPayment"
        )
    }
}

/// One API call: the function and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsCall {
    pub function: String,
    pub body: serde_json::Value,
}

/// What RMS answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsReply {
    pub status: u16,
    pub body: Bytes,
}

/// A call that did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RmsError {
    /// No answer: whether RMS acted on the call is unknown.
    #[error("no answer from RMS ({kind}): {message}")]
    Transport {
        kind: TransportFailure,
        message: String,
    },
    /// RMS answered with an error status (or the gateway's error shape).
    #[error("RMS answered HTTP {status}: {}", preview(.body))]
    Status { status: u16, body: String },
    /// RMS answered 2xx but the body is not what the function returns.
    #[error("cannot read the `{function}` response: {message}")]
    Decode { function: String, message: String },
    /// The call was refused before it was sent (e.g. more than 100 order numbers).
    #[error("invalid call: {0}")]
    Invalid(String),
}

fn preview(body: &str) -> String {
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push('…');
    }
    s
}

impl RmsError {
    /// The error-table entry of this failure (S17–S21, or the fallback).
    pub fn classify<'e>(&self, engine: &'e Engine) -> Classification<'e> {
        match self {
            RmsError::Transport { kind, .. } => engine.classify_transport(*kind),
            RmsError::Status { status, body } => engine.classify(Some(*status), body),
            RmsError::Decode { message, .. } | RmsError::Invalid(message) => {
                engine.classify(None, message)
            }
        }
    }

    /// Whether RMS may have acted on the call (so a state-changing call must be
    /// reconciled before it is sent again).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RmsError::Transport { .. } | RmsError::Decode { .. } => true,
            RmsError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 403,
            RmsError::Invalid(_) => false,
        }
    }

    /// Whether the call may have reached RMS, so that RMS may still act on it after the
    /// caller stopped waiting: no answer in time, a connection that broke mid-call, a 5xx
    /// (a gateway's among them), an answer that could not be read. A call that never
    /// connected, or that RMS refused before acting (429, 403, 4xx), did not.
    pub fn may_have_reached_rms(&self) -> bool {
        match self {
            RmsError::Transport { kind, .. } => *kind != crate::rules::TransportFailure::Connect,
            RmsError::Decode { .. } => true,
            RmsError::Status { status, .. } => *status >= 500,
            RmsError::Invalid(_) => false,
        }
    }
}

/// A RakutenPayOrderAPI endpoint: the network, a cassette or the simulator.
///
/// Implement [`send`](RmsApi::send); the typed calls come with it.
pub trait RmsApi: Send + Sync {
    /// POSTs `call.body` to `order/<call.function>/` and returns the answer as it came.
    /// Non-2xx statuses are answers, not errors; only a missing answer is an error.
    fn send(&self, call: RmsCall) -> impl Future<Output = Result<RmsReply, RmsError>> + Send;

    /// Sends a typed request and reads a typed response; a non-2xx status is
    /// [`RmsError::Status`].
    fn call<Req, Resp>(
        &self,
        function: &str,
        request: &Req,
    ) -> impl Future<Output = Result<Resp, RmsError>> + Send
    where
        Req: Serialize + Sync,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_value(request);
        let function = function.to_owned();
        async move {
            let body = body.map_err(|e| RmsError::Invalid(e.to_string()))?;
            let reply = self
                .send(RmsCall {
                    function: function.clone(),
                    body,
                })
                .await?;
            if !(200..300).contains(&reply.status) {
                return Err(RmsError::Status {
                    status: reply.status,
                    body: String::from_utf8_lossy(&reply.body).into_owned(),
                });
            }
            // The gateway's error shape can come with a 2xx status too. Its key `Results`
            // is looked for first (a body without it, spelled plainly or with an escape,
            // cannot be that shape), so a long answer is not parsed twice for nothing.
            if may_be_gateway_error(&reply.body)
                && serde_json::from_slice::<GatewayError>(&reply.body).is_ok()
            {
                return Err(RmsError::Status {
                    status: reply.status,
                    body: String::from_utf8_lossy(&reply.body).into_owned(),
                });
            }
            serde_json::from_slice(&reply.body).map_err(|e| RmsError::Decode {
                function,
                message: e.to_string(),
            })
        }
    }

    /// `confirmOrder`: at most 100 order numbers (the [`Guard`](crate::guard::Guard)
    /// splits larger lists). Per-order results are in the messages.
    fn confirm_order(
        &self,
        request: &ConfirmOrderRequest,
    ) -> impl Future<Output = Result<MessagesResponse, RmsError>> + Send {
        async move {
            check_count(request.order_number_list.len())?;
            self.call(function::CONFIRM_ORDER, request).await
        }
    }

    /// `getOrder`; lists longer than 100 are split and the answers merged.
    fn get_order(
        &self,
        request: &GetOrderRequest,
    ) -> impl Future<Output = Result<GetOrderResponse, RmsError>> + Send {
        async move {
            if request.order_number_list.len() <= MAX_ORDER_NUMBERS {
                return self.call(function::GET_ORDER, request).await;
            }
            let mut merged = GetOrderResponse::default();
            for chunk in request.order_number_list.chunks(MAX_ORDER_NUMBERS) {
                let part: GetOrderResponse = self
                    .call(
                        function::GET_ORDER,
                        &GetOrderRequest {
                            order_number_list: chunk.to_vec(),
                            version: request.version,
                        },
                    )
                    .await?;
                merged.message_model_list.extend(part.message_model_list);
                merged.order_model_list.extend(part.order_model_list);
                merged.extra.extend(part.extra);
            }
            Ok(merged)
        }
    }

    /// `searchOrder`.
    fn search_order(
        &self,
        request: &SearchOrderRequest,
    ) -> impl Future<Output = Result<SearchOrderResponse, RmsError>> + Send {
        self.call(function::SEARCH_ORDER, request)
    }

    /// `updateOrderShipping`.
    fn update_order_shipping(
        &self,
        request: &UpdateOrderShippingRequest,
    ) -> impl Future<Output = Result<MessagesResponse, RmsError>> + Send {
        self.call(function::UPDATE_ORDER_SHIPPING, request)
    }

    /// `cancelOrder`.
    fn cancel_order(
        &self,
        request: &CancelOrderRequest,
    ) -> impl Future<Output = Result<MessagesResponse, RmsError>> + Send {
        self.call(function::CANCEL_ORDER, request)
    }

    /// `updateOrderDelivery` (入力内容を反映する, API option only).
    fn update_order_delivery(
        &self,
        request: &UpdateOrderDeliveryRequest,
    ) -> impl Future<Output = Result<MessagesResponse, RmsError>> + Send {
        self.call(function::UPDATE_ORDER_DELIVERY, request)
    }
}

fn check_count(n: usize) -> Result<(), RmsError> {
    if n == 0 || n > MAX_ORDER_NUMBERS {
        return Err(RmsError::Invalid(format!(
            "`orderNumberList` holds {n} numbers; RMS takes 1 to {MAX_ORDER_NUMBERS} per call"
        )));
    }
    Ok(())
}

impl<T: RmsApi> RmsApi for &T {
    fn send(&self, call: RmsCall) -> impl Future<Output = Result<RmsReply, RmsError>> + Send {
        (**self).send(call)
    }
}

impl<T: RmsApi> RmsApi for std::sync::Arc<T> {
    fn send(&self, call: RmsCall) -> impl Future<Output = Result<RmsReply, RmsError>> + Send {
        (**self).send(call)
    }
}

/// Whether `body` may hold the gateway's `{"Results": …}` error: it names `Results`, or it
/// holds an escape (`\u0052esults` spells the key too).
fn may_be_gateway_error(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"Results").is_some() || memchr::memchr(b'\\', body).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2xx answer in the gateway's error shape is an error however its key is spelled;
    /// an ordinary answer is parsed once.
    #[tokio::test]
    async fn a_gateway_error_with_a_2xx_status_is_an_error_in_any_spelling() {
        struct Fixed(&'static str);
        impl RmsApi for Fixed {
            fn send(
                &self,
                _call: RmsCall,
            ) -> impl Future<Output = Result<RmsReply, RmsError>> + Send {
                let body = self.0.as_bytes().to_vec();
                async move {
                    Ok(RmsReply {
                        status: 200,
                        body: body.into(),
                    })
                }
            }
        }
        let request = ConfirmOrderRequest {
            order_number_list: vec!["375055-20261130-00000001".into()],
        };
        for body in [
            r#"{"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}"#,
            r#"{"\u0052esults": {"errorCode": "ES01-01", "message": "Un-Authorised"}}"#,
        ] {
            let got = Fixed(body).confirm_order(&request).await;
            assert!(
                matches!(got, Err(RmsError::Status { status: 200, .. })),
                "{body}: {got:?}"
            );
        }
        let ok = r#"{"MessageModelList": [{"messageType": "INFO", "messageCode": "ORDER_EXT_API_CONFIRM_ORDER_INFO_101", "message": "注文確認処理が完了しました。", "orderNumber": "375055-20261130-00000001"}]}"#;
        assert!(!may_be_gateway_error(ok.as_bytes()));
        assert!(Fixed(ok).confirm_order(&request).await.is_ok());
    }
}
