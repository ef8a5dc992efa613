//! The serde types of a rules file (`rules/*.yaml`), exactly as written.
//!
//! Unknown fields are errors (a misspelt `remedy` must not silently drop a remedy). The
//! JSON Schema shipped as `rules/rakuten_pay.schema.json` is generated from these types
//! (`rms-preflight rules schema`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Action, Duration};

/// A whole rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Format version; this tool reads version 1.
    pub version: u32,
    /// Display names of the actions.
    #[serde(default)]
    pub actions: BTreeMap<Action, Text>,
    /// Steps an error's `next` may name besides the actions.
    #[serde(default)]
    pub manual_steps: BTreeMap<String, Text>,
    /// Every RMS `orderProgress`.
    pub statuses: Vec<Status>,
    /// RMS's order state machine.
    pub transitions: Vec<Transition>,
    /// Durations rules and clients rely on, by name (`timing.<name>` in guards).
    #[serde(default)]
    pub timing: BTreeMap<String, TimingFact>,
    /// Values RMS uses for "not set".
    #[serde(default)]
    pub sentinels: Vec<Sentinel>,
    /// The pre-flight rules.
    pub rules: Vec<Rule>,
    /// How RMS says a call went through (`MessageModelList` messages that mean success).
    #[serde(default)]
    pub success: Vec<SuccessEntry>,
    /// The error → remedy table.
    pub errors: Vec<ErrorEntry>,
}

/// A text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub ja: String,
    pub en: String,
}

/// Output language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Text {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ja => &self.ja,
            Lang::En => &self.en,
        }
    }
}

/// How sure a fact about RMS is (see `shared/notes/rms-api-facts.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Sure,
    Likely,
    Unsure,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub code: i64,
    pub name: Text,
    /// Where new orders start (100).
    #[serde(default)]
    pub initial: bool,
    /// No transition leaves it.
    #[serde(default)]
    pub terminal: bool,
    /// The label the OMS shows once its poll reads this status (S5): `processing`
    /// (【楽天処理中】) or `processed` (【楽天処理済】); none keeps the label it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<crate::model::Label>,
    /// The error-table id a confirmation of an order in this status meets (a cancelled
    /// order: `order_cancelled`); the guard reports it when a read-back finds the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_error: Option<String>,
}

/// Who moves an order from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Shop,
    Rakuten,
    Buyer,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub from: i64,
    pub to: i64,
    pub by: Actor,
    /// The API function (`confirmOrder`) or the event (`screening`, `auto_cancel`).
    pub via: String,
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimingFact {
    pub value: Duration,
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
    pub note: Text,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sentinel {
    /// The name guards use: `sentinel("<id>")`.
    pub id: String,
    pub value: i64,
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
    /// `order.<field>` or `order.PackageModelList[].<field>`.
    pub fields: Vec<String>,
    /// Also every other integer of the order, wherever it is: every typed integer field
    /// and every integer under a key this tool does not know (a field RMS adds later, a
    /// nested model), named by its JSON path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anywhere: bool,
    /// Fields of these other sentinels are left to them (their own rule reports them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Deny,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// `S1`…`S21` (with a letter for S7a–c), `rms-api` or `preflight`.
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
    pub severity: Severity,
    pub actions: Vec<Action>,
    /// The guard: the rule fires when it is true.
    pub when: String,
    /// Fields whose values a finding shows beside its message (`batch.repeat_of`: the
    /// entry a confirmation repeats). Sentinel hits are always shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cite: Vec<String>,
    pub message: Text,
    /// Remedy variants, in order; each whose `when` holds is shown.
    pub remedy: Vec<Remedy>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remedy {
    /// Shown only when this guard holds (e.g. `shop.api_option`).
    #[serde(default)]
    pub when: Option<String>,
    /// Defaults to the rule's source.
    #[serde(default)]
    pub source: Option<String>,
    pub steps: Vec<Text>,
}

/// Whether and how a failed call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Sending again cannot help.
    Never,
    /// Only after the remedy (a new licence key, a fixed amount).
    AfterFix,
    /// Read the order back first; resend only while it is still confirmable.
    AfterReconcile,
}

impl Retry {
    /// The name in the rules file (`retry_of(…)` compares with it).
    pub fn name(self) -> &'static str {
        match self {
            Retry::Never => "never",
            Retry::AfterFix => "after_fix",
            Retry::AfterReconcile => "after_reconcile",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorEntry {
    pub id: String,
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
    #[serde(rename = "match")]
    pub matcher: ErrorMatch,
    pub retry: Retry,
    /// How long to wait before the retry.
    #[serde(default)]
    pub wait: Option<Duration>,
    /// What to do next, in order: action names or `manual_steps` ids.
    pub next: Vec<String>,
    pub message: Text,
    pub remedy: Vec<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorMatch {
    #[serde(default)]
    pub http_status: Vec<u16>,
    /// RMS error codes: `ES01-01`, `GA0003`, `ORDER_EXT_API_CONFIRM_ORDER_ERROR_103`.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Text found in the body or message, either language.
    #[serde(default)]
    pub text: Vec<String>,
    /// Text that names this entry only when no entry's `text` matches: a generic wrapper
    /// an OMS puts around other errors (`APIエラー（認証エラー）` is the licence, not S19).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_text: Vec<String>,
    /// Failures without an answer: `timeout`, `connect`, `io`.
    #[serde(default)]
    pub transport: Vec<TransportFailure>,
    /// Matches anything no other entry matches; exactly one entry has it.
    #[serde(default)]
    pub fallback: bool,
}

/// A kind of `MessageModelList` message that means the call went through, for the order
/// it names (or for the whole call when it names none).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuccessEntry {
    /// `rms-api` for what RMS answers, or a seed tag.
    pub source: String,
    #[serde(default)]
    pub confidence: Option<Confidence>,
    #[serde(rename = "match")]
    pub matcher: SuccessMatch,
    pub message: Text,
}

/// What a message must carry to mean success: every list that is given must hold it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuccessMatch {
    /// When the HTTP status is known it must be one of these (any, when empty).
    #[serde(default)]
    pub http_status: Vec<u16>,
    /// The message's `messageType`: `INFO`.
    #[serde(default)]
    pub message_types: Vec<String>,
    /// The message's `messageCode`: `ORDER_EXT_API_CONFIRM_ORDER_INFO_101`.
    #[serde(default)]
    pub codes: Vec<String>,
}

/// A call that got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportFailure {
    /// No answer in time.
    Timeout,
    /// No connection.
    Connect,
    /// The connection broke mid-call.
    Io,
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportFailure::Timeout => "timeout",
            TransportFailure::Connect => "connect",
            TransportFailure::Io => "io",
        })
    }
}
