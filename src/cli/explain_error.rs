//! `rms-preflight explain-error`: classify an RMS answer — success, or which error and its
//! remedy — as a whole and per order.

use std::io::{Read, Write};

use serde::Serialize;

use super::args::{ExplainErrorArgs, Format};
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_OK};
use crate::engine::{Engine, MatchedBy, ResponseOutcome};
use crate::rules::{Lang, Retry};

/// The JSON answer. Every key is always present (`wait` only when the error has one):
/// a success has `error: null`, `retry: null`, no `next` and no `remedy`.
#[derive(Serialize)]
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
    matched_by: serde_json::Value,
    orders: Vec<OrderOut<'a>>,
}

#[derive(Serialize)]
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
    let read = open_input(path).and_then(|mut r| r.read_to_string(&mut body));
    if let Err(e) = read {
        let _ = writeln!(err, "error: cannot read `{path}`: {e}");
        return EXIT_BAD_INPUT;
    }
    let r = engine.classify_response(args.status, body.trim());
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
                crate::model::Action::from_name(s)
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
