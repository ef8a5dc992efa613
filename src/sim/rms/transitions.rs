//! The state machine: orders move only along the rules file's `transitions`.
//!
//! The simulator holds no table of statuses of its own. To move an order it looks up the
//! transition from the order's status whose `via` names the move — a function
//! (`confirmOrder`, `cancelOrder`, …), an event a scenario plays (`buyer_cancel`, …), or
//! one of the moves RMS makes on its own, below — and refuses when the rules have none.
//! So the simulator cannot disagree with the rules about which move is possible from
//! which status; what it adds is *when* the moves RMS makes on its own happen.

use std::time::Duration;

use super::store::StoreError;
use super::{SimRms, State};
use crate::model::Timestamp;
use crate::rms::function;

/// The `via` of Rakuten's screening of a confirmed order (200 → 300), scheduled
/// [`SimConfig::screening_delay`](super::SimConfig::screening_delay) after the move that
/// makes it possible.
const SCREENING: &str = "screening";
/// The `via` of a cancellation being confirmed (800 → 900), scheduled
/// [`SimConfig::cancel_delay`](super::SimConfig::cancel_delay) after the move that makes
/// it possible.
const CANCEL_CONFIRMED: &str = "cancel_confirmed";
/// The `via` of RMS cancelling an order left unconfirmed, scheduled the rules'
/// `timing.auto_cancel_after` after the order was placed.
pub(super) const AUTO_CANCEL: &str = "auto_cancel";

/// Why an order cannot move.
#[derive(Debug, thiserror::Error)]
pub(super) enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no transition `{via}` from {from} in the rules file")]
    NoTransition { via: String, from: i64 },
}

impl SimRms {
    /// The status the rules' transition `via` leads to from `from`, if the rules have one.
    pub(super) fn transition_to(&self, from: i64, via: &str) -> Option<i64> {
        self.engine
            .rules()
            .file()
            .transitions
            .iter()
            .find(|t| t.from == from && t.via == via)
            .map(|t| t.to)
    }

    /// Moves `number` along `via` at `now`, and schedules what follows on its own from
    /// the new status (screening, a cancellation's confirmation). Returns the new status.
    pub(super) fn apply(
        &self,
        s: &mut State,
        number: &str,
        via: &str,
        now: Timestamp,
    ) -> Result<i64, MoveError> {
        let order = s.orders.get_mut(number)?;
        let from = order.progress();
        let to = self
            .transition_to(from, via)
            .ok_or_else(|| MoveError::NoTransition {
                via: via.to_owned(),
                from,
            })?;
        order.set_progress(to);
        if via == function::CONFIRM_ORDER {
            order.set_confirmed_at(now);
        }
        if let Some(moves) = s.moves.as_mut() {
            moves.push(super::Moved {
                at: now,
                order: number.to_owned(),
                from,
                to,
                via: via.to_owned(),
            });
        }
        let after = |d: Duration| {
            now.unix_seconds()
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        if self.transition_to(to, SCREENING).is_some() {
            s.events
                .schedule(after(self.config.screening_delay), number, SCREENING);
        }
        if self.transition_to(to, CANCEL_CONFIRMED).is_some() {
            s.events
                .schedule(after(self.config.cancel_delay), number, CANCEL_CONFIRMED);
        }
        Ok(to)
    }

    /// Applies every scheduled event due at `now`, in time order. An event whose
    /// transition no longer applies (the order was cancelled meanwhile) is dropped.
    pub(super) fn run_due(&self, s: &mut State, now: Timestamp) {
        while let Some(event) = s.events.pop_due(now.unix_seconds()) {
            let at = Timestamp::from_unix(event.at, now.offset_seconds());
            let _dropped = self.apply(s, &event.order, &event.via, at);
        }
    }
}
