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
    /// The once-only ledger the OMS's guard claims each confirmation in (S1); none by
    /// default. `memory`: a [`MemoryLedger`](crate::ledger::MemoryLedger), kept for the
    /// whole scenario: it outlives the OMS's restarts (`oms_restart`, `kill_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerKind>,
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

/// Which once-only ledger a scenario's OMS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// In the simulator's memory: survives the OMS's restarts, not the scenario.
    Memory,
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

/// An event as a scenario file writes it: a map with exactly one key. Read into
/// [`Event`] once validated.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Event")]
pub struct EventInput {
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

/// Something Rakuten, the buyer or the shop (in RMS's own screens) does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "EventInput", into = "EventInput")]
pub enum Event {
    /// The buyer or Rakuten cancels (S7b).
    Cancel(CancelEvent),
    /// The shop confirms in RMS's own screens (S7c).
    ConfirmInRms(RmsConfirmation),
    /// An amount changes in RMS.
    ChangeAmount(Edit),
    /// The licence key expires now (S17).
    LicenseExpires,
    /// A renewed key (S17).
    RenewLicense(Renewal),
}

impl JsonSchema for Event {
    fn schema_name() -> String {
        EventInput::schema_name()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        EventInput::json_schema(gen)
    }
}

/// The message of an event that is not exactly one kind.
const ONE_EVENT: &str = "an event is exactly one of `cancel`, `confirm_in_rms`, `change_amount`, `license_expires`, `renew_license`";

impl TryFrom<EventInput> for Event {
    type Error = String;

    fn try_from(e: EventInput) -> Result<Event, String> {
        if e.count() != 1 {
            return Err(ONE_EVENT.into());
        }
        let EventInput {
            cancel,
            confirm_in_rms,
            change_amount,
            license_expires,
            renew_license,
        } = e;
        cancel
            .map(Event::Cancel)
            .or(confirm_in_rms.map(Event::ConfirmInRms))
            .or(change_amount.map(Event::ChangeAmount))
            .or(license_expires.map(|_| Event::LicenseExpires))
            .or(renew_license.map(Event::RenewLicense))
            .ok_or_else(|| ONE_EVENT.into())
    }
}

impl From<Event> for EventInput {
    fn from(e: Event) -> EventInput {
        let mut i = EventInput::default();
        match e {
            Event::Cancel(c) => i.cancel = Some(c),
            Event::ConfirmInRms(c) => i.confirm_in_rms = Some(c),
            Event::ChangeAmount(c) => i.change_amount = Some(c),
            Event::LicenseExpires => i.license_expires = Some(true),
            Event::RenewLicense(r) => i.renew_license = Some(r),
        }
        i
    }
}

impl EventInput {
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
    /// A rule id among the findings (`confirm-ledger-claimed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A remedy variant shown, named as the coverage report names it: `rule#N`, N counted
    /// from 1 in the rule's `remedy` list (`confirm-ledger-claimed#2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy_variant: Option<String>,
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

/// A step as a scenario file writes it: one action key (or none, for a step that only
/// checks) beside `expect`. Read into [`Step`] once validated.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct StepInput {
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
    pub event: Option<EventInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultStep>,
    /// The OMS process restarts from its last backup (the orders and their `oms:` state
    /// as imported at the start): what it did since — the confirmations it recorded as
    /// sent, labels, edits, errors — is forgotten. RMS and the ledger keep theirs. `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oms_restart: Option<bool>,
    /// With an action that calls RMS (`confirm`, `fetch_status`, `reflect`, `ship`,
    /// `cancel`): the OMS process is killed this long into the action, its call still in
    /// flight (what RMS does with the call goes on), and restarts as `oms_restart` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// 注文確認通知を送る, one order or many (S3).
    Confirm(Targets),
    FetchStatus(String),
    Modify(Edit),
    Reflect(String),
    /// The shop edits the order in RMS's own screens.
    RmsEdit(Edit),
    Bundle(Vec<String>),
    Unbundle(String),
    Ship(String),
    SendMail(String),
    PrintSlip(String),
    Cancel(String),
    /// Import orders with the shop's import settings (S11, S12): a check only.
    Import,
    /// Changes the shop's settings from here on.
    Shop(Shop),
    Advance(Duration),
    Event(Event),
    Fault(FaultStep),
    /// The OMS restarts from its last backup (see [`StepInput::oms_restart`]).
    OmsRestart,
}

impl StepAction {
    /// Whether the action calls RMS through the guard (so the OMS can be killed during it).
    pub fn calls_rms(&self) -> bool {
        matches!(
            self,
            StepAction::Confirm(_)
                | StepAction::FetchStatus(_)
                | StepAction::Reflect(_)
                | StepAction::Ship(_)
                | StepAction::Cancel(_)
        )
    }
}

/// One step: an action (or none, for a step that only checks) and what to expect.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "StepInput", into = "StepInput")]
pub struct Step {
    pub action: Option<StepAction>,
    /// The OMS is killed this long into the action (an action that calls RMS).
    pub kill_after: Option<Duration>,
    pub expect: Option<Expect>,
    pub note: Option<String>,
}

impl JsonSchema for Step {
    fn schema_name() -> String {
        StepInput::schema_name()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        StepInput::json_schema(gen)
    }
}

impl TryFrom<StepInput> for Step {
    type Error = String;

