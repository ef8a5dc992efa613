//! Writing check results: JSON (the public contract, README "Output") and text.
//!
//! Results are written one by one as the engine produces them, so a batch of any length
//! streams through; the JSON document is opened before the first result and closed with
//! the summary after the last.

use std::io::{self, Write};

use serde::Serialize;

use rms_preflight::engine::{Decision, Explanation, Finding, RuleTrace, Verdict};
use rms_preflight::model::Request;
use rms_preflight::rules::{Lang, RuleSet};

/// Counts of decisions.
#[derive(Debug, Default, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub allow: usize,
    pub warn: usize,
    pub deny: usize,
}

impl Summary {
    pub fn add(&mut self, d: Decision) {
        match d {
            Decision::Allow => self.allow += 1,
            Decision::Warn => self.warn += 1,
            Decision::Deny => self.deny += 1,
        }
    }
}

/// The whole answer of `check --format json` (written piece by piece as results come).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct CheckOutput<'a> {
    results: Vec<ResultOut<'a>>,
    summary: Summary,
    /// Present when bad input cut the document short (exit code 2).
    error: Option<InputErrorOut>,
}

/// Where the input went wrong.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct InputErrorOut {
    message: String,
    /// JSON path of the offending value; `.` for the whole document.
    path: String,
    line: Option<usize>,
    column: Option<usize>,
}

/// The JSON Schema of `check --format json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(CheckOutput<'static>)).unwrap_or_default()
}

#[derive(Serialize, schemars::JsonSchema)]
struct ResultOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(rename = "orderNumber")]
    order_number: Option<&'a str>,
    action: &'a str,
    decision: Decision,
    findings: Vec<FindingOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Vec<TraceOut<'a>>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct FindingOut<'a> {
    rule: &'a str,
    source: &'a str,
    severity: &'a str,
    message: &'a str,
    /// The fields behind the finding (`order.goodsTax: -9999`, `batch.repeat_of: 0`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    fields: serde_json::Map<String, serde_json::Value>,
    remedy: Vec<&'a str>,
    remedies: Vec<RemedyOut<'a>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct RemedyOut<'a> {
    source: &'a str,
    steps: Vec<&'a str>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct TraceOut<'a> {
    rule: &'a str,
    source: &'a str,
    severity: &'a str,
    fired: bool,
    when: &'a str,
    values: serde_json::Map<String, serde_json::Value>,
}

fn finding_out<'a>(f: &'a Finding<'a>, lang: Lang) -> FindingOut<'a> {
    FindingOut {
        rule: &f.rule,
        source: &f.source,
        severity: f.severity.name(),
        message: f.message.get(lang),
        fields: f.fields.iter().cloned().collect(),
        remedy: f.remedy_steps(lang).collect(),
        remedies: f
            .remedies
            .iter()
            .map(|r| RemedyOut {
                source: &r.source,
                steps: r.steps.iter().map(|s| s.get(lang)).collect(),
            })
            .collect(),
    }
}

fn trace_out<'a>(t: &'a RuleTrace<'a>) -> TraceOut<'a> {
    TraceOut {
        rule: t.rule,
        source: t.source,
        severity: t.severity.name(),
        fired: t.fired,
        when: t.when,
        values: t.values.iter().cloned().collect(),
    }
}

/// Writes results in one format.
pub trait ResultWriter {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn result(
        &mut self,
        out: &mut dyn Write,
        index: Option<usize>,
        request: &Request,
        verdict: &Verdict<'_>,
        explanation: Option<&Explanation<'_>>,
    ) -> io::Result<()>;
    /// Closes the document; `error` is the input error that cut a batch short.
    fn end(
        &mut self,
        out: &mut dyn Write,
        summary: Summary,
        error: Option<&serde_json::Value>,
    ) -> io::Result<()>;
}

pub struct JsonWriter {
    pub lang: Lang,
    pub first: bool,
}

impl ResultWriter for JsonWriter {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"{\"results\": [")
    }

    fn result(
        &mut self,
        out: &mut dyn Write,
        index: Option<usize>,
        request: &Request,
        verdict: &Verdict<'_>,
        explanation: Option<&Explanation<'_>>,
    ) -> io::Result<()> {
        let order_number = request
            .order
            .as_ref()
            .and_then(|o| o.order_number.as_deref());
        let item = ResultOut {
            index,
            order_number,
            action: request.action.name(),
            decision: verdict.decision,
            findings: verdict
                .findings
                .iter()
                .map(|f| finding_out(f, self.lang))
                .collect(),
            explain: explanation.map(|e| e.rules.iter().map(trace_out).collect()),
        };
        out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut *out, &item).map_err(io::Error::other)
    }

    fn end(
        &mut self,
        out: &mut dyn Write,
        summary: Summary,
        error: Option<&serde_json::Value>,
    ) -> io::Result<()> {
        out.write_all(b"\n],\n\"summary\": ")?;
        serde_json::to_writer(&mut *out, &summary).map_err(io::Error::other)?;
        if let Some(error) = error {
            out.write_all(b",\n\"error\": ")?;
            serde_json::to_writer(&mut *out, error).map_err(io::Error::other)?;
        }
        out.write_all(b"}\n")
    }
}

