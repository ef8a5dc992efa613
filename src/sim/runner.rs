//! Running a scenario: build the simulated RMS and OMS, play the steps on the virtual
//! clock, and compare what happened with each step's `expect`.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::clock::{std_duration, SimClock};
use super::oms::{ActionResult, Oms};
use super::rms::{CallRecord, FaultKind, FaultRule, Moved, RandomFaults, SimConfig, SimRms};
use super::scenario::{
    Canceller, Event, Expect, LedgerKind, OutcomeKind, Scenario, Step, StepAction,
};
use crate::engine::{Decision, Engine};
use crate::guard::Outcome;
use crate::model::{Action, Label, Timestamp};
use crate::rms::function;
use crate::rules::Lang;

/// A difference between what a step expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub what: String,
    pub expected: String,
    pub got: String,
}

/// One step, as it ran.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepReport {
    pub index: usize,
    /// `confirm 375055-20261130-00000001`, `advance 5m`, …
    pub what: String,
    /// Virtual time when the step ran.
    pub at: String,
    pub mismatches: Vec<Mismatch>,
    /// The rules' explanation: findings and failures of the step, in English.
    pub explanation: Vec<String>,
    /// The step could not run at all (an impossible event, an unknown order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Everything the step did, typed, for the HTML report and coverage (not in the JSON
    /// report: its shape is a contract).
    #[serde(skip)]
    pub trace: StepTrace,
}

/// What one step did, as it happened: the guard's verdicts and outcomes, the RMS calls,
/// the moves of orders, and every order's state after it. Recording it reads state and
/// changes nothing: verdicts and RMS calls are the same with or without it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepTrace {
    /// What kind of step it was.
    pub kind: StepKind,
    /// Orders the step names (its action's orders and its `expect.order`).
    pub orders: Vec<String>,
    /// A confirmation of several orders in one action (S3): the report draws its
    /// sequence diagram.
    pub bulk: bool,
    /// The guard's verdicts and outcomes (none for a step without a guarded action).
    pub result: Option<ActionResult>,
    /// The RMS calls made during the step, in order.
    pub calls: Vec<CallTrace>,
    /// Moves of orders during the step (by calls, by RMS on its own, by events played).
    pub moves: Vec<Moved>,
    /// Every order after the step, by number.
    pub after: Vec<OrderAfter>,
}

/// What a step is, for grouping in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepKind {
    /// An action the OMS performs through the guard.
    OmsAction,
    /// An event (buyer cancel, a licence expiring, …).
    Event,
    /// Virtual time passes (`advance`).
    Advance,
    /// A fault is injected or the shop's settings change.
    Setup,
    /// Only expectations.
    #[default]
    Expect,
}

/// One RMS call made during a step.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTrace {
    pub call: CallRecord,
    /// The answer was lost (RMS acted; the caller timed out).
    pub lost_answer: bool,
    /// A `getOrder` the guard made to learn the outcome of an uncertain confirmation.
    pub reconciliation: bool,
}

/// One order after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAfter {
    pub order: String,
    /// `orderProgress` in RMS.
    pub progress: Option<i64>,
    /// The OMS's label.
    pub label: Label,
    pub confirm_sent: bool,
    pub last_error: Option<String>,
}

impl StepReport {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.error.is_none()
    }
}

/// A scenario, as it ran.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub tags: Vec<String>,
    pub steps: Vec<StepReport>,
    /// Virtual time the scenario covered, in seconds.
    pub virtual_seconds: u64,
    /// Wall-clock time it took, in milliseconds.
    pub wall_ms: f64,
    /// RMS calls made.
    pub calls: usize,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepReport::passed)
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed of random faults.
    pub seed: Option<u64>,
}

/// Runs `scenario` (from `file`) on a fresh simulator with a paused clock.
pub fn run_scenario(
    engine: Arc<Engine>,
    scenario: &Scenario,
    file: &str,
    options: &RunOptions,
) -> ScenarioReport {
    let wall = Instant::now();
    let runtime = super::clock::paused_runtime();
    let mut report = match runtime {
        Ok(rt) => rt.block_on(run(engine, scenario, file, options)),
        Err(e) => ScenarioReport {
            name: scenario.name.clone(),
            file: file.to_owned(),
            tags: scenario.tags.clone(),
            steps: vec![StepReport {
                index: 0,
                what: "start".into(),
                at: scenario.start.to_string(),
                mismatches: vec![],
                explanation: vec![],
                error: Some(format!("cannot start the runtime: {e}")),
                trace: StepTrace::default(),
            }],
            virtual_seconds: 0,
            wall_ms: 0.0,
            calls: 0,
        },
    };
    report.wall_ms = wall.elapsed().as_secs_f64() * 1000.0;
    report
}

