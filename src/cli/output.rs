//! The text report of `check` (the JSON contract is the library's: `rms_preflight::render`,
//! shared with the service).
//!
//! Results are written one by one as the engine produces them, so a batch of any length
//! streams through.

use std::io::{self, Write};

use rms_preflight::engine::{Decision, Explanation, Verdict};
use rms_preflight::model::Request;
use rms_preflight::render::{ResultWriter, Summary};
use rms_preflight::rules::{Lang, RuleSet};

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
                for (path, value) in e.values_of(t) {
                    writeln!(out, "        {path} = {}", value.to_json())?;
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

    fn ends_without_results(&self) -> bool {
        false
    }
}
