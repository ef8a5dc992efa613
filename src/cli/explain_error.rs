//! `rms-preflight explain-error`: classify an RMS answer — success, or which error and its
//! remedy — as a whole and per order.

use std::io::Write;

use serde::Serialize;

use super::args::{ExplainErrorArgs, Format};
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_OK};
use rms_preflight::engine::{Engine, MatchedBy, ResponseOutcome};
use rms_preflight::rules::{Lang, Retry};

/// The JSON answer. Every key is always present (`wait` only when the error has one):
/// a success has `error: null`, `retry: null`, no `next` and no `remedy`.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "ExplainErrorOutput")]
struct Out<'a> {
    outcome: &'static str,
    error: Option<&'a str>,
    source: &'a str,
    retryable: bool,
    retry: Option<Retry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<String>,
    next: &'a [String],
    message: &'a str,
    remedy: Vec<&'a str>,
    /// `{"code": …}`, `{"text": …}`, `{"http_status": …}`, `{"transport": …}` or
    /// `"fallback"`.
    matched_by: serde_json::Value,
    /// One per order the answer's `MessageModelList` names, in its order.
    orders: Vec<OrderOut<'a>>,
}

/// The JSON Schema of `explain-error --format json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Out<'static>)).unwrap_or_default()
}

#[derive(Serialize, schemars::JsonSchema)]
struct OrderOut<'a> {
    #[serde(rename = "orderNumber")]
    order_number: &'a str,
    outcome: &'static str,
    error: Option<&'a str>,
    source: &'a str,
    retry: Option<Retry>,
    message: &'a str,
    remedy: Vec<&'a str>,
}

/// What JSON and text share about one outcome.
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

fn retry_name(r: Retry) -> &'static str {
    match r {
        Retry::Never => "never",
        Retry::AfterFix => "after_fix",
        Retry::AfterReconcile => "after_reconcile",
    }
}

pub fn run(args: &ExplainErrorArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Engine::new(rules);
    let lang: Lang = args.lang.into();
    let path = args.input.as_deref().unwrap_or("-");
    let mut body = String::new();
    let read = open_input(path)
        .and_then(rms_preflight::model::limits::read_to_string_capped)
        .map(|text| body = text);
    if let Err(e) = read {
        let _ = writeln!(err, "error: cannot read `{path}`: {e}");
        return EXIT_BAD_INPUT;
    }
    // A byte-order mark (Windows editors write one) is not part of the answer.
    let text = body.trim().trim_start_matches('\u{feff}').trim();
    if let Some(at) = duplicate_key(text) {
        let _ = writeln!(
            err,
            "error: `{path}`: at `{at}`: duplicate field: a key given twice hides one of its values (which one RMS meant is a guess)"
        );
        return EXIT_BAD_INPUT;
    }
    let r = engine.classify_response(args.status, text);
    let top = view(&r.outcome, lang);
    let orders: Vec<(&str, View<'_>)> = r
        .orders
        .iter()
        .map(|o| (o.order_number.as_str(), view(&o.outcome, lang)))
        .collect();
    let text = match args.format {
        Format::Json => {
            let o = Out {
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
                orders: orders
                    .into_iter()
                    .map(|(n, v)| OrderOut {
                        order_number: n,
                        outcome: v.outcome,
                        error: v.error,
                        source: v.source,
                        retry: v.retry,
                        message: v.message,
                        remedy: v.remedy,
                    })
                    .collect(),
            };
            serde_json::to_string_pretty(&o).unwrap_or_default() + "\n"
        }
        Format::Text => {
            let file = engine.rules().file();
            let step_name = |s: &String| {
                rms_preflight::model::Action::from_name(s)
                    .and_then(|a| file.actions.get(&a))
                    .or_else(|| file.manual_steps.get(s))
                    .map(|t| format!("{s} ({})", t.get(lang)))
                    .unwrap_or_else(|| s.clone())
            };
            let (remedy_w, next_w, retry_w, success_w, orders_w) = match lang {
                Lang::Ja => ("対処", "次の操作", "再送", "成功", "注文"),
                Lang::En => ("remedy", "next", "retry", "success", "orders"),
            };
            let head = |v: &View<'_>| {
                format!(
                    "[{}] {}: {}",
                    v.source,
                    v.error.unwrap_or(success_w),
                    v.message
                )
            };
            let mut s = head(&top) + "\n";
            if let Some(retry) = top.retry {
                s += &format!("  {retry_w}: {}", retry_name(retry));
                if let Some(w) = &top.wait {
                    s += &format!(" (wait {w})");
                }
                s += "\n";
                s += &format!(
                    "  {next_w}: {}\n",
                    top.next
                        .iter()
                        .map(step_name)
                        .collect::<Vec<_>>()
                        .join(" → ")
                );
                s += &format!("  {remedy_w}:\n");
                for (i, step) in top.remedy.iter().enumerate() {
                    s += &format!("    {}. {step}\n", i + 1);
                }
            }
            if !orders.is_empty() {
                s += &format!("  {orders_w}:\n");
                for (n, v) in &orders {
                    s += &format!("    {n}: {}", head(v));
                    if let Some(retry) = v.retry {
                        s += &format!(" ({retry_w}: {})", retry_name(retry));
                    }
                    s += "\n";
                }
            }
            s
        }
    };
    match out.write_all(text.as_bytes()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            EXIT_BAD_INPUT
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
