//! [`MemoryLedger`]: the protocol in process memory — a map behind one mutex. Not durable:
//! for tests, and for a guard that needs once-only within one process only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::model::LedgerState;

use super::{
    answer_in_input_order, lock_order, marked_state, new_token, now_ms, resolved_state, Claim, Key,
    Ledger, LedgerFuture, Mark, Query, Resolution, Row, Scope, State, Ticket,
};

/// The ledger in memory. Every method takes the one lock, so each batch is atomic.
///
/// The rows are hashed, not kept in key order: a claim looks up each of its keys, and in
/// a tree of a few hundred thousand rows every lookup chased a dozen string keys through
/// memory (a 100-order claim took 0.4 ms). Only [`Ledger::list`] wants key order, and
/// sorts what it lists.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    rows: Mutex<HashMap<Key, (Row, i64)>>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        MemoryLedger::default()
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Row, i64)>> {
        // A panic while holding the lock leaves no half-applied transition (each one is
        // a single assignment), so a poisoned map is still consistent.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Ledger for MemoryLedger {
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            let (distinct, place) = lock_order(keys);
            let now = now_ms();
            let mut rows = self.rows();
            let answers = distinct
                .into_iter()
                .map(|key| match rows.get_mut(key) {
                    Some((row, token)) if matches!(row.state, State::Failed { .. }) => {
                        *token = new_token();
                        row.state = State::Sending;
                        row.attempts = row.attempts.saturating_add(1);
                        row.claimed_at_ms = now;
                        row.updated_at_ms = now;
                        let ticket = Ticket {
                            key: key.clone(),
                            token: *token,
                        };
                        (Claim::Won(ticket), row.clone())
                    }
                    Some((row, _)) => (Claim::Held(row.clone()), row.clone()),
                    None => {
                        let token = new_token();
                        let row = Row {
                            key: key.clone(),
                            state: State::Sending,
                            attempts: 1,
                            claimed_at_ms: now,
                            updated_at_ms: now,
                        };
                        rows.insert(key.clone(), (row.clone(), token));
                        let ticket = Ticket {
                            key: key.clone(),
                            token,
                        };
                        (Claim::Won(ticket), row)
                    }
                })
                .collect();
            Ok(answer_in_input_order(&place, answers))
        })
    }

    fn mark<'a>(&'a self, marks: &'a [(Ticket, Mark)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let now = now_ms();
            let mut rows = self.rows();
            Ok(marks
                .iter()
                .map(|(ticket, mark)| {
                    let Some((row, token)) = rows.get_mut(&ticket.key) else {
                        return false;
                    };
                    if *token != ticket.token {
                        return false;
                    }
                    let next = match marked_state(mark) {
                        None if row.state == State::Sending => {
                            row.attempts = row.attempts.saturating_add(1);
                            State::Sending
                        }
                        Some(next)
                            if matches!(row.state, State::Sending | State::Unknown { .. }) =>
                        {
                            next
                        }
                        _ => return false,
                    };
                    row.state = next;
                    row.updated_at_ms = now;
                    true
                })
                .collect())
        })
    }

    fn abandon_untouched_since<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff: i64,
    ) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let now = now_ms();
            let mut rows = self.rows();
            let mut abandoned: Vec<Row> = rows
                .values_mut()
                .filter(|(row, _)| {
                    row.state == State::Sending
                        && row.updated_at_ms <= cutoff
                        && scope.holds(&row.key)
                })
                .map(|(row, _)| {
                    row.state = State::Unknown { cause: None };
                    row.updated_at_ms = now;
                    row.clone()
                })
                .collect();
            // In key order, as the databases answer.
            abandoned.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            Ok(abandoned)
        })
    }

    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let now = now_ms();
            let mut rows = self.rows();
            Ok(resolutions
                .iter()
                .map(|(key, resolution)| match rows.get_mut(key) {
                    Some((row, _)) if matches!(row.state, State::Unknown { .. }) => {
                        row.state = resolved_state(resolution);
                        row.updated_at_ms = now;
                        true
                    }
                    _ => false,
                })
                .collect())
        })
    }

    fn get<'a>(&'a self, key: &'a Key) -> LedgerFuture<'a, Option<Row>> {
        Box::pin(async move { Ok(self.rows().get(key).map(|(row, _)| row.clone())) })
    }

    fn list<'a>(&'a self, query: &'a Query) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let rows = self.rows();
            let limit = query.limit.map_or(usize::MAX, |l| l as usize);
            let mut listed: Vec<&Row> = rows
                .values()
                .map(|(row, _)| row)
                .filter(|row| query.after.as_ref().is_none_or(|a| row.key > *a))
                .filter(|row| query.scope.holds(&row.key))
                .filter(|row| query.states.is_empty() || query.states.contains(&row.state.kind()))
                .collect();
            // In key order, as the databases list them; only the page is sorted in full.
            if limit < listed.len() {
                listed.select_nth_unstable_by(limit, |a, b| a.key.cmp(&b.key));
                listed.truncate(limit);
            }
            listed.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            Ok(listed.into_iter().cloned().collect())
        })
    }

    fn count<'a>(&'a self, scope: &'a Scope) -> LedgerFuture<'a, Vec<(LedgerState, u64)>> {
        Box::pin(async move {
            let mut by: BTreeMap<&'static str, i64> = BTreeMap::new();
            for (row, _) in self.rows().values().filter(|(r, _)| scope.holds(&r.key)) {
                *by.entry(row.state.kind().name()).or_default() += 1;
            }
            super::counts_in_order(by.into_iter().map(|(k, v)| (k.to_owned(), v)))
        })
    }
}