/// Builds the simulated RMS and OMS of a scenario (inside a tokio runtime).
pub fn build(engine: Arc<Engine>, scenario: &Scenario, seed: Option<u64>) -> Result<Oms, String> {
    let clock = SimClock::new(scenario.start);
    let shop = scenario.shop.clone().unwrap_or_default();
    let settings = scenario.sim.clone().unwrap_or_default();
    let mut config = SimConfig {
        api_option: shop.api_option,
        seed: seed.or(settings.seed).unwrap_or(1),
        ..SimConfig::default()
    };
    if let Some(d) = settings.screening_delay {
        config.screening_delay = std_duration(d);
    }
    if let Some(d) = settings.timeout {
        config.timeout = std_duration(d);
    }
    if let Some(rate) = settings.random_fault_rate {
        config.random_faults = Some(RandomFaults {
            rate,
            kinds: vec![
                FaultKind::Qps,
                FaultKind::Maintenance,
                FaultKind::ApiError,
                FaultKind::Timeout,
                FaultKind::LostResponse,
            ],
        });
    }
    let sim = Arc::new(SimRms::new(engine.clone(), clock, config));
    let expiry = engine.rules().facts().license_expiry(&shop);
    sim.set_license_expiry(expiry);
    let mut oms = Oms::new(engine, sim.clone(), shop);
    if let Some(kind) = scenario.ledger {
        let ledger: Arc<dyn crate::ledger::Ledger> = match kind {
            LedgerKind::Memory => Arc::new(crate::ledger::MemoryLedger::new()),
        };
        oms = oms.with_ledger(ledger);
    }
    for o in &scenario.orders {
        sim.add_order(o.clone())?;
        let n = o
            .get("orderNumber")
            .and_then(Value::as_str)
            .unwrap_or_default();
        oms.import(o.clone(), scenario.oms.get(n).cloned().unwrap_or_default());
    }
    Ok(oms)
}

async fn run(
    engine: Arc<Engine>,
    scenario: &Scenario,
    file: &str,
    options: &RunOptions,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        file: file.to_owned(),
        tags: scenario.tags.clone(),
        steps: Vec::new(),
        virtual_seconds: 0,
        wall_ms: 0.0,
        calls: 0,
    };
    let mut oms = match build(engine.clone(), scenario, options.seed) {
        Ok(o) => o,
        Err(e) => {
            report.steps.push(StepReport {
                index: 0,
                what: "start".into(),
                at: scenario.start.to_string(),
                mismatches: vec![],
                explanation: vec![],
                error: Some(e),
                trace: StepTrace::default(),
            });
            return report;
        }
    };
    oms.sim().record_moves();
    let _initial = oms.sim().take_moves();
    for (index, step) in scenario.steps.iter().enumerate() {
        let at = oms.sim().clock().now().to_string();
        let before = oms.sim().call_count();
        let (what, result) = perform(&engine, &mut oms, step).await;
        let mut step_report = StepReport {
            index,
            what,
            at,
            mismatches: vec![],
            explanation: vec![],
            error: None,
            trace: StepTrace::default(),
        };
        match result {
            Err(e) => step_report.error = Some(e),
            Ok(result) => {
                if let Some(r) = &result {
                    step_report.explanation = explain(r);
                }
                if let Some(expect) = &step.expect {
                    step_report.mismatches =
                        compare(&engine, &oms, step, expect, result.as_ref(), before);
                }
                step_report.trace.result = result;
            }
        }
        trace_step(&oms, step, before, &mut step_report.trace);
        report.steps.push(step_report);
    }
    report.virtual_seconds = oms.sim().clock().elapsed().as_secs();
    report.calls = oms.sim().call_count();
    report
}

