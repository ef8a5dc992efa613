//! `explain-error`: an RMS answer classified — success, or which error and its remedy —
//! as a whole and per order.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::engine::{message_order_number, Engine, MatchedBy, ResponseOutcome};
use crate::rules::{Lang, Retry};

// The document `explain-error --format json` prints (its doc comment below is the
// schema's description).
/// The JSON answer. Every key is always present (`wait` only when the error has one,
/// `rule` only for `denied`): a success has `error: null`, `retry: null`, no `next` and no
/// `remedy`. `denied` is an order the rms-preflight proxy answered itself and never sent
/// (a `messageCode` `RMS_PREFLIGHT_<seed tag>`): `rule` names the rule, `error` is null.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ExplainErrorOutput")]
pub struct ExplainErrorOutput<'a> {
    // `success`, `error` or `denied`.
    pub outcome: &'static str,
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    pub source: &'a str,
    pub retryable: bool,
    pub retry: Option<Retry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    pub next: &'a [String],
    pub message: &'a str,
    pub remedy: Vec<&'a str>,
    /// `{"code": …}`, `{"text": …}`, `{"http_status": …}`, `{"transport": …}`,
    /// `{"preflight": …}` (the proxy's own code, with the `rule` it names when denied) or
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
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
    // Parsed once: the proxy's entries are taken out of it, and the rest is classified.
    let mut parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let own = match &mut parsed {
        Some(serde_json::Value::Object(body)) => ProxyAnswer::take(engine, body, lang),
        _ => ProxyAnswer::default(),
    };
    let r = match &parsed {
        Some(body) => engine.classify_response_value(status, body),
        None => engine.classify_response(status, text),
    };
    // The proxy's own word goes first where RMS's is a success or absent: an order the
    // proxy held back was never sent, whatever RMS said of the others.
    let rms_said_error = own.rms_messages_left && !r.outcome.is_success();
    let top = match &own.first {
        Some(v) if !rms_said_error => v.clone(),
        _ => view(&r.outcome, lang),
    };
    let orders = if own.by_order.is_empty() {
        r.orders
            .into_iter()
            .map(|o| order_output(o.order_number, view(&o.outcome, lang)))
            .collect()
    } else {
        // In the order the answer first names each order; the proxy's entry is the order's
        // own word where it wrote one.
        let mut rms: HashMap<String, _> = r
            .orders
            .into_iter()
            .map(|o| (o.order_number.clone(), o))
            .collect();
        own.order
            .iter()
            .filter_map(|n| match own.by_order.get(n) {
                Some(v) => Some(order_output(n.clone(), v.clone())),
                None => rms
                    .remove(n)
                    .map(|o| order_output(o.order_number, view(&o.outcome, lang))),
            })
            .collect()
    };
    Ok(ExplainErrorOutput {
        outcome: top.outcome,
        error: top.error,
        rule: top.rule,
        source: top.source,
        retryable: top.retry == Some(Retry::AfterReconcile),
        retry: top.retry,
        wait: top.wait,
        next: top.next,
        message: top.message,
        remedy: top.remedy,
        matched_by: top.matched_by,
        orders,
    })
}

fn order_output(order_number: String, v: View<'_>) -> OrderOutput<'_> {
    OrderOutput {
        order_number,
        outcome: v.outcome,
        error: v.error,
        rule: v.rule,
        source: v.source,
        retry: v.retry,
        message: v.message,
        remedy: v.remedy,
    }
}

/// What an answer of the rms-preflight proxy says in its own namespace
/// ([`crate::proxy::answer`]): `RMS_PREFLIGHT_<error id>` for an order whose call failed
/// (the rules' error entry), `RMS_PREFLIGHT_<seed tag>` for an order a rule denied (the
/// rule its `preflight.rule` names, else the first of that tag). Each is read back from
/// the rules file; a code of the namespace this rules file does not know (`BAD_REQUEST`,
/// `RECONCILED`, …) is left to the error table, as any other code.
#[derive(Default)]
struct ProxyAnswer<'e> {
    /// The first of the proxy's entries (the answer's top when RMS reported no error).
    first: Option<View<'e>>,
    /// The proxy's entry of each order it wrote one for (the first per order).
    by_order: HashMap<String, View<'e>>,
    /// Every order number the answer names, once each, in the order it first names them
    /// ([`message_order_number`], as the error table groups them).
    order: Vec<String>,
    /// Whether RMS's own messages are left beside them.
    rms_messages_left: bool,
}

