//! `explain-error`: an RMS answer classified — success, or which error and its remedy —
//! as a whole and per order.

use serde::Serialize;

use crate::engine::{Engine, MatchedBy, ResponseOutcome};
use crate::rules::{Lang, Retry};

// The document `explain-error --format json` prints (its doc comment below is the
// schema's description).
/// The JSON answer. Every key is always present (`wait` only when the error has one):
/// a success has `error: null`, `retry: null`, no `next` and no `remedy`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ExplainErrorOutput")]
pub struct ExplainErrorOutput<'a> {
    // `success` or `error`.
    pub outcome: &'static str,
    pub error: Option<&'a str>,
    pub source: &'a str,
    pub retryable: bool,
    pub retry: Option<Retry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    pub next: &'a [String],
    pub message: &'a str,
    pub remedy: Vec<&'a str>,
    /// `{"code": …}`, `{"text": …}`, `{"http_status": …}`, `{"transport": …}` or
    /// `"fallback"`.
    pub matched_by: serde_json::Value,
    /// One per order the answer's `MessageModelList` names, in its order.
    pub orders: Vec<OrderOutput<'a>>,
}

/// The JSON Schema of `explain-error --format json`.
pub fn explain_error_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ExplainErrorOutput<'static>)).unwrap_or_default()
}

// One order of an answer (named `OrderOut` in the schema, as it always was).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "OrderOut")]
pub struct OrderOutput<'a> {
    #[serde(rename = "orderNumber")]
    pub order_number: String,
    pub outcome: &'static str,
    pub error: Option<&'a str>,
    pub source: &'a str,
    pub retry: Option<Retry>,
    pub message: &'a str,
    pub remedy: Vec<&'a str>,
}

/// An answer that gives a key twice: which value RMS meant is a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{path}`: duplicate field: a key given twice hides one of its values (which one RMS meant is a guess)")]
pub struct DuplicateKey {
    /// The JSON path of the second key.
    pub path: String,
}

/// Classifies `body` (an RMS answer, or the message an OMS showed; a byte-order mark and
/// surrounding blanks are ignored) with `status` if known.
pub fn explain_error<'e>(
    engine: &'e Engine,
    status: Option<u16>,
    body: &str,
    lang: Lang,
) -> Result<ExplainErrorOutput<'e>, DuplicateKey> {
    // A byte-order mark (Windows editors write one) is not part of the answer.
    let text = body.trim().trim_start_matches('\u{feff}').trim();
    if let Some(path) = duplicate_key(text) {
        return Err(DuplicateKey { path });
    }
    let r = engine.classify_response(status, text);
    let top = view(&r.outcome, lang);
    Ok(ExplainErrorOutput {
        outcome: top.outcome,
        error: top.error,
        source: top.source,
        retryable: top.retry == Some(Retry::AfterReconcile),
        retry: top.retry,
        wait: top.wait,
        next: top.next,
        message: top.message,
        remedy: top.remedy,
        matched_by: top.matched_by,
        orders: r
            .orders
            .into_iter()
            .map(|o| {
                let v = view(&o.outcome, lang);
                OrderOutput {
                    order_number: o.order_number,
                    outcome: v.outcome,
                    error: v.error,
                    source: v.source,
                    retry: v.retry,
                    message: v.message,
                    remedy: v.remedy,
                }
            })
            .collect(),
    })
}

/// What the top and the orders share about one outcome.
struct View<'a> {
    outcome: &'static str,
    error: Option<&'a str>,
    source: &'a str,
    retry: Option<Retry>,
    wait: Option<String>,
    next: &'a [String],
    message: &'a str,
    remedy: Vec<&'a str>,
    matched_by: serde_json::Value,
}

fn view<'a>(o: &ResponseOutcome<'a>, lang: Lang) -> View<'a> {
    match o {
        ResponseOutcome::Success(s) => View {
            outcome: "success",
            error: None,
            source: &s.entry.source,
            retry: None,
            wait: None,
            next: &[],
            message: s.entry.message.get(lang),
            remedy: Vec::new(),
            matched_by: if s.entry.matcher.codes.is_empty() {
                serde_json::json!({ "message_type": s.message_type })
            } else {
                serde_json::json!({ "code": s.message_code })
            },
        },
        ResponseOutcome::Error(c) => {
            let e = c.entry;
            View {
                outcome: "error",
                error: Some(&e.id),
                source: &e.source,
                retry: Some(e.retry),
                wait: e.wait.map(|w| w.to_string()),
                next: &e.next,
                message: e.message.get(lang),
                remedy: e.remedy.iter().map(|s| s.get(lang)).collect(),
                matched_by: match &c.matched_by {
                    MatchedBy::Code(code) => serde_json::json!({ "code": code }),
                    MatchedBy::Text(text) => serde_json::json!({ "text": text }),
                    MatchedBy::Status(s) => serde_json::json!({ "http_status": s }),
                    MatchedBy::Transport(t) => serde_json::json!({ "transport": t.to_string() }),
                    MatchedBy::OrderStatus(s) => serde_json::json!({ "order_status": s }),
                    MatchedBy::Fallback => serde_json::json!("fallback"),
                },
            }
        }
    }
}

/// The path of the first key a JSON object gives twice, if `text` is JSON and has one.
/// (serde_json keeps the last value; an answer `{"MessageModelList": [error],
/// "MessageModelList": [success]}` must not read as a success.)
fn duplicate_key(text: &str) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Walk<'p> {
        path: &'p str,
        found: &'p std::cell::RefCell<Option<String>>,
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0usize;
            loop {
                let path = format!("{}[{i}]", self.path);
                let seed = Walk {
                    path: &path,
                    found: self.found,
                };
                if seq.next_element_seed(seed)?.is_none() {
                    return Ok(());
                }
                i += 1;
            }
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                let path = if self.path.is_empty() {
                    k.clone()
                } else {
                    format!("{}.{k}", self.path)
                };
                if !keys.insert(k) && self.found.borrow().is_none() {
                    *self.found.borrow_mut() = Some(path.clone());
                }
                map.next_value_seed(Walk {
                    path: &path,
                    found: self.found,
                })?;
            }
            Ok(())
        }
    }

    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let walk = Walk {
        path: "",
        found: &found,
    };
    // Not JSON (a bare message, an HTML page): nothing to check.
    walk.deserialize(&mut de).ok()?;
    found.into_inner()
}
