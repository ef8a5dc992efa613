//! [`SqliteLedger`]: the embedded default. One file, WAL (readers never wait for the
//! writer), `synchronous = NORMAL` (a committed claim is in the WAL, which survives the
//! process being killed; see [`SqliteLedger::open`] for a power cut), and every
//! write in a `BEGIN IMMEDIATE` transaction: SQLite's one writer at a time makes each batch
//! atomic, and other processes sharing the file wait for it (busy timeout 30 s).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::model::LedgerState;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};

use super::{
    answer_in_input_order, lock_order, marked_state, millis, new_token, now_ms, resolved_state,
    schema, Claim, Key, Ledger, LedgerError, LedgerFuture, Mark, Query, Resolution, Row, Scope,
    State, Ticket,
};
use crate::model::Action;

/// Columns of a [`Row`], in the order [`read_row`] reads them.
const COLUMNS: &str =
    "shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms";

/// Claims a batch of keys of one shop and action in one statement: the order numbers come
/// as one JSON array of strings bound once (read with `json_each`), so the statement's text
/// is the same for any batch and is prepared once, and a hundred keys cost one bind, not
/// nine hundred. One token is drawn per claim: every row it wins holds it, and a row
/// claimed again later holds another. A key that has a row is taken back only from
/// `failed` (a new attempt); any other row is left as it is. Which keys were won is known
/// from the count of rows the statement wrote when it wrote them all (the common case),
/// and read back by token ([`CLAIMED`]) otherwise.
///
/// Binds: `$1` now, `$2` the order numbers, `$3` shop, `$4` action, `$5` token, `$6` the
/// sender's call timeout in milliseconds ([`Ledger::set_call_timeout`]).
const CLAIM: &str = "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, \
    error, attempts, token, claimed_at_ms, updated_at_ms, call_timeout_ms) \
    SELECT $3, value, $4, 'sending', NULL, 1, $5, $1, $1, $6 FROM json_each($2) WHERE true \
    ON CONFLICT (shop, order_number, action) DO UPDATE SET \
        state = 'sending', error = NULL, attempts = rms_preflight_ledger.attempts + 1, \
        token = excluded.token, claimed_at_ms = excluded.claimed_at_ms, \
        updated_at_ms = excluded.updated_at_ms, call_timeout_ms = excluded.call_timeout_ms \
    WHERE rms_preflight_ledger.state = 'failed'";

/// The longest call timeout of the `sending` rows last touched at or before `$1` (shop `$2`
/// and action `$3` when not null).
const LONGEST_CALL_TIMEOUT: &str = "SELECT max(call_timeout_ms) FROM rms_preflight_ledger \
    WHERE state = 'sending' AND updated_at_ms <= $1 \
      AND ($2 IS NULL OR shop = $2) AND ($3 IS NULL OR action = $3)";

/// The rows of a claim's keys (`$1` the order numbers, `$2` shop, `$3` action) as one JSON
/// array in one row. sqlx
/// hands SQLite's rows over one at a time between its worker thread and the caller; one
/// row of JSON instead of a hundred rows is several times cheaper, and `serde_json` reads
/// it back in microseconds.
///
/// Every batched statement names the shop and the action and takes the order numbers
/// `IN` the JSON array, so SQLite finds each row by the primary key. A `+` before
/// `state` (or `updated_at_ms`) keeps it from going through the by-state index instead:
/// it would then read the JSON batch again for every `sending` row of the ledger
/// (`the_batched_statements_find_rows_by_key` checks the plans).
const CLAIMED: &str = "SELECT json_group_array(json_array(shop, order_number, action, \
    state, error, attempts, claimed_at_ms, updated_at_ms, token)) FROM rms_preflight_ledger \
    WHERE shop = $2 AND action = $3 AND order_number IN (SELECT value FROM json_each($1))";

/// The rows a mark may move: the order numbers `$2` of shop `$3`, action `$4`, holding
/// token `$5`, in a state the mark may leave. `{states}` is that state list.
macro_rules! markable {
    ($states:literal) => {
        concat!(
            "shop = $3 AND action = $4 AND order_number IN (SELECT value FROM json_each($2)) \
             AND token = $5 AND +state IN ",
            $states
        )
    };
}