/// Fills a step's trace from what the simulator recorded (reads only).
fn trace_step(oms: &Oms, step: &Step, calls_before: usize, trace: &mut StepTrace) {
    trace.kind = match &step.action {
        None => StepKind::Expect,
        Some(StepAction::Event(_) | StepAction::OmsRestart) => StepKind::Event,
        Some(StepAction::Advance(_)) => StepKind::Advance,
        Some(StepAction::Fault(_) | StepAction::Shop(_)) => StepKind::Setup,
        Some(_) => StepKind::OmsAction,
    };
    let mut orders = step.orders();
    if let Some(n) = step.expect.as_ref().and_then(|e| e.order.clone()) {
        if !orders.contains(&n) {
            orders.push(n);
        }
    }
    trace.orders = orders;
    trace.bulk = matches!(&step.action, Some(StepAction::Confirm(t)) if t.list().len() > 1);
    let mut confirm_seen = false;
    trace.calls = oms
        .sim()
        .calls_since(calls_before)
        .into_iter()
        .map(|call| {
            let reconciliation = confirm_seen && call.function == function::GET_ORDER;
            if call.function == function::CONFIRM_ORDER {
                confirm_seen = true;
            }
            CallTrace {
                lost_answer: call.fault == Some(FaultKind::LostResponse),
                reconciliation,
                call,
            }
        })
        .collect();
    trace.moves = oms.sim().take_moves();
    trace.after = oms
        .orders()
        .map(|(n, o)| OrderAfter {
            order: n.clone(),
            progress: oms.sim().peek_progress(n),
            label: o.state.label,
            confirm_sent: o.state.confirm_sent,
            last_error: o.state.last_error.clone(),
        })
        .collect();
}

/// Runs one step; returns its description and what the guarded action did. A step with
/// `kill_after` is cut short: the OMS's action is dropped mid-flight and the OMS restarts
/// (no result: the OMS never learnt one).
pub async fn perform(
    engine: &Engine,
    oms: &mut Oms,
    step: &Step,
) -> (String, Result<Option<ActionResult>, String>) {
    let Some(kill) = step.kill_after else {
        return perform_action(engine, oms, step).await;
    };
    let killed = tokio::time::timeout(std_duration(kill), perform_action(engine, oms, step)).await;
    match killed {
        Ok((what, result)) => (format!("{what} (not killed: done within {kill})"), result),
        Err(_) => {
            oms.restart();
            let what = step.action.as_ref().map(action_name).unwrap_or_default();
            (
                format!("{what} (the OMS killed after {kill}, restarted)"),
                Ok(None),
            )
        }
    }
}

/// How a killed step's action is named in a report (only actions that call RMS can be).
fn action_name(action: &StepAction) -> String {
    match action {
        StepAction::Confirm(t) => format!("confirm {}", t.list().join(", ")),
        StepAction::FetchStatus(n) => format!("fetch_status {n}"),
        StepAction::Reflect(n) => format!("reflect {n}"),
        StepAction::Ship(n) => format!("ship {n}"),
        StepAction::Cancel(n) => format!("cancel {n}"),
        _ => "action".into(),
    }
}

async fn perform_action(
    engine: &Engine,
    oms: &mut Oms,
    step: &Step,
) -> (String, Result<Option<ActionResult>, String>) {
    let Some(action) = &step.action else {
        return ("expect".into(), Ok(None));
    };
    match action {
        StepAction::Confirm(t) => {
            let list = t.list();
            (
                format!("confirm {}", list.join(", ")),
                oms.confirm(&list).await.map(Some),
            )
        }
        StepAction::FetchStatus(n) => (
            format!("fetch_status {n}"),
            oms.fetch_status(n).await.map(Some),
        ),
        StepAction::Modify(e) => (
            format!("modify {} {}", e.order, Value::Object(e.set.clone())),
            oms.modify(&e.order, &e.set).map(Some),
        ),
        StepAction::Reflect(n) => (format!("reflect {n}"), oms.reflect(n).await.map(Some)),
        StepAction::RmsEdit(e) => (
            format!("rms_edit {} {}", e.order, Value::Object(e.set.clone())),
            oms.rms_edit(&e.order, &e.set).map(|()| None),
        ),
        StepAction::Bundle(list) => (
            format!("bundle {}", list.join(", ")),
            oms.bundle(list).map(Some),
        ),
        StepAction::Unbundle(n) => (format!("unbundle {n}"), oms.unbundle(n).map(Some)),
        StepAction::Ship(n) => (format!("ship {n}"), oms.ship(n).await.map(Some)),
        StepAction::SendMail(n) => (
            format!("send_mail {n}"),
            oms.process(Action::SendMail, n).map(Some),
        ),
        StepAction::PrintSlip(n) => (
            format!("print_slip {n}"),
            oms.process(Action::PrintSlip, n).map(Some),
        ),
        StepAction::Cancel(n) => (format!("cancel {n}"), oms.cancel(n).await.map(Some)),
        StepAction::Import => ("import".into(), Ok(Some(oms.import_check()))),
        StepAction::Shop(shop) => {
            oms.set_shop(shop.clone());
            ("shop settings changed".into(), Ok(None))
        }
        StepAction::Advance(d) => {
            oms.advance(*d).await;
            (format!("advance {d}"), Ok(None))
        }
        StepAction::Event(event) => event_step(engine, oms, event),
        StepAction::OmsRestart => {
            oms.restart();
            ("oms_restart".into(), Ok(None))
        }
        StepAction::Fault(f) => {
            let clock = oms.sim().clock();
            let until = f.duration.map(|d| super::rms::until(&clock, d));
            let remaining = match (f.calls, until) {
                (Some(n), _) => Some(n),
                (None, Some(_)) => None,
                (None, None) => Some(1),
            };
            oms.sim().inject(FaultRule {
                kind: f.kind,
                functions: f.functions.clone(),
                remaining,
                until,
            });
            let how = match (f.calls, f.duration) {
                (_, Some(d)) => format!("for {d}"),
                (n, None) => format!("×{}", n.unwrap_or(1)),
            };
            (format!("fault {:?} {how}", f.kind).to_lowercase(), Ok(None))
        }
    }
}