    fn try_from(s: StepInput) -> Result<Step, String> {
        let count = s.action_count();
        if count > 1 {
            return Err("a step does one thing: split it into several steps".into());
        }
        if count == 0 && s.expect.is_none() {
            return Err(
                "a step needs an action (`confirm`, `advance`, `event`, …) or an `expect`".into(),
            );
        }
        let StepInput {
            confirm,
            fetch_status,
            modify,
            reflect,
            rms_edit,
            bundle,
            unbundle,
            ship,
            send_mail,
            print_slip,
            cancel,
            import,
            shop,
            advance,
            event,
            fault,
            oms_restart,
            kill_after,
            expect,
            note,
        } = s;
        let event = event.map(Event::try_from).transpose()?;
        let action = confirm
            .map(StepAction::Confirm)
            .or(fetch_status.map(StepAction::FetchStatus))
            .or(modify.map(StepAction::Modify))
            .or(reflect.map(StepAction::Reflect))
            .or(rms_edit.map(StepAction::RmsEdit))
            .or(bundle.map(StepAction::Bundle))
            .or(unbundle.map(StepAction::Unbundle))
            .or(ship.map(StepAction::Ship))
            .or(send_mail.map(StepAction::SendMail))
            .or(print_slip.map(StepAction::PrintSlip))
            .or(cancel.map(StepAction::Cancel))
            .or(import.map(|_| StepAction::Import))
            .or(shop.map(StepAction::Shop))
            .or(advance.map(StepAction::Advance))
            .or(event.map(StepAction::Event))
            .or(fault.map(StepAction::Fault))
            .or(oms_restart.map(|_| StepAction::OmsRestart));
        if kill_after.is_some() && !action.as_ref().is_some_and(StepAction::calls_rms) {
            return Err("`kill_after` needs an action that calls RMS (`confirm`, `fetch_status`, `reflect`, `ship`, `cancel`)".into());
        }
        Ok(Step {
            action,
            kill_after,
            expect,
            note,
        })
    }
}

impl From<Step> for StepInput {
    fn from(s: Step) -> StepInput {
        let mut i = StepInput {
            kill_after: s.kill_after,
            expect: s.expect,
            note: s.note,
            ..StepInput::default()
        };
        match s.action {
            None => {}
            Some(StepAction::Confirm(t)) => i.confirm = Some(t),
            Some(StepAction::FetchStatus(n)) => i.fetch_status = Some(n),
            Some(StepAction::Modify(e)) => i.modify = Some(e),
            Some(StepAction::Reflect(n)) => i.reflect = Some(n),
            Some(StepAction::RmsEdit(e)) => i.rms_edit = Some(e),
            Some(StepAction::Bundle(v)) => i.bundle = Some(v),
            Some(StepAction::Unbundle(n)) => i.unbundle = Some(n),
            Some(StepAction::Ship(n)) => i.ship = Some(n),
            Some(StepAction::SendMail(n)) => i.send_mail = Some(n),
            Some(StepAction::PrintSlip(n)) => i.print_slip = Some(n),
            Some(StepAction::Cancel(n)) => i.cancel = Some(n),
            Some(StepAction::Import) => i.import = Some(true),
            Some(StepAction::Shop(shop)) => i.shop = Some(shop),
            Some(StepAction::Advance(d)) => i.advance = Some(d),
            Some(StepAction::Event(e)) => i.event = Some(e.into()),
            Some(StepAction::Fault(f)) => i.fault = Some(f),
            Some(StepAction::OmsRestart) => i.oms_restart = Some(true),
        }
        i
    }
}

impl Step {
    /// A step that does `action`.
    pub fn doing(action: StepAction) -> Step {
        Step {
            action: Some(action),
            ..Step::default()
        }
    }

