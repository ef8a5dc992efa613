//! Loading a rules file: YAML → [`RulesFile`] → checked and compiled [`RuleSet`].
//!
//! Stages: serde_yaml reads the structure (unknown fields and wrong types stop here, with
//! line and column); the [`SourceMap`] finds where every value was written; then every
//! guard is parsed and type-checked, every reference (sentinel fields, error ids, `next`
//! steps, statuses) resolved, and `lint`'s warnings computed. All problems are collected,
//! not just the first.

use std::collections::{BTreeMap, HashSet};

use super::diagnostic::{line_column, Diagnostic, Level, RulesError};
use super::file::{RulesFile, Text};
use super::lint;
use super::source_map::SourceMap;
use super::RuleSet;
use crate::expr::{self, vocabulary, Compiled, Expr, ExprError, Scope, SentinelGroup};
use crate::model::{Action, ActionSet, Duration};

/// The rules file shipped with the binary.
pub const EMBEDDED_RULES: &str = include_str!("../../rules/rakuten_pay.yaml");
/// The name diagnostics give the embedded file.
pub const EMBEDDED_NAME: &str = "rules/rakuten_pay.yaml";

/// The checked guards of one rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleGuards {
    pub actions: ActionSet,
    pub when: Compiled,
    /// The fields of `cite:`, shown beside a finding.
    pub cites: Vec<&'static vocabulary::FieldDef>,
    /// One per remedy variant; `None` is "always".
    pub remedies: Vec<Option<Compiled>>,
}

