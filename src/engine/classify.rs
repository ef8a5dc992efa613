//! Classifying RMS answers against the rules file's `success` and `errors` tables.
//!
//! RMS reports errors in several shapes: the gateway's
//! `{"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}`, other RMS APIs'
//! `{"errors": [{"code": "GA0003", "message": "…"}]}`, per-order `MessageModelList`
//! entries with `messageType: ERROR`, and, as an OMS shows them, bare messages in either
//! language. Codes and strings are pulled out of whatever arrives; then a code match beats
//! a text match beats an HTTP-status match; among text matches the longest (normalised)
//! pattern wins; remaining ties go to the earlier entry.
//!
//! An answer with a `MessageModelList` is read message by message: a message that matches
//! a `success` entry says the call went through (for its order); the others are the
//! evidence of an error. Messages are grouped by `orderNumber`, each order gets its own
//! outcome, and the answer as a whole is the most severe of them ([`severity`]). Only the
//! `MessageModelList` is read in such an answer: the orders' data is not evidence.
//!
//! Which message types and codes mean success, and every code and text of an error, are
//! read from the rules file; this module knows only the shapes RMS answers in.

use std::collections::HashMap;

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::Engine;
use crate::rules::{normalize, ErrorEntry, Retry, SuccessEntry, TransportFailure};

/// How an entry was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchedBy {
    Code(String),
    Text(String),
    Status(u16),
    Transport(TransportFailure),
    /// A read-back found the order in a status whose `confirm_error` names the entry.
    OrderStatus(i64),
    Fallback,
}

/// The order a `MessageModelList` message names, as answers are grouped by it: its
/// `orderNumber` string, trimmed, or number; `None` when blank or absent.
pub fn message_order_number(message: &Value) -> Option<String> {
    match message.get("orderNumber") {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
    .filter(|n| !n.is_empty())
}

/// The error table entry an error belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification<'e> {
    pub entry: &'e ErrorEntry,
    pub matched_by: MatchedBy,
}

/// A message that says the call went through: the `success` entry it matched and the
/// message's own type and code.
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessMatch<'e> {
    pub entry: &'e SuccessEntry,
    pub message_type: String,
    pub message_code: String,
}

/// What an answer (or one order of it) says: it went through, or which error it is.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseOutcome<'e> {
    Success(SuccessMatch<'e>),
    Error(Classification<'e>),
}

impl<'e> ResponseOutcome<'e> {
    pub fn is_success(&self) -> bool {
        matches!(self, ResponseOutcome::Success(_))
    }

    /// The error, unless it is a success.
    pub fn error(&self) -> Option<&Classification<'e>> {
        match self {
            ResponseOutcome::Error(c) => Some(c),
            ResponseOutcome::Success(_) => None,
        }
    }

    /// The success, unless it is an error.
    pub fn success(&self) -> Option<&SuccessMatch<'e>> {
        match self {
            ResponseOutcome::Success(s) => Some(s),
            ResponseOutcome::Error(_) => None,
        }
    }
}

/// The outcome for one order named in a `MessageModelList`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderOutcome<'e> {
    /// As RMS wrote it, without surrounding whitespace.
    pub order_number: String,
    pub outcome: ResponseOutcome<'e>,
}

/// A whole RMS answer, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseClassification<'e> {
    /// The answer as a whole: the most severe outcome in it ([`severity`]).
    pub outcome: ResponseOutcome<'e>,
    /// One per order named in the `MessageModelList`, in the order RMS first named them;
    /// empty for answers that name no order.
    pub orders: Vec<OrderOutcome<'e>>,
}

/// How severe an error is, for choosing the one an answer is summed up by: any error beats
/// success; among errors `never` beats `after_fix` beats `after_reconcile` (the one that
/// forbids the most is shown); ties go to the earlier entry of the table (`index`).
/// Greater is more severe.
pub fn severity(retry: Retry, index: usize) -> (u8, std::cmp::Reverse<usize>) {
    let rank = match retry {
        Retry::Never => 3,
        Retry::AfterFix => 2,
        Retry::AfterReconcile => 1,
    };
    (rank, std::cmp::Reverse(index))
}

/// An entry's patterns, normalised once.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    /// Codes in [`code_form`].
    codes: Vec<String>,
    /// Texts in [`normalize`]d form, with their length in characters.
    texts: Vec<(String, usize)>,
    /// `generic_text`, normalised: weaker than any `text`, stronger than a status.
    generic: Vec<String>,
}

