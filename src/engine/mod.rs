//! The engine: a compiled [`RuleSet`] that answers "may the OMS do this now?".
//!
//! [`Engine::check`] evaluates every rule that applies to the request's action and returns
//! a [`Verdict`]: `allow`, `warn` or `deny`, with one [`Finding`] per rule that fired
//! (its seed tag, message and the remedy variants that apply to this shop).
//! [`Engine::explain`] also says, for every applicable rule, whether it fired and which
//! field values decided it. [`Engine::classify`] maps an RMS error response to its entry
//! in the error table.
//!
//! The engine is pure: no IO, no clock (the request carries `now`), no allocation beyond
//! the findings list. The same request always gets the same verdict.

mod classify;

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

pub use classify::{
    message_order_number, severity, Classification, MatchedBy, OrderOutcome,
    ResponseClassification, ResponseOutcome, SuccessMatch,
};

use crate::expr::{Env, Trace, Value};
use crate::model::{Action, Request};
use crate::rules::{Rule, RuleSet, Severity, Text};

/// The answer to a check.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Warn,
    Deny,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Warn => "warn",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A remedy variant that applies: borrowed from the rules file by [`Engine::check`], owned
/// once [`Verdict::into_owned`] lets it outlive the engine (the guard's reports).
#[derive(Debug, Clone, PartialEq)]
pub struct RemedyRef<'e> {
    /// The seed tag of this variant (`S14`, `S15`, `S16`…).
    pub source: Cow<'e, str>,
    pub steps: Cow<'e, [Text]>,
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'e> {
    pub rule: Cow<'e, str>,
    pub source: Cow<'e, str>,
    pub severity: Severity,
    pub message: Cow<'e, Text>,
    pub remedies: Vec<RemedyRef<'e>>,
    /// The fields behind the finding, with their values: every field a `sentinel` or
    /// `negative` search found (`order.PackageModelList[0].goodsTax`: -9999) and the
    /// rule's `cite:` fields (`batch.repeat_of`: 0). Empty for most rules.
    pub fields: Vec<(String, serde_json::Value)>,
}

impl Finding<'_> {
    /// Every remedy step, in order, in `lang`.
    pub fn remedy_steps(&self, lang: crate::Lang) -> impl Iterator<Item = &str> + '_ {
        self.remedies
            .iter()
            .flat_map(move |r| r.steps.iter().map(move |s| s.get(lang)))
    }

    /// The finding with its text owned.
    pub fn into_owned(self) -> Finding<'static> {
        Finding {
            rule: Cow::Owned(self.rule.into_owned()),
            source: Cow::Owned(self.source.into_owned()),
            severity: self.severity,
            message: Cow::Owned(self.message.into_owned()),
            remedies: self
                .remedies
                .into_iter()
                .map(|r| RemedyRef {
                    source: Cow::Owned(r.source.into_owned()),
                    steps: Cow::Owned(r.steps.into_owned()),
                })
                .collect(),
            fields: self.fields,
        }
    }
}

/// The engine's answer: a decision and the findings behind it, denials first, then in
/// the rules file's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'e> {
    pub decision: Decision,
    pub findings: Vec<Finding<'e>>,
}

impl Verdict<'_> {
    pub fn is_denied(&self) -> bool {
        self.decision == Decision::Deny
    }

    /// The seed tags of the findings, in order.
    pub fn sources(&self) -> Vec<&str> {
        self.findings.iter().map(|f| &*f.source).collect()
    }

    /// The verdict with its text owned, free of the engine's lifetime.
    pub fn into_owned(self) -> Verdict<'static> {
        Verdict {
            decision: self.decision,
            findings: self.findings.into_iter().map(Finding::into_owned).collect(),
        }
    }
}

/// One applicable rule, as `--explain` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTrace<'e> {
    pub rule: &'e str,
    pub source: &'e str,
    pub severity: Severity,
    pub when: &'e str,
    pub fired: bool,
    /// Where the field values the guard read (in reading order, each path once) are in
    /// [`Explanation::values`]; [`Explanation::values_of`] gives them.
    pub values: std::ops::Range<usize>,
}

/// Where a value an explanation shows was read: a field of the vocabulary (its path, no
/// copy), or a place only known while reading (`packages[1].postage_price`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracePath {
    Field(&'static str),
    Other(String),
}

impl TracePath {
    pub fn as_str(&self) -> &str {
        match self {
            TracePath::Field(p) => p,
            TracePath::Other(p) => p,
        }
    }
}