/// Moves a batch of rows to state `$6` with error `$7`, each only while it holds token `$5`
/// and is `sending` or `unknown` — all of them, or none ([`MARK_OUTCOME_EACH`] then tells
/// which may move). One statement, answered by its count, in the common case where every
/// row moves.
const MARK_OUTCOME: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = $6, error = $7, updated_at_ms = $1 WHERE ",
    markable!("('sending', 'unknown')"),
    " AND (SELECT count(*) FROM rms_preflight_ledger WHERE ",
    markable!("('sending', 'unknown')"),
    ") = json_array_length($2)"
);

/// [`MARK_OUTCOME`] for each row that may move, returning the ones it moved: exact however
/// the rows stand (a row this ticket had already left in the same state within the same
/// millisecond would look moved to any read afterwards). Rows come back one at a time
/// through sqlx, so only a batch that did not move whole takes this way.
const MARK_OUTCOME_EACH: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = $6, error = $7, updated_at_ms = $1 WHERE ",
    markable!("('sending', 'unknown')"),
    " RETURNING order_number"
);

/// Counts a resend on a batch of rows still `sending` under token `$5`, all or none, like
/// [`MARK_OUTCOME`].
const MARK_RESENT: &str = concat!(
    "UPDATE rms_preflight_ledger SET attempts = attempts + 1, updated_at_ms = $1 WHERE ",
    markable!("('sending')"),
    " AND (SELECT count(*) FROM rms_preflight_ledger WHERE ",
    markable!("('sending')"),
    ") = json_array_length($2)"
);

/// [`MARK_RESENT`] for each row that may take it, returning the ones it moved.
const MARK_RESENT_EACH: &str = concat!(
    "UPDATE rms_preflight_ledger SET attempts = attempts + 1, updated_at_ms = $1 WHERE ",
    markable!("('sending')"),
    " RETURNING order_number"
);

/// One row of [`CLAIMED`]'s array, in its column order.
type ClaimedRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
);

/// Keys per batched statement: a larger batch is split into statements of this many keys,
/// in one transaction.
const BATCH: usize = 500;

const GET: &str = "SELECT shop, order_number, action, state, error, attempts, claimed_at_ms, \
    updated_at_ms FROM rms_preflight_ledger WHERE shop = $1 AND order_number = $2 AND action = $3";

const ABANDON: &str = "UPDATE rms_preflight_ledger
    SET state = 'unknown', error = NULL, updated_at_ms = $1
    WHERE state = 'sending' AND updated_at_ms <= $2
      AND ($3 IS NULL OR shop = $3) AND ($4 IS NULL OR action = $4)
    RETURNING shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms";

const RESOLVE: &str = "UPDATE rms_preflight_ledger
    SET state = $4, error = $5, updated_at_ms = $6
    WHERE shop = $1 AND order_number = $2 AND action = $3 AND state = 'unknown'";

/// The ledger in a SQLite file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    pool: SqlitePool,
    /// Copies the WAL back into the database file in the background (file ledgers only).
    checkpoints: Option<Arc<Checkpoints>>,
    /// What this handle's claims record as their sender's call timeout, in milliseconds
    /// ([`Ledger::set_call_timeout`]; 30 s, the proxy's default, until told).
    call_timeout_ms: Arc<std::sync::atomic::AtomicI64>,
}

/// The call timeout a claim records when its sender said none.
const DEFAULT_CALL_TIMEOUT_MS: i64 = 30_000;

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL pages after which a commit checkpoints by itself: a safety net only, should the
/// background checkpoint fall behind (SQLite's default is 1,000, which puts a checkpoint
/// — and its syncs — inside every few dozenth claim).
const AUTOCHECKPOINT_PAGES: &str = "20000";

