//! Scenario files: a shop, orders, then steps — OMS actions, time, Rakuten's events,
//! faults — each with what to expect. Schema: `rules/scenario.schema.json`.
//!
//! ```yaml
//! name: the -9,999 fee fixed without the API option
//! tags: [S13, S15]
//! start: 2026-11-30T09:00:00+09:00
//! shop: {api_option: false}
//! orders:
//!   - {orderNumber: "375055-20261130-00000001", orderProgress: 100, postagePrice: -9999}
//! steps:
//!   - confirm: "375055-20261130-00000001"
//!     expect: {decision: deny, source: S13, remedy: S15, calls: {confirmOrder: 0}}
//!   - advance: 5m
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rms::FaultKind;
use crate::model::{Duration, Label, OmsState, Shop, Timestamp};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seed tags (`S13`) and topics, for reports and filtering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The virtual time the scenario starts at.
    pub start: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<Shop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimSettings>,
    /// RMS OrderModels, as RMS holds them at the start.
    #[serde(default)]
    #[schemars(with = "Vec<BTreeMap<String, Value>>")]
    pub orders: Vec<Map<String, Value>>,
    /// The OMS's state of some orders at the start (by order number).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub oms: BTreeMap<String, OmsState>,
    pub steps: Vec<Step>,
}

/// Knobs of the simulated RMS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// 200 → 300 after this long (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening_delay: Option<Duration>,
    /// What a timeout costs the caller (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Seed of random faults (overridden by `simulate --seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Probability (0–1) that any call fails with a random fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_fault_rate: Option<f64>,
}

/// One order number or several.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Targets {
    One(String),
    Many(Vec<String>),
}

impl Targets {
    pub fn list(&self) -> Vec<String> {
        match self {
            Targets::One(s) => vec![s.clone()],
            Targets::Many(v) => v.clone(),
        }
    }
}

/// Fields to change on an order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub order: String,
    #[schemars(with = "BTreeMap<String, Value>")]
    pub set: Map<String, Value>,
}

/// Who cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Canceller {
    Buyer,
    Rakuten,
}

/// An order named by an event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    pub order: String,
}

/// A confirmation made in RMS's own screens.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RmsConfirmation {
    pub order: String,
    /// The OMS user knows it happened (S7c); `false`: someone else did it unseen.
    #[serde(default = "yes")]
    pub oms_knows: bool,
}

fn yes() -> bool {
    true
}

/// A cancellation by someone other than the shop.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelEvent {
    pub order: String,
    pub by: Canceller,
}

/// A licence key renewal.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// How long the new key takes to work (default: the rules' maximum, S17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Duration>,
}

/// Something Rakuten, the buyer or the shop (in RMS's own screens) does. Exactly one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The buyer or Rakuten cancels (S7b).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelEvent>,
    /// The shop confirms in RMS's own screens (S7c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_in_rms: Option<RmsConfirmation>,
    /// An amount changes in RMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_amount: Option<Edit>,
    /// The licence key expires now (S17); `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_expires: Option<bool>,
    /// A renewed key (S17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_license: Option<Renewal>,
}

impl Event {
    fn count(&self) -> usize {
        usize::from(self.cancel.is_some())
            + usize::from(self.confirm_in_rms.is_some())
            + usize::from(self.change_amount.is_some())
            + usize::from(self.license_expires.is_some())
            + usize::from(self.renew_license.is_some())
    }
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    pub kind: FaultKind,
    /// Hit only these functions (default: every function).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// For the next N calls…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<u32>,
    /// …or for this long (a maintenance window).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

/// Expected outcome of a guarded action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Done,
    Denied,
    Failed,
}

/// Expected decision of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Allow,
    Warn,
    Deny,
}

/// What to check after a step. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The check's decision (single-order steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionKind>,
    /// A seed tag among the findings, their remedies, or the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A seed tag among the remedy variants shown (S14 vs S15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeKind>,
    /// The call's outcome was reconciled by reading the order back (no resend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled: Option<bool>,
    /// The error-table id of a failure (`qps_limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per-order outcomes of a bulk step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, OutcomeKind>,
    /// The order the state checks below are about (default: the step's only order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Which entry of a bulk step `decision`, `source`, `remedy` and `outcome` are about,
    /// by position (0 is the first); needed when the list names an order twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// RMS's status of the order.
    #[serde(
        default,
        rename = "orderProgress",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_progress: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_sent: Option<bool>,
    /// The OMS's last error id; `none` for no error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreflected_changes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled: Option<bool>,
    /// RMS calls made during the step, by function (`{confirmOrder: 0}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<String, usize>,
    /// Confirmations RMS has accepted for the order, in all (S1: never more than 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_confirms: Option<u32>,
}

