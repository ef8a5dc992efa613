//! Random exploration: random OMS actions, Rakuten events and faults, driven through the
//! guard against [`SimRms`](super::SimRms), with the invariants checked after every step:
//!
//! - S1: RMS never accepts two confirmations of one order, and the guard never sends a
//!   confirmation for an order the OMS knows was already confirmed;
//! - no confirmation is sent for an order the OMS holds as bundled, with a -9,999
//!   amount, or outside 100;
//! - nothing ships before 【楽天処理済】;
//! - every failure the client sees comes with a remedy.
//!
//! A violation is shrunk (steps removed while it still reproduces) to a short scenario
//! file that `simulate` can replay.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::oms::Oms;
use super::rms::FaultKind;
use super::rng::Rng;
use super::runner::{build, perform};
use super::scenario::{
    CancelEvent, Canceller, Edit, Event, FaultStep, RmsConfirmation, Scenario, Step, StepAction,
    Targets,
};
use crate::engine::Engine;
use crate::guard::Outcome;
use crate::model::{Duration, Label, Timestamp};
use crate::rms::function;

/// How much to explore.
#[derive(Debug, Clone)]
pub struct ExploreConfig {
    pub orders: usize,
    pub steps: usize,
    pub seed: u64,
}

/// A broken invariant, with the scenario that led to it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub scenario: Scenario,
    /// Index of the step after which the invariant broke.
    pub step: usize,
    pub message: String,
}

/// What an exploration did.
#[derive(Debug, Clone)]
pub struct ExploreResult {
    pub steps: usize,
    pub calls: usize,
    pub virtual_time: String,
    pub violation: Option<Violation>,
}

/// A shrunk violation.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub scenario: Scenario,
    pub message: String,
}

fn number(i: usize) -> String {
    format!("375055-20261130-{i:08}")
}