impl fmt::Display for TracePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value an explanation shows, kept as read (rendered only when written: a time is
/// not formatted, a list of packages not copied, unless the explanation is shown).
#[derive(Debug, Clone, PartialEq)]
pub enum TraceValue {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Time(crate::model::Timestamp),
    /// Seconds.
    Duration(i64),
    /// How many packages.
    Packages(usize),
}

impl TraceValue {
    fn of(value: Value<'_>) -> TraceValue {
        match value {
            Value::Null => TraceValue::Null,
            Value::Bool(b) => TraceValue::Bool(b),
            Value::Int(n) => TraceValue::Int(n),
            Value::Str(s) => TraceValue::Str(s.to_owned()),
            Value::Time(t) => TraceValue::Time(t),
            Value::Duration(d) => TraceValue::Duration(d),
            Value::Packages(p) => TraceValue::Packages(p.len()),
        }
    }

    /// The value as JSON, as `check --explain` writes it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            TraceValue::Null => serde_json::Value::Null,
            TraceValue::Bool(b) => (*b).into(),
            TraceValue::Int(n) => (*n).into(),
            TraceValue::Str(s) => s.as_str().into(),
            TraceValue::Time(t) => t.to_string().into(),
            TraceValue::Duration(d) => crate::model::Duration::from_secs(*d).to_string().into(),
            TraceValue::Packages(n) => format!("{n} packages").into(),
        }
    }
}

/// A verdict and how every applicable rule came to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation<'e> {
    pub verdict: Verdict<'e>,
    pub rules: Vec<RuleTrace<'e>>,
    /// Every rule's reads, one rule after the other (one allocation for them all).
    pub values: Vec<(TracePath, TraceValue)>,
}

impl Explanation<'_> {
    /// The field values `rule` (one of [`Explanation::rules`]) read, in reading order.
    pub fn values_of(&self, rule: &RuleTrace<'_>) -> &[(TracePath, TraceValue)] {
        self.values.get(rule.values.clone()).unwrap_or(&[])
    }
}

/// A request the engine cannot answer as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub message: String,
    /// Path inside the request (`oms.last_error`).
    pub path: String,
}

/// A compiled rule set, ready to check requests.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: RuleSet,
    /// Indices of the rules that apply to each action, in file order.
    by_action: Vec<Vec<usize>>,
    matchers: Vec<classify::Matcher>,
}