impl<'e> ProxyAnswer<'e> {
    /// Reads the proxy's entries of `body`'s `MessageModelList` and takes them out of it,
    /// leaving RMS's own messages, in their order, for the error table.
    fn take(
        engine: &'e Engine,
        body: &mut serde_json::Map<String, serde_json::Value>,
        lang: Lang,
    ) -> Self {
        let mut out = ProxyAnswer::default();
        let Some(serde_json::Value::Array(list)) = body.get_mut("MessageModelList") else {
            return out;
        };
        let messages = std::mem::take(list);
        let mut named: HashSet<String> = HashSet::with_capacity(messages.len());
        let mut left = Vec::with_capacity(messages.len());
        for m in messages {
            let number = message_order_number(&m);
            if let Some(n) = &number {
                if named.insert(n.clone()) {
                    out.order.push(n.clone());
                }
            }
            match proxy_view(engine, &m, lang) {
                Some(v) => {
                    if out.first.is_none() {
                        out.first = Some(v.clone());
                    }
                    if let Some(n) = number {
                        out.by_order.entry(n).or_insert(v);
                    }
                }
                None => left.push(m),
            }
        }
        out.rms_messages_left = !left.is_empty();
        *list = left;
        out
    }
}

/// One message in the proxy's namespace, read back from the rules file.
fn proxy_view<'e>(engine: &'e Engine, message: &serde_json::Value, lang: Lang) -> Option<View<'e>> {
    use crate::proxy::answer::code;
    use unicode_normalization::UnicodeNormalization;
    // As the error table reads a code (NFKC, trimmed); the proxy writes its own in upper
    // case, so any case reads as it.
    let given: String = message
        .get("messageCode")?
        .as_str()?
        .nfkc()
        .collect::<String>()
        .trim()
        .to_uppercase();
    let given = given.as_str();
    if !given.starts_with(crate::proxy::answer::CODE_PREFIX) {
        return None;
    }
    let file = engine.rules().file();
    let matched_by = |rule: Option<&str>| match rule {
        Some(rule) => serde_json::json!({ "preflight": given, "rule": rule }),
        None => serde_json::json!({ "preflight": given }),
    };
    if let Some(e) = file.errors.iter().find(|e| code(&e.id) == given) {
        return Some(View {
            matched_by: matched_by(None),
            ..error_view(e, lang)
        });
    }
    let named = message
        .pointer("/preflight/rule")
        .and_then(serde_json::Value::as_str);
    let of_tag = |r: &&crate::rules::Rule| code(&r.source) == given;
    let rule = named
        .and_then(|id| file.rules.iter().filter(of_tag).find(|r| r.id == id))
        .or_else(|| file.rules.iter().find(of_tag))?;
    Some(View {
        outcome: "denied",
        error: None,
        rule: Some(&rule.id),
        source: &rule.source,
        retry: None,
        wait: None,
        next: &[],
        message: rule.message.get(lang),
        remedy: remedy_shown(rule, message, lang),
        matched_by: matched_by(Some(&rule.id)),
    })
}

/// The steps of a denied order's rule, in the rules file's words: the remedy variants the
/// proxy's entry showed (which of them apply depends on the request, e.g. the shop's API
/// option; a variant counts as shown when each of its steps is in `preflight.remedy`), or
/// every variant when the entry shows none of them.
fn remedy_shown<'e>(
    rule: &'e crate::rules::Rule,
    message: &serde_json::Value,
    lang: Lang,
) -> Vec<&'e str> {
    let shown: Vec<&str> = message
        .pointer("/preflight/remedy")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|step| [step.get("ja"), step.get("en")])
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let was_shown = |r: &&crate::rules::file::Remedy| {
        r.steps
            .iter()
            .all(|s| shown.contains(&s.ja.as_str()) || shown.contains(&s.en.as_str()))
    };
    let mut variants: Vec<&crate::rules::file::Remedy> =
        rule.remedy.iter().filter(was_shown).collect();
    if variants.is_empty() {
        variants = rule.remedy.iter().collect();
    }
    variants
        .into_iter()
        .flat_map(|r| r.steps.iter().map(|s| s.get(lang)))
        .collect()
}

/// The view of an error entry (its `matched_by` is the caller's).
fn error_view(e: &crate::rules::ErrorEntry, lang: Lang) -> View<'_> {
    View {
        outcome: "error",
        error: Some(&e.id),
        rule: None,
        source: &e.source,
        retry: Some(e.retry),
        wait: e.wait.map(|w| w.to_string()),
        next: &e.next,
        message: e.message.get(lang),
        remedy: e.remedy.iter().map(|s| s.get(lang)).collect(),
        matched_by: serde_json::Value::Null,
    }
}

/// What the top and the orders share about one outcome.
#[derive(Clone)]
struct View<'a> {
    outcome: &'static str,
    error: Option<&'a str>,
    rule: Option<&'a str>,
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
            rule: None,
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
        ResponseOutcome::Error(c) => View {
            matched_by: match &c.matched_by {
                MatchedBy::Code(code) => serde_json::json!({ "code": code }),
                MatchedBy::Text(text) => serde_json::json!({ "text": text }),
                MatchedBy::Status(s) => serde_json::json!({ "http_status": s }),
                MatchedBy::Transport(t) => serde_json::json!({ "transport": t.to_string() }),
                MatchedBy::OrderStatus(s) => serde_json::json!({ "order_status": s }),
                MatchedBy::Fallback => serde_json::json!("fallback"),
            },
            ..error_view(c.entry, lang)
        },
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