/// A random scenario: `orders` orders, `steps` steps.
pub fn generate(config: &ExploreConfig) -> Scenario {
    let mut rng = Rng::new(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let start: Timestamp = "2026-11-30T09:00:00+09:00"
        .parse()
        .unwrap_or_else(|_| Timestamp::from_unix(1_796_000_000, 9 * 3600));
    let n = config.orders.max(1);
    let mut orders = Vec::with_capacity(n);
    for i in 0..n {
        let unset = rng.chance(20);
        let postage = if unset { -9999 } else { 660 };
        let total = if unset { -9999 } else { 4640 };
        // Mostly recent orders; one in ten close to the 14-day auto-cancel.
        let hours_ago = if rng.chance(10) {
            12 * 24 + rng.below(48)
        } else {
            rng.below(48)
        };
        let placed = Timestamp::from_unix(
            start.unix_seconds() - hours_ago as i64 * 3600,
            start.offset_seconds(),
        );
        let o = json!({
            "orderNumber": number(i),
            "orderProgress": 100,
            "orderDatetime": super::rms::rms_time(placed),
            "goodsPrice": 3980,
            "postagePrice": postage,
            "totalPrice": total,
            "requestPrice": total,
            "PackageModelList": [{"basketId": i, "postagePrice": postage, "goodsPrice": 3980}]
        });
        if let Value::Object(map) = o {
            orders.push(map);
        }
    }
    let pick = |rng: &mut Rng| number(rng.below(n));
    let mut steps = Vec::with_capacity(config.steps);
    for _ in 0..config.steps {
        let action = match rng.below(100) {
            0..=17 => {
                if rng.chance(30) {
                    // Repeats are kept, and one in four bulk runs repeats an order on
                    // purpose: S1 must hold when an OMS lists an order twice.
                    let k = 2 + rng.below(4);
                    let mut numbers: Vec<String> = (0..k).map(|_| pick(&mut rng)).collect();
                    if rng.chance(25) {
                        let again = numbers[rng.below(numbers.len())].clone();
                        numbers.push(again);
                    }
                    StepAction::Confirm(Targets::Many(numbers))
                } else {
                    StepAction::Confirm(Targets::One(pick(&mut rng)))
                }
            }
            18..=23 => StepAction::FetchStatus(pick(&mut rng)),
            24..=31 => {
                let mut set = Map::new();
                set.insert("postagePrice".into(), json!(660));
                set.insert("totalPrice".into(), json!(4640));
                set.insert("requestPrice".into(), json!(4640));
                StepAction::Modify(Edit {
                    order: pick(&mut rng),
                    set,
                })
            }
            32..=35 => StepAction::Reflect(pick(&mut rng)),
            36..=40 => {
                let order = pick(&mut rng);
                let mut set = Map::new();
                set.insert("postagePrice".into(), json!(660));
                set.insert("totalPrice".into(), json!(4640));
                set.insert("requestPrice".into(), json!(4640));
                StepAction::RmsEdit(Edit { order, set })
            }
            41..=45 => StepAction::Bundle(vec![pick(&mut rng), pick(&mut rng)]),
            46..=48 => StepAction::Unbundle(pick(&mut rng)),
            49..=54 => StepAction::Ship(pick(&mut rng)),
            55..=57 => StepAction::SendMail(pick(&mut rng)),
            58..=59 => StepAction::PrintSlip(pick(&mut rng)),
            60..=62 => StepAction::Cancel(pick(&mut rng)),
            63..=80 => {
                let minutes = [1, 2, 3, 5, 5, 10, 15, 30, 60][rng.below(9)];
                StepAction::Advance(Duration::from_secs(minutes * 60))
            }
            81..=88 => {
                let order = pick(&mut rng);
                StepAction::Event(match rng.below(4) {
                    0 => Event::Cancel(CancelEvent {
                        order,
                        by: Canceller::Buyer,
                    }),
                    1 => Event::Cancel(CancelEvent {
                        order,
                        by: Canceller::Rakuten,
                    }),
                    2 => Event::ConfirmInRms(RmsConfirmation {
                        order,
                        oms_knows: rng.chance(50),
                    }),
                    _ => {
                        let mut set = Map::new();
                        set.insert("postagePrice".into(), json!(-9999));
                        Event::ChangeAmount(Edit { order, set })
                    }
                })
            }
            _ => {
                let kinds = [
                    FaultKind::Qps,
                    FaultKind::Maintenance,
                    FaultKind::ApiError,
                    FaultKind::Timeout,
                    FaultKind::LostResponse,
                ];
                StepAction::Fault(FaultStep {
                    kind: kinds[rng.below(kinds.len())],
                    functions: if rng.chance(50) {
                        vec![function::CONFIRM_ORDER.into()]
                    } else {
                        vec![]
                    },
                    calls: Some(1 + rng.below(3) as u32),
                    duration: None,
                })
            }
        };
        let s = Step::doing(action);
        steps.push(s);
    }
    Scenario {
        name: format!(
            "explore seed {} ({} orders, {} steps)",
            config.seed, n, config.steps
        ),
        description: None,
        tags: vec!["explore".into()],
        start,
        shop: Some(crate::model::Shop {
            api_option: rng.chance(50),
            ..crate::model::Shop::default()
        }),
        sim: None,
        ledger: None,
        orders,
        oms: Default::default(),
        steps,
    }
}

/// What the invariants need to know about an order just before a step.
struct Before {
    confirm_sent: bool,
    forbidden: Option<&'static str>,
    processed: bool,
}

fn before(oms: &Oms, engine: &Engine, n: &str) -> Before {
    let Some(t) = oms.tracked(n) else {
        return Before {
            confirm_sent: false,
            forbidden: None,
            processed: false,
        };
    };
    let has_sentinel = engine.holds_sentinel(&t.order);
    let forbidden = if t.oms.bundle_id.is_some() {
        Some("bundled")
    } else if has_sentinel {
        Some("with a -9,999 amount")
    } else if t.order.order_progress != engine.rules().initial_status() {
        Some("outside 100")
    } else {
        None
    };
    Before {
        confirm_sent: t.oms.confirm_sent || t.oms.confirmed_in_rms,
        forbidden,
        processed: t.oms.label == Label::Processed,
    }
}

/// What a play of a scenario found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played {
    /// The step after which an invariant broke, and how.
    pub violation: Option<(usize, String)>,
    pub calls: usize,
    pub virtual_seconds: u64,
}

