//! The once-only ledger: a durable record of every state-changing call, claimed **before**
//! the call is sent, so that S1 ("a confirmation is sent only once") holds across workers,
//! processes, machines and restarts — not only inside one [`Guard`](crate::guard::Guard).
//!
//! # The protocol
//!
//! The ledger holds one [`Row`] per [`Key`] — (shop, order number, action) — and each row
//! moves through a small state machine ([`State`]):
//!
//! ```text
//!            claim                 mark (the sender, holding the ticket)
//! (absent) ────────► sending ──┬──────────────────────► confirmed
//!                      ▲  │    ├──────────────────────► failed(error id) ──┐
//!                      │  │    └──────────────────────► unknown(cause)     │
//!                      │  │ abandon (idle too long:          │             │
//!                      │  └─ its process is taken for dead) ─┘             │
//!                      │            resolve (a reconciler read the order   │
//!                      │            back): confirmed | failed              │
//!                      └───────────────────── claim again ─────────────────┘
//! ```
//!
//! 1. **Claim** ([`Ledger::claim`]) is one atomic insert-if-absent on a unique key: of any
//!    number of concurrent claims of one key — tasks, processes, machines sharing the
//!    database — exactly one wins and gets a [`Ticket`]; every other one learns what the
//!    ledger holds ([`Claim::Held`]: `sending` is "in flight", `confirmed` is "already
//!    confirmed", `unknown` is "read it back first"). A `failed` row may be claimed again
//!    (RMS did not act on it), and that re-claim is just as atomic.
//! 2. Only the winner sends, and afterwards **marks** the outcome with its ticket
//!    ([`Ledger::mark`]): `confirmed`, `failed(error id)` when RMS certainly did not act,
//!    `unknown(cause)` when it may have. Before a resend it marks [`Mark::Resent`], which
//!    fails if the row was taken from it — a sender that lost its row must not resend.
//! 3. A row left `sending` (its process was killed mid-call) is **abandoned** after it sat
//!    idle for longer than any live sender would leave it ([`Ledger::abandon`]): it becomes
//!    `unknown`. An `unknown` row is **resolved** ([`Ledger::resolve`]) only by reading the
//!    order back from RMS: past the initial status means RMS took the confirmation
//!    (`confirmed`); still in it means it did not (`failed`, so a later claim may send
//!    again). The guard does this in [`Guard::reconcile_ledger`]; the ledger itself never
//!    talks to RMS.
//!
//! Every transition is a compare-and-set on the row's state (and, for marks, its ticket's
//! token), so a slow or stale participant can never overwrite a newer truth.
//!
//! # Backends
//!
//! [`open`] picks one from a URL:
//!
//! - `sqlite:PATH` — [`SqliteLedger`], the embedded default: one file, WAL, `synchronous =
//!   NORMAL` (a claim is committed before the call is sent and survives the process being
//!   killed; `?synchronous=full` also syncs it to disk against a power cut), checkpoints
//!   in the background, no server to run. Several processes on one machine may share the
//!   file.
//! - `sqlite::memory:` — the same, in memory (gone with the process).
//! - `postgres://…` (or `postgresql://…`) — [`PostgresLedger`], for several processes on
//!   several machines: the same claims, enforced by the database's unique key.
//!
//! [`MemoryLedger`] implements the same protocol in process memory, for tests and for a
//! guard that only needs once-only within one process.
//!
//! Each backend creates its table on open from the SQL files under `migrations/sqlite/`
//! and `migrations/postgres/` (embedded into the binary), recording the schema version in
//! `rms_preflight_schema`; opening is idempotent and safe to race.
//!
//! [`Guard::reconcile_ledger`]: crate::guard::Guard::reconcile_ledger

mod memory;
mod postgres;
mod schema;
mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::model::Action;
pub use crate::model::LedgerState;
pub use memory::MemoryLedger;
pub use postgres::PostgresLedger;
pub use sqlite::SqliteLedger;

/// The ledger URL used when none is given: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite:rms-preflight-ledger.db";

/// What every [`Ledger`] method returns: a boxed future, so that `dyn Ledger` works and a
/// backend can be chosen at run time from a URL.
pub type LedgerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LedgerError>> + Send + 'a>>;

