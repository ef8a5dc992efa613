//! `check`: reading a document, checking each request, writing each result.

use std::io::{self, BufRead, Write};

use serde::Serialize;

use crate::engine::{Decision, Engine, Explanation, Finding, RuleTrace, Verdict};
use crate::model::Timestamp;
use crate::model::{read_document, DocumentError, DocumentFormat, DocumentSummary, Request};
use crate::rules::Lang;

/// Counts of decisions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

    /// How many results were counted.
    pub fn total(&self) -> usize {
        self.allow + self.warn + self.deny
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
pub fn check_output_schema() -> serde_json::Value {
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
    /// Whether the document is closed when bad input stopped it before any result (a
    /// JSON document always is; a text report has nothing to sum up).
    fn ends_without_results(&self) -> bool {
        true
    }
}

/// Writes the JSON document of `check --format json`.
pub struct JsonWriter {
    lang: Lang,
    first: bool,
}

impl JsonWriter {
    pub fn new(lang: Lang) -> Self {
        JsonWriter { lang, first: true }
    }
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

/// How [`check_document`] reads and checks.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// The syntax of the document; `None` sniffs (`{` first: JSON).
    pub format: Option<DocumentFormat>,
    /// Add every applicable rule's trace (`--explain`).
    pub explain: bool,
    /// The time of a request that names none (`now`); read by the caller, at its edge.
    pub now: Timestamp,
    /// Stop reading at the first failed write (a client that left), instead of reading
    /// on to count the decisions.
    pub stop_on_write_error: bool,
}

/// What [`check_document`] did.
#[derive(Debug)]
pub struct CheckRun {
    pub summary: Summary,
    /// What was read, or the located error that stopped the reading.
    pub read: Result<DocumentSummary, DocumentError>,
    /// The first write that failed.
    pub write_error: Option<io::Error>,
}

impl CheckRun {
    /// The error member of the JSON document (`message`, `path`, `line`, `column`).
    pub fn error_json(&self) -> Option<serde_json::Value> {
        self.read.as_ref().err().map(|e| {
            serde_json::json!({
                "message": e.message,
                "path": e.path,
                "line": e.line,
                "column": e.column,
            })
        })
    }
}

/// Reads the check document of `reader`, checks each request as it is read and writes its
/// result with `writer` to `out`; `seen` is shown every request and its verdict (the
/// service counts decisions with it). The document is closed even when bad input cuts it
/// short (the error is then in [`CheckRun::read`] and in the document).
pub fn check_document<R: BufRead>(
    engine: &Engine,
    reader: R,
    options: &CheckOptions,
    writer: &mut dyn ResultWriter,
    out: &mut dyn Write,
    seen: &mut dyn FnMut(&Request, &Verdict<'_>),
) -> CheckRun {
    let mut summary = Summary::default();
    let mut write_error = None;
    if let Err(e) = writer.begin(out) {
        write_error = Some(e);
    }
    let read = read_document(reader, options.format, &mut |index, mut request| {
        if options.stop_on_write_error {
            if let Some(e) = &write_error {
                return Err((format!("cannot write the answer: {e}"), String::new()));
            }
        }
        if request.now.is_none() {
            request.now = Some(options.now);
        }
        engine.validate(&request).map_err(|e| (e.message, e.path))?;
        let index = (index != usize::MAX).then_some(index);
        let written = if options.explain {
            let explanation = engine.explain(&request);
            summary.add(explanation.verdict.decision);
            seen(&request, &explanation.verdict);
            writer.result(
                out,
                index,
                &request,
                &explanation.verdict,
                Some(&explanation),
            )
        } else {
            let verdict = engine.check(&request);
            summary.add(verdict.decision);
            seen(&request, &verdict);
            writer.result(out, index, &request, &verdict, None)
        };
        if let Err(e) = written {
            write_error.get_or_insert(e);
        }
        Ok(())
    });
    let mut run = CheckRun {
        summary,
        read,
        write_error,
    };
    if writer.ends_without_results() || run.summary.total() > 0 || run.read.is_ok() {
        let error = run.error_json();
        if let Err(e) = writer.end(out, run.summary, error.as_ref()) {
            run.write_error.get_or_insert(e);
        }
    }
    run
}
