//! The guard's side of the once-only ledger ([`crate::ledger`]): claim before sending,
//! record what happened, and reconcile what a crash or a lost answer left open.
//!
//! With a ledger, [`Guard::confirm_bulk`] does, for each chunk of up to 100 orders the
//! rules allow:
//!
//! 1. **claim** every order of the chunk in one ledger batch, right before sending it (a
//!    chunk is claimed only when it is about to go, so a long bulk run never leaves claimed
//!    rows idle while earlier chunks are sent);
//! 2. an order whose claim is refused is checked again with the ledger's answer as a fact
//!    (`ledger.state`), and the rules deny it (S1, `confirm-ledger-claimed`): nothing is
//!    sent for it;
//! 3. send the won ones as without a ledger; before any resend (after a read-back showed
//!    the order still in 100) mark the row [`Mark::Resent`], and resend only if the row is
//!    still this guard's;
//! 4. **mark** each outcome: `confirmed`, `failed(error id)` when RMS certainly did not
//!    act, `unknown(cause)` when it may have and the read-back could not tell. With
//!    [`Guard::with_deferred_marks`], `confirmed` marks are written in the background
//!    after the answer: until one lands its row reads `sending`, which refuses a second
//!    claim just as `confirmed` does (S1), so no verdict changes — only the answer's
//!    latency loses a database write. Every other mark is written before the answer (a
//!    `failed` row must be claimable again by the very next call).
//!
//! [`Guard::reconcile_ledger`] (at start-up, or on demand) takes `sending` rows idle for
//! longer than [`Guard::with_ledger_stale_after`] for abandoned (their process died
//! mid-call) and settles every `unknown` row by reading the order back with `getOrder`:
//! still in the rules' initial status → `failed` (the next confirm may send it again),
//! moved on → `confirmed` (or `failed` with the status's confirm error, e.g. cancelled).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Guard, Outcome, Tracked};
use crate::ledger::{
    Claim, Key, Ledger, LedgerError, LedgerState, Mark, Query, Resolution, Row, Scope, State,
    Ticket,
};
use crate::model::{Action, BatchFacts};
use crate::rms::wire::{GetOrderRequest, MAX_ORDER_NUMBERS};
use crate::rms::{function, RmsApi, RmsError};

/// How long a `sending` row may sit unmarked before [`Guard::reconcile_ledger`] takes its
/// sender for dead, by default: far longer than one confirmOrder call, one error-table
/// wait and one read-back — the longest a live guard leaves a row untouched.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(600);

/// Outcome marks being written after the answer ([`Guard::with_deferred_marks`]): clone
/// it into every guard that shares it, and [`flush`](DeferredMarks::flush) it before the
/// process ends. A mark that never lands (the process was killed first) leaves its row
/// `sending`; reconciliation reads the order back, and finds it confirmed.
///
/// The marks are written behind the answers, [`WRITE_BEHIND`] after the first of them is
/// handed over: by then its answer is on its way (the mark no longer takes a core from
/// it), and every mark handed over meanwhile — by any request of any guard sharing this —
/// goes into the same transaction (one write per ledger, not one per request).
#[derive(Clone, Default)]
pub struct DeferredMarks {
    tracker: tokio_util::task::TaskTracker,
    pending: Arc<std::sync::Mutex<PendingMarks>>,
}

/// The marks of one ledger, to be written together.
type LedgerMarks = (Arc<dyn Ledger>, Vec<(Ticket, Mark)>);

/// Marks handed over and not yet written, and whether a writer is on its way for them.
#[derive(Default)]
struct PendingMarks {
    batches: Vec<LedgerMarks>,
    writer_due: bool,
}

/// A panic while holding the lock leaves a list, still a list.
fn lock_pending(p: &std::sync::Mutex<PendingMarks>) -> std::sync::MutexGuard<'_, PendingMarks> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long [`DeferredMarks`] waits before writing what it was handed.
pub const WRITE_BEHIND: Duration = Duration::from_millis(2);

