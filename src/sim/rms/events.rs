//! What happens to orders on its own, later: the simulated RMS's event queue.
//!
//! Some moves are not made by any caller: Rakuten screens a confirmed order after a delay
//! (`screening`), RMS cancels an order left unconfirmed for 14 days (`auto_cancel`), a
//! cancellation is confirmed after a while (`cancel_confirmed`). Each is scheduled as a
//! `via` — the name of a transition in the rules file — at a time, and the state machine
//! applies it when the clock reaches that time ([`SimRms::catch_up`](super::SimRms::catch_up)).
//!
//! The queue is ordered by time, then by scheduling order, so two events due at the same
//! second run in the order they were scheduled, every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One event: move `order` along the transition `via` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Scheduled {
    /// Unix seconds. First field: the queue's order is by time…
    pub(super) at: i64,
    /// …then by when it was scheduled.
    seq: u64,
    pub(super) order: String,
    pub(super) via: String,
}

/// A min-queue of [`Scheduled`] events.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    /// How many events were ever scheduled: the tie-breaker of the next one.
    seq: u64,
}

impl EventQueue {
    /// Schedules the transition `via` of `order` at `at` (Unix seconds).
    pub(super) fn schedule(&mut self, at: i64, order: &str, via: &str) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            order: order.to_owned(),
            via: via.to_owned(),
        }));
    }

    /// Takes the earliest event if it is due at `now` (Unix seconds) or before.
    pub(super) fn pop_due(&mut self, now: i64) -> Option<Scheduled> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// When the earliest event is due (Unix seconds).
    pub(super) fn next_at(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_due_by_time_then_by_scheduling_order() {
        let mut q = EventQueue::default();
        q.schedule(20, "b", "screening");
        q.schedule(10, "z", "auto_cancel");
        q.schedule(20, "a", "cancel_confirmed");
        assert_eq!(q.next_at(), Some(10));
        assert_eq!(q.pop_due(9), None);
        assert_eq!(q.pop_due(10).map(|e| e.order), Some("z".to_owned()));
        let due: Vec<_> = std::iter::from_fn(|| q.pop_due(30))
            .map(|e| e.order)
            .collect();
        assert_eq!(due, ["b", "a"], "same second: in the order scheduled");
        assert_eq!(q.next_at(), None);
    }
}
