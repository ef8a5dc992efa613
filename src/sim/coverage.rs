//! Rule coverage: which parts of the rules file a set of scenario runs exercised, and by
//! which steps.
//!
//! Five kinds of item are counted, all read from the rules file (nothing here names a
//! rule): every rule (it fired: a finding), every remedy variant of a rule (it was shown
//! with a finding), every error-table entry (a guarded call failed with it), every
//! transition (an order moved along it in the simulated RMS) and every seed tag `S1`…`S21`
//! (an exercised item of the other kinds carries it; `S7a` counts for `S7`).
//!
//! Items a scenario library cannot reach are listed, with the reason, in a data file
//! ([`Gaps`], `fixtures/coverage-gaps.yaml` for the shipped library): the report shows the
//! reason beside the item, and a gap that is exercised after all, or names no item, is
//! reported as stale.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::runner::{ScenarioReport, StepReport};
use crate::guard::{Outcome, OwnedFinding};
use crate::model::FileError;
use crate::rules::RulesFile;

/// The seed's tags, `S1`…`S21`.
pub const SEED_TAGS: usize = 21;

/// The kinds of item counted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Rule,
    Remedy,
    Error,
    Transition,
    Tag,
}

impl ItemKind {
    pub const ALL: [ItemKind; 5] = [
        ItemKind::Rule,
        ItemKind::Remedy,
        ItemKind::Error,
        ItemKind::Transition,
        ItemKind::Tag,
    ];

    /// The name in the JSON output and in the gaps file.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Rule => "rule",
            ItemKind::Remedy => "remedy",
            ItemKind::Error => "error",
            ItemKind::Transition => "transition",
            ItemKind::Tag => "tag",
        }
    }

    /// Kinds `--min-coverage` is measured on: what the library must reach.
    pub fn required(self) -> bool {
        matches!(self, ItemKind::Rule | ItemKind::Remedy | ItemKind::Error)
    }
}

/// A step of a scenario run that exercised an item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct StepRef {
    /// The scenario file.
    pub file: String,
    /// 1-based, as the text report counts steps.
    pub step: usize,
}

impl std::fmt::Display for StepRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        write!(f, "{name}#{}", self.step)
    }
}

/// One item of the rules file and whether the runs exercised it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Item {
    pub kind: ItemKind,
    /// Rule id; `rule#N` for a remedy variant (1-based); error id; `100->200 via
    /// confirmOrder` for a transition; `S1` for a tag.
    pub id: String,
    /// The seed tag (or `rms-api`, `preflight`) the rules file gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A remedy variant's condition, as written (`shop.api_option`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub exercised: bool,
    /// The steps that exercised it, in run order.
    pub by: Vec<StepRef>,
    /// Why the library cannot reach it (from the gaps file), when listed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<String>,
}

/// Exercised of total, for one kind or for the required kinds together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Tally {
    pub exercised: usize,
    pub total: usize,
    /// Items not exercised whose reason the gaps file gives.
    pub explained: usize,
    /// `exercised / total` in percent (100 when there is nothing to exercise).
    pub percent: f64,
}

impl Tally {
    fn of<'a>(items: impl Iterator<Item = &'a Item>) -> Tally {
        let (mut exercised, mut total, mut explained) = (0, 0, 0);
        for i in items {
            total += 1;
            if i.exercised {
                exercised += 1;
            } else if i.gap.is_some() {
                explained += 1;
            }
        }
        let percent = if total == 0 {
            100.0
        } else {
            // Counts of items, far below 2^52: exact as f64.
            (exercised as f64) * 100.0 / (total as f64)
        };
        Tally {
            exercised,
            total,
            explained,
            percent,
        }
    }
}

/// A gap listed in the gaps file that does not hold: the item is exercised, or there is
/// no such item.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StaleGap {
    pub kind: ItemKind,
    pub id: String,
    /// `exercised` or `unknown item`.
    pub problem: String,
}

