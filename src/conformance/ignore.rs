//! The conformance rules file (`rules/conformance.yaml`): what is compared, what is
//! ignored and why, and what the simulator is told that it cannot know from a cassette.
//!
//! Everything here is data, read with serde_yaml and validated: unknown keys, an unknown
//! kind, a path that does not parse, an entry without a `reason` are refused with the
//! file, the entry's path and (for structure) the line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::shape::{Difference, Kind, ValueKeys};
use crate::model::FileError;

/// The embedded rules file.
pub const EMBEDDED: &str = include_str!("../../rules/conformance.yaml");

/// What a rule applies to: `conformance` (recording vs simulator), `drift` (recording vs
/// RMS now), or both (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Conformance,
    Drift,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    values: Values,
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
    #[serde(default)]
    seed: Vec<SeedEntry>,
    #[serde(default)]
    conditions: Vec<ConditionEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Values {
    codes: Vec<String>,
    texts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreEntry {
    path: String,
    kinds: Vec<Kind>,
    #[serde(default)]
    functions: Vec<String>,
    #[serde(default)]
    only: Option<Mode>,
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedEntry {
    function: String,
    code: String,
    #[serde(default)]
    set: Option<Map<String, Value>>,
    #[serde(default)]
    absent: bool,
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionEntry {
    status: u16,
    #[serde(default)]
    functions: Vec<String>,
    simulate: Simulate,
    reason: String,
}

/// A condition of RMS or the shop a recording shows and a cassette cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Simulate {
    /// The licence key did not work (401).
    LicenceExpired,
    /// RMS's QPS limit (403).
    Qps,
    /// RMS's maintenance (503).
    Maintenance,
    /// RMS's own failure (500).
    ApiError,
    /// The shop has no API option (`updateOrderDelivery` refused).
    NoApiOption,
}

/// One step of a path pattern.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A key; `*` inside matches any run of characters (`*Datetime`).
    Key(String),
    Index(usize),
    AnyIndex,
    /// `**`, last: anything below.
    Rest,
}

/// One step of a difference's path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A validated ignore rule.
#[derive(Debug, Clone)]
pub struct Ignore {
    pub path: String,
    steps: Option<Vec<Step>>,
    pub kinds: Vec<Kind>,
    pub functions: Vec<String>,
    pub only: Option<Mode>,
    pub reason: String,
}

/// A validated seed rule: the state an order was in when RMS answered the function with
/// the code.
#[derive(Debug, Clone)]
pub struct Seed {
    pub function: String,
    pub code: String,
    /// Fields the order had (`None` with `absent`).
    pub set: Option<Map<String, Value>>,
    /// RMS had no such order.
    pub absent: bool,
    pub reason: String,
}

/// A validated condition rule.
#[derive(Debug, Clone)]
pub struct Condition {
    pub status: u16,
    pub functions: Vec<String>,
    pub simulate: Simulate,
    pub reason: String,
}

/// The loaded conformance rules.
#[derive(Debug, Clone)]
pub struct ConformanceRules {
    pub values: ValueKeys,
    pub ignore: Vec<Ignore>,
    pub seed: Vec<Seed>,
    pub conditions: Vec<Condition>,
}

impl ConformanceRules {
    /// The embedded `rules/conformance.yaml`.
    pub fn embedded() -> Result<Self, FileError> {
        Self::parse("rules/conformance.yaml", EMBEDDED)
    }

    /// Reads a rules file.
    pub fn from_path(path: &std::path::Path) -> Result<Self, FileError> {
        let text = FileError::read(KIND, path)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and validates `text`; `name` names the file in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, FileError> {
        let file: File =
            crate::model::from_yaml(text).map_err(|e| FileError::from_yaml(KIND, name, e))?;
        // A meaning error names the entry's path, and its line and column (the file is
        // indexed only when there is an error to place).
        let bad = |at: String, what: &str| {
            let mut e = FileError::new(KIND, name, format!("at `{at}`: {what}"));
            if let Some(offset) = crate::rules::SourceMap::build(text).start(&at) {
                let (line, column) = crate::rules::line_column(text, offset);
                e.line = Some(line);
                e.column = Some(column);
            }
            e
        };
        if file.version != 1 {
            return Err(bad("version".into(), "this build reads version 1"));
        }
        let check_reason = |at: String, reason: &str| {
            if reason.trim().is_empty() {
                Err(bad(at, "a `reason` is required: say why this is so"))
            } else {
                Ok(())
            }
        };
        let check_names = |at: String, names: &[String]| {
            if names.iter().any(|n| n.trim().is_empty()) {
                Err(bad(at, "an empty name"))
            } else {
                Ok(())
            }
        };
        check_names("values.codes".into(), &file.values.codes)?;
        check_names("values.texts".into(), &file.values.texts)?;
        let mut ignore = Vec::new();
        for (i, e) in file.ignore.into_iter().enumerate() {
            let steps = if e.path == "status" {
                None
            } else {
                Some(parse_pattern(&e.path).map_err(|m| bad(format!("ignore[{i}].path"), &m))?)
            };
            if e.kinds.is_empty() {
                return Err(bad(format!("ignore[{i}].kinds"), "name at least one kind"));
            }
            check_names(format!("ignore[{i}].functions"), &e.functions)?;
            check_reason(format!("ignore[{i}].reason"), &e.reason)?;
            ignore.push(Ignore {
                path: e.path,
                steps,
                kinds: e.kinds,
                functions: e.functions,
                only: e.only,
                reason: e.reason,
            });
        }
        let mut seed = Vec::new();
        for (i, e) in file.seed.into_iter().enumerate() {
            check_names(
                format!("seed[{i}].function"),
                std::slice::from_ref(&e.function),
            )?;
            check_names(format!("seed[{i}].code"), std::slice::from_ref(&e.code))?;
            check_reason(format!("seed[{i}].reason"), &e.reason)?;
            match (&e.set, e.absent) {
                (Some(_), true) | (None, false) => {
                    return Err(bad(
                        format!("seed[{i}]"),
                        "give either `set` (the fields the order had) or `absent: true`",
                    ))
                }
                (Some(set), false) if set.contains_key("orderNumber") => {
                    return Err(bad(
                        format!("seed[{i}].set.orderNumber"),
                        "the order number comes from the recording",
                    ))
                }
                _ => {}
            }
            seed.push(Seed {
                function: e.function,
                code: e.code,
                set: e.set,
                absent: e.absent,
                reason: e.reason,
            });
        }
        let mut conditions = Vec::new();
        for (i, e) in file.conditions.into_iter().enumerate() {
            if !(100..=599).contains(&e.status) {
                return Err(bad(
                    format!("conditions[{i}].status"),
                    "an HTTP status is 100 to 599",
                ));
            }
            check_names(format!("conditions[{i}].functions"), &e.functions)?;
            check_reason(format!("conditions[{i}].reason"), &e.reason)?;
            conditions.push(Condition {
                status: e.status,
                functions: e.functions,
                simulate: e.simulate,
                reason: e.reason,
            });
        }
        Ok(ConformanceRules {
            values: ValueKeys {
                codes: file.values.codes,
                texts: file.values.texts,
            },
            ignore,
            seed,
            conditions,
        })
    }

    /// The rule that ignores `d` in an answer of `function` in `mode`, if one does.
    pub fn ignoring(&self, d: &Difference, function: &str, mode: Mode) -> Option<&Ignore> {
        let segs = parse_path(&d.path);
        self.ignore.iter().find(|r| {
            r.kinds.contains(&d.kind)
                && r.only.is_none_or(|m| m == mode)
                && (r.functions.is_empty() || r.functions.iter().any(|f| f == function))
                && match (&r.steps, &segs) {
                    (None, _) => d.path == "status",
                    (Some(steps), Some(segs)) => matches(steps, segs),
                    (Some(_), None) => false,
                }
        })
    }

    /// The seed rule for an answer of `function` with `code`.
    pub fn seed_for(&self, function: &str, code: &str) -> Option<&Seed> {
        self.seed
            .iter()
            .find(|s| s.function == function && s.code == code)
    }

    /// The condition a recorded status of `function` shows, if any.
    pub fn condition_for(&self, function: &str, status: u16) -> Option<&Condition> {
        self.conditions.iter().find(|c| {
            c.status == status
                && (c.functions.is_empty() || c.functions.iter().any(|f| f == function))
        })
    }

    /// How many rules of each section (for the report).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("ignore", self.ignore.len()),
            ("seed", self.seed.len()),
            ("conditions", self.conditions.len()),
        ])
    }
}

