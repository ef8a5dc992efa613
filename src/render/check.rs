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
    /// What to do, grouped by the seed tag each variant comes from (S14, S15, S16…); the
    /// steps of all groups, in order, are the whole remedy.
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

fn trace_out<'a>(e: &'a Explanation<'a>, t: &'a RuleTrace<'a>) -> TraceOut<'a> {
    TraceOut {
        rule: t.rule,
        source: t.source,
        severity: t.severity.name(),
        fired: t.fired,
        when: t.when,
        values: e
            .values_of(t)
            .iter()
            .map(|(path, value)| (path.to_string(), value.to_json()))
            .collect(),
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
///
/// With [`JsonFragments`] of the rule set ([`JsonWriter::with_fragments`]), the parts of a
/// finding that come from the rules file — id, source, severity, message, each remedy
/// variant — are copied as JSON rendered once, instead of escaping the same Japanese text
/// again for every order. The bytes are the same either way.
pub struct JsonWriter<'f> {
    lang: Lang,
    first: bool,
    fragments: Option<&'f JsonFragments>,
    /// One result, built here and written at once.
    buf: Vec<u8>,
    /// JSON Lines (`check --format jsonl`) instead of one document.
    lines: bool,
}

impl JsonWriter<'static> {
    pub fn new(lang: Lang) -> Self {
        JsonWriter {
            lang,
            first: true,
            fragments: None,
            buf: Vec::new(),
            lines: false,
        }
    }
}

impl<'f> JsonWriter<'f> {
    /// A writer that copies pre-rendered rule text (`fragments` must be in `lang`).
    pub fn with_fragments(fragments: &'f JsonFragments) -> Self {
        JsonWriter {
            lang: fragments.lang,
            first: true,
            fragments: Some(fragments),
            buf: Vec::with_capacity(1024),
            lines: false,
        }
    }

    /// JSON Lines (`check --format jsonl`): each result on a line of its own, as soon as
    /// it is judged, exactly as an element of the document's `results`; then one last
    /// line `{"summary": …}` (with `"error"` when bad input cut the batch short), the
    /// document's own `summary` and `error`. A consumer reads line by line, and tells the
    /// last line by its `summary` key.
    pub fn lines(mut self) -> Self {
        self.lines = true;
        self
    }
}

/// The rule set's text as JSON, rendered once for one language: what [`JsonWriter`] copies
/// into each finding. A finding is matched to its rule by id and its text compared before
/// anything is copied, so fragments of another rule set (or an owned, edited finding) are
/// never used by mistake: such a finding is rendered the ordinary way.
#[derive(Debug, Clone)]
pub struct JsonFragments {
    lang: Lang,
    rules: std::collections::HashMap<String, RuleFragments>,
}

#[derive(Debug, Clone)]
struct RuleFragments {
    source: String,
    severity: crate::rules::Severity,
    message: String,
    /// `"rule":…,"source":…,"severity":…,"message":…`
    head: Vec<u8>,
    remedies: Vec<RemedyFragment>,
}

#[derive(Debug, Clone)]
struct RemedyFragment {
    source: String,
    steps: Vec<String>,
    /// `{"source":…,"steps":[…]}`
    json: Vec<u8>,
}

impl JsonFragments {
    pub fn new(rules: &crate::RuleSet, lang: Lang) -> Self {
        let mut out = std::collections::HashMap::new();
        for rule in &rules.file().rules {
            let mut head = Vec::new();
            head.extend_from_slice(b"\"rule\":");
            push_json_str(&mut head, &rule.id);
            head.extend_from_slice(b",\"source\":");
            push_json_str(&mut head, &rule.source);
            head.extend_from_slice(b",\"severity\":");
            push_json_str(&mut head, rule.severity.name());
            head.extend_from_slice(b",\"message\":");
            push_json_str(&mut head, rule.message.get(lang));
            let remedies = rule
                .remedy
                .iter()
                .map(|r| {
                    let source = r.source.as_deref().unwrap_or(&rule.source).to_owned();
                    let steps: Vec<String> =
                        r.steps.iter().map(|t| t.get(lang).to_owned()).collect();
                    let mut json = Vec::new();
                    json.extend_from_slice(b"{\"source\":");
                    push_json_str(&mut json, &source);
                    json.extend_from_slice(b",\"steps\":[");
                    for (i, step) in steps.iter().enumerate() {
                        if i > 0 {
                            json.push(b',');
                        }
                        push_json_str(&mut json, step);
                    }
                    json.extend_from_slice(b"]}");
                    RemedyFragment {
                        source,
                        steps,
                        json,
                    }
                })
                .collect();
            out.insert(
                rule.id.clone(),
                RuleFragments {
                    source: rule.source.clone(),
                    severity: rule.severity,
                    message: rule.message.get(lang).to_owned(),
                    head,
                    remedies,
                },
            );
        }
        JsonFragments { lang, rules: out }
    }

