//! The rules file: its types ([`file`]), loading with source positions, validation, `lint`
//! and the status graph.
//!
//! A [`RuleSet`] is a rules file that loaded without errors: every guard parsed and
//! type-checked, every reference resolved. It is what the [`Engine`](crate::Engine) is
//! built from. Its warnings (shadowed rules, unreachable statuses) are kept for `lint`.

mod diagnostic;
mod diagnostic_position {
    pub use super::diagnostic::line_column;
}
pub mod file;
mod graph;
mod lint;
mod load;
mod source_map;
pub use diagnostic_position::line_column;
pub use source_map::SourceMap;

use std::collections::BTreeMap;

pub use diagnostic::{Diagnostic, Level, RulesError};
pub use file::{
    ErrorEntry, Lang, Retry, Rule, RulesFile, Severity, SuccessEntry, Text, TransportFailure,
};
pub use graph::{render as render_graph, GraphFormat};
pub(crate) use load::RuleGuards;
pub use load::{is_source_tag, EMBEDDED_NAME, EMBEDDED_RULES};

use crate::expr::SentinelGroup;
use crate::model::Duration;

/// A loaded, checked and compiled rules file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    path: String,
    file: RulesFile,
    pub(crate) guards: Vec<RuleGuards>,
    pub(crate) sentinels: Vec<SentinelGroup>,
    timing: BTreeMap<String, Duration>,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// The rule set shipped in the binary (`rules/rakuten_pay.yaml`).
    pub fn embedded() -> Result<RuleSet, RulesError> {
        RuleSet::from_yaml(EMBEDDED_NAME, EMBEDDED_RULES)
    }

    /// Loads a rules file from disk.
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<RuleSet, RulesError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text =
            crate::model::limits::read_file_capped(path).map_err(|source| RulesError::Io {
                path: name.clone(),
                source,
            })?;
        RuleSet::from_yaml(&name, &text)
    }

    /// Loads a rules file from its text; `name` is used in diagnostics.
    pub fn from_yaml(name: &str, text: &str) -> Result<RuleSet, RulesError> {
        // A byte-order mark is not part of the rules (spans are then counted without it).
        load::load(name, text.strip_prefix('\u{feff}').unwrap_or(text))
    }

    /// Where the rules came from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file as written.
    pub fn file(&self) -> &RulesFile {
        &self.file
    }

    /// A timing fact by name (`result_poll_interval`, `license_activation_max`, …).
    pub fn timing(&self, name: &str) -> Option<Duration> {
        self.timing.get(name).copied()
    }

    /// What `lint` warns about.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The JSON Schema of rules files.
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::schema_for!(RulesFile);
        serde_json::to_value(schema).unwrap_or_default()
    }
}

/// Text as error matching compares it: width-normalised (NFKC: `ＡＰＩ` → `API`, `ｴﾗｰ` →
/// `エラー`, the ideographic space → a space), then lowercase, without whitespace.
pub(crate) fn normalize(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfkc()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}