/// The background checkpoint of a file ledger: `PRAGMA wal_checkpoint(PASSIVE)` every
/// [`CHECKPOINT_EVERY`] on a connection of its own, so copying the WAL into the database
/// (and syncing both) happens beside the claims, not inside one of them. Stops when the
/// last clone of the ledger is dropped or closed.
#[derive(Debug)]
struct Checkpoints {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Checkpoints {
    fn start(options: SqliteConnectOptions) -> Self {
        let task = tokio::spawn(async move {
            use sqlx::ConnectOptions as _;
            let mut conn: Option<sqlx::SqliteConnection> = None;
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if conn.is_none() {
                    conn = options.connect().await.ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut *c)
                    .await
                {
                    tracing::debug!(error = %e, "ledger checkpoint failed; retrying");
                    conn = None;
                }
            }
        });
        Checkpoints { task }
    }
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger at `url`: `sqlite:PATH`, `sqlite://PATH` or
    /// `sqlite::memory:`. The file's directory must exist.
    ///
    /// Durability: `synchronous = NORMAL` by default. A claim is committed to the WAL
    /// before its call is sent, so it survives the process being killed (SIGKILL, a crash,
    /// an OOM kill): the OS has the write. Only a power cut or an OS crash can lose the
    /// last claims before it — and then RMS's own state still stands between a lost claim
    /// and a second send: after a restart nothing is cached, every order is read fresh
    /// before it is confirmed, and a confirmed order is no longer in 100 (S2). The WAL is
    /// synced at each checkpoint, which runs in the background ([`Checkpoints`]).
    /// `?synchronous=full` at the end of the URL syncs every commit to disk before its call
    /// leaves instead (about one fsync, 0.2–1 ms on this project's machines, per claim and
    /// per mark); `?synchronous=normal` names the default.
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
        let (url, synchronous) = match url.strip_suffix("?synchronous=full") {
            Some(rest) => (rest, SqliteSynchronous::Full),
            None => (
                url.strip_suffix("?synchronous=normal").unwrap_or(url),
                SqliteSynchronous::Normal,
            ),
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let open_error = |source| LedgerError::Open {
            backend: "SQLite",
            where_: Some(
                url.trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .into(),
            ),
            source,
        };
        let options = SqliteConnectOptions::from_str(url).map_err(open_error)?;
        if !memory {
            let file = options.get_filename();
            if file.as_os_str().is_empty() {
                return Err(LedgerError::Path {
                    path: String::new(),
                    problem:
                        "names no file (give a path, or `sqlite::memory:` for a throwaway ledger)",
                });
            }
            // A FIFO, a device or a directory would hang or fail deep inside SQLite.
            if let Ok(meta) = std::fs::metadata(file) {
                if !meta.is_file() {
                    return Err(LedgerError::Path {
                        path: file.display().to_string(),
                        problem: "is not a regular file",
                    });
                }
            }
        }
        let mut options = options
            .create_if_missing(true)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(30));
        if !memory {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES);
        }
        // One connection: claims from this process queue in the pool (no busy-waiting
        // against ourselves); other processes wait on the file lock. An in-memory
        // database lives as long as its one connection, so that one is never closed.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            // The connection is a handle on a file in this process, with no peer to lose:
            // sqlx's ping before every acquire would only cost a round trip to its worker
            // thread (about a tenth of a claim).
            .test_before_acquire(false)
            .min_connections(u32::from(memory))
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        schema::apply_sqlite(&pool).await?;
        let checkpoints = (!memory).then(|| Arc::new(Checkpoints::start(options)));
        Ok(SqliteLedger {
            pool,
            checkpoints,
            call_timeout_ms: Arc::new(std::sync::atomic::AtomicI64::new(DEFAULT_CALL_TIMEOUT_MS)),
        })
    }

    /// Closes the pool (waits for queries in progress) and stops the background
    /// checkpoint.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpoints {
            c.task.abort();
        }
        self.pool.close().await;
    }
}

fn read_row(r: &SqliteRow) -> Result<Row, LedgerError> {
    let get_err = |e: sqlx::Error| LedgerError::Query {
        what: "read a row",
        source: e,
    };
    let state: String = r.try_get(3).map_err(get_err)?;
    row_of(
        r.try_get(0).map_err(get_err)?,
        r.try_get(1).map_err(get_err)?,
        r.try_get(2).map_err(get_err)?,
        &state,
        r.try_get(4).map_err(get_err)?,
        r.try_get(5).map_err(get_err)?,
        r.try_get(6).map_err(get_err)?,
        r.try_get(7).map_err(get_err)?,
    )
}

/// A [`Row`] from its columns, checked.
#[allow(clippy::too_many_arguments)]
fn row_of(
    shop: String,
    order_number: String,
    action: String,
    state: &str,
    error: Option<String>,
    attempts: i64,
    claimed_at_ms: i64,
    updated_at_ms: i64,
) -> Result<Row, LedgerError> {
    let corrupt = |message: String| LedgerError::Corrupt {
        key: format!("{shop} {order_number} {action}"),
        message,
    };
    let Some(parsed_action) = Action::from_name(&action) else {
        return Err(corrupt(format!("unknown action `{action}`")));
    };
    let state = State::from_columns(state, error).map_err(corrupt)?;
    let attempts = u32::try_from(attempts).map_err(|_| corrupt(format!("attempts {attempts}")))?;
    Ok(Row {
        key: Key {
            shop,
            order_number,
            action: parsed_action,
        },
        state,
        attempts,
        claimed_at_ms,
        updated_at_ms,
    })
}