impl Engine {
    /// Builds an engine; the rule set is already checked and compiled.
    pub fn new(rules: RuleSet) -> Engine {
        let by_action = Action::ALL
            .iter()
            .map(|a| {
                rules
                    .guards
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g.actions.contains(*a))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let matchers = classify::Matcher::build(&rules.file().errors);
        Engine {
            rules,
            by_action,
            matchers,
        }
    }

    /// The rule set the engine was built from.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Refuses requests the rules cannot judge: a missing order, an unknown error id.
    pub fn validate(&self, request: &Request) -> Result<(), RequestError> {
        if request.action.needs_order() && request.order.is_none() {
            return Err(RequestError {
                message: format!(
                    "missing field `order`: action `{}` is about one order and needs it",
                    request.action
                ),
                path: "order".into(),
            });
        }
        if let Some(id) = &request.oms.last_error {
            let errors = &self.rules.file().errors;
            if !errors.iter().any(|e| &e.id == id) {
                let ids: Vec<String> = errors.iter().map(|e| format!("`{}`", e.id)).collect();
                return Err(RequestError {
                    message: format!(
                        "unknown error id `{id}`: expected one of {}",
                        ids.join(", ")
                    ),
                    path: "oms.last_error".into(),
                });
            }
        }
        Ok(())
    }

    fn env<'a>(&'a self, request: &'a Request) -> Env<'a> {
        Env {
            request,
            sentinels: &self.rules.sentinels,
        }
    }

    fn rule(&self, index: usize) -> &Rule {
        &self.rules.file().rules[index]
    }

    fn finding<'e>(&'e self, index: usize, env: &Env<'_>) -> Finding<'e> {
        let rule = self.rule(index);
        let guards = &self.rules.guards[index];
        let remedies = rule
            .remedy
            .iter()
            .zip(&guards.remedies)
            .filter(|(_, when)| when.as_ref().is_none_or(|w| w.eval(env)))
            .map(|(r, _)| RemedyRef {
                source: Cow::Borrowed(r.source.as_deref().unwrap_or(&rule.source)),
                steps: Cow::Borrowed(&r.steps),
            })
            .collect();
        let mut fields = Vec::new();
        if guards.when.finds_fields() {
            let mut hits = Hits(&mut fields);
            guards.when.eval_traced(env, &mut hits);
        }
        for field in &guards.cites {
            let value = field.read(env.request);
            if value != Value::Null {
                fields.push((field.path.to_owned(), value.to_json()));
            }
        }
        Finding {
            rule: Cow::Borrowed(&rule.id),
            source: Cow::Borrowed(&rule.source),
            severity: rule.severity,
            message: Cow::Borrowed(&rule.message),
            remedies,
            fields,
        }
    }

    fn verdict<'e>(mut findings: Vec<Finding<'e>>) -> Verdict<'e> {
        // Stable: file order within each severity.
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let decision = match findings.first().map(|f| f.severity) {
            None => Decision::Allow,
            Some(Severity::Warn) => Decision::Warn,
            Some(Severity::Deny) => Decision::Deny,
        };
        Verdict { decision, findings }
    }

    /// Checks one request.
    pub fn check(&self, request: &Request) -> Verdict<'_> {
        let env = self.env(request);
        let findings = self.by_action[request.action as usize]
            .iter()
            .filter(|&&i| self.rules.guards[i].when.eval(&env))
            .map(|&i| self.finding(i, &env))
            .collect();
        Engine::verdict(findings)
    }

    /// Checks one request and records how every applicable rule decided.
    pub fn explain(&self, request: &Request) -> Explanation<'_> {
        let env = self.env(request);
        let mut findings = Vec::new();
        let applicable = &self.by_action[request.action as usize];
        let mut rules = Vec::with_capacity(applicable.len());
        // One buffer records every rule's reads in turn; each rule knows its stretch.
        let mut recorder = Recorder::default();
        for &i in applicable {
            recorder.start = recorder.values.len();
            let fired = self.rules.guards[i].when.eval_traced(&env, &mut recorder);
            let rule = self.rule(i);
            if fired {
                findings.push(self.finding(i, &env));
            }
            rules.push(RuleTrace {
                rule: &rule.id,
                source: &rule.source,
                severity: rule.severity,
                when: &rule.when,
                fired,
                values: recorder.start..recorder.values.len(),
            });
        }
        Explanation {
            verdict: Engine::verdict(findings),
            rules,
            values: recorder.values,
        }
    }

    /// Maps an RMS error (HTTP status, if any, and the response body or the message an
    /// OMS showed) to its entry in the error table: with several orders, the most severe
    /// one. Always answers: what nothing else matches (and an answer reporting only
    /// success) gets the table's fallback entry. [`Engine::classify_response`] tells
    /// success apart and answers per order; [`Engine::classify_value`] takes parsed JSON.
    pub fn classify(&self, status: Option<u16>, body: &str) -> Classification<'_> {
        self.classify_str(status, body)
    }

    /// Whether any field of `order` holds a sentinel of the rules file (RMS's `-9999`
    /// "not set"), in any `sentinels` group.
    pub fn holds_sentinel(&self, order: &crate::model::Order) -> bool {
        let request = Request::new(Action::Confirm, Some(order.clone()));
        self.rules
            .sentinels
            .iter()
            .any(|g| g.hits(&request, |_, _| false))
    }

    /// Maps a call that got no answer (timeout, no connection) to its error-table entry.
    pub fn classify_transport(&self, kind: crate::rules::TransportFailure) -> Classification<'_> {
        classify::classify_transport(&self.rules.file().errors, kind)
    }
}

/// Records only what `sentinel` / `negative` searches found, for a finding's `fields`.
struct Hits<'v>(&'v mut Vec<(String, serde_json::Value)>);

impl Trace for Hits<'_> {
    const ENABLED: bool = true;

    fn record(&mut self, _: fmt::Arguments<'_>, _: Value<'_>) {}

    fn hit(&mut self, path: fmt::Arguments<'_>, value: Value<'_>) {
        let path = path.to_string();
        if !self.0.iter().any(|(p, _)| *p == path) {
            self.0.push((path, value.to_json()));
        }
    }
}

#[derive(Default)]
struct Recorder {
    values: Vec<(TracePath, TraceValue)>,
    /// Where the rule being traced began.
    start: usize,
}

impl Recorder {
    fn has(&self, path: &str) -> bool {
        self.values[self.start..]
            .iter()
            .any(|(p, _)| p.as_str() == path)
    }
}

impl Trace for Recorder {
    const ENABLED: bool = true;

    fn record(&mut self, path: fmt::Arguments<'_>, value: Value<'_>) {
        let path = match path.as_str() {
            Some(p) => p.to_owned(),
            None => path.to_string(),
        };
        if !self.has(&path) {
            self.values
                .push((TracePath::Other(path), TraceValue::of(value)));
        }
    }

    fn record_field(&mut self, path: &'static str, value: Value<'_>) {
        if !self.has(path) {
            self.values
                .push((TracePath::Field(path), TraceValue::of(value)));
        }
    }
}