/// Plays `scenario`, checking the invariants after every step; stops at the first
/// violation.
pub async fn first_violation(engine: Arc<Engine>, scenario: &Scenario) -> Result<Played, String> {
    let mut oms = build(engine.clone(), scenario, None)?;
    let violation = play(&engine, &mut oms, scenario).await;
    Ok(Played {
        violation,
        calls: oms.sim().call_count(),
        virtual_seconds: oms.sim().clock().elapsed().as_secs(),
    })
}

async fn play(engine: &Arc<Engine>, oms: &mut Oms, scenario: &Scenario) -> Option<(usize, String)> {
    let oms = &mut *oms;
    for (i, step) in scenario.steps.iter().enumerate() {
        // Only the orders a step names can be confirmed or shipped by it.
        let named = step.orders();
        let snapshot: Vec<(String, Before)> = named
            .iter()
            .map(|n| (n.clone(), before(oms, engine, n)))
            .collect();
        let calls_before = oms.sim().call_count();
        let (_, result) = perform(engine, oms, step).await;
        // S1 within a step: one confirmOrder call never lists an order twice, and no call
        // lists an order an earlier call of the same step got accepted (the guard reads an
        // uncertain order back before it resends; a repeat in the OMS's list is refused).
        let mut accepted_in_step: Vec<&str> = Vec::new();
        let calls = oms.sim().calls_since(calls_before);
        for call in calls
            .iter()
            .filter(|c| c.function == function::CONFIRM_ORDER)
        {
            for (k, n) in call.orders.iter().enumerate() {
                if call.orders[..k].contains(n) {
                    return Some((i, format!("S1: one confirmOrder call listed `{n}` twice")));
                }
                if accepted_in_step.contains(&n.as_str()) {
                    return Some((
                        i,
                        format!("S1: `{n}` was sent again after RMS accepted its confirmation"),
                    ));
                }
            }
            accepted_in_step.extend(call.confirmed.iter().map(String::as_str));
        }
        for call in &calls {
            for n in &call.orders {
                let Some((_, b)) = snapshot.iter().find(|(m, _)| m == n) else {
                    continue;
                };
                if call.function == function::CONFIRM_ORDER
                    && matches!(step.action, Some(StepAction::Confirm(_)))
                {
                    if b.confirm_sent {
                        return Some((i, format!("S1: a confirmation was sent for `{n}`, which the OMS had already confirmed")));
                    }
                    if let Some(why) = b.forbidden {
                        return Some((i, format!("a confirmation was sent for `{n}` {why}")));
                    }
                }
                if call.function == "updateOrderShipping" && !b.processed {
                    return Some((i, format!("S6: `{n}` was shipped before 【楽天処理済】")));
                }
            }
        }
        for n in &named {
            if oms.sim().accepted_confirms(n) > 1 {
                return Some((
                    i,
                    format!(
                        "S1: RMS accepted {} confirmations of `{n}`",
                        oms.sim().accepted_confirms(n)
                    ),
                ));
            }
        }
        if let Ok(Some(r)) = &result {
            for (n, o) in &r.outcomes {
                if let Outcome::Failed(f) = o {
                    if f.remedy.is_empty() {
                        return Some((
                            i,
                            format!("the failure `{}` of `{n}` has no remedy", f.error),
                        ));
                    }
                }
            }
        }
    }
    None
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    let rt = super::clock::paused_runtime().ok()?;
    Some(rt.block_on(f))
}

/// Steps per episode: long runs are split into episodes with fresh orders (and a seed of
/// their own), so the whole run keeps meeting new situations instead of a shop whose
/// orders all ended days ago.
pub const EPISODE_STEPS: usize = 250;