    /// The order numbers the step names (for reference checks).
    pub fn orders(&self) -> Vec<String> {
        let mut v = Vec::new();
        match &self.action {
            Some(StepAction::Confirm(t)) => v.extend(t.list()),
            Some(
                StepAction::FetchStatus(n)
                | StepAction::Reflect(n)
                | StepAction::Unbundle(n)
                | StepAction::Ship(n)
                | StepAction::SendMail(n)
                | StepAction::PrintSlip(n)
                | StepAction::Cancel(n),
            ) => v.push(n.clone()),
            Some(StepAction::Modify(e) | StepAction::RmsEdit(e)) => v.push(e.order.clone()),
            Some(StepAction::Bundle(b)) => v.extend(b.iter().cloned()),
            Some(StepAction::Event(
                Event::Cancel(CancelEvent { order, .. })
                | Event::ConfirmInRms(RmsConfirmation { order, .. })
                | Event::ChangeAmount(Edit { order, .. }),
            )) => v.push(order.clone()),
            Some(
                StepAction::Import
                | StepAction::Shop(_)
                | StepAction::Advance(_)
                | StepAction::Event(Event::LicenseExpires | Event::RenewLicense(_))
                | StepAction::Fault(_)
                | StepAction::OmsRestart,
            )
            | None => {}
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

impl StepInput {
    /// How many action keys the step has (valid: 0 with an `expect`, or 1).
    fn action_count(&self) -> usize {
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
            self.oms_restart.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count()
    }
}

/// A scenario file that cannot be run, and where.
pub type ScenarioError = crate::model::FileError;

/// The most steps one scenario file may hold.
pub const MAX_STEPS: usize = 100_000;

/// The longest duration a scenario may write (`advance`, a fault's `for`, delays), and the
/// longest a whole scenario may simulate.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = ScenarioError::read("scenario", path)?;
        Scenario::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = crate::model::from_yaml(text).map_err(|mut e| {
            // A step or an event refused as a whole is reported by the YAML reader at the
            // list item's dash; point at the step's first key, as for every other error.
            if e.path.ends_with(']') || e.path.ends_with(".event") {
                let map = crate::rules::SourceMap::build(text);
                if let Some(start) = map.start(&e.path) {
                    let (line, column) = crate::rules::line_column(text, start);
                    e.line = Some(line);
                    e.column = Some(column);
                }
            }
            ScenarioError::from_yaml("scenario", file, e)
        })?;
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
            if let Err(e) = super::rms::read_order(o) {
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
        if scenario.steps.len() > MAX_STEPS {
            return Err(at(
                &format!("steps[{MAX_STEPS}]"),
                format!("a scenario runs at most {MAX_STEPS} steps: split it into several files"),
            ));
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            match &step.action {
                Some(StepAction::Advance(d)) if too_long(&Some(*d)) => {
                    return Err(long(format!("steps[{i}].advance")));
                }
                Some(StepAction::Fault(f)) if too_long(&f.duration) => {
                    return Err(long(format!("steps[{i}].fault.for")));
                }
                Some(StepAction::Event(Event::RenewLicense(r))) if too_long(&r.activation) => {
                    return Err(long(format!("steps[{i}].event.renew_license.activation")));
                }
                _ => {}
            }
            if too_long(&step.kill_after) {
                return Err(long(format!("steps[{i}].kill_after")));
            }
        }
        // The whole scenario's virtual time is bounded too, not only each step's.
        let mut total: i64 = 0;
        for (i, step) in scenario.steps.iter().enumerate() {
            if let Some(StepAction::Advance(d)) = &step.action {
                total = total.saturating_add(d.as_secs());
                if total > MAX_DURATION.as_secs() {
                    return Err(at(
                        &format!("steps[{i}].advance"),
                        format!("the scenario's `advance` steps add up to more than {MAX_DURATION}: a scenario simulates at most {MAX_DURATION}"),
                    ));
                }
            }
        }
        for (i, step) in scenario.steps.iter().enumerate() {
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