pub struct TextWriter<'r> {
    pub lang: Lang,
    pub rules: &'r RuleSet,
}

impl TextWriter<'_> {
    fn words(&self) -> (&'static str, &'static str, &'static str) {
        match self.lang {
            Lang::Ja => ("対処", "適用されたルール", "発火"),
            Lang::En => ("remedy", "rules checked", "fired"),
        }
    }
}

impl ResultWriter for TextWriter<'_> {
    fn begin(&mut self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn result(
        &mut self,
        out: &mut dyn Write,
        index: Option<usize>,
        request: &Request,
        verdict: &Verdict<'_>,
        explanation: Option<&Explanation<'_>>,
    ) -> io::Result<()> {
        let (remedy_word, checked_word, fired_word) = self.words();
        let order = match request
            .order
            .as_ref()
            .and_then(|o| o.order_number.as_deref())
        {
            // Control characters are shown escaped: an order number must not be able to
            // start a line of its own in the report.
            Some(n) => n
                .chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_unicode().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect(),
            None if request.order.is_some() => "(no orderNumber)".to_owned(),
            None => "(shop)".to_owned(),
        };
        let action_name = self
            .rules
            .file()
            .actions
            .get(&request.action)
            .map(|t| format!(" ({})", t.get(self.lang)))
            .unwrap_or_default();
        let prefix = index.map(|i| format!("#{i} ")).unwrap_or_default();
        let mark = match verdict.decision {
            Decision::Allow => "ALLOW",
            Decision::Warn => "WARN",
            Decision::Deny => "DENY",
        };
        writeln!(
            out,
            "{prefix}{order} · {}{action_name} → {mark}",
            request.action
        )?;
        for f in &verdict.findings {
            let sym = match f.severity {
                rms_preflight::rules::Severity::Deny => "✗",
                rms_preflight::rules::Severity::Warn => "!",
            };
            writeln!(
                out,
                "  {sym} [{}] {}: {}",
                f.source,
                f.rule,
                f.message.get(self.lang)
            )?;
            for (path, value) in &f.fields {
                writeln!(out, "    {path} = {value}")?;
            }
            writeln!(out, "    {remedy_word}:")?;
            let mut n = 1;
            for r in &f.remedies {
                for step in r.steps.iter() {
                    let tag = if r.source != f.source {
                        format!("[{}] ", r.source)
                    } else {
                        String::new()
                    };
                    writeln!(out, "      {n}. {tag}{}", step.get(self.lang))?;
                    n += 1;
                }
            }
        }
        if let Some(e) = explanation {
            writeln!(out, "  {checked_word}:")?;
            for t in &e.rules {
                let state = if t.fired { fired_word } else { "-" };
                writeln!(
                    out,
                    "    [{state}] [{}] {} ({}): {}",
                    t.source,
                    t.rule,
                    t.severity.name(),
                    t.when.trim()
                )?;
                for (path, value) in &t.values {
                    writeln!(out, "        {path} = {value}")?;
                }
            }
        }
        Ok(())
    }

    fn end(
        &mut self,
        out: &mut dyn Write,
        summary: Summary,
        _: Option<&serde_json::Value>,
    ) -> io::Result<()> {
        writeln!(
            out,
            "summary: allow {}, warn {}, deny {}",
            summary.allow, summary.warn, summary.deny
        )
    }
}