pub(crate) struct Loader<'t> {
    pub text: &'t str,
    /// Where every value was written: built only when a diagnostic needs a position (a
    /// file that loads cleanly never pays for a second parse).
    map: std::cell::OnceCell<SourceMap>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn map(&self) -> &SourceMap {
        self.map.get_or_init(|| SourceMap::build(self.text))
    }

    /// A diagnostic at the value at `path` (or its whole scalar when `scalar` is given).
    pub fn at(&mut self, level: Level, path: &str, message: String, help: Option<String>) {
        let span = self.map().start(path).map(|s| {
            // Underline to the end of the line: enough to see which value is meant.
            let end = self.text[s..].find('\n').map_or(self.text.len(), |n| s + n);
            (s, end.max(s))
        });
        self.push(level, path, span, message, None, help);
    }

    /// A diagnostic at the scalar string `value` at `path`.
    pub fn at_scalar(
        &mut self,
        level: Level,
        path: &str,
        value: &str,
        message: String,
        help: Option<String>,
    ) {
        let span = self.map().scalar_range(self.text, path, value);
        self.push(level, path, span, message, None, help);
    }

    pub fn push(
        &mut self,
        level: Level,
        path: &str,
        span: Option<(usize, usize)>,
        message: String,
        label: Option<String>,
        help: Option<String>,
    ) {
        let (line, column) = match span {
            Some((s, _)) => {
                let (l, c) = line_column(self.text, s);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.diagnostics.push(Diagnostic {
            level,
            message,
            path: path.to_owned(),
            span,
            line,
            column,
            label,
            help,
        });
    }

    fn expr_error(&mut self, path: &str, src: &str, err: &ExprError) {
        let span = err.span();
        let file_span = self
            .map()
            .sub_range(self.text, path, src, span.start, span.end);
        let label = match err {
            ExprError::Parse { .. } => "here",
            ExprError::Check { .. } => "this",
        };
        self.push(
            Level::Error,
            path,
            file_span,
            err.message().to_owned(),
            Some(label.to_owned()),
            err.help().map(str::to_owned),
        );
    }

    /// Parses and checks one guard expression.
    fn guard(&mut self, path: &str, src: &str, scope: &Scope<'_>) -> Option<(Expr, Compiled)> {
        let parsed = match expr::parse_expr(src) {
            Ok(e) => e,
            Err(err) => {
                self.expr_error(path, src, &err);
                return None;
            }
        };
        match expr::compile(&parsed, scope) {
            Ok(c) => Some((parsed, c)),
            Err(err) => {
                self.expr_error(path, src, &err);
                None
            }
        }
    }
}

/// Whether `s` is a valid `source`: a seed tag (`S1`…`S21`, `S7a`), `rms-api` or `preflight`.
pub fn is_source_tag(s: &str) -> bool {
    if s == "rms-api" || s == "preflight" {
        return true;
    }
    let Some(rest) = s.strip_prefix('S') else {
        return false;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &rest[digits.len()..];
    let Ok(n) = digits.parse::<u32>() else {
        return false;
    };
    (1..=21).contains(&n)
        && !digits.starts_with('0')
        && (suffix.is_empty()
            || (suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_lowercase())))
}

pub(crate) fn load(path: &str, text: &str) -> Result<RuleSet, RulesError> {
    let invalid = |diagnostics: Vec<Diagnostic>| RulesError::Invalid {
        path: path.to_owned(),
        text: text.to_owned(),
        diagnostics,
    };
    let mut loader = Loader {
        text,
        map: std::cell::OnceCell::new(),
        diagnostics: Vec::new(),
    };

    // Stage 1: structure.
    let file: RulesFile = match crate::model::from_yaml(text) {
        Ok(f) => f,
        Err(e) => {
            let span = e.index.map(|s| {
                let s = s.min(text.len());
                let end = text[s..].find('\n').map_or(text.len(), |n| s + n);
                (s, end.max(s))
            });
            loader.push(Level::Error, &e.path, span, e.message, None, None);
            return Err(invalid(loader.diagnostics));
        }
    };

    load_parsed_with(loader, path, file)
}

/// [`load`] for a file whose structure was already read (the embedded rules, parsed from
/// their build-time JSON copy): the same meaning checks, the same diagnostics.
pub(crate) fn load_parsed(path: &str, text: &str, file: RulesFile) -> Result<RuleSet, RulesError> {
    let loader = Loader {
        text,
        map: std::cell::OnceCell::new(),
        diagnostics: Vec::new(),
    };
    load_parsed_with(loader, path, file)
}

fn load_parsed_with(
    mut loader: Loader<'_>,
    path: &str,
    file: RulesFile,
) -> Result<RuleSet, RulesError> {
    let text = loader.text;
    let invalid = |diagnostics: Vec<Diagnostic>| RulesError::Invalid {
        path: path.to_owned(),
        text: text.to_owned(),
        diagnostics,
    };
    if file.version != 1 {
        loader.at(
            Level::Error,
            "version",
            format!("unknown rules file version `{}`", file.version),
            Some("this rms-preflight reads version 1".into()),
        );
        return Err(invalid(loader.diagnostics));
    }

    // Stage 2: meaning.
    let timing: BTreeMap<String, Duration> = file
        .timing
        .iter()
        .map(|(k, v)| (k.clone(), v.value))
        .collect();
    for name in super::Timing::NAMES {
        if !timing.contains_key(name) {
            loader.at(
                Level::Error,
                "timing",
                format!("missing timing fact `{name}`"),
                Some("the client and the simulator read it: add it with a `value`, a `source` and a `note`".into()),
            );
        }
    }
    check_sources(&mut loader, &file);
    check_texts(&mut loader, &file);
    let sentinels = sentinel_groups(&mut loader, &file);
    let sentinel_names: Vec<String> = file.sentinels.iter().map(|s| s.id.clone()).collect();
    let error_ids: Vec<String> = file.errors.iter().map(|e| e.id.clone()).collect();
    let error_retries: Vec<&'static str> = file.errors.iter().map(|e| e.retry.name()).collect();
    unique_ids(
        &mut loader,
        "rules",
        file.rules.iter().map(|r| r.id.as_str()),
    );
    unique_ids(
        &mut loader,
        "errors",
        file.errors.iter().map(|e| e.id.as_str()),
    );
    unique_ids(
        &mut loader,
        "sentinels",
        file.sentinels.iter().map(|s| s.id.as_str()),
    );

    let mut guards = Vec::with_capacity(file.rules.len());
    let mut asts = Vec::with_capacity(file.rules.len());
    for (i, rule) in file.rules.iter().enumerate() {
        let actions: ActionSet = rule.actions.iter().copied().collect();
        if rule.actions.is_empty() {
            loader.at(
                Level::Error,
                &format!("rules[{i}].actions"),
                format!("rule `{}` applies to no action", rule.id),
                Some("list the actions it checks, e.g. `[confirm]`".into()),
            );
        }
        let scope = Scope {
            timing: Some(&timing),
            sentinels: &sentinel_names,
            error_ids: &error_ids,
            error_retries: &error_retries,
            order_available: !actions.contains(Action::Import),
        };
        let mut cites = Vec::with_capacity(rule.cite.len());
        for (j, path) in rule.cite.iter().enumerate() {
            match vocabulary::field_by_path(path) {
                Some(def) if !(def.needs_order() && actions.contains(Action::Import)) => {
                    cites.push(def)
                }
                _ => {
                    let help = vocabulary::closest(path, vocabulary::FIELDS.iter().map(|f| f.path))
                        .map(|c| format!("did you mean `{c}`?"));
                    loader.at_scalar(
                        Level::Error,
                        &format!("rules[{i}].cite[{j}]"),
                        path,
                        format!("unknown field `{path}` in `cite`"),
                        help,
                    );
                }
            }
        }
        let when = loader.guard(&format!("rules[{i}].when"), &rule.when, &scope);
        if rule.remedy.is_empty() {
            loader.at(
                Level::Error,
                &format!("rules[{i}]"),
                format!("rule `{}` has no remedy", rule.id),
                Some("add `remedy:` with at least one step".into()),
            );
        }
        let mut remedies = Vec::with_capacity(rule.remedy.len());
        for (j, remedy) in rule.remedy.iter().enumerate() {
            if remedy.steps.is_empty() {
                loader.at(
                    Level::Error,
                    &format!("rules[{i}].remedy[{j}]"),
                    format!("a remedy of rule `{}` has no steps", rule.id),
                    None,
                );
            }
            remedies.push(match &remedy.when {
                None => None,
                Some(src) => loader
                    .guard(&format!("rules[{i}].remedy[{j}].when"), src, &scope)
                    .map(|(_, c)| c),
            });
        }
        if let Some((ast, compiled)) = when {
            if remedies.len() == rule.remedy.len()
                && rule
                    .remedy
                    .iter()
                    .zip(&remedies)
                    .all(|(r, c)| r.when.is_none() || c.is_some())
            {
                asts.push(Some(ast));
                guards.push(RuleGuards {
                    actions,
                    when: compiled,
                    cites,
                    remedies,
                });
                continue;
            }
        }
        asts.push(None);
    }

    check_errors(&mut loader, &file);
    for (i, s) in file.statuses.iter().enumerate() {
        if let Some(id) = &s.confirm_error {
            if !error_ids.contains(id) {
                let help = vocabulary::closest(id, error_ids.iter().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`?"));
                loader.at_scalar(
                    Level::Error,
                    &format!("statuses[{i}].confirm_error"),
                    id,
                    format!("unknown error id `{id}`"),
                    help,
                );
            }
        }
    }
    lint::statuses(&mut loader, &file);
    lint::shadowed_rules(&mut loader, &file, &asts);
    lint::shadowed_errors(&mut loader, &file);
    lint::action_names(&mut loader, &file);

    if loader.diagnostics.iter().any(Diagnostic::is_error) {
        let mut diagnostics = loader.diagnostics;
        diagnostics.sort_by_key(|d| (std::cmp::Reverse(d.level), d.span.map(|s| s.0)));
        return Err(invalid(diagnostics));
    }
    let Some(facts) = super::Timing::from_table(&timing) else {
        // Each missing name was reported above.
        return Err(invalid(loader.diagnostics));
    };
    Ok(RuleSet {
        path: path.to_owned(),
        file,
        guards,
        sentinels,
        timing,
        facts,
        warnings: loader.diagnostics,
    })
}

fn check_sources(loader: &mut Loader<'_>, file: &RulesFile) {
    let mut tags: Vec<(String, &str)> = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        tags.push((format!("rules[{i}].source"), &r.source));
        for (j, rem) in r.remedy.iter().enumerate() {
            if let Some(s) = &rem.source {
                tags.push((format!("rules[{i}].remedy[{j}].source"), s));
            }
        }
    }
    for (i, e) in file.errors.iter().enumerate() {
        tags.push((format!("errors[{i}].source"), &e.source));
    }
    for (i, e) in file.success.iter().enumerate() {
        tags.push((format!("success[{i}].source"), &e.source));
    }
    for (i, t) in file.transitions.iter().enumerate() {
        tags.push((format!("transitions[{i}].source"), &t.source));
    }
    for (i, s) in file.sentinels.iter().enumerate() {
        tags.push((format!("sentinels[{i}].source"), &s.source));
    }
    for (name, t) in &file.timing {
        tags.push((format!("timing.{name}.source"), &t.source));
    }
    for (path, tag) in tags {
        if !is_source_tag(tag) {
            loader.at_scalar(
                Level::Error,
                &path,
                tag,
                format!("unknown source `{tag}`"),
                Some(
                    "a source is a seed tag `S1`…`S21` (`S7a`–`S7c`), `rms-api` or `preflight`"
                        .into(),
                ),
            );
        }
    }
}

fn check_texts(loader: &mut Loader<'_>, file: &RulesFile) {
    let mut texts: Vec<(String, &Text)> = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        texts.push((format!("rules[{i}].message"), &r.message));
        for (j, rem) in r.remedy.iter().enumerate() {
            for (k, s) in rem.steps.iter().enumerate() {
                texts.push((format!("rules[{i}].remedy[{j}].steps[{k}]"), s));
            }
        }
    }
    for (i, e) in file.errors.iter().enumerate() {
        texts.push((format!("errors[{i}].message"), &e.message));
        for (k, s) in e.remedy.iter().enumerate() {
            texts.push((format!("errors[{i}].remedy[{k}]"), s));
        }
    }
    for (i, e) in file.success.iter().enumerate() {
        texts.push((format!("success[{i}].message"), &e.message));
    }
    for (path, text) in texts {
        for (lang, s) in [("ja", &text.ja), ("en", &text.en)] {
            if s.trim().is_empty() {
                loader.at(
                    Level::Error,
                    &format!("{path}.{lang}"),
                    format!("empty `{lang}` text"),
                    Some("every message and remedy step is written in both languages".into()),
                );
            }
        }
    }
}

fn unique_ids<'a>(loader: &mut Loader<'_>, table: &str, ids: impl Iterator<Item = &'a str>) {
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            let path = format!("{table}[{i}].id");
            loader.at_scalar(
                Level::Error,
                &path,
                id,
                format!("duplicate id `{id}` in `{table}`"),
                Some("ids name findings in the output: make each one unique".into()),
            );
        }
    }
}

fn sentinel_groups(loader: &mut Loader<'_>, file: &RulesFile) -> Vec<SentinelGroup> {
    let mut groups = Vec::new();
    for (i, s) in file.sentinels.iter().enumerate() {
        let mut group = SentinelGroup {
            name: s.id.clone(),
            value: s.value,
            order_fields: Vec::new(),
            package_fields: Vec::new(),
            anywhere: s.anywhere,
            except_order_fields: Vec::new(),
            except_package_fields: Vec::new(),
            scan_order_fields: Vec::new(),
            scan_package_fields: Vec::new(),
        };
        if s.fields.is_empty() && !s.anywhere {
            loader.at(
                Level::Error,
                &format!("sentinels[{i}].fields"),
                format!("sentinel `{}` lists no fields", s.id),
                None,
            );
        }
        for (j, f) in s.fields.iter().enumerate() {
            let path = format!("sentinels[{i}].fields[{j}]");
            if let Some(name) = f.strip_prefix("order.PackageModelList[].") {
                match vocabulary::package_field(name) {
                    Some(def) if def.ty.base == vocabulary::Base::Int => {
                        group.package_fields.push(def)
                    }
                    _ => {
                        let help = vocabulary::closest(
                            name,
                            vocabulary::PACKAGE_FIELDS.iter().map(|f| f.name),
                        )
                        .map(|c| format!("did you mean `order.PackageModelList[].{c}`?"));
                        loader.at_scalar(
                            Level::Error,
                            &path,
                            f,
                            format!("unknown package amount `{f}`"),
                            help,
                        );
                    }
                }
            } else {
                match vocabulary::field_by_path(f) {
                    Some(def) if def.ty.base == vocabulary::Base::Int && def.needs_order() => {
                        group.order_fields.push(def)
                    }
                    _ => {
                        let help = vocabulary::closest(
                            f,
                            vocabulary::FIELDS
                                .iter()
                                .filter(|d| d.ty.base == vocabulary::Base::Int)
                                .map(|d| d.path),
                        )
                        .map(|c| format!("did you mean `{c}`?"));
                        loader.at_scalar(Level::Error, &path, f, format!("unknown order amount `{f}`"), help.or_else(|| Some("a sentinel field is `order.<amount>` or `order.PackageModelList[].<amount>`".into())));
                    }
                }
            }
        }
        groups.push(group);
    }
    // `except:` names other groups; their fields are left to them.
    for (i, s) in file.sentinels.iter().enumerate() {
        for (j, other) in s.except.iter().enumerate() {
            match groups.iter().position(|g| &g.name == other) {
                Some(k) if k != i => {
                    let (order, package) = (
                        groups[k].order_fields.clone(),
                        groups[k].package_fields.clone(),
                    );
                    groups[i].except_order_fields.extend(order);
                    groups[i].except_package_fields.extend(package);
                }
                _ => {
                    let names = groups
                        .iter()
                        .filter(|g| g.name != s.id)
                        .map(|g| g.name.as_str());
                    let help =
                        vocabulary::closest(other, names).map(|c| format!("did you mean `{c}`?"));
                    loader.at_scalar(
                        Level::Error,
                        &format!("sentinels[{i}].except[{j}]"),
                        other,
                        format!("unknown sentinel `{other}` in `except`"),
                        help,
                    );
                }
            }
        }
    }
    // An `except`ed field listed by the group itself would be both reported and left.
    for g in &mut groups {
        let (eo, ep) = (
            g.except_order_fields.clone(),
            g.except_package_fields.clone(),
        );
        g.order_fields
            .retain(|f| !eo.iter().any(|e| std::ptr::eq(*e, *f)));
        g.package_fields
            .retain(|f| !ep.iter().any(|e| std::ptr::eq(*e, *f)));
        g.prepare();
    }
    groups
}

/// A success entry must say what it recognises (a message type or a code: a status alone
/// would make every answer a success), say how sure it is when it is a fact about RMS, and
/// never claim a code the error table classifies.
fn check_success(loader: &mut Loader<'_>, file: &RulesFile) {
    for (i, e) in file.success.iter().enumerate() {
        let m = &e.matcher;
        if m.message_types.is_empty() && m.codes.is_empty() {
            loader.at(
                Level::Error,
                &format!("success[{i}].match"),
                "a success entry needs `message_types` or `codes`".into(),
                Some("an HTTP status alone is no evidence that a call went through".into()),
            );
        }
        if e.source == "rms-api" && e.confidence.is_none() {
            loader.at(
                Level::Error,
                &format!("success[{i}].source"),
                "a success entry from `rms-api` needs `confidence`".into(),
                Some("say how sure the fact is: `sure`, `likely` or `unsure`".into()),
            );
        }
        for (k, s) in m.http_status.iter().enumerate() {
            if !(100..=599).contains(s) {
                loader.at(
                    Level::Error,
                    &format!("success[{i}].match.http_status[{k}]"),
                    format!("`{s}` is not an HTTP status"),
                    None,
                );
            }
        }
        for (field, list) in [("message_types", &m.message_types), ("codes", &m.codes)] {
            for (k, v) in list.iter().enumerate() {
                if v.trim().is_empty() {
                    loader.at(
                        Level::Error,
                        &format!("success[{i}].match.{field}[{k}]"),
                        format!("an empty `{field}` entry"),
                        None,
                    );
                }
            }
        }
        for (k, code) in m.codes.iter().enumerate() {
            if let Some(err) = file.errors.iter().find(|x| x.matcher.codes.contains(code)) {
                loader.at_scalar(
                    Level::Error,
                    &format!("success[{i}].match.codes[{k}]"),
                    code,
                    format!("code `{code}` is both a success and error `{}`", err.id),
                    Some("a code means one thing: remove it from one of the tables".into()),
                );
            }
        }
    }
}

fn check_errors(loader: &mut Loader<'_>, file: &RulesFile) {
    check_success(loader, file);
    let fallbacks: Vec<usize> = file
        .errors
        .iter()
        .enumerate()
        .filter(|(_, e)| e.matcher.fallback)
        .map(|(i, _)| i)
        .collect();
    match fallbacks.as_slice() {
        [] => loader.at(
            Level::Error,
            "errors",
            "no error entry has `match: {fallback: true}`".into(),
            Some(
                "add a last entry for errors nothing else recognises, so every error gets a remedy"
                    .into(),
            ),
        ),
        [_] => {}
        [_, rest @ ..] => {
            for &i in rest {
                loader.at(
                    Level::Error,
                    &format!("errors[{i}].match.fallback"),
                    format!("error `{}` is a second fallback", file.errors[i].id),
                    Some("exactly one entry may be the fallback".into()),
                );
            }
        }
    }
    for (i, e) in file.errors.iter().enumerate() {
        let m = &e.matcher;
        let has_pattern = !(m.http_status.is_empty()
            && m.codes.is_empty()
            && m.text.is_empty()
            && m.transport.is_empty());
        if m.fallback && has_pattern {
            loader.at(
                Level::Error,
                &format!("errors[{i}].match"),
                format!("error `{}` is the fallback and also has patterns", e.id),
                Some("the fallback matches what nothing else does; remove its patterns".into()),
            );
        }
        if !m.fallback && !has_pattern {
            loader.at(
                Level::Error,
                &format!("errors[{i}].match"),
                format!("error `{}` matches nothing", e.id),
                Some("give it `http_status`, `codes`, `text` or `transport`".into()),
            );
        }
        for (k, t) in m.text.iter().enumerate() {
            if super::normalize(t).is_empty() {
                loader.at(
                    Level::Error,
                    &format!("errors[{i}].match.text[{k}]"),
                    "an empty text pattern matches everything".into(),
                    None,
                );
            }
        }
        for (k, s) in m.http_status.iter().enumerate() {
            if !(100..=599).contains(s) {
                loader.at(
                    Level::Error,
                    &format!("errors[{i}].match.http_status[{k}]"),
                    format!("`{s}` is not an HTTP status"),
                    None,
                );
            }
        }
        if e.remedy.is_empty() {
            loader.at(
                Level::Error,
                &format!("errors[{i}]"),
                format!("error `{}` has no remedy", e.id),
                Some("every error the engine can classify needs a remedy".into()),
            );
        }
        if e.next.is_empty() {
            loader.at(
                Level::Error,
                &format!("errors[{i}].next"),
                format!("error `{}` has no next step", e.id),
                None,
            );
        }
        for (k, step) in e.next.iter().enumerate() {
            if Action::from_name(step).is_none() && !file.manual_steps.contains_key(step) {
                let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                names.extend(file.manual_steps.keys().map(String::as_str));
                let help = vocabulary::closest(step, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| "a next step is an action or a `manual_steps` entry".into());
                loader.at_scalar(
                    Level::Error,
                    &format!("errors[{i}].next[{k}]"),
                    step,
                    format!("unknown next step `{step}`"),
                    Some(help),
                );
            }
        }
    }
}
