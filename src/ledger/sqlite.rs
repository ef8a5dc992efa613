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

/// What a batched claim does about a key that has a row: take it back from `failed`,
/// leave anything else. Which keys were won is read afterwards, by token ([`CLAIMED`]).
const CLAIM_CONFLICT: &str = " ON CONFLICT (shop, order_number, action) DO UPDATE SET
        state = 'sending', error = NULL, attempts = rms_preflight_ledger.attempts + 1,
        token = excluded.token, claimed_at_ms = excluded.claimed_at_ms,
        updated_at_ms = excluded.updated_at_ms
    WHERE rms_preflight_ledger.state = 'failed'";

/// The rows of a batch of keys as one JSON array in one row (the keys' `IN (…)` list
/// follows). sqlx hands SQLite's rows over one at a time between its worker thread and
/// the caller; one row of JSON instead of a hundred rows makes a claim several times
/// cheaper, and `serde_json` reads it back in microseconds.
const CLAIMED: &str = "SELECT json_group_array(json_array(shop, order_number, action, state, \
    error, attempts, claimed_at_ms, updated_at_ms, token)) FROM rms_preflight_ledger \
    WHERE (shop, order_number, action) IN (";

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

/// Keys per batched statement (6 binds each for a mark, 6 for a claim: far below SQLite's
/// limit of 32,766 bound parameters).
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
}

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
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(open_error)?
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
            .min_connections(u32::from(memory))
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        schema::apply_sqlite(&pool).await?;
        let checkpoints = (!memory).then(|| Arc::new(Checkpoints::start(options)));
        Ok(SqliteLedger { pool, checkpoints })
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

/// Claims one batch of distinct keys on `conn`: one upsert, then one read of the batch's
/// rows (the won ones carry this claim's token). Answers in `chunk`'s order.
async fn claim_chunk(
    conn: &mut sqlx::SqliteConnection,
    chunk: &[&Key],
    now: i64,
) -> Result<Vec<(Claim, Row)>, LedgerError> {
    let q = LedgerError::query;
    let tokens: Vec<i64> = chunk.iter().map(|_| new_token()).collect();
    let mut b = QueryBuilder::<Sqlite>::new(
        "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, error, \
                     attempts, token, claimed_at_ms, updated_at_ms) ",
    );
    b.push_values(chunk.iter().zip(&tokens), |mut row, (key, token)| {
        row.push_bind(key.shop.as_str())
            .push_bind(key.order_number.as_str())
            .push_bind(key.action.name())
            .push("'sending'")
            .push("NULL")
            .push("1")
            .push_bind(*token)
            .push_bind(now)
            .push_bind(now);
    });
    b.push(CLAIM_CONFLICT);
    b.build().execute(&mut *conn).await.map_err(q("claim"))?;
    let mut b = QueryBuilder::<Sqlite>::new(CLAIMED);
    b.push_values(chunk, |mut row, key| {
        row.push_bind(key.shop.as_str())
            .push_bind(key.order_number.as_str())
            .push_bind(key.action.name());
    });
    b.push(")");
    let json: String = b
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(q("read the claimed rows"))?
        .try_get(0)
        .map_err(q("read the claimed rows"))?;
    let read: Vec<ClaimedRow> = serde_json::from_str(&json).map_err(|e| LedgerError::Corrupt {
        key: "the claimed rows".into(),
        message: e.to_string(),
    })?;
    let mut rows: HashMap<Key, (Row, i64)> = HashMap::with_capacity(read.len());
    for (shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms, token) in
        read
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
        rows.insert(row.key.clone(), (row, token));
    }
    let mut answers = Vec::with_capacity(chunk.len());
    for (key, token) in chunk.iter().zip(tokens) {
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
            answers.push((Claim::Won(ticket), row));
        } else {
            answers.push((Claim::Held(row.clone()), row));
        }
    }
    Ok(answers)
}

