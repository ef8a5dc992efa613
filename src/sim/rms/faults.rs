//! Injected failures: what makes the simulated RMS misbehave, and when.
//!
//! Two sources, asked in this order for every call:
//!
//! 1. **Rules** a scenario injects ([`FaultRule`]): "the next 3 `confirmOrder` calls hit the
//!    QPS limit", "maintenance until 10:30". The first live rule that covers the function
//!    applies, and uses up one of its calls.
//! 2. **Random faults** ([`RandomFaults`], from [`SimConfig`](super::SimConfig)): each call
//!    fails with a probability, the kind drawn at random. The draws come from the
//!    simulator's seeded [`Rng`], so a seed gives the same schedule every run.
//!
//! What each kind *does* to a call (the canned answer, the wait) is the caller's business
//! (`SimRms::answer`); this module only decides which fault, if any, a call meets.

use crate::model::Timestamp;
use crate::sim::clock::SimClock;
use crate::sim::rng::Rng;

/// An injected failure.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 403 `Forbidden-Exceeded QPS Limitation` (S20).
    Qps,
    /// 503 `API In Maintenance` (S21).
    Maintenance,
    /// 500 `APIエラー` (S19).
    ApiError,
    /// No answer; RMS did nothing (S19).
    Timeout,
    /// RMS acted, but the answer never arrives.
    LostResponse,
    /// 403 with an HTML error page from a proxy, firewall or load balancer in front of RMS
    /// (not RMS's words): no error entry knows it, so the error table's fallback
    /// (`unrecognised`) reads it. RMS never saw the call.
    ProxyError,
}

/// A fault that applies to the next `calls` calls (or until `until`) of some functions.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Functions it hits; empty is every function.
    pub functions: Vec<String>,
    /// How many more calls it hits (`None`: no limit).
    pub remaining: Option<u32>,
    /// When it stops hitting (`None`: never).
    pub until: Option<Timestamp>,
}

impl FaultRule {
    /// Whether the rule still applies at `now`.
    fn is_live(&self, now: Timestamp) -> bool {
        self.remaining != Some(0)
            && self
                .until
                .is_none_or(|u| now.unix_seconds() < u.unix_seconds())
    }

    fn covers(&self, function: &str) -> bool {
        self.functions.is_empty() || self.functions.iter().any(|f| f == function)
    }
}

/// Random faults: each call fails with probability `rate`, the kind drawn from `kinds`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
}

/// The faults in play for one simulated RMS.
#[derive(Debug)]
pub(super) struct Faults {
    rules: Vec<FaultRule>,
    random: Option<RandomFaults>,
    rng: Rng,
}

impl Faults {
    /// No rules yet; random faults (if any) drawn from a generator seeded with `seed`.
    pub(super) fn new(random: Option<RandomFaults>, seed: u64) -> Self {
        Faults {
            rules: Vec::new(),
            random,
            rng: Rng::new(seed),
        }
    }

    /// Adds a rule (after those already injected: an earlier live rule wins).
    pub(super) fn inject(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// The fault a call of `function` at `now` meets, if any. Spent and expired rules are
    /// dropped first; a matching rule uses up one of its calls.
    pub(super) fn pick(&mut self, function: &str, now: Timestamp) -> Option<FaultKind> {
        self.rules.retain(|r| r.is_live(now));
        if let Some(rule) = self.rules.iter_mut().find(|r| r.covers(function)) {
            if let Some(left) = rule.remaining.as_mut() {
                *left -= 1;
            }
            return Some(rule.kind);
        }
        let random = self.random.as_ref()?;
        if random.kinds.is_empty() {
            return None;
        }
        // The rate to a millionth; a second draw only when the call fails, so a seed's
        // schedule does not depend on how many kinds there are.
        let roll = (self.rng.next_u64() % 1_000_000) as f64 / 1_000_000.0;
        if roll < random.rate {
            return Some(random.kinds[self.rng.below(random.kinds.len())]);
        }
        None
    }
}

/// The end of a fault that lasts `d` from the clock's now (a scenario's `duration:`).
pub fn until(clock: &SimClock, d: crate::model::Duration) -> Timestamp {
    let now = clock.now();
    Timestamp::from_unix(
        now.unix_seconds().saturating_add(d.as_secs().max(0)),
        now.offset_seconds(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rms::function;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix(s, 9 * 3600)
    }

    #[test]
    fn a_rule_hits_its_functions_for_its_calls_then_lets_go() {
        let mut faults = Faults::new(None, 1);
        faults.inject(FaultRule {
            kind: FaultKind::Qps,
            functions: vec![function::CONFIRM_ORDER.into()],
            remaining: Some(2),
            until: None,
        });
        assert_eq!(faults.pick(function::GET_ORDER, at(0)), None);
        assert_eq!(
            faults.pick(function::CONFIRM_ORDER, at(0)),
            Some(FaultKind::Qps)
        );
        assert_eq!(
            faults.pick(function::CONFIRM_ORDER, at(0)),
            Some(FaultKind::Qps)
        );
        assert_eq!(faults.pick(function::CONFIRM_ORDER, at(0)), None);
    }

    #[test]
    fn a_rule_with_an_end_stops_at_it() {
        let mut faults = Faults::new(None, 1);
        faults.inject(FaultRule {
            kind: FaultKind::Maintenance,
            functions: vec![],
            remaining: None,
            until: Some(at(100)),
        });
        assert_eq!(
            faults.pick(function::GET_ORDER, at(99)),
            Some(FaultKind::Maintenance)
        );
        assert_eq!(faults.pick(function::GET_ORDER, at(100)), None);
    }

    #[test]
    fn random_faults_follow_the_seed() {
        let random = RandomFaults {
            rate: 0.5,
            kinds: vec![FaultKind::Qps, FaultKind::Timeout],
        };
        let draw = |seed| {
            let mut faults = Faults::new(Some(random.clone()), seed);
            (0..200)
                .map(|_| faults.pick(function::GET_ORDER, at(0)))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let failed = a.iter().filter(|f| f.is_some()).count();
        assert!((60..140).contains(&failed), "{failed} of 200 at rate 0.5");
    }
}
