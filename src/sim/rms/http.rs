//! `sim-server`: the simulator behind RMS's wire protocol.
//!
//! [`SimHandler`] plugs [`SimRms`] into the crate's loopback server
//! ([`crate::fixture::Handler`]), so any HTTP client — an OMS in another language, `curl`,
//! the real [`HttpRms`](crate::rms::HttpRms) — can talk to the simulator as it would to
//! RMS. The handler only translates: a path to a function, a body to JSON, the answer to
//! a response. Everything RMS-like happens in [`SimRms::send`](crate::rms::RmsApi::send).

use std::sync::Arc;

use serde_json::Value;

use super::replies;
use super::SimRms;
use crate::fixture::{Handler, HttpRequest, HttpResponse};
use crate::rms::{RmsApi, RmsCall};

/// `sim-server`'s handler.
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

/// A refusal in RMS's gateway shape.
fn gateway_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, &replies::gateway(replies::BAD_REQUEST, message))
}

/// A client's text, short enough for a message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl Handler for SimHandler {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let Some(function) = order_api_function(&request.path) else {
            return gateway_error(
                404,
                &format!(
                    "Not Found: `{}` is not an RMS order API path (POST {ORDER_API_PREFIX}<function>/)",
                    shown(&request.path)
                ),
            );
        };
        if request.method != "POST" {
            let mut refused = gateway_error(
                405,
                &format!(
                    "Method Not Allowed: `{}`: RMS's order API takes POST",
                    shown(&request.method)
                ),
            );
            refused.headers.push(("allow".into(), "POST".into()));
            return refused;
        }
        let function = function.to_owned();
        // A body that is not JSON reaches the function as `null`: RMS answers it as a
        // request that names nothing.
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match self.sim.send(RmsCall { function, body }).await {
            Ok(r) => HttpResponse {
                status: r.status,
                headers: vec![(
                    "content-type".into(),
                    "application/json;charset=UTF-8".into(),
                )],
                body: r.body,
            },
            Err(_) => HttpResponse::json(504, &replies::gateway_timeout()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_order_api_paths_name_a_function() {
        assert_eq!(
            order_api_function("/es/2.0/order/confirmOrder/"),
            Some("confirmOrder")
        );
        assert_eq!(
            order_api_function("/es/2.0/order/getOrder?x=1"),
            Some("getOrder")
        );
        for path in [
            "/es/2.0/order/",
            "/es/2.0/order/a/b",
            "/es/1.0/order/getOrder",
            "/",
        ] {
            assert_eq!(order_api_function(path), None, "{path}");
        }
    }
}