/// The coverage of a set of runs: `simulate --coverage`'s JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Coverage {
    /// Scenarios counted.
    pub scenarios: usize,
    /// Per kind (`rule`, `remedy`, `error`, `transition`, `tag`).
    pub summary: BTreeMap<String, Tally>,
    /// Rules, remedy variants and error entries together: what `--min-coverage` checks.
    pub required: Tally,
    /// Every item, by kind, in the rules file's order.
    pub items: Vec<Item>,
    /// Entries of the gaps file that do not hold.
    pub stale_gaps: Vec<StaleGap>,
}

/// The gaps file: items a scenario library cannot reach, each with its reason.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gaps {
    pub gaps: Vec<Gap>,
}

/// One item the library cannot reach.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub kind: ItemKind,
    /// As in the coverage report's `id`.
    pub id: String,
    /// Text (a YAML string): a number, a boolean or `null` is no explanation.
    #[serde(deserialize_with = "text_only")]
    pub reason: String,
}

/// A string and nothing else: a YAML scalar that reads as a number, a boolean or null is
/// refused instead of being turned into text.
fn text_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a text (quote it if it reads as a number)")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    d.deserialize_any(Text)
}

/// Whether `text` shows nothing: whitespace, control and zero-width characters only.
fn blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}'
            )
    })
}

impl Gaps {
    /// The JSON Schema of the gaps file (`rules schema coverage-gaps`).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Gaps)).unwrap_or_default()
    }

    /// Reads a gaps file (YAML); errors name the file, the path and the line/column.
    pub fn load(path: &Path) -> Result<Gaps, FileError> {
        let text = FileError::read("coverage gaps", path)?;
        let file = path.display().to_string();
        let gaps = crate::model::from_yaml::<Gaps>(&text)
            .map_err(|e| FileError::from_yaml("coverage gaps", &file, e))?;
        // A gap is an explanation: one per item, and never empty.
        for (i, g) in gaps.gaps.iter().enumerate() {
            if blank(&g.reason) {
                return Err(FileError::new(
                    "coverage gaps",
                    &file,
                    format!("at `gaps[{i}].reason`: the reason of `{}` is empty", g.id),
                ));
            }
            if let Some(j) = gaps.gaps[..i]
                .iter()
                .position(|o| o.kind == g.kind && o.id == g.id)
            {
                return Err(FileError::new(
                    "coverage gaps",
                    &file,
                    format!(
                        "at `gaps[{i}]`: {} `{}` is already explained by `gaps[{j}]`",
                        g.kind.name(),
                        g.id
                    ),
                ));
            }
        }
        Ok(gaps)
    }
}

/// The seed tag an item's source names (`S7a` → `S7`), if it names one in `S1`…`S21`.
pub fn seed_tag(source: &str) -> Option<String> {
    let digits = source.strip_prefix('S')?;
    let number: String = digits.chars().take_while(char::is_ascii_digit).collect();
    let rest = &digits[number.len()..];
    if !rest.chars().all(|c| c.is_ascii_lowercase()) || rest.len() > 1 {
        return None;
    }
    let n: usize = number.parse().ok()?;
    (1..=SEED_TAGS).contains(&n).then(|| format!("S{n}"))
}

/// The transition's id in the report.
pub fn transition_id(from: i64, to: i64, via: &str) -> String {
    format!("{from}->{to} via {via}")
}

/// The remedy variants a finding shows, as `rule#N` (N from 1, in the rule's `remedy`
/// list): a shown remedy is the variant with the same steps and source.
pub(crate) fn variants_shown(rules: &RulesFile, f: &OwnedFinding) -> Vec<String> {
    let Some(rule) = rules.rules.iter().find(|r| r.id == f.rule) else {
        return Vec::new();
    };
    f.remedies
        .iter()
        .filter_map(|shown| {
            rule.remedy.iter().position(|v| {
                v.steps.as_slice() == shown.steps.as_ref()
                    && v.source.as_deref().unwrap_or(&rule.source) == shown.source
            })
        })
        .map(|i| format!("{}#{}", rule.id, i + 1))
        .collect()
}

