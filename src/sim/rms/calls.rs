//! What the simulated RMS was asked, and what it accepted.
//!
//! Scenarios and the explorer judge the OMS by the calls it made ("no `confirmOrder`
//! was sent", "one call per order"), and S1's invariant — an order is confirmed at most
//! once — by what RMS *accepted*, which a lost answer hides from the caller. So every call
//! is recorded, and every accepted confirmation counted per order.
//!
//! A long-running `sim-server` cannot keep every record: [`CallLog::limit`] keeps the
//! last few, while the count of calls and the confirmation tally stay whole.

use std::collections::{HashMap, VecDeque};

use super::faults::FaultKind;
use crate::model::Timestamp;

/// One call RMS received.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub at: Timestamp,
    pub function: String,
    pub orders: Vec<String>,
    /// The HTTP status answered (0: no answer, a timeout).
    pub status: u16,
    pub fault: Option<FaultKind>,
    /// Orders this call confirmed (a `confirmOrder` RMS accepted).
    pub confirmed: Vec<String>,
}

/// The calls received: a count of all, their records — every one, or the last `limit` —
/// and how many confirmations RMS accepted per order.
#[derive(Debug, Default)]
pub(super) struct CallLog {
    kept: VecDeque<CallRecord>,
    /// Records dropped from the front.
    dropped: usize,
    limit: Option<usize>,
    /// Per order, never trimmed.
    accepted_confirms: HashMap<String, u32>,
}

impl CallLog {
    /// Records a call (and counts the confirmations it made).
    pub(super) fn push(&mut self, record: CallRecord) {
        for n in &record.confirmed {
            *self.accepted_confirms.entry(n.clone()).or_default() += 1;
        }
        self.kept.push_back(record);
        self.trim();
    }

    /// Keeps only the last `keep` records from now on.
    pub(super) fn limit(&mut self, keep: usize) {
        self.limit = Some(keep);
        self.trim();
    }

    fn trim(&mut self) {
        if let Some(limit) = self.limit {
            while self.kept.len() > limit {
                self.kept.pop_front();
                self.dropped += 1;
            }
        }
    }

    /// How many calls were received (kept or not).
    pub(super) fn count(&self) -> usize {
        self.dropped + self.kept.len()
    }

    /// The records still kept, oldest first.
    pub(super) fn kept(&self) -> impl Iterator<Item = &CallRecord> {
        self.kept.iter()
    }

    /// The kept records of the calls after the first `n` received.
    pub(super) fn since(&self, n: usize) -> impl Iterator<Item = &CallRecord> {
        let from = n.saturating_sub(self.dropped).min(self.kept.len());
        self.kept.range(from..)
    }

    /// How many confirmations RMS accepted for `number`.
    pub(super) fn accepted_confirms(&self, number: &str) -> u32 {
        self.accepted_confirms.get(number).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(i: u16, confirmed: &[&str]) -> CallRecord {
        CallRecord {
            at: Timestamp::from_unix(0, 0),
            function: "confirmOrder".into(),
            orders: vec![],
            status: i,
            fault: None,
            confirmed: confirmed.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_limited_log_keeps_the_last_records_and_every_count() {
        let mut log = CallLog::default();
        log.push(call(1, &["a"]));
        log.push(call(2, &[]));
        log.limit(2);
        log.push(call(3, &["a", "b"]));
        assert_eq!(log.count(), 3);
        let statuses =
            |it: &mut dyn Iterator<Item = &CallRecord>| it.map(|c| c.status).collect::<Vec<_>>();
        assert_eq!(statuses(&mut log.kept()), [2, 3]);
        assert_eq!(
            statuses(&mut log.since(0)),
            [2, 3],
            "what is left of the first 0"
        );
        assert_eq!(statuses(&mut log.since(2)), [3]);
        assert_eq!(statuses(&mut log.since(9)), Vec::<u16>::new());
        assert_eq!(
            log.accepted_confirms("a"),
            2,
            "the trimmed record still counts"
        );
        assert_eq!(log.accepted_confirms("b"), 1);
        assert_eq!(log.accepted_confirms("c"), 0);
    }
}