impl Matcher {
    pub(crate) fn build(entries: &[ErrorEntry]) -> Vec<Matcher> {
        entries
            .iter()
            .map(|e| Matcher {
                codes: e.matcher.codes.iter().map(|c| code_form(c)).collect(),
                texts: e
                    .matcher
                    .text
                    .iter()
                    .map(|t| {
                        let n = normalize(t);
                        let len = n.chars().count();
                        (n, len)
                    })
                    .collect(),
                generic: e
                    .matcher
                    .generic_text
                    .iter()
                    .map(|t| normalize(t))
                    .collect(),
            })
            .collect()
    }
}

/// A code or message type as compared: width-normalised (NFKC) and trimmed; case is kept.
fn code_form(s: &str) -> String {
    s.nfkc().collect::<String>().trim().to_owned()
}

/// The tables classification reads.
#[derive(Clone, Copy)]
struct Tables<'e> {
    matchers: &'e [Matcher],
    errors: &'e [ErrorEntry],
    success: &'e [SuccessEntry],
}

impl<'e> Tables<'e> {
    /// The success entry a `MessageModelList` message matches, if any.
    fn success_of(
        &self,
        status: Option<u16>,
        msg: &Map<String, Value>,
    ) -> Option<SuccessMatch<'e>> {
        let field = |k: &str| msg.get(k).and_then(Value::as_str).map(code_form);
        let message_type = field("messageType");
        let message_code = field("messageCode");
        let listed = |list: &[String], value: &Option<String>| {
            list.is_empty()
                || value
                    .as_ref()
                    .is_some_and(|v| list.iter().any(|x| code_form(x) == *v))
        };
        let entry = self.success.iter().find(|e| {
            let m = &e.matcher;
            // The loader refuses an entry with neither; never let one match everything.
            !(m.message_types.is_empty() && m.codes.is_empty())
                && listed(&m.message_types, &message_type)
                && listed(&m.codes, &message_code)
                && status.is_none_or(|s| m.http_status.is_empty() || m.http_status.contains(&s))
        })?;
        Some(SuccessMatch {
            entry,
            message_type: message_type.unwrap_or_default(),
            message_code: message_code.unwrap_or_default(),
        })
    }

    fn success_of_value(&self, status: Option<u16>, v: &Value) -> Option<SuccessMatch<'e>> {
        v.as_object().and_then(|m| self.success_of(status, m))
    }

    /// The strongest error entry the evidence matches, with its index in the table.
    fn pick(&self, status: Option<u16>, ev: &Evidence) -> (usize, Classification<'e>) {
        // (strength, pattern length): code 3 > text 2 > status 1; longer text first.
        let mut best: Option<((u8, usize), usize, MatchedBy)> = None;
        for (i, (entry, matcher)) in self.errors.iter().zip(self.matchers).enumerate() {
            let code = matcher
                .codes
                .iter()
                .zip(&entry.matcher.codes)
                .find(|(code, _)| {
                    ev.codes.iter().any(|c| c == *code)
                        || ev
                            .raw
                            .as_ref()
                            .is_some_and(|raw| raw.contains(code.as_str()))
                })
                .map(|(_, written)| ((3, 0), MatchedBy::Code(written.clone())));
            let hit = code
                .or_else(|| {
                    let mut longest: Option<(usize, &String)> = None;
                    for ((norm, len), written) in matcher.texts.iter().zip(&entry.matcher.text) {
                        let found = ev.texts.iter().any(|t| t.contains(norm.as_str()));
                        if found && longest.is_none_or(|(l, _)| *len > l) {
                            longest = Some((*len, written));
                        }
                    }
                    longest.map(|(len, written)| ((2, len), MatchedBy::Text(written.clone())))
                })
                .or_else(|| {
                    // A generic wrapper: any specific text (length ≥ 1) beats it.
                    matcher
                        .generic
                        .iter()
                        .zip(&entry.matcher.generic_text)
                        .find(|(norm, _)| ev.texts.iter().any(|t| t.contains(norm.as_str())))
                        .map(|(_, written)| ((2, 0), MatchedBy::Text(written.clone())))
                })
                .or_else(|| {
                    status
                        .filter(|s| entry.matcher.http_status.contains(s))
                        .map(|s| ((1, 0), MatchedBy::Status(s)))
                });
            if let Some((key, by)) = hit {
                if best.as_ref().is_none_or(|(b, _, _)| key > *b) {
                    best = Some((key, i, by));
                }
            }
        }
        match best {
            Some((_, i, matched_by)) => (
                i,
                Classification {
                    entry: &self.errors[i],
                    matched_by,
                },
            ),
            None => fallback(self.errors),
        }
    }

    /// Classifies a group of messages (one order's, or those naming no order): a success
    /// when every one of them is, else the error their non-success messages show.
    fn group(&self, status: Option<u16>, msgs: &[&Value]) -> Part<'e> {
        let mut first_success = None;
        let mut ev = Evidence::default();
        let mut all_success = true;
        for m in msgs {
            match self.success_of_value(status, m) {
                Some(s) => {
                    first_success.get_or_insert(s);
                }
                None => {
                    all_success = false;
                    ev.walk(m, None, self, status);
                }
            }
        }
        match first_success {
            Some(s) if all_success => Part::Success(s),
            _ => {
                let (i, c) = self.pick(status, &ev);
                Part::Error(i, c)
            }
        }
    }

    fn response(&self, status: Option<u16>, body: &Value) -> ResponseClassification<'e> {
        let Some(messages) = body.get("MessageModelList").and_then(Value::as_array) else {
            let mut ev = Evidence::default();
            ev.walk(body, None, self, status);
            return ResponseClassification {
                outcome: ResponseOutcome::Error(self.pick(status, &ev).1),
                orders: Vec::new(),
            };
        };
        // Group by order number, in the order RMS first names each order.
        let mut numbers: Vec<String> = Vec::new();
        let mut by_order: Vec<Vec<&Value>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut unnamed: Vec<&Value> = Vec::new();
        for m in messages {
            let number = message_order_number(m);
            match number.as_deref() {
                Some(n) => {
                    let i = *index.entry(n.to_owned()).or_insert_with(|| {
                        numbers.push(n.to_owned());
                        by_order.push(Vec::new());
                        numbers.len() - 1
                    });
                    by_order[i].push(m);
                }
                None => unnamed.push(m),
            }
        }
        let parts: Vec<Part<'e>> = by_order.iter().map(|g| self.group(status, g)).collect();
        let mut call = (!unnamed.is_empty()).then(|| self.group(status, &unnamed));
        // An error beside the messages (the gateway's `Results.errorCode`, other APIs'
        // `errors[]`) is part of the answer too: one error anywhere makes it an error.
        // Only a real match counts here (the orders' data is not evidence).
        let mut beside = Evidence::default();
        if let Value::Object(map) = body {
            for (k, v) in map {
                if !matches!(k.as_str(), "MessageModelList" | "OrderModelList") {
                    beside.walk(v, Some(k), self, None);
                }
            }
        }
        let (i, c) = self.pick(None, &beside);
        if c.matched_by != MatchedBy::Fallback {
            call = Some(match call {
                Some(Part::Error(j, d))
                    if severity(d.entry.retry, j) >= severity(c.entry.retry, i) =>
                {
                    Part::Error(j, d)
                }
                _ => Part::Error(i, c),
            });
        }

        // The whole answer: the most severe error; else the first success (the call's own
        // message before the orders'); an answer with no message at all says nothing of
        // success, so it is classified on the status alone.
        let all = call.iter().chain(&parts);
        let worst = all
            .clone()
            .filter_map(|p| match p {
                Part::Error(i, c) => Some((severity(c.entry.retry, *i), c)),
                Part::Success(_) => None,
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, c)| c.clone());
        let outcome = match worst {
            Some(c) => ResponseOutcome::Error(c),
            None => match all
                .filter_map(|p| match p {
                    Part::Success(s) => Some(s.clone()),
                    Part::Error(..) => None,
                })
                .next()
            {
                Some(s) => ResponseOutcome::Success(s),
                None => ResponseOutcome::Error(self.pick(status, &Evidence::default()).1),
            },
        };
        let orders = numbers
            .into_iter()
            .zip(parts)
            .map(|(order_number, p)| OrderOutcome {
                order_number,
                outcome: p.into_outcome(),
            })
            .collect();
        ResponseClassification { outcome, orders }
    }

    fn response_str(&self, status: Option<u16>, body: &str) -> ResponseClassification<'e> {
        match serde_json::from_str::<Value>(body) {
            Ok(json) => self.response(status, &json),
            Err(_) => ResponseClassification {
                outcome: ResponseOutcome::Error(self.pick(status, &Evidence::raw(body)).1),
                orders: Vec::new(),
            },
        }
    }

    /// The error view of an answer: its most severe error, or the fallback entry when it
    /// reports only success (an error path that meets a success has no error to name).
    fn error_view(&self, r: ResponseClassification<'e>) -> Classification<'e> {
        match r.outcome {
            ResponseOutcome::Error(c) => c,
            ResponseOutcome::Success(_) => fallback(self.errors).1,
        }
    }
}

