//! `rms-preflight explain-error`: classify an RMS error and print its remedy.

use std::io::{Read, Write};

use serde::Serialize;

use super::args::{ExplainErrorArgs, Format};
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_OK};
use crate::engine::{Engine, MatchedBy};
use crate::rules::{Lang, Retry};

#[derive(Serialize)]
struct Out<'a> {
    error: &'a str,
    source: &'a str,
    retryable: bool,
    retry: Retry,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<String>,
    next: &'a [String],
    message: &'a str,
    remedy: Vec<&'a str>,
    matched_by: serde_json::Value,
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
    let c = engine.classify(args.status, body.trim());
    let e = c.entry;
    let matched_by = match &c.matched_by {
        MatchedBy::Code(code) => serde_json::json!({ "code": code }),
        MatchedBy::Text(text) => serde_json::json!({ "text": text }),
        MatchedBy::Status(s) => serde_json::json!({ "http_status": s }),
        MatchedBy::Transport(t) => serde_json::json!({ "transport": t.to_string() }),
        MatchedBy::Fallback => serde_json::json!("fallback"),
    };
    let text = match args.format {
        Format::Json => {
            let o = Out {
                error: &e.id,
                source: &e.source,
                retryable: e.retry == Retry::AfterReconcile,
                retry: e.retry,
                wait: e.wait.map(|w| w.to_string()),
                next: &e.next,
                message: e.message.get(lang),
                remedy: e.remedy.iter().map(|s| s.get(lang)).collect(),
                matched_by,
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
            let (remedy_w, next_w, retry_w) = match lang {
                Lang::Ja => ("対処", "次の操作", "再送"),
                Lang::En => ("remedy", "next", "retry"),
            };
            let retry = match e.retry {
                Retry::Never => "never",
                Retry::AfterFix => "after_fix",
                Retry::AfterReconcile => "after_reconcile",
            };
            let mut s = format!("[{}] {}: {}\n", e.source, e.id, e.message.get(lang));
            s += &format!("  {retry_w}: {retry}");
            if let Some(w) = e.wait {
                s += &format!(" (wait {w})");
            }
            s += "\n";
            s += &format!(
                "  {next_w}: {}\n",
                e.next.iter().map(step_name).collect::<Vec<_>>().join(" → ")
            );
            s += &format!("  {remedy_w}:\n");
            for (i, step) in e.remedy.iter().enumerate() {
                s += &format!("    {}. {}\n", i + 1, step.get(lang));
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