/// Which call, for which order, of which shop: the ledger's unique key. Keys order as
/// the databases order them: by shop, order number, then action *name*, bytewise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Key {
    /// The shop's identity as the caller names it (a shop id, or a salted hash of a
    /// credential): never a secret itself.
    pub shop: String,
    /// The order number, trimmed ([`Key::new`]), as the batch check compares them.
    pub order_number: String,
    pub action: Action,
}

impl Key {
    /// A key; the order number is trimmed, so `" 375055-… "` and `"375055-…"` are one key.
    pub fn new(shop: impl Into<String>, order_number: &str, action: Action) -> Self {
        Key {
            shop: shop.into(),
            order_number: order_number.trim().to_owned(),
            action,
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.shop, &self.order_number, self.action.name()).cmp(&(
            &other.shop,
            &other.order_number,
            other.action.name(),
        ))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.shop, self.order_number, self.action)
    }
}

/// Where a row stands (see the module docs for the transitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Claimed: the call is on its way to RMS (or its process died on the way).
    Sending,
    /// RMS took it.
    Confirmed,
    /// RMS did not take it; `error` is the rules' error-table id of why. May be claimed
    /// again.
    Failed { error: String },
    /// RMS may or may not have taken it; `cause` is the error-table id of the failure
    /// that left it so, when known (`None`: its process died mid-call). Read the order
    /// back before anything is resent.
    Unknown { cause: Option<String> },
}

impl State {
    /// The state's name, as the rules read it (`ledger.state`).
    pub fn kind(&self) -> LedgerState {
        match self {
            State::Sending => LedgerState::Sending,
            State::Confirmed => LedgerState::Confirmed,
            State::Failed { .. } => LedgerState::Failed,
            State::Unknown { .. } => LedgerState::Unknown,
        }
    }

    /// The `error` column: the failure's id, or the uncertain outcome's cause.
    fn error(&self) -> Option<&str> {
        match self {
            State::Failed { error } => Some(error),
            State::Unknown { cause } => cause.as_deref(),
            State::Sending | State::Confirmed => None,
        }
    }

    /// Reads the `state` and `error` columns back.
    fn from_columns(state: &str, error: Option<String>) -> Result<State, String> {
        match (state, error) {
            ("sending", _) => Ok(State::Sending),
            ("confirmed", _) => Ok(State::Confirmed),
            ("failed", Some(error)) => Ok(State::Failed { error }),
            ("failed", None) => Err("a failed row without an error id".into()),
            ("unknown", cause) => Ok(State::Unknown { cause }),
            (other, _) => Err(format!("unknown state `{other}`")),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Sending => f.write_str("sending"),
            State::Confirmed => f.write_str("confirmed"),
            State::Failed { error } => write!(f, "failed({error})"),
            State::Unknown { cause: Some(c) } => write!(f, "unknown({c})"),
            State::Unknown { cause: None } => f.write_str("unknown"),
        }
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub state: State,
    /// How many times the call was claimed or resent (1 after the first claim).
    pub attempts: u32,
    /// When the current claim was made (milliseconds since the Unix epoch).
    pub claimed_at_ms: i64,
    /// When the row last changed (milliseconds since the Unix epoch): how
    /// [`Ledger::abandon`] tells a dead sender from a live one.
    pub updated_at_ms: i64,
}

/// Proof of a won claim. Only its holder may [`mark`](Ledger::mark) the outcome: the token
/// is drawn afresh for every claim, so a sender whose row was abandoned and claimed again
/// by someone else can no longer touch it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub key: Key,
    pub token: i64,
}

/// The answer to one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller holds the row (`sending`) and may send.
    Won(Ticket),
    /// Someone else does, or did: the row as the ledger holds it. Do not send.
    Held(Row),
}

impl Claim {
    pub fn ticket(&self) -> Option<&Ticket> {
        match self {
            Claim::Won(t) => Some(t),
            Claim::Held(_) => None,
        }
    }
}

/// What the holder of a ticket records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// About to send again (a read-back showed RMS did not act): the row stays `sending`,
    /// its attempts and time move on. Refused unless the row is still this ticket's and
    /// still `sending`.
    Resent,
    Confirmed,
    /// RMS certainly did not act; `error` is the error-table id.
    Failed {
        error: String,
    },
    /// RMS may have acted and a read-back could not tell.
    Unknown {
        cause: Option<String>,
    },
}