/// What one step exercised: item ids by kind (tags are derived afterwards).
fn step_hits(rules: &RulesFile, step: &StepReport, hit: &mut dyn FnMut(ItemKind, String)) {
    let t = &step.trace;
    if let Some(result) = &t.result {
        for (_, report) in &result.reports {
            for f in &report.findings {
                hit(ItemKind::Rule, f.rule.to_string());
                for variant in variants_shown(rules, f) {
                    hit(ItemKind::Remedy, variant);
                }
            }
        }
        for (_, outcome) in &result.outcomes {
            if let Outcome::Failed(f) = outcome {
                hit(ItemKind::Error, f.error.clone());
            }
        }
    }
    for m in &t.moves {
        hit(ItemKind::Transition, transition_id(m.from, m.to, &m.via));
    }
}

/// The coverage of `reports` against `rules`, with the reasons of `gaps`.
pub fn coverage(rules: &RulesFile, reports: &[ScenarioReport], gaps: &Gaps) -> Coverage {
    let mut items: Vec<Item> = Vec::new();
    let item = |kind, id: String, source: Option<String>, when: Option<String>| Item {
        kind,
        id,
        source,
        when,
        exercised: false,
        by: vec![],
        gap: None,
    };
    for r in &rules.rules {
        items.push(item(
            ItemKind::Rule,
            r.id.clone(),
            Some(r.source.clone()),
            None,
        ));
    }
    for r in &rules.rules {
        for (i, v) in r.remedy.iter().enumerate() {
            items.push(item(
                ItemKind::Remedy,
                format!("{}#{}", r.id, i + 1),
                Some(v.source.clone().unwrap_or_else(|| r.source.clone())),
                v.when.clone(),
            ));
        }
    }
    for e in &rules.errors {
        items.push(item(
            ItemKind::Error,
            e.id.clone(),
            Some(e.source.clone()),
            None,
        ));
    }
    for t in &rules.transitions {
        items.push(item(
            ItemKind::Transition,
            transition_id(t.from, t.to, &t.via),
            Some(t.source.clone()),
            None,
        ));
    }
    let tags_from = items.len();
    for n in 1..=SEED_TAGS {
        items.push(item(ItemKind::Tag, format!("S{n}"), None, None));
    }
    let index: BTreeMap<(ItemKind, String), usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| ((it.kind, it.id.clone()), i))
        .collect();
    for report in reports {
        for step in &report.steps {
            let at = StepRef {
                file: report.file.clone(),
                step: step.index + 1,
            };
            step_hits(rules, step, &mut |kind, id| {
                if let Some(&i) = index.get(&(kind, id)) {
                    let it = &mut items[i];
                    it.exercised = true;
                    if it.by.last() != Some(&at) {
                        it.by.push(at.clone());
                    }
                }
            });
        }
    }
    // Tags: carried by the exercised items of the other kinds.
    let mut tag_by: BTreeMap<String, Vec<StepRef>> = BTreeMap::new();
    for it in items[..tags_from].iter().filter(|i| i.exercised) {
        if let Some(tag) = it.source.as_deref().and_then(seed_tag) {
            tag_by.entry(tag).or_default().extend(it.by.iter().cloned());
        }
    }
    for it in &mut items[tags_from..] {
        if let Some(mut by) = tag_by.remove(&it.id) {
            by.sort();
            by.dedup();
            it.exercised = true;
            it.by = by;
        }
    }
    let mut stale_gaps = Vec::new();
    for g in &gaps.gaps {
        match index.get(&(g.kind, g.id.clone())) {
            None => stale_gaps.push(StaleGap {
                kind: g.kind,
                id: g.id.clone(),
                problem: "unknown item".into(),
            }),
            Some(&i) if items[i].exercised => stale_gaps.push(StaleGap {
                kind: g.kind,
                id: g.id.clone(),
                problem: "exercised".into(),
            }),
            Some(&i) => items[i].gap = Some(g.reason.clone()),
        }
    }
    let summary = ItemKind::ALL
        .iter()
        .map(|k| {
            (
                k.name().to_owned(),
                Tally::of(items.iter().filter(|i| i.kind == *k)),
            )
        })
        .collect();
    let required = Tally::of(items.iter().filter(|i| i.kind.required()));
    Coverage {
        scenarios: reports.len(),
        summary,
        required,
        items,
        stale_gaps,
    }
}