/// One step: exactly one action (or none, for a step that only checks), and `expect`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Targets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify: Option<Edit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reflect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rms_edit: Option<Edit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unbundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_slip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
    /// Import orders with the shop's import settings (S11, S12): a check only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<bool>,
    /// Changes the shop's settings from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<Shop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Step {
    /// How many action keys the step has (valid: 0 with an `expect`, or 1).
    pub fn action_count(&self) -> usize {
        [
            self.confirm.is_some(),
            self.fetch_status.is_some(),
            self.modify.is_some(),
            self.reflect.is_some(),
            self.rms_edit.is_some(),
            self.bundle.is_some(),
            self.unbundle.is_some(),
            self.ship.is_some(),
            self.send_mail.is_some(),
            self.print_slip.is_some(),
            self.cancel.is_some(),
            self.import.is_some(),
            self.shop.is_some(),
            self.advance.is_some(),
            self.event.is_some(),
            self.fault.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count()
    }

    /// The order numbers the step names (for reference checks).
    pub fn orders(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(t) = &self.confirm {
            v.extend(t.list());
        }
        for s in [
            &self.fetch_status,
            &self.reflect,
            &self.unbundle,
            &self.ship,
            &self.send_mail,
            &self.print_slip,
            &self.cancel,
        ]
        .into_iter()
        .flatten()
        {
            v.push(s.clone());
        }
        for e in [&self.modify, &self.rms_edit].into_iter().flatten() {
            v.push(e.order.clone());
        }
        if let Some(b) = &self.bundle {
            v.extend(b.iter().cloned());
        }
        if let Some(e) = &self.event {
            v.extend(e.cancel.iter().map(|c| c.order.clone()));
            v.extend(e.confirm_in_rms.iter().map(|c| c.order.clone()));
            v.extend(e.change_amount.iter().map(|c| c.order.clone()));
        }
        if let Some(x) = &self.expect {
            if let Some(o) = &x.order {
                v.push(o.clone());
            }
            v.extend(x.outcomes.keys().cloned());
        }
        v
    }
}

/// A scenario file that cannot be run, and where.
pub type ScenarioError = crate::model::FileError;

/// The longest duration a scenario may write (`advance`, a fault's `for`, delays).
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = ScenarioError::read("scenario", path)?;
        Scenario::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = crate::model::from_yaml(text)
            .map_err(|e| ScenarioError::from_yaml("scenario", file, e))?;
        let map = crate::rules::SourceMap::build(text);
        let at = |path: &str, message: String| {
            let (line, column) = map
                .start(path)
                .map(|s| crate::rules::line_column(text, s))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ScenarioError {
                kind: "scenario",
                file: file.to_owned(),
                message: format!("at `{path}`: {message}"),
                line,
                column,
            }
        };
        let mut known = std::collections::BTreeSet::new();
        for (i, o) in scenario.orders.iter().enumerate() {
            let Some(n) = o.get("orderNumber").and_then(Value::as_str) else {
                return Err(at(
                    &format!("orders[{i}]"),
                    "an order needs `orderNumber`".into(),
                ));
            };
            if let Err(e) = serde_json::from_value::<crate::model::Order>(Value::Object(o.clone()))
            {
                return Err(at(
                    &format!("orders[{i}]"),
                    format!("not an RMS OrderModel: {e}"),
                ));
            }
            if !known.insert(n.to_owned()) {
                return Err(at(
                    &format!("orders[{i}].orderNumber"),
                    format!("duplicate order `{n}`"),
                ));
            }
        }
        for n in scenario.oms.keys() {
            if !known.contains(n) {
                return Err(at(
                    "oms",
                    format!("unknown order `{n}`: it is not in `orders`"),
                ));
            }
        }
        // Virtual time is cheap but not free: every simulated 5 minutes polls RMS. A
        // duration beyond a year is a typo (`100000000000000d`), refused here rather than
        // simulated for hours.
        let too_long =
            |d: &Option<Duration>| d.is_some_and(|d| d.as_secs() > MAX_DURATION.as_secs());
        let long = |path: String| {
            at(
                &path,
                format!(
                    "a duration over {MAX_DURATION} is not simulated: write at most {MAX_DURATION}"
                ),
            )
        };
        if let Some(sim) = &scenario.sim {
            if too_long(&sim.screening_delay) {
                return Err(long("sim.screening_delay".into()));
            }
            if too_long(&sim.timeout) {
                return Err(long("sim.timeout".into()));
            }
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            if too_long(&step.advance) {
                return Err(long(format!("steps[{i}].advance")));
            }
            if step.fault.as_ref().is_some_and(|f| too_long(&f.duration)) {
                return Err(long(format!("steps[{i}].fault.for")));
            }
            let renewal = step.event.as_ref().and_then(|e| e.renew_license.as_ref());
            if renewal.is_some_and(|r| too_long(&r.activation)) {
                return Err(long(format!("steps[{i}].event.renew_license.activation")));
            }
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            let count = step.action_count();
            if count > 1 {
                return Err(at(
                    &format!("steps[{i}]"),
                    "a step does one thing: split it into several steps".into(),
                ));
            }
            if let Some(e) = &step.event {
                if e.count() != 1 {
                    return Err(at(
                        &format!("steps[{i}].event"),
                        "an event is exactly one of `cancel`, `confirm_in_rms`, `change_amount`, `license_expires`, `renew_license`".into(),
                    ));
                }
            }
            if count == 0 && step.expect.is_none() {
                return Err(at(
                    &format!("steps[{i}]"),
                    "a step needs an action (`confirm`, `advance`, `event`, …) or an `expect`"
                        .into(),
                ));
            }
            for n in step.orders() {
                if !known.contains(&n) {
                    return Err(at(
                        &format!("steps[{i}]"),
                        format!("unknown order `{n}`: it is not in `orders`"),
                    ));
                }
            }
            if let Some(rate) = scenario.sim.as_ref().and_then(|s| s.random_fault_rate) {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(at(
                        "sim.random_fault_rate",
                        format!("`{rate}` is not a probability (0 to 1)"),
                    ));
                }
            }
        }
        Ok(scenario)
    }

    /// The scenario as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The JSON Schema of scenario files.
    pub fn json_schema() -> Value {
        serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
    }
}
