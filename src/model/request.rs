//! The `check` request: what the shop is, what the OMS knows, and what it wants to do.
//!
//! This shape is a public contract (README "The check request"): other tools build it in
//! any language. Unknown fields are refused in `shop` and `oms` (a typo there would
//! silently change a verdict) and accepted in `order` (it is RMS's own model).

use serde::{Deserialize, Deserializer};

use super::{Action, Order, Timestamp};

/// The shop's contract and settings.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shop {
    /// The shop has RMS's API option (it can push order edits through the API).
    #[serde(default)]
    pub api_option: bool,
    /// The RMS status the OMS imports orders from.
    #[serde(default = "default_import_status")]
    pub import_status: i64,
    /// How many days back the OMS fetches orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_days: Option<i64>,
    /// When the RMS licence key expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_expires_at: Option<Timestamp>,
    /// When the current licence key was issued or renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_issued_at: Option<Timestamp>,
}

fn default_import_status() -> i64 {
    100
}

impl Default for Shop {
    fn default() -> Self {
        Shop {
            api_option: false,
            import_status: default_import_status(),
            import_days: None,
            license_expires_at: None,
            license_issued_at: None,
        }
    }
}

/// The label the OMS shows after a confirmation was sent.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// No confirmation result yet.
    #[default]
    None,
    /// 【楽天処理中】
    Processing,
    /// 【楽天処理済】
    Processed,
}

impl Label {
    /// The names a guard expression may compare `oms.label` with.
    pub const NAMES: &'static [&'static str] = &["none", "processing", "processed"];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            Label::None => "none",
            Label::Processing => "processing",
            Label::Processed => "processed",
        }
    }
}

/// What only the OMS knows about the order. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OmsState {
    /// The OMS already sent the confirmation (S1).
    #[serde(default)]
    pub confirm_sent: bool,
    /// 【楽天処理中】/【楽天処理済】 (S5, S6).
    #[serde(default)]
    pub label: Label,
    /// Non-null when the order is bundled (同梱, S8–S10); a string or a number.
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<String>")]
    pub bundle_id: Option<String>,
    /// The order was changed after its label became 【楽天処理済】 (S7a).
    #[serde(default)]
    pub modified_after_processed: bool,
    /// The confirmation was done in RMS itself (S7c).
    #[serde(default)]
    pub confirmed_in_rms: bool,
    /// OMS edits not yet pushed to RMS (S14/S15).
    #[serde(default)]
    pub unreflected_changes: bool,
    /// The id (from the rules file's error table) of the last confirm error.
    #[serde(default)]
    pub last_error: Option<String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Id;

    impl<'de> serde::de::Visitor<'de> for Id {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a bundle id: a string, a number, or null")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Id)
        }
    }

    d.deserialize_any(Id)
}

/// One question to the engine: may the OMS do `action` to `order` now?
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub shop: Shop,
    /// The time of the check; `None` is "unknown" (time-based rules then do not fire).
    pub now: Option<Timestamp>,
    pub action: Action,
    /// Absent only for `import`.
    pub order: Option<Order>,
    pub oms: OmsState,
    /// What the reader of a batch (or the guard of a bulk call) knows across entries.
    pub batch: BatchFacts,
}

/// Facts about a request that only the whole batch shows (S1 across entries), or the
/// once-only ledger behind it (S1 across processes). The engine stays pure: whoever reads
/// the batch, or claims in the ledger, supplies them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchFacts {
    /// The index of an earlier entry of the same batch that confirms the same order
    /// (order numbers compared after trimming whitespace).
    pub repeat_of: Option<usize>,
    /// What the ledger holds for this order's call when the guard's claim was refused
    /// (`ledger.state`); `None` when there is no ledger or the claim was won.
    pub ledger: Option<LedgerState>,
}

/// The state of a ledger row ([`crate::ledger::State`] without its details), as the rules
/// read it: `sending`, `confirmed`, `failed`, `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerState {
    /// Claimed: the call is on its way (another worker's, or one whose process died).
    Sending,
    /// RMS took the call.
    Confirmed,
    /// RMS did not take it; it may be claimed again.
    Failed,
    /// Whether RMS took it is unknown until the order is read back.
    Unknown,
}

impl LedgerState {
    /// The names a guard expression may compare `ledger.state` with.
    pub const NAMES: &'static [&'static str] = &["sending", "confirmed", "failed", "unknown"];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            LedgerState::Sending => "sending",
            LedgerState::Confirmed => "confirmed",
            LedgerState::Failed => "failed",
            LedgerState::Unknown => "unknown",
        }
    }

    /// The state a contract name names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sending" => Some(LedgerState::Sending),
            "confirmed" => Some(LedgerState::Confirmed),
            "failed" => Some(LedgerState::Failed),
            "unknown" => Some(LedgerState::Unknown),
            _ => None,
        }
    }
}

impl Request {
    /// A request for `action` on `order`, with a default shop and OMS state.
    pub fn new(action: Action, order: Option<Order>) -> Self {
        Request {
            shop: Shop::default(),
            now: None,
            action,
            order,
            oms: OmsState::default(),
            batch: BatchFacts::default(),
        }
    }

    /// The order number, or `""` when there is none.
    pub fn order_number(&self) -> &str {
        self.order
            .as_ref()
            .and_then(|o| o.order_number.as_deref())
            .unwrap_or("")
    }
}