impl Coverage {
    /// The JSON Schema of the JSON document (`rules schema coverage-output`).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Coverage)).unwrap_or_default()
    }

    /// The JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Items not exercised (with or without a reason).
    pub fn missing(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| !i.exercised)
    }

    /// The text report: a table of the kinds, then every item by kind — `✓` with the
    /// first steps that exercised it, `–` not exercised with the gaps file's reason, `✗`
    /// not exercised and unexplained — then stale gaps.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "coverage of {} scenarios:", self.scenarios);
        let _ = writeln!(
            out,
            "  {:<18} {:>9} {:>6} {:>8}  {:>9}",
            "", "exercised", "total", "percent", "explained"
        );
        let row = |out: &mut String, name: &str, t: &Tally| {
            let _ = writeln!(
                out,
                "  {:<18} {:>9} {:>6} {:>7.1}%  {:>9}",
                name, t.exercised, t.total, t.percent, t.explained
            );
        };
        for k in ItemKind::ALL {
            if let Some(t) = self.summary.get(k.name()) {
                row(&mut out, plural(k), t);
            }
        }
        row(&mut out, "required (r+v+e)", &self.required);
        for k in ItemKind::ALL {
            let _ = writeln!(out, "{}:", plural(k));
            for i in self.items.iter().filter(|i| i.kind == k) {
                let src = i
                    .source
                    .as_deref()
                    .map_or_else(String::new, |s| format!(" [{s}]"));
                let (mark, what) = match (i.exercised, &i.gap) {
                    (true, _) => ("✓", self.by_steps(i, 3)),
                    (false, Some(reason)) => ("–", format!("not exercised: {reason}")),
                    (false, None) => ("✗", "not exercised, no reason given".to_owned()),
                };
                let _ = writeln!(out, "  {mark} {}{src}: {what}", i.id);
            }
        }
        for g in &self.stale_gaps {
            let _ = writeln!(
                out,
                "stale gap: {} {}: {} (remove it from the gaps file)",
                g.kind.name(),
                g.id,
                g.problem
            );
        }
        out
    }

    /// The first `max` steps that exercised `item` (`file.yaml#3`), and how many more.
    pub fn by_steps(&self, item: &Item, max: usize) -> String {
        let mut s: Vec<String> = item.by.iter().take(max).map(ToString::to_string).collect();
        if item.by.len() > max {
            s.push(format!("… {} more", item.by.len() - max));
        }
        s.join(", ")
    }
}

/// The kind's plural, for tables.
pub fn plural(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Rule => "rules",
        ItemKind::Remedy => "remedy variants",
        ItemKind::Error => "error entries",
        ItemKind::Transition => "transitions",
        ItemKind::Tag => "seed tags",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_tags_are_read_from_sources() {
        assert_eq!(seed_tag("S7a").as_deref(), Some("S7"));
        assert_eq!(seed_tag("S21").as_deref(), Some("S21"));
        assert_eq!(seed_tag("S22"), None);
        assert_eq!(seed_tag("rms-api"), None);
        assert_eq!(seed_tag("S1ab"), None);
        assert_eq!(seed_tag("S"), None);
    }
}