/// What a reconciler learned by reading an `unknown` row's order back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Past the initial status: RMS took the confirmation.
    Confirmed,
    /// Still in the initial status (or in one the rules map to a confirm error): RMS did
    /// not; `error` is the error-table id recorded with it.
    Failed { error: String },
}

/// Which rows: `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub shop: Option<String>,
    pub action: Option<Action>,
}

impl Scope {
    /// One shop's rows of one action.
    pub fn of(shop: impl Into<String>, action: Action) -> Self {
        Scope {
            shop: Some(shop.into()),
            action: Some(action),
        }
    }

    fn holds(&self, key: &Key) -> bool {
        self.shop.as_ref().is_none_or(|s| *s == key.shop)
            && self.action.is_none_or(|a| a == key.action)
    }
}

/// A page of rows, in key order (shop, order number, action).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub scope: Scope,
    /// Only rows in these states; empty is every state.
    pub states: Vec<LedgerState>,
    /// Only rows after this key (the last key of the previous page).
    pub after: Option<Key>,
    /// At most this many rows; `None` is all.
    pub limit: Option<u32>,
}

/// A database driver's own error (sqlx's for PostgreSQL, rusqlite's for SQLite).
pub type DbError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong with a ledger. Messages never hold a database URL (it may carry a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The URL names no backend this build knows.
    #[error("unsupported ledger url (scheme `{scheme}`): expected `sqlite:PATH`, `sqlite::memory:` or `postgres://…`")]
    Url { scheme: String },
    /// The database could not be opened or reached.
    #[error("cannot open the {backend} ledger{}: {source}", where_.as_deref().map(|w| format!(" `{w}`")).unwrap_or_default())]
    Open {
        backend: &'static str,
        /// The SQLite file (never a PostgreSQL URL).
        where_: Option<String>,
        source: DbError,
    },
    /// An option of the SQLite ledger URL this build cannot take.
    #[error("the SQLite ledger url's option `{option}` {problem}")]
    Option {
        option: String,
        problem: &'static str,
    },
    /// The SQLite ledger's path cannot hold a ledger.
    #[error("the SQLite ledger `{path}` {problem}")]
    Path { path: String, problem: &'static str },
    /// The database's schema is not one this build can use.
    #[error("ledger schema: {0}")]
    Schema(String),
    /// A query failed.
    #[error("ledger query failed ({what}): {source}")]
    Query { what: &'static str, source: DbError },
    /// A row the ledger cannot read (written by something else, or a newer build).
    #[error("unreadable ledger row ({key}): {message}")]
    Corrupt { key: String, message: String },
}

impl LedgerError {
    fn query<E: std::error::Error + Send + Sync + 'static>(
        what: &'static str,
    ) -> impl FnOnce(E) -> LedgerError {
        move |source| LedgerError::Query {
            what,
            source: Box::new(source),
        }
    }
}

/// The claim/reconcile protocol (see the module docs). Every method is one transition or
/// one read. A batch method applies its whole batch in one transaction (all of it, or on
/// an error none of it) and answers in input order.
pub trait Ledger: Send + Sync {
    /// Claims each key for sending: inserts a `sending` row if none exists, or turns a
    /// `failed` one back into `sending`; otherwise leaves the row as it is and answers
    /// [`Claim::Held`] with it. Atomic per key against every other claimer of the same
    /// database. A key given twice is won at most once.
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>>;

    /// Records what happened to each ticket's call; answers, per entry, whether the row
    /// moved (`false`: the row is no longer this ticket's, or [`Mark::Resent`] found it no
    /// longer `sending`). Outcomes apply to a row that is `sending` or `unknown` with the
    /// ticket's token.
    fn mark<'a>(&'a self, marks: &'a [(Ticket, Mark)]) -> LedgerFuture<'a, Vec<bool>>;

    /// Turns `sending` rows in `scope` untouched for at least `idle_for` into
    /// `unknown` (cause `None`): their sender is taken for dead. Answers the rows as they
    /// now are. `idle_for` must exceed the longest a live sender leaves a row unmarked.
    ///
    /// By default [`Ledger::abandon_untouched_since`] with the machine's clock; a backend
    /// whose rows carry another clock's times (PostgreSQL: the server's) measures with
    /// that clock.
    fn abandon<'a>(&'a self, scope: &'a Scope, idle_for: Duration) -> LedgerFuture<'a, Vec<Row>> {
        let cutoff = now_ms().saturating_sub(millis(idle_for));
        self.abandon_untouched_since(scope, cutoff)
    }

    /// Turns `sending` rows in `scope` last touched at or before `cutoff_ms` (milliseconds
    /// since the Unix epoch, on the clock the backend stamps rows with) into `unknown`, as
    /// [`Ledger::abandon`] does. For a cut that must not move with the time the statement
    /// runs at: "every claim made before this process started".
    fn abandon_untouched_since<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Vec<Row>>;

    /// Tells the ledger how long a call sent after this handle's claims may be acted on by
    /// RMS (the sender's upstream timeout), for [`Ledger::longest_call_timeout`]. By
    /// default nothing is kept.
    fn set_call_timeout(&self, timeout: Duration) {
        let _ = timeout;
    }

    /// Whether claims and marks can be written: `Err` saying why not (a SQLite file this
    /// process may only read, which `ledger list` still reads). Whoever claims checks it
    /// first: the proxy refuses to start on such a ledger rather than fail every request.
    fn writable(&self) -> Result<(), LedgerError> {
        Ok(())
    }

    /// The longest call timeout recorded by the claims in `scope` still `sending` and last
    /// touched at or before `cutoff_ms` (`None`: no such row, or the backend keeps none):
    /// how long after a start a claim an earlier process left may still be at RMS.
    fn longest_call_timeout<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Option<Duration>> {
        let _ = (scope, cutoff_ms);
        Box::pin(async { Ok(None) })
    }

    /// Settles `unknown` rows from a read-back; answers, per entry, whether the row moved
    /// (`false`: it was not `unknown` any more).
    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>>;

    /// The row of `key`, if there is one.
    fn get<'a>(&'a self, key: &'a Key) -> LedgerFuture<'a, Option<Row>>;

    /// Rows matching `query`, in key order.
    fn list<'a>(&'a self, query: &'a Query) -> LedgerFuture<'a, Vec<Row>>;

    /// How many rows of `scope` are in each state (states with no row are left out), in
    /// the order of [`LedgerState::NAMES`].
    fn count<'a>(&'a self, scope: &'a Scope) -> LedgerFuture<'a, Vec<(LedgerState, u64)>>;
}

impl<L: Ledger + ?Sized> Ledger for Arc<L> {
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>> {
        (**self).claim(keys)
    }

    fn mark<'a>(&'a self, marks: &'a [(Ticket, Mark)]) -> LedgerFuture<'a, Vec<bool>> {
        (**self).mark(marks)
    }

    fn abandon<'a>(&'a self, scope: &'a Scope, idle_for: Duration) -> LedgerFuture<'a, Vec<Row>> {
        (**self).abandon(scope, idle_for)
    }

    fn abandon_untouched_since<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Vec<Row>> {
        (**self).abandon_untouched_since(scope, cutoff_ms)
    }

    fn set_call_timeout(&self, timeout: Duration) {
        (**self).set_call_timeout(timeout)
    }

    fn writable(&self) -> Result<(), LedgerError> {
        (**self).writable()
    }

    fn longest_call_timeout<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Option<Duration>> {
        (**self).longest_call_timeout(scope, cutoff_ms)
    }

    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>> {
        (**self).resolve(resolutions)
    }

    fn get<'a>(&'a self, key: &'a Key) -> LedgerFuture<'a, Option<Row>> {
        (**self).get(key)
    }

    fn list<'a>(&'a self, query: &'a Query) -> LedgerFuture<'a, Vec<Row>> {
        (**self).list(query)
    }

    fn count<'a>(&'a self, scope: &'a Scope) -> LedgerFuture<'a, Vec<(LedgerState, u64)>> {
        (**self).count(scope)
    }
}

/// Counts by state name, as the databases answer them, in [`LedgerState::NAMES`] order.
fn counts_in_order(
    found: impl IntoIterator<Item = (String, i64)>,
) -> Result<Vec<(LedgerState, u64)>, LedgerError> {
    let mut out = Vec::new();
    for (name, n) in found {
        let state = LedgerState::from_name(&name).ok_or_else(|| LedgerError::Corrupt {
            key: String::new(),
            message: format!("unknown state `{name}`"),
        })?;
        out.push((state, u64::try_from(n).unwrap_or(0)));
    }
    out.sort_by_key(|(s, _)| *s as u8);
    Ok(out)
}

/// Opens the ledger a URL names (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`),
/// creating its table if needed.
pub async fn open(url: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteLedger::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresLedger::connect(url).await?)),
        other => Err(LedgerError::Url {
            scheme: other.chars().take(32).collect(),
        }),
    }
}