const KIND: &str = "conformance rules";

/// `$.a[*].b*c[0].**`.
fn parse_pattern(p: &str) -> Result<Vec<Step>, String> {
    let rest = p
        .strip_prefix('$')
        .ok_or_else(|| format!("`{p}`: a path starts with `$` (or is `status`)"))?;
    let mut steps = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        if steps.last() == Some(&Step::Rest) {
            return Err(format!("`{p}`: `**` can only be last"));
        }
        if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("`{p}`: an empty key"));
            }
            steps.push(if key == "**" {
                Step::Rest
            } else {
                Step::Key(key.to_owned())
            });
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("`{p}`: an unclosed `[`"))?;
            let inner = &r[..end];
            steps.push(if inner == "*" {
                Step::AnyIndex
            } else if let Ok(n) = inner.parse::<usize>() {
                Step::Index(n)
            } else if let Ok(Value::String(k)) = serde_json::from_str::<Value>(inner) {
                Step::Key(k)
            } else {
                return Err(format!(
                    "`{p}`: `[{inner}]` is neither `[*]`, an index nor a quoted key"
                ));
            });
            s = &r[end + 1..];
        } else {
            return Err(format!("`{p}`: expected `.` or `[` at `{s}`"));
        }
    }
    Ok(steps)
}