/// Claims a batch of distinct keys of one shop and action on `conn` in one statement
/// ([`CLAIM`]) with `token`. Answers in `group`'s order; a won claim's row is read back
/// only when `rows_needed` (the caller answers a repeated key with it) or when not every
/// key was won.
async fn claim_group(
    conn: &mut sqlx::SqliteConnection,
    group: &[&Key],
    now: i64,
    token: i64,
    call_timeout_ms: i64,
    rows_needed: bool,
) -> Result<Vec<(Claim, Option<Row>)>, LedgerError> {
    let q = LedgerError::query;
    let Some(first) = group.first() else {
        return Ok(Vec::new());
    };
    let numbers: Vec<&str> = group.iter().map(|k| k.order_number.as_str()).collect();
    let json = batch_json(&numbers)?;
    let bind = |sql| {
        sqlx::query(sql)
            .bind(now)
            .bind(json.as_str())
            .bind(first.shop.as_str())
            .bind(first.action.name())
            .bind(token)
            .bind(call_timeout_ms)
    };
    let done = bind(CLAIM).execute(&mut *conn).await.map_err(q("claim"))?;
    if done.rows_affected() == group.len() as u64 && !rows_needed {
        // Every key was written, so every key is this claim's.
        return Ok(group
            .iter()
            .map(|key| {
                let ticket = Ticket {
                    key: (*key).clone(),
                    token,
                };
                (Claim::Won(ticket), None)
            })
            .collect());
    }
    let read: String = sqlx::query(CLAIMED)
        .bind(json.as_str())
        .bind(first.shop.as_str())
        .bind(first.action.name())
        .fetch_one(&mut *conn)
        .await
        .map_err(q("read the claimed rows"))?
        .try_get(0)
        .map_err(q("read the claimed rows"))?;
    let read: Vec<ClaimedRow> = serde_json::from_str(&read).map_err(|e| LedgerError::Corrupt {
        key: "the claimed rows".into(),
        message: e.to_string(),
    })?;
    let mut rows: HashMap<Key, (Row, i64)> = HashMap::with_capacity(read.len());
    for (
        shop,
        order_number,
        action,
        state,
        error,
        attempts,
        claimed_at_ms,
        updated_at_ms,
        held_by,
    ) in read
    {
        let row = row_of(
            shop,
            order_number,
            action,
            &state,
            error,
            attempts,
            claimed_at_ms,
            updated_at_ms,
        )?;
        rows.insert(row.key.clone(), (row, held_by));
    }
    let mut answers = Vec::with_capacity(group.len());
    for key in group {
        let Some((row, held_by)) = rows.remove(*key) else {
            return Err(LedgerError::Corrupt {
                key: key.to_string(),
                message: "neither claimed nor found".into(),
            });
        };
        if held_by == token {
            let ticket = Ticket {
                key: (*key).clone(),
                token,
            };
            answers.push((Claim::Won(ticket), Some(row)));
        } else {
            answers.push((Claim::Held(row.clone()), Some(row)));
        }
    }
    Ok(answers)
}