/// Writes the rows matching `scope` as JSON Lines (one [`Row`] an line, in key order),
/// reading the ledger a page at a time; returns how many rows were written.
pub async fn export_jsonl(
    ledger: &dyn Ledger,
    scope: &Scope,
    out: &mut dyn std::io::Write,
) -> Result<u64, ExportError> {
    let mut query = Query {
        scope: scope.clone(),
        limit: Some(EXPORT_PAGE),
        ..Query::default()
    };
    let mut written = 0;
    loop {
        let page = ledger.list(&query).await?;
        for row in &page {
            serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == EXPORT_PAGE as usize => {
                query.after = Some(last.key.clone())
            }
            _ => return Ok(written),
        }
    }
}

const EXPORT_PAGE: u32 = 1_000;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// A fresh claim token: unique per claim within a process, and random across processes.
fn new_token() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = SEED
        .get_or_init(std::collections::hash_map::RandomState::new)
        .build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(now_ms());
    // The bit pattern, not the number, is the token.
    h.finish() as i64
}

/// The machine's clock, in milliseconds since the Unix epoch (SQLite and memory rows;
/// PostgreSQL rows take the database server's clock, one clock for every machine).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds of a duration, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Keys of one claim batch in the order rows are locked: sorted and without repeats, so
/// two batches over the same keys lock them in the same order (no deadlock in
/// PostgreSQL), plus where each input key went.
fn lock_order(keys: &[Key]) -> (Vec<&Key>, Vec<usize>) {
    let mut sorted: Vec<&Key> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    let place = keys
        .iter()
        .map(|k| sorted.binary_search(&k).unwrap_or(0))
        .collect();
    (sorted, place)
}