/// Marks one group of tickets (all [`Mark::Resent`], or all outcomes) in one statement;
/// sets `moved[i]` for each row that moved.
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
    let resent = marked_state(&marks[first].1).is_none();
    let mut b = QueryBuilder::<Sqlite>::new(if resent {
        "UPDATE rms_preflight_ledger SET attempts = attempts + 1, updated_at_ms = "
    } else {
        "UPDATE rms_preflight_ledger SET state = v.column5, error = v.column6, \
                     updated_at_ms = "
    });
    b.push_bind(now).push(" FROM (");
    b.push_values(group, |mut row, &i| {
        let (ticket, mark) = &marks[i];
        let k = &ticket.key;
        row.push_bind(k.shop.clone())
            .push_bind(k.order_number.clone())
            .push_bind(k.action.name())
            .push_bind(ticket.token);
        if let Some(state) = marked_state(mark) {
            row.push_bind(state.kind().name())
                .push_bind(state.error().map(str::to_owned));
        }
    });
    b.push(
        ") AS v WHERE rms_preflight_ledger.shop = v.column1 \
                     AND rms_preflight_ledger.order_number = v.column2 \
                     AND rms_preflight_ledger.action = v.column3 \
                     AND rms_preflight_ledger.token = v.column4 AND rms_preflight_ledger.state ",
    );
    b.push(if resent {
        "= 'sending'"
    } else {
        "IN ('sending', 'unknown')"
    });
    let done = b.build().execute(&mut *conn).await.map_err(q("mark"))?;
    if done.rows_affected() == group.len() as u64 {
        for &i in group {
            moved[i] = true;
        }
        return Ok(());
    }
    // Some rows did not move (a token no longer holds, a row already settled): which ones
    // is read back by token, in one row of JSON. A row holding this mark's token in the
    // state it leaves was moved by it (only the token's holder marks a row, and a key is
    // marked once per statement).
    let mut b = QueryBuilder::<Sqlite>::new(
        "SELECT json_group_array(json_array(shop, order_number, action)) \
         FROM rms_preflight_ledger WHERE (shop, order_number, action, token, state) IN (",
    );
    b.push_values(group, |mut row, &i| {
        let (ticket, mark) = &marks[i];
        let k = &ticket.key;
        let state = marked_state(mark).map_or("sending", |s| s.kind().name());
        row.push_bind(k.shop.as_str())
            .push_bind(k.order_number.as_str())
            .push_bind(k.action.name())
            .push_bind(ticket.token)
            .push_bind(state);
    });
    b.push(") AND updated_at_ms = ").push_bind(now);
    let json: String = b
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(q("read the marked rows"))?
        .try_get(0)
        .map_err(q("read the marked rows"))?;
    let hit: std::collections::HashSet<(String, String, String)> = serde_json::from_str(&json)
        .map_err(|e| LedgerError::Corrupt {
            key: "the marked rows".into(),
            message: e.to_string(),
        })?;
    for &i in group {
        let k = &marks[i].0.key;
        moved[i] = hit.contains(&(
            k.shop.clone(),
            k.order_number.clone(),
            k.action.name().to_owned(),
        ));
    }
    Ok(())
}

impl Ledger for SqliteLedger {
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let (distinct, place) = lock_order(keys);
            // One chunk: one statement, atomic by itself (and one read of the rows it could
            // not claim). More: one transaction, so the batch is all or nothing.
            if distinct.len() <= BATCH {
                let mut conn = self.pool.acquire().await.map_err(q("claim"))?;
                let answers = claim_chunk(&mut conn, &distinct, now_ms()).await?;
                return Ok(answer_in_input_order(&place, answers));
            }
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin a claim"))?;
            let now = now_ms();
            let mut answers = Vec::with_capacity(distinct.len());
            for chunk in distinct.chunks(BATCH) {
                answers.extend(claim_chunk(&mut tx, chunk, now).await?);
            }
            tx.commit().await.map_err(q("commit a claim"))?;
            Ok(answer_in_input_order(&place, answers))
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
                let (resent, outcome): (Vec<usize>, Vec<usize>) =
                    (0..marks.len()).partition(|&i| marked_state(&marks[i].1).is_none());
                resent
                    .chunks(BATCH)
                    .chain(outcome.chunks(BATCH))
                    .map(<[usize]>::to_vec)
                    .collect()
            };
            // One statement is atomic by itself; more share one transaction.
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

    fn abandon<'a>(&'a self, scope: &'a Scope, idle_for: Duration) -> LedgerFuture<'a, Vec<Row>> {
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
                .bind(now.saturating_sub(millis(idle_for)))
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
