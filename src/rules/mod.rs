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

/// The embedded rules as JSON, written by `build.rs` from `rules/rakuten_pay.yaml` (empty
/// if it could not be read there).
const EMBEDDED_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/rakuten_pay.json"));

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
    facts: Timing,
    warnings: Vec<Diagnostic>,
}

/// The timing facts the Rust side itself reads (the client's rate limit, the simulated
/// OMS's poll, the simulated RMS's licence and auto-cancel). The loader refuses a rules
/// file without any of them, so none has a silent fallback in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// S5: the OMS fetches results every 5 minutes.
    pub result_poll_interval: Duration,
    /// S17: a renewed key works after at most this long.
    pub license_activation_max: Duration,
    /// A licence key lasts this long (rms-api, likely).
    pub license_lifetime: Duration,
    /// Unconfirmed orders are cancelled after this long (rms-api, likely).
    pub auto_cancel_after: Duration,
    /// One request per this long, per shop (rms-api, likely).
    pub request_interval: Duration,
    /// RMS's time zone, as an offset east of UTC (JST, +9h).
    pub rms_utc_offset: Duration,
}

impl Timing {
    /// The names, as the rules file's `timing:` table writes them.
    pub const NAMES: [&'static str; 6] = [
        "result_poll_interval",
        "license_activation_max",
        "license_lifetime",
        "auto_cancel_after",
        "request_interval",
        "rms_utc_offset",
    ];

    pub(crate) fn from_table(t: &BTreeMap<String, Duration>) -> Option<Timing> {
        let get = |k: &str| t.get(k).copied();
        Some(Timing {
            result_poll_interval: get("result_poll_interval")?,
            license_activation_max: get("license_activation_max")?,
            license_lifetime: get("license_lifetime")?,
            auto_cancel_after: get("auto_cancel_after")?,
            request_interval: get("request_interval")?,
            rms_utc_offset: get("rms_utc_offset")?,
        })
    }

    /// When the shop's licence key expires: the explicit date if the shop gave one, else
    /// 23:59:59 (RMS's time) of the day `license_lifetime` after it was issued — the same
    /// reading as the rules' `license-expired` guard.
    pub fn license_expiry(&self, shop: &crate::model::Shop) -> Option<crate::model::Timestamp> {
        if let Some(t) = shop.license_expires_at {
            return Some(t);
        }
        let issued = shop.license_issued_at?;
        let offset = self.rms_utc_offset.as_secs();
        let local = issued
            .unix_seconds()
            .checked_add(self.license_lifetime.as_secs())?
            .checked_add(offset)?;
        let end = local.div_euclid(86_400) * 86_400 + 86_399 - offset;
        Some(crate::model::Timestamp::from_unix(
            end,
            i32::try_from(offset).ok()?,
        ))
    }
}

impl RuleSet {
    /// The rule set shipped in the binary (`rules/rakuten_pay.yaml`).
    pub fn embedded() -> Result<RuleSet, RulesError> {
        // The build script's JSON copy of the YAML is read much faster; the YAML itself is
        // the fallback (and the source of every located error).
        if let Ok(file) = serde_json::from_str::<RulesFile>(EMBEDDED_JSON) {
            return load::load_parsed(EMBEDDED_NAME, EMBEDDED_RULES, file);
        }
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

    /// The status new orders start in (the one `initial: true`; 100), the only one a
    /// confirmation may be sent — or resent after a read-back — in.
    pub fn initial_status(&self) -> i64 {
        self.file
            .statuses
            .iter()
            .find(|s| s.initial)
            .map_or(i64::MIN, |s| s.code)
    }

    /// The status `code` names, if the rules know it.
    pub fn status(&self, code: i64) -> Option<&file::Status> {
        self.file.statuses.iter().find(|s| s.code == code)
    }

    /// The label the OMS shows for an order RMS holds in `code` (S5), if the status sets one.
    pub fn label_of(&self, code: i64) -> Option<crate::model::Label> {
        self.file
            .statuses
            .iter()
            .find(|s| s.code == code)
            .and_then(|s| s.label)
    }

    /// The error entry a confirmation of an order in `code` meets, if the status names one.
    pub fn confirm_error_of(&self, code: i64) -> Option<&ErrorEntry> {
        let id = self
            .file
            .statuses
            .iter()
            .find(|s| s.code == code)?
            .confirm_error
            .as_deref()?;
        self.file.errors.iter().find(|e| e.id == id)
    }

    /// The timing facts the code reads, typed (every one is required by the loader).
    pub fn facts(&self) -> &Timing {
        &self.facts
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

#[cfg(test)]
mod embedded_copy {
    use super::*;

    /// The build-time JSON copy reads as the YAML does: the same file, field for field.
    #[test]
    fn the_json_copy_is_the_yaml() {
        assert!(!EMBEDDED_JSON.is_empty(), "build.rs wrote no copy");
        let from_json: RulesFile = serde_json::from_str(EMBEDDED_JSON).unwrap();
        let from_yaml = RuleSet::from_yaml(EMBEDDED_NAME, EMBEDDED_RULES).unwrap();
        assert_eq!(&from_json, from_yaml.file());
        assert_eq!(RuleSet::embedded().unwrap().file(), from_yaml.file());
    }
}
