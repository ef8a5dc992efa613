//! Checks of a rules file beyond "does it load": the status graph, shadowed rules and
//! error entries, missing display names. Problems that make the file unusable are errors;
//! the rest are warnings that `rms-preflight lint` shows.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::diagnostic::Level;
use super::file::RulesFile;
use super::load::Loader;
use super::normalize;
use crate::expr::{BinaryOp, Expr, ExprKind};
use crate::model::{Action, ActionSet};

/// Status codes must be unique, one must be initial, transitions must name known statuses,
/// and every status must be reachable from the initial one.
pub(crate) fn statuses(loader: &mut Loader<'_>, file: &RulesFile) {
    let mut index: HashMap<i64, usize> = HashMap::new();
    for (i, s) in file.statuses.iter().enumerate() {
        if index.insert(s.code, i).is_some() {
            loader.at(
                Level::Error,
                &format!("statuses[{i}].code"),
                format!("duplicate status `{}`", s.code),
                None,
            );
        }
    }
    let initial: Vec<i64> = file
        .statuses
        .iter()
        .filter(|s| s.initial)
        .map(|s| s.code)
        .collect();
    if initial.len() != 1 {
        loader.at(
            Level::Error,
            "statuses",
            format!(
                "{} statuses are `initial`; exactly one must be",
                initial.len()
            ),
            Some("mark the status new orders start in (100) with `initial: true`".into()),
        );
    }
    let mut edges: HashMap<i64, Vec<i64>> = HashMap::new();
    for (i, t) in file.transitions.iter().enumerate() {
        for (end, code) in [("from", t.from), ("to", t.to)] {
            if !index.contains_key(&code) {
                loader.at(
                    Level::Error,
                    &format!("transitions[{i}].{end}"),
                    format!("unknown status `{code}`"),
                    Some("add it to `statuses` or fix the code".into()),
                );
            }
        }
        if let Some(&si) = index.get(&t.from) {
            if file.statuses[si].terminal {
                loader.at(
                    Level::Warning,
                    &format!("transitions[{i}]"),
                    format!(
                        "status `{}` is terminal but this transition leaves it",
                        t.from
                    ),
                    None,
                );
            }
        }
        edges.entry(t.from).or_default().push(t.to);
    }
    let Some(&start) = initial.first() else {
        return;
    };
    let mut seen: HashSet<i64> = HashSet::from([start]);
    let mut todo = vec![start];
    while let Some(s) = todo.pop() {
        for &next in edges.get(&s).into_iter().flatten() {
            if seen.insert(next) {
                todo.push(next);
            }
        }
    }
    for (i, s) in file.statuses.iter().enumerate() {
        if !seen.contains(&s.code) {
            loader.at(
                Level::Warning,
                &format!("statuses[{i}]"),
                format!(
                    "status `{}` is unreachable from `{start}` in `transitions`",
                    s.code
                ),
                Some("add the transition that leads to it, or remove it".into()),
            );
        }
    }
}

/// The top-level `and` operands of a guard.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, l, r) => {
            let mut v = conjuncts(l);
            v.extend(conjuncts(r));
            v
        }
        _ => vec![e],
    }
}

/// A rule is shadowed when another rule, at least as severe and applying to all its
/// actions, fires whenever it does (its `and` operands are a subset): it can never change
/// a decision. Detected syntactically, so it is a warning, not a proof.
pub(crate) fn shadowed_rules(loader: &mut Loader<'_>, file: &RulesFile, asts: &[Option<Expr>]) {
    for (b, rule_b) in file.rules.iter().enumerate() {
        let Some(Some(ast_b)) = asts.get(b) else {
            continue;
        };
        let conj_b = conjuncts(ast_b);
        let actions_b: ActionSet = rule_b.actions.iter().copied().collect();
        for (a, rule_a) in file.rules.iter().enumerate() {
            if a == b {
                continue;
            }
            let Some(Some(ast_a)) = asts.get(a) else {
                continue;
            };
            let actions_a: ActionSet = rule_a.actions.iter().copied().collect();
            if rule_a.severity < rule_b.severity || !actions_b.is_subset(actions_a) {
                continue;
            }
            let conj_a = conjuncts(ast_a);
            let implied = conj_a.iter().all(|ca| conj_b.iter().any(|cb| cb == ca));
            // Two identical rules shadow each other; report only the later one.
            let identical = implied
                && conj_a.len() == conj_b.len()
                && rule_a.severity == rule_b.severity
                && actions_a == actions_b;
            if implied && (!identical || a < b) {
                loader.at_scalar(
                    Level::Warning,
                    &format!("rules[{b}].id"),
                    &rule_b.id,
                    format!("rule `{}` is shadowed by `{}`", rule_b.id, rule_a.id),
                    Some(format!(
                        "whenever `{}` fires, `{}` fires too with severity `{}`: merge them or narrow `{}`",
                        rule_b.id,
                        rule_a.id,
                        rule_a.severity.name(),
                        rule_a.id
                    )),
                );
                break;
            }
        }
    }
}

/// An error entry is shadowed when an earlier entry matches everything it matches, at the
/// same strength (codes ⊇, the same normalised texts, statuses ⊇): classification never
/// picks it. A longer text that contains an earlier one is not shadowed: among text
/// matches the longest pattern wins.
pub(crate) fn shadowed_errors(loader: &mut Loader<'_>, file: &RulesFile) {
    for (b, eb) in file.errors.iter().enumerate() {
        let m = &eb.matcher;
        if m.fallback
            || (m.codes.is_empty()
                && m.text.is_empty()
                && m.http_status.is_empty()
                && m.transport.is_empty())
        {
            continue;
        }
        for ea in file.errors.iter().take(b) {
            if ea.matcher.fallback {
                continue;
            }
            let codes_a: BTreeSet<&str> = ea.matcher.codes.iter().map(String::as_str).collect();
            let codes = eb
                .matcher
                .codes
                .iter()
                .all(|c| codes_a.contains(c.as_str()));
            let texts = eb.matcher.text.iter().all(|tb| {
                let tb = normalize(tb);
                ea.matcher.text.iter().any(|ta| tb == normalize(ta))
            });
            let statuses = eb
                .matcher
                .http_status
                .iter()
                .all(|s| ea.matcher.http_status.contains(s));
            // A failure without an answer is matched only by an entry that names it too.
            let transport = eb
                .matcher
                .transport
                .iter()
                .all(|t| ea.matcher.transport.contains(t));
            if codes && texts && statuses && transport {
                loader.at_scalar(
                    Level::Warning,
                    &format!("errors[{b}].id"),
                    &eb.id,
                    format!("error `{}` is shadowed by `{}`", eb.id, ea.id),
                    Some(format!(
                        "`{}` comes first and matches everything `{}` matches",
                        ea.id, eb.id
                    )),
                );
                break;
            }
        }
    }
}

/// Every action should have a display name in both languages.
pub(crate) fn action_names(loader: &mut Loader<'_>, file: &RulesFile) {
    for action in Action::ALL {
        if !file.actions.contains_key(&action) {
            loader.at(
                Level::Warning,
                "actions",
                format!("action `{action}` has no display name"),
                Some(format!(
                    "add `{action}: {{ ja: …, en: … }}` under `actions`"
                )),
            );
        }
    }
}