/// One group's outcome, with the table index of its error (for [`severity`]).
enum Part<'e> {
    Success(SuccessMatch<'e>),
    Error(usize, Classification<'e>),
}

impl<'e> Part<'e> {
    fn into_outcome(self) -> ResponseOutcome<'e> {
        match self {
            Part::Success(s) => ResponseOutcome::Success(s),
            Part::Error(_, c) => ResponseOutcome::Error(c),
        }
    }
}

#[derive(Default)]
struct Evidence {
    /// Codes in [`code_form`].
    codes: Vec<String>,
    /// [`normalize`]d strings of the body (every JSON string, or the raw text).
    texts: Vec<String>,
    /// The raw text (width-normalised), when the body is not JSON: codes are looked for
    /// inside it.
    raw: Option<String>,
}

impl Evidence {
    fn raw(body: &str) -> Evidence {
        Evidence {
            codes: Vec::new(),
            texts: vec![normalize(body)],
            raw: Some(body.nfkc().collect()),
        }
    }

    fn walk(&mut self, v: &Value, key: Option<&str>, tables: &Tables<'_>, status: Option<u16>) {
        match v {
            Value::String(s) => {
                if matches!(key, Some("errorCode" | "code" | "messageCode")) {
                    self.codes.push(code_form(s));
                }
                self.texts.push(normalize(s));
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk(i, key, tables, status)),
            Value::Object(map) => {
                // A message that says the call went through says nothing about an error.
                if tables.success_of(status, map).is_some() {
                    return;
                }
                for (k, v) in map {
                    self.walk(v, Some(k), tables, status);
                }
            }
            _ => {}
        }
    }
}

