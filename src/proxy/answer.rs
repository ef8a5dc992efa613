//! The proxy's answers in RMS's own shape, so an OMS's existing error handling shows them.
//!
//! Every order the proxy answers itself gets one `MessageModelList` entry:
//! `messageType: ERROR`, a `messageCode` in the proxy's namespace — `RMS_PREFLIGHT_S13`
//! for a denial (the seed tag of the rule), `RMS_PREFLIGHT_<ERROR ID>` for a failure the
//! error table classified (`RMS_PREFLIGHT_QPS_LIMIT`) — the Japanese message from the
//! rules file, the `orderNumber`, and a `preflight` object with what a person needs: the
//! rule id, the seed tag, the message and every remedy step in both languages.
//! Every text comes from the rules file.

use serde_json::{json, Map, Value};

use crate::guard::{Failure, OwnedFinding, Report};
use crate::rules::Text;

/// The prefix of every `messageCode` the proxy writes.
pub const CODE_PREFIX: &str = "RMS_PREFLIGHT_";

/// `RMS_PREFLIGHT_` and `name` in RMS's own style of code: upper case, `_` for anything
/// but a letter or a digit (`S7a` → `RMS_PREFLIGHT_S7A`, `rms-api` →
/// `RMS_PREFLIGHT_RMS_API`, `qps_limit` → `RMS_PREFLIGHT_QPS_LIMIT`).
pub fn code(name: &str) -> String {
    let mut out = String::with_capacity(CODE_PREFIX.len() + name.len());
    out.push_str(CODE_PREFIX);
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

fn text(t: &Text) -> Value {
    json!({"ja": t.ja, "en": t.en})
}

/// The `MessageModelList` entry of a denied order: the first denying finding, with every
/// finding of the verdict in `preflight.findings`.
pub fn denial(order_number: &str, report: &Report) -> Value {
    let first = report
        .findings
        .iter()
        .find(|f| f.severity == crate::rules::Severity::Deny)
        .or_else(|| report.findings.first());
    let Some(f) = first else {
        return json!({
            "messageType": "ERROR",
            "messageCode": code("DENIED"),
            "message": "",
            "orderNumber": order_number,
        });
    };
    json!({
        "messageType": "ERROR",
        "messageCode": code(&f.source),
        "message": f.message.ja,
        "orderNumber": order_number,
        "preflight": {
            "decision": "deny",
            "rule": f.rule,
            "source": f.source,
            "message": text(&f.message),
            "remedy": remedy_of(f),
            "findings": report.findings.iter().map(finding).collect::<Vec<_>>(),
        },
    })
}

fn remedy_of(f: &OwnedFinding) -> Vec<Value> {
    f.remedies
        .iter()
        .flat_map(|r| {
            r.steps
                .iter()
                .map(|s| json!({"source": r.source, "ja": s.ja, "en": s.en}))
        })
        .collect()
}

fn finding(f: &OwnedFinding) -> Value {
    let mut v = json!({
        "rule": f.rule,
        "source": f.source,
        "severity": f.severity,
        "message": text(&f.message),
        "remedy": remedy_of(f),
    });
    if !f.fields.is_empty() {
        let fields: Map<String, Value> = f.fields.iter().cloned().collect();
        v["fields"] = Value::Object(fields);
    }
    v
}

/// The entry of an order whose call failed and RMS wrote nothing about it (no answer, an
/// unreadable answer, a read-back that could not tell): the error table's entry.
pub fn failure(order_number: &str, f: &Failure) -> Value {
    json!({
        "messageType": "ERROR",
        "messageCode": code(&f.error),
        "message": f.message.ja,
        "orderNumber": order_number,
        "preflight": {
            "decision": "failed",
            "error": f.error,
            "source": f.source,
            "message": text(&f.message),
            "remedy": f.remedy.iter().map(text).collect::<Vec<_>>(),
            "outcome_unknown": f.outcome_unknown,
            "detail": f.detail,
        },
    })
}

/// The entry of an order RMS took although its answer was lost: the guard read it back
/// and found it past the initial status (`status` is that status's name in the rules).
pub fn reconciled(order_number: &str, progress: i64, status: Option<&Text>) -> Value {
    let name = status.map(|t| t.ja.clone()).unwrap_or_default();
    json!({
        "messageType": "INFO",
        "messageCode": code("RECONCILED"),
        "message": format!("{name} ({progress})"),
        "orderNumber": order_number,
        "preflight": {
            "decision": "allow",
            "reconciled": true,
            "orderProgress": progress,
            "status": status.map(text),
        },
    })
}

/// A request the proxy could not even check (bad body, no shop, unknown function):
/// `{"MessageModelList": [one ERROR]}` with `code` in the proxy's namespace.
pub fn refusal(code: &str, message: &str) -> Value {
    json!({
        "MessageModelList": [{
            "messageType": "ERROR",
            "messageCode": self::code(code),
            "message": message,
        }]
    })
}

/// `{"MessageModelList": entries}`.
pub fn messages(entries: Vec<Value>) -> Value {
    json!({ "MessageModelList": entries })
}

/// `{"MessageModelList": list, …extra}` written straight from its entries, with no JSON
/// value built in between (`extra`: RMS's other top-level fields, kept as they came).
#[derive(serde::Serialize)]
pub struct Messages<'a, T, E = Map<String, Value>> {
    #[serde(rename = "MessageModelList")]
    pub list: &'a [T],
    #[serde(flatten)]
    pub extra: &'a E,
}

#[cfg(test)]
mod tests {
    /// Every code the proxy writes is in RMS's style, whatever the rule's tag looks like.
    #[test]
    fn codes_are_upper_case_with_underscores() {
        assert_eq!(super::code("S13"), "RMS_PREFLIGHT_S13");
        assert_eq!(super::code("S7a"), "RMS_PREFLIGHT_S7A");
        assert_eq!(super::code("rms-api"), "RMS_PREFLIGHT_RMS_API");
        assert_eq!(super::code("qps_limit"), "RMS_PREFLIGHT_QPS_LIMIT");
        assert_eq!(super::code("ＳＩ.x"), "RMS_PREFLIGHT____X");
    }
}