/// The state an outcome mark leaves (`None`: [`Mark::Resent`], which leaves `sending`).
fn marked_state(mark: &Mark) -> Option<State> {
    match mark {
        Mark::Resent => None,
        Mark::Confirmed => Some(State::Confirmed),
        Mark::Failed { error } => Some(State::Failed {
            error: error.clone(),
        }),
        Mark::Unknown { cause } => Some(State::Unknown {
            cause: cause.clone(),
        }),
    }
}

/// The state a resolution leaves.
fn resolved_state(resolution: &Resolution) -> State {
    match resolution {
        Resolution::Confirmed => State::Confirmed,
        Resolution::Failed { error } => State::Failed {
            error: error.clone(),
        },
    }
}

/// Answers a claim batch in input order from the answers of its distinct keys (each with
/// the row as the claim left it): a key given again is [`Claim::Held`] by the first one's
/// claim.
fn answer_in_input_order(place: &[usize], distinct: Vec<(Claim, Row)>) -> Vec<Claim> {
    let mut seen = vec![false; distinct.len()];
    place
        .iter()
        .map(|&p| {
            let (claim, row) = &distinct[p];
            if std::mem::replace(&mut seen[p], true) {
                Claim::Held(row.clone())
            } else {
                claim.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_trim_the_order_number() {
        assert_eq!(
            Key::new("s", " 1-2-3 ", Action::Confirm),
            Key::new("s", "1-2-3", Action::Confirm)
        );
    }

    #[test]
    fn tokens_differ() {
        let a: std::collections::HashSet<i64> = (0..10_000).map(|_| new_token()).collect();
        assert_eq!(a.len(), 10_000);
    }

    #[test]
    fn states_read_back() {
        for s in [
            State::Sending,
            State::Confirmed,
            State::Failed {
                error: "api_error".into(),
            },
            State::Unknown { cause: None },
            State::Unknown {
                cause: Some("api_error".into()),
            },
        ] {
            let name = s.kind().name();
            assert_eq!(
                State::from_columns(name, s.error().map(str::to_owned)),
                Ok(s)
            );
        }
        assert!(State::from_columns("failed", None).is_err());
        assert!(State::from_columns("maybe", None).is_err());
    }
}