impl Engine {
    fn tables(&self) -> Tables<'_> {
        let file = self.rules.file();
        Tables {
            matchers: &self.matchers,
            errors: &file.errors,
            success: &file.success,
        }
    }

    /// Classifies a whole RMS answer (HTTP status, if known, and the body or the message an
    /// OMS showed): success or error, and, for a `MessageModelList`, one outcome per order.
    pub fn classify_response(&self, status: Option<u16>, body: &str) -> ResponseClassification<'_> {
        self.tables().response_str(status, body)
    }

    /// [`Engine::classify_response`] for a body already parsed as JSON.
    pub fn classify_response_value(
        &self,
        status: Option<u16>,
        body: &Value,
    ) -> ResponseClassification<'_> {
        self.tables().response(status, body)
    }

    /// [`Engine::classify`] for a body already parsed as JSON (no re-serialising): the
    /// entry of the most severe error in it.
    pub fn classify_value(&self, status: Option<u16>, body: &Value) -> Classification<'_> {
        let t = self.tables();
        t.error_view(t.response(status, body))
    }

    pub(crate) fn classify_str(&self, status: Option<u16>, body: &str) -> Classification<'_> {
        let t = self.tables();
        t.error_view(t.response_str(status, body))
    }
}

pub(crate) fn classify_transport(
    entries: &[ErrorEntry],
    kind: TransportFailure,
) -> Classification<'_> {
    match entries.iter().find(|e| e.matcher.transport.contains(&kind)) {
        Some(entry) => Classification {
            entry,
            matched_by: MatchedBy::Transport(kind),
        },
        None => fallback(entries).1,
    }
}

fn fallback(entries: &[ErrorEntry]) -> (usize, Classification<'_>) {
    // The loader guarantees exactly one fallback entry (so the table is never empty).
    let i = entries
        .iter()
        .position(|e| e.matcher.fallback)
        .unwrap_or(entries.len().saturating_sub(1));
    let entry = entries
        .get(i)
        .expect("a loaded rule set has a fallback error entry");
    (
        i,
        Classification {
            entry,
            matched_by: MatchedBy::Fallback,
        },
    )
}