    /// The language the fragments are in.
    pub fn lang(&self) -> Lang {
        self.lang
    }
}

/// Appends `text` as a JSON string.
fn push_json_str(buf: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, text);
}

impl JsonWriter<'_> {
    /// Appends one finding as serde would write [`FindingOut`].
    fn push_finding(&mut self, f: &Finding<'_>) -> io::Result<()> {
        let lang = self.lang;
        let rule = self
            .fragments
            .and_then(|fr| fr.rules.get(&*f.rule))
            .filter(|r| {
                r.severity == f.severity && r.source == f.source && r.message == f.message.get(lang)
            });
        let Some(rule) = rule else {
            return serde_json::to_writer(&mut self.buf, &finding_out(f, lang))
                .map_err(io::Error::other);
        };
        let buf = &mut self.buf;
        buf.push(b'{');
        buf.extend_from_slice(&rule.head);
        if !f.fields.is_empty() {
            // As a JSON object keeps them: each key once, at its first place, with its last
            // value.
            buf.extend_from_slice(b",\"fields\":{");
            let mut first = true;
            for (i, (key, _)) in f.fields.iter().enumerate() {
                if f.fields[..i].iter().any(|(k, _)| k == key) {
                    continue;
                }
                let value = f
                    .fields
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v);
                if !first {
                    buf.push(b',');
                }
                first = false;
                push_json_str(buf, key);
                buf.push(b':');
                serde_json::to_writer(&mut *buf, &value).map_err(io::Error::other)?;
            }
            buf.push(b'}');
        }
        buf.extend_from_slice(b",\"remedies\":[");
        for (i, r) in f.remedies.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let known = rule.remedies.iter().find(|known| {
                known.source == r.source
                    && known.steps.len() == r.steps.len()
                    && known
                        .steps
                        .iter()
                        .zip(r.steps.iter())
                        .all(|(a, b)| a == b.get(lang))
            });
            match known {
                Some(k) => buf.extend_from_slice(&k.json),
                None => serde_json::to_writer(
                    &mut *buf,
                    &RemedyOut {
                        source: &r.source,
                        steps: r.steps.iter().map(|s| s.get(lang)).collect(),
                    },
                )
                .map_err(io::Error::other)?,
            }
        }
        buf.extend_from_slice(b"]}");
        Ok(())
    }
}

impl ResultWriter for JsonWriter<'_> {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.lines {
            return Ok(());
        }
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
        self.buf.clear();
        let opening: &[u8] = match (self.lines, self.first) {
            (true, _) => b"{",
            (false, true) => b"\n{",
            (false, false) => b",\n{",
        };
        self.buf.extend_from_slice(opening);
        self.first = false;
        // The fields of [`ResultOut`], in its order.
        if let Some(i) = index {
            self.buf.extend_from_slice(b"\"index\":");
            // Into the Vec directly: no String an entry on a batch's hot path.
            let _ = write!(self.buf, "{i}");
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(b"\"orderNumber\":");
        match order_number {
            Some(n) => push_json_str(&mut self.buf, n),
            None => self.buf.extend_from_slice(b"null"),
        }
        self.buf.extend_from_slice(b",\"action\":");
        push_json_str(&mut self.buf, request.action.name());
        self.buf.extend_from_slice(b",\"decision\":");
        push_json_str(&mut self.buf, verdict.decision.name());
        self.buf.extend_from_slice(b",\"findings\":[");
        for (i, f) in verdict.findings.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.push_finding(f)?;
        }
        self.buf.push(b']');
        if let Some(e) = explanation {
            self.buf.extend_from_slice(b",\"explain\":");
            let rules: Vec<TraceOut<'_>> = e.rules.iter().map(|t| trace_out(e, t)).collect();
            serde_json::to_writer(&mut self.buf, &rules).map_err(io::Error::other)?;
        }
        self.buf.push(b'}');
        if self.lines {
            self.buf.push(b'\n');
        }
        out.write_all(&self.buf)
    }

    fn end(
        &mut self,
        out: &mut dyn Write,
        summary: Summary,
        error: Option<&serde_json::Value>,
    ) -> io::Result<()> {
        out.write_all(if self.lines {
            b"{\"summary\": "
        } else {
            b"\n],\n\"summary\": "
        })?;
        serde_json::to_writer(&mut *out, &summary).map_err(io::Error::other)?;
        if let Some(error) = error {
            out.write_all(if self.lines {
                b", \"error\": "
            } else {
                b",\n\"error\": "
            })?;
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