/// A difference's path (as `shape` writes it) as segments; `None` for `status`.
fn parse_path(p: &str) -> Option<Vec<Seg>> {
    let mut s = p.strip_prefix('$')?;
    let mut segs = Vec::new();
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            segs.push(Seg::Key(r[..end].to_owned()));
            s = &r[end..];
        } else if s.starts_with("[\"") {
            // A quoted key: a JSON string, then `]`.
            let mut de = serde_json::Deserializer::from_str(&s[1..]).into_iter::<String>();
            let key = de.next()?.ok()?;
            let used = de.byte_offset();
            segs.push(Seg::Key(key));
            s = s.get(1 + used..)?.strip_prefix(']')?;
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r.find(']')?;
            segs.push(Seg::Index(r[..end].parse().ok()?));
            s = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(segs)
}

fn matches(steps: &[Step], segs: &[Seg]) -> bool {
    match (steps.first(), segs.first()) {
        (Some(Step::Rest), _) => true,
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(step), Some(seg)) => {
            let here = match (step, seg) {
                (Step::Key(k), Seg::Key(s)) => glob(k, s),
                (Step::Index(i), Seg::Index(j)) => i == j,
                (Step::AnyIndex, Seg::Index(_)) => true,
                _ => false,
            };
            here && matches(&steps[1..], &segs[1..])
        }
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_loads() {
        let r = ConformanceRules::embedded().unwrap();
        assert!(r.values.codes.iter().any(|c| c == "messageCode"));
    }

    #[test]
    fn patterns_match_paths() {
        let p = |s| parse_pattern(s).unwrap();
        let q = |s| parse_path(s).unwrap();
        assert!(matches(
            &p("$.OrderModelList[*].*Datetime"),
            &q("$.OrderModelList[3].shopOrderCfmDatetime")
        ));
        assert!(!matches(
            &p("$.OrderModelList[*].*Datetime"),
            &q("$.OrderModelList[3].orderProgress")
        ));
        assert!(matches(&p("$.a.**"), &q("$.a[0].b")));
        assert!(matches(&p("$[\"a.b\"][0]"), &q("$[\"a.b\"][0]")));
        assert!(parse_pattern("a.b").is_err());
        assert!(parse_pattern("$.a[x]").is_err());
        assert!(parse_pattern("$.**.a").is_err());
    }

    #[test]
    fn bad_files_are_refused_with_the_entry() {
        let base = "version: 1\nvalues: {codes: [messageCode], texts: [message]}\n";
        for (extra, want) in [
            (
                "ignore: [{path: '$.a', kinds: [missing_field], reason: ''}]",
                "ignore[0].reason",
            ),
            (
                "ignore: [{path: 'a', kinds: [missing_field], reason: x}]",
                "ignore[0].path",
            ),
            (
                "ignore: [{path: '$.a', kinds: [], reason: x}]",
                "ignore[0].kinds",
            ),
            ("seed: [{function: f, code: c, reason: x}]", "seed[0]"),
            (
                "conditions: [{status: 1000, simulate: qps, reason: x}]",
                "conditions[0].status",
            ),
        ] {
            let e = ConformanceRules::parse("c.yaml", &format!("{base}{extra}\n")).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(e.line, Some(3), "{e}");
        }
        let e = ConformanceRules::parse(
            "c.yaml",
            &format!("{base}ignore: [{{path: '$.a', kinds: [gone], reason: x}}]\n"),
        )
        .unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }
}