/// Explores: random scenarios, played with the invariants checked after each step.
pub fn explore(engine: Arc<Engine>, config: &ExploreConfig) -> ExploreResult {
    let mut result = ExploreResult {
        steps: 0,
        calls: 0,
        virtual_time: String::new(),
        violation: None,
    };
    let mut virtual_seconds = 0;
    let mut episode = 0u64;
    while result.steps < config.steps {
        let steps = (config.steps - result.steps).min(EPISODE_STEPS);
        let scenario = generate(&ExploreConfig {
            orders: config.orders,
            steps,
            seed: config.seed.wrapping_add(episode.wrapping_mul(0x1000_0001)),
        });
        episode += 1;
        match block_on(first_violation(engine.clone(), &scenario)) {
            Some(Ok(p)) => {
                result.calls += p.calls;
                virtual_seconds += p.virtual_seconds;
                if let Some((step, message)) = p.violation {
                    let mut s = scenario;
                    s.steps.truncate(step + 1);
                    result.steps += step + 1;
                    result.violation = Some(Violation {
                        scenario: s,
                        step,
                        message,
                    });
                    break;
                }
                result.steps += steps;
            }
            Some(Err(e)) => {
                result.violation = Some(Violation {
                    scenario,
                    step: 0,
                    message: format!("the scenario could not run: {e}"),
                });
                break;
            }
            None => {
                result.violation = Some(Violation {
                    scenario,
                    step: 0,
                    message: "cannot start the async runtime".into(),
                });
                break;
            }
        }
    }
    result.virtual_time = super::report::human(virtual_seconds);
    result
}

fn reproduces(engine: &Arc<Engine>, scenario: &Scenario) -> Option<String> {
    block_on(first_violation(engine.clone(), scenario))
        .and_then(Result::ok)
        .and_then(|p| p.violation)
        .map(|(_, m)| m)
}

/// Removes steps (and unused orders) while the violation still reproduces.
pub fn shrink(engine: Arc<Engine>, violation: &Violation) -> Shrunk {
    let mut best = violation.scenario.clone();
    let mut message = violation.message.clone();
    let mut chunk = best.steps.len().div_ceil(2).max(1);
    while chunk >= 1 {
        let mut i = 0;
        let mut progressed = false;
        while i < best.steps.len() {
            let mut candidate = best.clone();
            let end = (i + chunk).min(candidate.steps.len());
            candidate.steps.drain(i..end);
            if candidate.steps.is_empty() {
                i += chunk;
                continue;
            }
            if let Some(m) = reproduces(&engine, &candidate) {
                best = candidate;
                message = m;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !progressed {
            break;
        }
        if !progressed {
            chunk /= 2;
        }
    }
    // Narrow bulk steps to the orders that matter.
    for i in 0..best.steps.len() {
        let Some(StepAction::Confirm(Targets::Many(list))) = best.steps[i].action.clone() else {
            continue;
        };
        let mut keep = list;
        let mut j = 0;
        while j < keep.len() && keep.len() > 1 {
            let mut candidate = best.clone();
            let mut fewer = keep.clone();
            fewer.remove(j);
            candidate.steps[i].action = Some(StepAction::Confirm(if fewer.len() == 1 {
                Targets::One(fewer[0].clone())
            } else {
                Targets::Many(fewer.clone())
            }));
            if let Some(m) = reproduces(&engine, &candidate) {
                best = candidate;
                message = m;
                keep = fewer;
            } else {
                j += 1;
            }
        }
    }
    // Drop orders no step names.
    let used: std::collections::BTreeSet<String> =
        best.steps.iter().flat_map(Step::orders).collect();
    let mut candidate = best.clone();
    candidate.orders.retain(|o| {
        o.get("orderNumber")
            .and_then(Value::as_str)
            .is_some_and(|n| used.contains(n))
    });
    if let Some(m) = reproduces(&engine, &candidate) {
        best = candidate;
        message = m;
    }
    // The last step states the invariant, so `simulate` fails while the bug is there.
    let function = if message.starts_with("S6") {
        function::UPDATE_ORDER_SHIPPING
    } else {
        function::CONFIRM_ORDER
    };
    if let Some(last) = best.steps.last_mut() {
        if message.starts_with("S6") || message.contains("confirmation was sent") {
            let mut expect = last.expect.clone().unwrap_or_default();
            expect.calls.insert(function.to_owned(), 0);
            last.expect = Some(expect);
        }
    }
    best.name = format!("shrunk: {message}");
    best.description = Some(format!(
        "found by `rms-preflight explore`; reproduces: {message}"
    ));
    Shrunk {
        scenario: best,
        message,
    }
}