fn event_step(
    engine: &Engine,
    oms: &mut Oms,
    event: &Event,
) -> (String, Result<Option<ActionResult>, String>) {
    match event {
        Event::Cancel(c) => {
            let via = match c.by {
                Canceller::Buyer => "buyer_cancel",
                Canceller::Rakuten => "rakuten_cancel",
            };
            (
                format!("event {via} {}", c.order),
                oms.event(&c.order, via).map(|_| None),
            )
        }
        Event::ConfirmInRms(r) => {
            let moved = if r.oms_knows {
                oms.event(&r.order, function::CONFIRM_ORDER)
            } else {
                oms.confirm_in_rms_unseen(&r.order)
            };
            (
                format!("event confirm_in_rms {}", r.order),
                moved.map(|_| None),
            )
        }
        Event::ChangeAmount(e) => (
            format!(
                "event change_amount {} {}",
                e.order,
                Value::Object(e.set.clone())
            ),
            oms.sim().edit(&e.order, &e.set).map(|()| None),
        ),
        Event::LicenseExpires => {
            let now = oms.sim().clock().now();
            oms.sim().set_license_expiry(Some(Timestamp::from_unix(
                now.unix_seconds() - 1,
                now.offset_seconds(),
            )));
            ("event license_expires".into(), Ok(None))
        }
        Event::RenewLicense(renewal) => {
            let activation = std_duration(
                renewal
                    .activation
                    .unwrap_or(engine.rules().facts().license_activation_max),
            );
            oms.sim().renew_license(activation);
            oms.record_license_renewal();
            ("event renew_license".into(), Ok(None))
        }
    }
}

fn explain(result: &ActionResult) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, report) in &result.reports {
        for f in &report.findings {
            lines.push(format!(
                "{n}: [{}] {} ({}): {}",
                f.source,
                f.rule,
                f.severity.name(),
                f.message.get(Lang::En)
            ));
        }
    }
    for (n, outcome) in &result.outcomes {
        if let Outcome::Failed(f) = outcome {
            lines.push(format!(
                "{n}: failed [{}] {}: {} — {}",
                f.source,
                f.error,
                f.message.get(Lang::En),
                f.detail
            ));
        }
    }
    lines
}

fn outcome_kind(o: &Outcome) -> OutcomeKind {
    match o {
        Outcome::Done(_) => OutcomeKind::Done,
        Outcome::Denied(_) => OutcomeKind::Denied,
        Outcome::Failed(_) => OutcomeKind::Failed,
    }
}

fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn compare(
    engine: &Engine,
    oms: &Oms,
    step: &Step,
    expect: &Expect,
    result: Option<&ActionResult>,
    calls_before: usize,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut check = |what: &str, expected: String, got: String| {
        if expected != got {
            out.push(Mismatch {
                what: what.to_owned(),
                expected,
                got,
            });
        }
    };
    let step_orders = step.orders();
    let target = expect
        .order
        .clone()
        .or_else(|| (step_orders.len() == 1).then(|| step_orders[0].clone()));
    let report = result.and_then(|r| match (expect.entry, &target) {
        (Some(i), _) => r.reports.get(i),
        (None, Some(t)) => r.reports.iter().find(|(n, _)| n == t),
        (None, None) => r.reports.first(),
    });
    let outcome = result.and_then(|r| match (expect.entry, &target) {
        (Some(i), _) => r.outcomes.get(i),
        (None, Some(t)) => r.outcomes.iter().find(|(n, _)| n == t),
        (None, None) => r.outcomes.first(),
    });
    let none = || "(no action)".to_owned();
    if let Some(d) = expect.decision {
        let got = report.map_or_else(none, |(_, r)| {
            match r.decision {
                Decision::Allow => "allow",
                Decision::Warn => "warn",
                Decision::Deny => "deny",
            }
            .to_owned()
        });
        check("decision", name(&d), got);
    }
    if let Some(src) = &expect.source {
        let mut seen: Vec<String> = Vec::new();
        if let Some((_, r)) = report {
            for f in &r.findings {
                seen.push(f.source.to_string());
                seen.extend(f.remedies.iter().map(|m| m.source.to_string()));
            }
        }
        if let Some((_, Outcome::Failed(f))) = outcome {
            seen.push(f.source.clone());
        }
        if !seen.contains(src) {
            check("source", src.clone(), format!("{seen:?}"));
        }
    }
    if let Some(src) = &expect.remedy {
        let seen: Vec<String> = report
            .map(|(_, r)| {
                r.findings
                    .iter()
                    .flat_map(|f| f.remedies.iter().map(|m| m.source.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if !seen.contains(src) {
            check("remedy", src.clone(), format!("{seen:?}"));
        }
    }
    if let Some(id) = &expect.rule {
        let seen: Vec<String> = report
            .map(|(_, r)| r.findings.iter().map(|f| f.rule.to_string()).collect())
            .unwrap_or_default();
        if !seen.contains(id) {
            check("rule", id.clone(), format!("{seen:?}"));
        }
    }
    if let Some(id) = &expect.remedy_variant {
        let rules = engine.rules();
        let seen: Vec<String> = report
            .map(|(_, r)| {
                r.findings
                    .iter()
                    .flat_map(|f| super::coverage::variants_shown(rules.file(), f))
                    .collect()
            })
            .unwrap_or_default();
        if !seen.contains(id) {
            check("remedy_variant", id.clone(), format!("{seen:?}"));
        }
    }
    if let Some(k) = expect.outcome {
        check(
            "outcome",
            name(&k),
            outcome.map_or_else(none, |(_, o)| name(&outcome_kind(o))),
        );
    }
    if let Some(r) = expect.reconciled {
        let got = match outcome {
            Some((_, Outcome::Done(d))) => d.reconciled.to_string(),
            Some((_, o)) => name(&outcome_kind(o)),
            None => none(),
        };
        check("reconciled", r.to_string(), got);
    }
    if let Some(e) = &expect.error {
        let got = match outcome {
            Some((_, Outcome::Failed(f))) => f.error.clone(),
            Some((_, o)) => name(&outcome_kind(o)),
            None => none(),
        };
        check("error", e.clone(), got);
    }
    for (n, k) in &expect.outcomes {
        let got = result
            .and_then(|r| r.outcomes.iter().find(|(m, _)| m == n))
            .map_or_else(none, |(_, o)| name(&outcome_kind(o)));
        check(&format!("outcome of {n}"), name(k), got);
    }
    if let Some(t) = &target {
        let state = oms.order(t).map(|o| o.state.clone());
        if let Some(l) = expect.label {
            check(
                "label",
                l.name().into(),
                state.as_ref().map_or_else(none, |s| s.label.name().into()),
            );
        }
        if let Some(b) = expect.confirm_sent {
            check(
                "confirm_sent",
                b.to_string(),
                state
                    .as_ref()
                    .map_or_else(none, |s| s.confirm_sent.to_string()),
            );
        }
        if let Some(e) = &expect.last_error {
            let got = state.as_ref().map_or_else(none, |s| {
                s.last_error.clone().unwrap_or_else(|| "none".into())
            });
            check("last_error", e.clone(), got);
        }
        if let Some(b) = expect.unreflected_changes {
            check(
                "unreflected_changes",
                b.to_string(),
                state
                    .as_ref()
                    .map_or_else(none, |s| s.unreflected_changes.to_string()),
            );
        }
        if let Some(b) = expect.bundled {
            check(
                "bundled",
                b.to_string(),
                state
                    .as_ref()
                    .map_or_else(none, |s| s.bundle_id.is_some().to_string()),
            );
        }
        if let Some(p) = expect.order_progress {
            let got = oms
                .sim()
                .order(t)
                .and_then(|o| o.get("orderProgress").and_then(Value::as_i64))
                .map_or_else(none, |p| p.to_string());
            check("orderProgress", p.to_string(), got);
        }
        if let Some(n) = expect.accepted_confirms {
            check(
                "accepted_confirms",
                n.to_string(),
                oms.sim().accepted_confirms(t).to_string(),
            );
        }
    }
    if !expect.calls.is_empty() {
        let calls = oms.sim().calls_since(calls_before);
        for (function, n) in &expect.calls {
            let got = calls.iter().filter(|c| &c.function == function).count();
            check(
                &format!("calls to {function}"),
                n.to_string(),
                got.to_string(),
            );
        }
    }
    out
}
