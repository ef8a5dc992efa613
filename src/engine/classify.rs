//! Classifying RMS errors against the rules file's error table.
//!
//! RMS reports errors in several shapes: the gateway's
//! `{"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}`, other RMS APIs'
//! `{"errors": [{"code": "GA0003", "message": "…"}]}`, per-order `MessageModelList`
//! entries with `messageType: ERROR`, and, as an OMS shows them, bare messages in either
//! language. Codes and strings are pulled out of whatever arrives; then a code match beats
//! a text match beats an HTTP-status match, ties going to the earlier entry.

use crate::rules::{normalize, ErrorEntry, TransportFailure};

/// How an entry was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchedBy {
    Code(String),
    Text(String),
    Status(u16),
    Transport(TransportFailure),
    Fallback,
}

/// The error table entry an error belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification<'e> {
    pub entry: &'e ErrorEntry,
    pub matched_by: MatchedBy,
}

/// An entry's patterns, normalised once.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    texts: Vec<String>,
}

impl Matcher {
    pub(crate) fn build(entries: &[ErrorEntry]) -> Vec<Matcher> {
        entries
            .iter()
            .map(|e| Matcher {
                texts: e.matcher.text.iter().map(|t| normalize(t)).collect(),
            })
            .collect()
    }
}

struct Evidence {
    codes: Vec<String>,
    /// Normalised strings of the body (every JSON string, or the raw text).
    texts: Vec<String>,
    raw_is_text: bool,
}

fn evidence(body: &str) -> Evidence {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json) => {
            let mut ev = Evidence {
                codes: Vec::new(),
                texts: Vec::new(),
                raw_is_text: false,
            };
            walk(&json, None, &mut ev);
            ev
        }
        Err(_) => Evidence {
            codes: Vec::new(),
            texts: vec![normalize(body)],
            raw_is_text: true,
        },
    }
}

fn walk(v: &serde_json::Value, key: Option<&str>, ev: &mut Evidence) {
    match v {
        serde_json::Value::String(s) => {
            if matches!(key, Some("errorCode" | "code" | "messageCode")) {
                ev.codes.push(s.clone());
            }
            ev.texts.push(normalize(s));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, key, ev)),
        serde_json::Value::Object(map) => {
            // A MessageModelList entry that is not an error says nothing about the error.
            let is_info = map
                .get("messageType")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t == "INFO");
            if is_info {
                return;
            }
            for (k, v) in map {
                walk(v, Some(k), ev);
            }
        }
        _ => {}
    }
}

pub(crate) fn classify<'e>(
    matchers: &[Matcher],
    entries: &'e [ErrorEntry],
    status: Option<u16>,
    body: &str,
) -> Classification<'e> {
    let ev = evidence(body);
    let mut best: Option<(u8, usize, MatchedBy)> = None;
    for (i, (entry, matcher)) in entries.iter().zip(matchers).enumerate() {
        let hit = entry
            .matcher
            .codes
            .iter()
            .find(|code| {
                ev.codes.iter().any(|c| c == *code)
                    || (ev.raw_is_text && body.contains(code.as_str()))
            })
            .map(|c| (3, MatchedBy::Code(c.clone())))
            .or_else(|| {
                matcher
                    .texts
                    .iter()
                    .zip(&entry.matcher.text)
                    .find(|(norm, _)| ev.texts.iter().any(|t| t.contains(norm.as_str())))
                    .map(|(_, text)| (2, MatchedBy::Text(text.clone())))
            })
            .or_else(|| {
                status
                    .filter(|s| entry.matcher.http_status.contains(s))
                    .map(|s| (1, MatchedBy::Status(s)))
            });
        if let Some((strength, by)) = hit {
            if best.as_ref().is_none_or(|(b, _, _)| strength > *b) {
                best = Some((strength, i, by));
            }
        }
    }
    match best {
        Some((_, i, matched_by)) => Classification {
            entry: &entries[i],
            matched_by,
        },
        None => fallback(entries),
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
        None => fallback(entries),
    }
}

fn fallback(entries: &[ErrorEntry]) -> Classification<'_> {
    // The loader guarantees exactly one fallback entry (so the table is never empty).
    let entry = entries
        .iter()
        .find(|e| e.matcher.fallback)
        .or_else(|| entries.last())
        .expect("a loaded rule set has a fallback error entry");
    Classification {
        entry,
        matched_by: MatchedBy::Fallback,
    }
}