impl std::fmt::Debug for DeferredMarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredMarks")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl DeferredMarks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until every mark handed over so far has been written (or failed to be):
    /// call it once the guards sharing it are done (a mark handed over meanwhile is waited
    /// for too).
    pub async fn flush(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Waits until the marks handed over so far are written (or failed to be), without
    /// closing: marks handed over meanwhile may be waited for too.
    pub async fn written(&self) {
        while !self.tracker.is_empty() {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    fn spawn(&self, ledger: Arc<dyn Ledger>, marks: Vec<(Ticket, Mark)>) {
        let start_writer = {
            let mut p = lock_pending(&self.pending);
            p.batches.push((ledger, marks));
            !std::mem::replace(&mut p.writer_due, true)
        };
        if !start_writer {
            return;
        }
        let pending = self.pending.clone();
        self.tracker.spawn(async move {
            tokio::time::sleep(WRITE_BEHIND).await;
            let batches = {
                let mut p = lock_pending(&pending);
                p.writer_due = false;
                std::mem::take(&mut p.batches)
            };
            // One mark per ledger, in the order the marks were handed over.
            let mut by_ledger: Vec<LedgerMarks> = Vec::new();
            for (ledger, marks) in batches {
                let same = |(l, _): &&mut LedgerMarks| {
                    std::ptr::addr_eq(Arc::as_ptr(l), Arc::as_ptr(&ledger))
                };
                match by_ledger.iter_mut().find(same) {
                    Some((_, all)) => all.extend(marks),
                    None => by_ledger.push((ledger, marks)),
                }
            }
            for (ledger, marks) in by_ledger {
                if let Err(e) = ledger.mark(&marks).await {
                    tracing::warn!(error = %e, rows = marks.len(), "confirmed marks could not be written: the rows stay `sending` until reconciled");
                }
            }
        });
    }
}

/// A guard's ledger: where, under which shop key, and when a claim counts as abandoned.
pub(super) struct Binding {
    pub(super) ledger: Arc<dyn Ledger>,
    pub(super) shop: String,
    pub(super) stale_after: Duration,
    pub(super) deferred: Option<DeferredMarks>,
}

/// What [`Guard::reconcile_ledger`] did, by order number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Rows left `sending` longer than the stale time, now `unknown` (and then settled
    /// below like every other `unknown` row).
    pub abandoned: Vec<String>,
    /// Read back past the initial status: RMS took the confirmation; now `confirmed`.
    pub confirmed: Vec<String>,
    /// Read back still in the initial status: RMS did not; now `failed`, so the next
    /// confirmation may send it again (after its own check).
    pub resendable: Vec<String>,
    /// Read back in a status the rules give a confirm error (cancelled): now `failed`
    /// with that error's id.
    pub refused: Vec<String>,
    /// Could not be read back (the read failed, or RMS did not return the order), or read
    /// back still awaiting confirmation too soon after a call RMS did not answer
    /// ([`Guard::with_resend_hold`]): still `unknown`, still refused by the rules until a
    /// later reconciliation settles them.
    pub unresolved: Vec<String>,
}

impl<C: RmsApi> Guard<C> {
    /// Claims every confirmation in `ledger` before it is sent, under the shop key `shop`
    /// (a shop id, or any stable name for the shop; never a credential). Guards sharing one
    /// ledger — tasks, processes, machines — then send each order's confirmation at most
    /// once between them. Call [`reconcile_ledger`](Guard::reconcile_ledger) at start-up.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>, shop: impl Into<String>) -> Self {
        self.ledger = Some(Binding {
            ledger,
            shop: shop.into(),
            stale_after: DEFAULT_STALE_AFTER,
            deferred: None,
        });
        self
    }

    /// Writes `confirmed` marks after the answer, in `marks`'s background tasks, instead
    /// of before it (see the module docs). Needs a Tokio runtime; without a ledger it does
    /// nothing.
    pub fn with_deferred_marks(mut self, marks: DeferredMarks) -> Self {
        if let Some(b) = self.ledger.as_mut() {
            b.deferred = Some(marks);
        }
        self
    }

    /// How long a `sending` row must sit unmarked before reconciliation takes its sender
    /// for dead ([`DEFAULT_STALE_AFTER`] unless set). Zero is right only when no other
    /// guard shares the ledger, e.g. one process restarting on its own SQLite file.
    pub fn with_ledger_stale_after(mut self, idle: Duration) -> Self {
        if let Some(b) = self.ledger.as_mut() {
            b.stale_after = idle;
        }
        self
    }

    /// The ledger, if the guard has one.
    pub fn ledger(&self) -> Option<&Arc<dyn Ledger>> {
        self.ledger.as_ref().map(|b| &b.ledger)
    }

    /// Claims one chunk, sends what it won, and marks the outcomes.
    pub(super) async fn confirm_chunk_claimed(
        &self,
        binding: &Binding,
        orders: &[Tracked],
        chunk: &[usize],
        outcomes: &mut [Option<Outcome>],
    ) {
        let keys: Vec<Key> = chunk
            .iter()
            .map(|&i| Key::new(&binding.shop, orders[i].order_number(), Action::Confirm))
            .collect();
        let claims = match binding.ledger.claim(&keys).await {
            Ok(claims) => claims,
            Err(e) => {
                for &i in chunk {
                    outcomes[i] = Some(Outcome::Failed(self.failure(
                        self.engine.classify(None, ""),
                        format!("the ledger could not claim the order, so it was not sent: {e}"),
                    )));
                }
                return;
            }
        };
        let mut tickets: HashMap<usize, Ticket> = HashMap::new();
        let mut send = Vec::new();
        for (&i, claim) in chunk.iter().zip(claims) {
            match claim {
                Claim::Won(ticket) => {
                    tickets.insert(i, ticket);
                    send.push(i);
                }
                Claim::Held(row) => outcomes[i] = Some(self.held(&orders[i], &row)),
            }
        }
        if send.is_empty() {
            return;
        }
        self.confirm_chunk(orders, &send, outcomes, Some(&tickets))
            .await;
        let mut marks: Vec<(Ticket, Mark)> = send
            .iter()
            .filter_map(|i| Some((tickets.get(i)?.clone(), mark_of(outcomes[*i].as_ref()))))
            .collect();
        if let Some(deferred) = &binding.deferred {
            let (confirmed, now): (Vec<_>, Vec<_>) = marks
                .into_iter()
                .partition(|(_, m)| matches!(m, Mark::Confirmed));
            if !confirmed.is_empty() {
                deferred.spawn(binding.ledger.clone(), confirmed);
            }
            marks = now;
        }
        if marks.is_empty() {
            return;
        }
        // A mark that cannot be written leaves its row `sending`: reconciliation takes it
        // for abandoned later and settles it by reading the order back. Nothing can be
        // sent twice meanwhile (the row refuses every claim); only time is lost.
        let _ = binding.ledger.mark(&marks).await;
    }

    /// The outcome of an order whose claim the ledger refused: checked again with what the
    /// ledger holds, so the rules deny it (S1) and say why.
    fn held(&self, tracked: &Tracked, row: &Row) -> Outcome {
        let facts = BatchFacts {
            ledger: Some(row.state.kind()),
            ..BatchFacts::default()
        };
        let report = self.check_in_batch(Action::Confirm, tracked, facts);
        if report.is_denied() {
            return Outcome::Denied(report);
        }
        // Only a row that changed between the claim and its read (another sender's attempt
        // failed in that instant) gets here: not sent, try again.
        Outcome::Failed(self.failure(
            self.engine.classify(None, ""),
            format!(
                "the ledger holds `{}` as {} (another sender's claim); it was not sent",
                row.key.order_number, row.state
            ),
        ))
    }

    /// Before a resend: keeps the orders whose rows are still this guard's (marked
    /// [`Mark::Resent`]); the others were taken over and are not sent again.
    pub(super) async fn resend_gate(
        &self,
        tickets: &HashMap<usize, Ticket>,
        still_100: Vec<usize>,
        cause: &RmsError,
        outcomes: &mut [Option<Outcome>],
    ) -> Vec<usize> {
        let Some(binding) = &self.ledger else {
            return still_100;
        };
        let (held, lost): (Vec<usize>, Vec<usize>) =
            still_100.into_iter().partition(|i| tickets.contains_key(i));
        let marks: Vec<(Ticket, Mark)> = held
            .iter()
            .filter_map(|i| Some((tickets.get(i)?.clone(), Mark::Resent)))
            .collect();
        let moved = binding.ledger.mark(&marks).await;
        let mut resend = Vec::new();
        let not_resent = |why: String| {
            let mut f = self.failure_of(cause);
            f.detail = format!("{}; still in 100 but not sent again: {why}", f.detail);
            Some(Outcome::Failed(f))
        };
        match moved {
            Ok(moved) => {
                for (i, ok) in held.into_iter().zip(moved) {
                    if ok {
                        resend.push(i);
                    } else {
                        outcomes[i] = not_resent("its ledger row was taken over".into());
                    }
                }
            }
            Err(e) => {
                for i in held {
                    outcomes[i] = not_resent(format!("the ledger could not record it: {e}"));
                }
            }
        }
        for i in lost {
            outcomes[i] = not_resent("it has no ledger claim".into());
        }
        resend
    }

    /// Settles what the ledger left open, for this guard's shop: `sending` rows idle for
    /// longer than the stale time become `unknown`, and every `unknown` row is read back
    /// with `getOrder` (100 numbers a call) and resolved as the module docs say. Call it
    /// at start-up and whenever the rules deny a confirmation as `unknown`. Without a
    /// ledger, does nothing.
    pub async fn reconcile_ledger(&self) -> Result<Reconciled, LedgerError> {
        let mut report = Reconciled::default();
        let Some(binding) = &self.ledger else {
            return Ok(report);
        };
        let scope = Scope::of(&binding.shop, Action::Confirm);
        report.abandoned = binding
            .ledger
            .abandon(&scope, binding.stale_after)
            .await?
            .into_iter()
            .map(|r| r.key.order_number)
            .collect();
        let page_size = MAX_ORDER_NUMBERS;
        let mut query = Query {
            scope,
            states: vec![LedgerState::Unknown],
            after: None,
            limit: u32::try_from(page_size).ok(),
        };
        loop {
            let page = binding.ledger.list(&query).await?;
            let Some(last) = page.last() else { break };
            query.after = Some(last.key.clone());
            self.reconcile_rows(binding, &page, &mut report).await?;
            if page.len() < page_size {
                break;
            }
        }
        Ok(report)
    }

    /// A row its sender left `unknown` (a call RMS may have received but did not answer)
    /// less than [`with_resend_hold`](Guard::with_resend_hold) ago. A row abandoned by a
    /// dead sender (no cause) waited out its stale time already.
    fn held_back(&self, row: &Row) -> bool {
        let hold = i64::try_from(self.resend_hold.as_millis()).unwrap_or(i64::MAX);
        matches!(&row.state, State::Unknown { cause: Some(_) })
            && crate::ledger::now_ms().saturating_sub(row.updated_at_ms) < hold
    }

    /// Reads up to 100 `unknown` rows' orders back and resolves them.
    async fn reconcile_rows(
        &self,
        binding: &Binding,
        rows: &[Row],
        report: &mut Reconciled,
    ) -> Result<(), LedgerError> {
        let numbers: Vec<String> = rows.iter().map(|r| r.key.order_number.clone()).collect();
        let read = self
            .api
            .get_order(&GetOrderRequest {
                order_number_list: numbers.clone(),
                version: self.get_order_version,
            })
            .await
            .and_then(|r| {
                r.orders().map_err(|message| RmsError::Decode {
                    function: function::GET_ORDER.into(),
                    message,
                })
            });
        let Ok(found) = read else {
            // Cannot tell: they stay `unknown` (and refused) until a later reconciliation.
            report.unresolved.extend(numbers);
            return Ok(());
        };
        let rules = self.engine.rules();
        let mut resolutions = Vec::new();
        let mut lists = Vec::new();
        for row in rows {
            let number = &row.key.order_number;
            let Some(order) = found
                .iter()
                .find(|o| o.order_number.as_deref().map(str::trim) == Some(number.as_str()))
            else {
                report.unresolved.push(number.clone());
                continue;
            };
            if order.order_progress == rules.initial_status() && self.held_back(row) {
                // RMS may still act on the call its sender gave up on: not yet.
                report.unresolved.push(number.clone());
                continue;
            }
            let (resolution, list) = if order.order_progress == rules.initial_status() {
                // RMS did not act. Keep the cause the row was left with, or the error
                // table's fallback (its process died: the cause is not known).
                let error = match &row.state {
                    State::Unknown { cause: Some(c) } => c.clone(),
                    _ => self.engine.classify(None, "").entry.id.clone(),
                };
                (Resolution::Failed { error }, List::Resendable)
            } else if let Some(entry) = rules.confirm_error_of(order.order_progress) {
                let error = entry.id.clone();
                (Resolution::Failed { error }, List::Refused)
            } else {
                (Resolution::Confirmed, List::Confirmed)
            };
            resolutions.push((row.key.clone(), resolution));
            lists.push(list);
        }
        let moved = binding.ledger.resolve(&resolutions).await?;
        for (((key, _), list), moved) in resolutions.into_iter().zip(lists).zip(moved) {
            // A row that moved meanwhile was settled by someone else: not ours to report.
            if moved {
                let to = match list {
                    List::Confirmed => &mut report.confirmed,
                    List::Resendable => &mut report.resendable,
                    List::Refused => &mut report.refused,
                };
                to.push(key.order_number);
            }
        }
        Ok(())
    }
}

/// Which list of [`Reconciled`] a resolution goes to.
enum List {
    Confirmed,
    Resendable,
    Refused,
}

/// What the ledger records for an outcome of a claimed, sent order.
fn mark_of(outcome: Option<&Outcome>) -> Mark {
    match outcome {
        Some(Outcome::Done(_)) => Mark::Confirmed,
        Some(Outcome::Failed(f)) if f.outcome_unknown => Mark::Unknown {
            cause: Some(f.error.clone()),
        },
        Some(Outcome::Failed(f)) => Mark::Failed {
            error: f.error.clone(),
        },
        // Never the case for a sent order; if it were, nothing is known.
        Some(Outcome::Denied(_)) | None => Mark::Unknown { cause: None },
    }
}
