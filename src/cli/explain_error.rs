//! `rms-preflight explain-error`: classify an RMS answer — success, or which error and its
//! remedy — as a whole and per order.

use std::io::Write;

use super::args::{ExplainErrorArgs, Format};
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_OK};
use rms_preflight::engine::Engine;
use rms_preflight::render::{explain_error, ExplainErrorOutput};
use rms_preflight::rules::{Lang, Retry};

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
    let o = match explain_error(&engine, args.status, &body, lang) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "error: `{path}`: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&o).unwrap_or_default() + "\n",
        Format::Text => text_report(&engine, &o, lang),
    };
    match out.write_all(text.as_bytes()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// The text format: the top outcome with its retry, next steps and remedy, then one line
/// per order.
fn text_report(engine: &Engine, o: &ExplainErrorOutput<'_>, lang: Lang) -> String {
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
    // An order the proxy denied is named by its rule (it has no error id).
    let head = |source: &str, error: Option<&str>, message: &str| {
        format!("[{source}] {}: {message}", error.unwrap_or(success_w))
    };
    let mut s = head(o.source, o.error.or(o.rule), o.message) + "\n";
    if let Some(retry) = o.retry {
        s += &format!("  {retry_w}: {}", retry_name(retry));
        if let Some(w) = &o.wait {
            s += &format!(" (wait {w})");
        }
        s += "\n";
        s += &format!(
            "  {next_w}: {}\n",
            o.next.iter().map(step_name).collect::<Vec<_>>().join(" → ")
        );
    }
    // An error's remedy, however short; a denied order's (no retry: it was never sent).
    if o.retry.is_some() || !o.remedy.is_empty() {
        s += &format!("  {remedy_w}:\n");
        for (i, step) in o.remedy.iter().enumerate() {
            s += &format!("    {}. {step}\n", i + 1);
        }
    }
    if !o.orders.is_empty() {
        s += &format!("  {orders_w}:\n");
        for v in &o.orders {
            s += &format!(
                "    {}: {}",
                v.order_number,
                head(v.source, v.error.or(v.rule), v.message)
            );
            if let Some(retry) = v.retry {
                s += &format!(" ({retry_w}: {})", retry_name(retry));
            }
            s += "\n";
        }
    }
    s
}