/// The indices `0..n` in groups of items that may share a statement (`same(i, j)`: item
/// `i` goes with the group item `j` opened), in the order each group first appears, each
/// split into statements of at most [`BATCH`].
fn batched_groups(n: usize, same: impl Fn(usize, usize) -> bool) -> Vec<Vec<usize>> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..n {
        match groups.iter_mut().find(|(first, _)| same(i, *first)) {
            Some((_, list)) => list.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    groups
        .into_iter()
        .flat_map(|(_, list)| {
            list.chunks(BATCH)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The indices of `keys` by shop and action, batched ([`batched_groups`]).
fn by_shop_and_action(keys: &[&Key]) -> Vec<Vec<usize>> {
    batched_groups(keys.len(), |i, j| {
        keys[i].shop == keys[j].shop && keys[i].action == keys[j].action
    })
}

/// A claim's answers (in the order of its distinct keys) in the order of its input keys
/// (`place`, from [`lock_order`]). Rows are only missing when no key was repeated.
fn in_input_order(
    place: &[usize],
    answers: Vec<(Claim, Option<Row>)>,
) -> Result<Vec<Claim>, LedgerError> {
    if place.len() == answers.len() {
        // No key repeated: `place` names each answer once.
        let mut answers: Vec<Option<Claim>> = answers.into_iter().map(|(c, _)| Some(c)).collect();
        return place
            .iter()
            .map(|&p| {
                answers
                    .get_mut(p)
                    .and_then(Option::take)
                    .ok_or_else(|| LedgerError::Corrupt {
                        key: "a batch of keys".into(),
                        message: "a key answered twice".into(),
                    })
            })
            .collect();
    }
    let rows: Option<Vec<(Claim, Row)>> = answers.into_iter().map(|(c, r)| Some((c, r?))).collect();
    rows.map(|rows| answer_in_input_order(place, rows))
        .ok_or_else(|| LedgerError::Corrupt {
            key: "a batch of keys".into(),
            message: "a repeated key's row was not read".into(),
        })
}

/// A batch as the one JSON text a statement binds.
fn batch_json(batch: &impl serde::Serialize) -> Result<String, LedgerError> {
    serde_json::to_string(batch).map_err(|e| LedgerError::Corrupt {
        key: "a batch of keys".into(),
        message: e.to_string(),
    })
}

/// Marks one group of tickets (one shop, action and token, all [`Mark::Resent`] or all
/// the same outcome) in one statement; sets `moved[i]` for each row that moved.
async fn mark_group(
    conn: &mut sqlx::SqliteConnection,
    marks: &[(Ticket, Mark)],
    group: &[usize],
    now: i64,
    moved: &mut [bool],
) -> Result<(), LedgerError> {
    let q = LedgerError::query;
    let Some(&first) = group.first() else {
        return Ok(());
    };
    let (ticket, mark) = &marks[first];
    let state = marked_state(mark);
    let numbers: Vec<&str> = group
        .iter()
        .map(|&i| marks[i].0.key.order_number.as_str())
        .collect();
    let json = batch_json(&numbers)?;
    let left = state.as_ref().map_or("sending", |s| s.kind().name());
    let bind = |sql| {
        sqlx::query(sql)
            .bind(now)
            .bind(json.as_str())
            .bind(ticket.key.shop.as_str())
            .bind(ticket.key.action.name())
            .bind(ticket.token)
    };
    let done = match &state {
        None => bind(MARK_RESENT),
        Some(s) => bind(MARK_OUTCOME).bind(left).bind(s.error()),
    }
    .execute(&mut *conn)
    .await
    .map_err(q("mark"))?;
    if done.rows_affected() == group.len() as u64 {
        for &i in group {
            moved[i] = true;
        }
        return Ok(());
    }
    // Not every row could move, so none did: move the ones that can, and learn which.
    let rows = match &state {
        None => bind(MARK_RESENT_EACH),
        Some(s) => bind(MARK_OUTCOME_EACH).bind(left).bind(s.error()),
    }
    .fetch_all(&mut *conn)
    .await
    .map_err(q("mark"))?;
    let hit = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<std::collections::HashSet<String>, _>>()
        .map_err(q("mark"))?;
    for &i in group {
        moved[i] = hit.contains(&marks[i].0.key.order_number);
    }
    Ok(())
}

/// The groups of a mark that share a statement: one shop, action and token, and one
/// resulting state (error included), batched ([`batched_groups`]).
fn mark_groups(marks: &[(Ticket, Mark)]) -> Vec<Vec<usize>> {
    batched_groups(marks.len(), |i, j| {
        let ((a, a_mark), (b, b_mark)) = (&marks[i], &marks[j]);
        a.token == b.token
            && a.key.shop == b.key.shop
            && a.key.action == b.key.action
            && marked_state(a_mark) == marked_state(b_mark)
    })
}

impl Ledger for SqliteLedger {
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let (distinct, place) = lock_order(keys);
            // A key given twice is answered the second time with its row as the ledger
            // holds it: only then are won rows read back.
            let repeated = distinct.len() < keys.len();
            let groups = by_shop_and_action(&distinct);
            let token = new_token();
            let now = now_ms();
            let call_timeout_ms = self
                .call_timeout_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            let mut answers: Vec<Option<(Claim, Option<Row>)>> = vec![None; distinct.len()];
            // One statement is atomic by itself; more share one transaction, so the batch
            // is all or nothing.
            let mut place_answers = |group: &[usize], got: Vec<(Claim, Option<Row>)>| {
                for (&i, a) in group.iter().zip(got) {
                    answers[i] = Some(a);
                }
            };
            if let [group] = groups.as_slice() {
                let keys: Vec<&Key> = group.iter().map(|&i| distinct[i]).collect();
                let mut conn = self.pool.acquire().await.map_err(q("claim"))?;
                let got =
                    claim_group(&mut conn, &keys, now, token, call_timeout_ms, repeated).await?;
                place_answers(group, got);
            } else {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(q("begin a claim"))?;
                for group in &groups {
                    let keys: Vec<&Key> = group.iter().map(|&i| distinct[i]).collect();
                    let got =
                        claim_group(&mut tx, &keys, now, token, call_timeout_ms, repeated).await?;
                    place_answers(group, got);
                }
                tx.commit().await.map_err(q("commit a claim"))?;
            }
            let answers: Option<Vec<(Claim, Option<Row>)>> = answers.into_iter().collect();
            let answers = answers.ok_or_else(|| LedgerError::Corrupt {
                key: "a batch of keys".into(),
                message: "a key was not claimed".into(),
            })?;
            in_input_order(&place, answers)
        })
    }

    fn mark<'a>(&'a self, marks: &'a [(Ticket, Mark)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            if marks.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let now = now_ms();
            let mut moved = vec![false; marks.len()];
            // A key marked twice in one batch is marked in order, one statement each (the
            // second sees what the first did); every other key goes in batches.
            let mut seen = std::collections::HashSet::new();
            let repeated = marks.iter().any(|(t, _)| !seen.insert(&t.key));
            let groups: Vec<Vec<usize>> = if repeated {
                (0..marks.len()).map(|i| vec![i]).collect()
            } else {
                mark_groups(marks)
            };
            // One group: its statements are each atomic by themselves (the second only
            // moves what the first, moving nothing, left). More share one transaction.
            if let [group] = groups.as_slice() {
                let mut conn = self.pool.acquire().await.map_err(q("mark"))?;
                mark_group(&mut conn, marks, group, now, &mut moved).await?;
                return Ok(moved);
            }
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin a mark"))?;
            for group in &groups {
                mark_group(&mut tx, marks, group, now, &mut moved).await?;
            }
            tx.commit().await.map_err(q("commit a mark"))?;
            Ok(moved)
        })
    }

    fn abandon_untouched_since<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff: i64,
    ) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let q = LedgerError::query;
            let now = now_ms();
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin an abandon"))?;
            let rows = sqlx::query(ABANDON)
                .bind(now)
                .bind(cutoff)
                .bind(scope.shop.as_deref())
                .bind(scope.action.map(Action::name))
                .fetch_all(&mut *tx)
                .await
                .map_err(q("abandon"))?;
            tx.commit().await.map_err(q("commit an abandon"))?;
            let mut rows = rows.iter().map(read_row).collect::<Result<Vec<_>, _>>()?;
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(rows)
        })
    }

    fn set_call_timeout(&self, timeout: Duration) {
        self.call_timeout_ms
            .store(millis(timeout), std::sync::atomic::Ordering::Relaxed);
    }

    fn longest_call_timeout<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Option<Duration>> {
        Box::pin(async move {
            let longest: Option<i64> = sqlx::query_scalar(LONGEST_CALL_TIMEOUT)
                .bind(cutoff_ms)
                .bind(scope.shop.as_deref())
                .bind(scope.action.map(Action::name))
                .fetch_one(&self.pool)
                .await
                .map_err(LedgerError::query("read the claims' call timeouts"))?;
            Ok(longest.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
        })
    }

    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            if resolutions.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin a resolve"))?;
            let now = now_ms();
            let mut moved = Vec::with_capacity(resolutions.len());
            for (k, resolution) in resolutions {
                let state = resolved_state(resolution);
                let done = sqlx::query(RESOLVE)
                    .bind(&k.shop)
                    .bind(&k.order_number)
                    .bind(k.action.name())
                    .bind(state.kind().name())
                    .bind(state.error().map(str::to_owned))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("resolve"))?;
                moved.push(done.rows_affected() == 1);
            }
            tx.commit().await.map_err(q("commit a resolve"))?;
            Ok(moved)
        })
    }

    fn get<'a>(&'a self, key: &'a Key) -> LedgerFuture<'a, Option<Row>> {
        Box::pin(async move {
            let r = sqlx::query(GET)
                .bind(&key.shop)
                .bind(&key.order_number)
                .bind(key.action.name())
                .fetch_optional(&self.pool)
                .await
                .map_err(LedgerError::query("get"))?;
            r.as_ref().map(read_row).transpose()
        })
    }

    fn list<'a>(&'a self, query: &'a Query) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let mut b = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {COLUMNS} FROM rms_preflight_ledger WHERE 1 = 1"
            ));
            if let Some(shop) = &query.scope.shop {
                b.push(" AND shop = ").push_bind(shop.clone());
            }
            if let Some(action) = query.scope.action {
                b.push(" AND action = ").push_bind(action.name());
            }
            if !query.states.is_empty() {
                b.push(" AND state IN (");
                let mut names = b.separated(", ");
                for s in &query.states {
                    names.push_bind(s.name());
                }
                b.push(")");
            }
            if let Some(after) = &query.after {
                b.push(" AND (shop, order_number, action) > (")
                    .push_bind(after.shop.clone())
                    .push(", ")
                    .push_bind(after.order_number.clone())
                    .push(", ")
                    .push_bind(after.action.name())
                    .push(")");
            }
            b.push(" ORDER BY shop, order_number, action");
            if let Some(limit) = query.limit {
                b.push(" LIMIT ").push_bind(i64::from(limit));
            }
            let rows = b
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(LedgerError::query("list"))?;
            rows.iter().map(read_row).collect()
        })
    }

    fn count<'a>(&'a self, scope: &'a Scope) -> LedgerFuture<'a, Vec<(LedgerState, u64)>> {
        Box::pin(async move {
            let mut b = QueryBuilder::<Sqlite>::new(
                "SELECT state, COUNT(*) AS n FROM rms_preflight_ledger WHERE 1 = 1",
            );
            if let Some(shop) = &scope.shop {
                b.push(" AND shop = ").push_bind(shop.clone());
            }
            if let Some(action) = scope.action {
                b.push(" AND action = ").push_bind(action.name());
            }
            b.push(" GROUP BY state");
            let rows = b
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(LedgerError::query("count"))?;
            let mut found = Vec::new();
            for row in &rows {
                let state: String = row.try_get("state").map_err(LedgerError::query("count"))?;
                let n: i64 = row.try_get("n").map_err(LedgerError::query("count"))?;
                found.push((state, n));
            }
            super::counts_in_order(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every batched statement must reach each key's row by the primary key. A plan through
    /// the by-state index (or a scan of the ledger) reads the whole JSON batch again for
    /// every row it passes: a mark of 100 keys took milliseconds once the ledger held a few
    /// hundred `sending` rows.
    #[tokio::test]
    async fn the_batched_statements_find_rows_by_key() {
        let ledger = SqliteLedger::open("sqlite::memory:").await.expect("ledger");
        let batch = r#"["1","2"]"#;
        for (name, sql) in [
            ("CLAIM", CLAIM),
            ("CLAIMED", CLAIMED),
            ("MARK_OUTCOME", MARK_OUTCOME),
            ("MARK_OUTCOME_EACH", MARK_OUTCOME_EACH),
            ("MARK_RESENT", MARK_RESENT),
            ("MARK_RESENT_EACH", MARK_RESENT_EACH),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(&explain);
            q = match name {
                "CLAIMED" => q.bind(batch).bind("s").bind("confirm"),
                _ => q
                    .bind(1_i64)
                    .bind(batch)
                    .bind("s")
                    .bind("confirm")
                    .bind(7_i64),
            };
            if name.starts_with("MARK_OUTCOME") {
                q = q.bind("failed").bind("e");
            }
            let plan: Vec<String> = q
                .fetch_all(&ledger.pool)
                .await
                .expect("plan")
                .iter()
                .map(|r| r.try_get::<String, _>("detail").expect("detail"))
                .collect();
            let text = plan.join("\n");
            assert!(
                !text.contains("rms_preflight_ledger_by_state")
                    && !plan
                        .iter()
                        .any(|d| d.starts_with("SCAN rms_preflight_ledger")
                            || d.starts_with("SCAN l")),
                "{name} reaches rows other than by key:\n{text}"
            );
            if name != "CLAIM" {
                assert!(
                    text.contains("USING PRIMARY KEY"),
                    "{name} does not use the primary key:\n{text}"
                );
            }
        }
    }
}
