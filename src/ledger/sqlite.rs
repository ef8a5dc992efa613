//! [`SqliteLedger`]: the embedded default. One file, WAL (readers never wait for the
//! writer), `synchronous = FULL` (a claim is on disk before its call is sent), and every
//! write in a `BEGIN IMMEDIATE` transaction: SQLite's one writer at a time makes each batch
//! atomic, and other processes sharing the file wait for it (busy timeout 30 s).

use std::str::FromStr;
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

/// The one atomic claim: insert a `sending` row, or turn a `failed` one back into
/// `sending`; any other row stays as it is and nothing is returned.
const CLAIM: &str = "INSERT INTO rms_preflight_ledger
    (shop, order_number, action, state, error, attempts, token, claimed_at_ms, updated_at_ms)
    VALUES ($1, $2, $3, 'sending', NULL, 1, $4, $5, $5)
    ON CONFLICT (shop, order_number, action) DO UPDATE SET
        state = 'sending', error = NULL, attempts = rms_preflight_ledger.attempts + 1,
        token = excluded.token, claimed_at_ms = excluded.claimed_at_ms,
        updated_at_ms = excluded.updated_at_ms
    WHERE rms_preflight_ledger.state = 'failed'
    RETURNING shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms";

const GET: &str = "SELECT shop, order_number, action, state, error, attempts, claimed_at_ms, \
    updated_at_ms FROM rms_preflight_ledger WHERE shop = $1 AND order_number = $2 AND action = $3";

const RESENT: &str = "UPDATE rms_preflight_ledger
    SET attempts = attempts + 1, updated_at_ms = $5
    WHERE shop = $1 AND order_number = $2 AND action = $3 AND token = $4 AND state = 'sending'";

const OUTCOME: &str = "UPDATE rms_preflight_ledger
    SET state = $5, error = $6, updated_at_ms = $7
    WHERE shop = $1 AND order_number = $2 AND action = $3 AND token = $4
      AND state IN ('sending', 'unknown')";

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
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger at `url`: `sqlite:PATH`, `sqlite://PATH` or
    /// `sqlite::memory:`. The file's directory must exist.
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
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
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        if !memory {
            options = options.journal_mode(SqliteJournalMode::Wal);
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
            .connect_with(options)
            .await
            .map_err(open_error)?;
        schema::apply_sqlite(&pool).await?;
        Ok(SqliteLedger { pool })
    }

    /// Closes the pool (waits for queries in progress).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn read_row(r: &SqliteRow) -> Result<Row, LedgerError> {
    let get_err = |e: sqlx::Error| LedgerError::Query {
        what: "read a row",
        source: e,
    };
    let shop: String = r.try_get(0).map_err(get_err)?;
    let order_number: String = r.try_get(1).map_err(get_err)?;
    let action: String = r.try_get(2).map_err(get_err)?;
    let state: String = r.try_get(3).map_err(get_err)?;
    let error: Option<String> = r.try_get(4).map_err(get_err)?;
    let attempts: i64 = r.try_get(5).map_err(get_err)?;
    let corrupt = |message: String| LedgerError::Corrupt {
        key: format!("{shop} {order_number} {action}"),
        message,
    };
    let Some(parsed_action) = Action::from_name(&action) else {
        return Err(corrupt(format!("unknown action `{action}`")));
    };
    let state = State::from_columns(&state, error).map_err(corrupt)?;
    let attempts = u32::try_from(attempts).map_err(|_| corrupt(format!("attempts {attempts}")))?;
    Ok(Row {
        key: Key {
            shop,
            order_number,
            action: parsed_action,
        },
        state,
        attempts,
        claimed_at_ms: r.try_get(6).map_err(get_err)?,
        updated_at_ms: r.try_get(7).map_err(get_err)?,
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
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin a claim"))?;
            let now = now_ms();
            let mut answers = Vec::with_capacity(distinct.len());
            for key in distinct {
                let token = new_token();
                let won = sqlx::query(CLAIM)
                    .bind(&key.shop)
                    .bind(&key.order_number)
                    .bind(key.action.name())
                    .bind(token)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(q("claim"))?;
                answers.push(match won {
                    Some(r) => {
                        let row = read_row(&r)?;
                        let ticket = Ticket {
                            key: key.clone(),
                            token,
                        };
                        (Claim::Won(ticket), row)
                    }
                    None => {
                        let r = sqlx::query(GET)
                            .bind(&key.shop)
                            .bind(&key.order_number)
                            .bind(key.action.name())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(q("read a held row"))?;
                        let row = read_row(&r)?;
                        (Claim::Held(row.clone()), row)
                    }
                });
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
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(q("begin a mark"))?;
            let now = now_ms();
            let mut moved = Vec::with_capacity(marks.len());
            for (ticket, mark) in marks {
                let k = &ticket.key;
                let query = match marked_state(mark) {
                    None => sqlx::query(RESENT)
                        .bind(&k.shop)
                        .bind(&k.order_number)
                        .bind(k.action.name())
                        .bind(ticket.token)
                        .bind(now),
                    Some(state) => sqlx::query(OUTCOME)
                        .bind(&k.shop)
                        .bind(&k.order_number)
                        .bind(k.action.name())
                        .bind(ticket.token)
                        .bind(state.kind().name())
                        .bind(state.error().map(str::to_owned))
                        .bind(now),
                };
                let done = query.execute(&mut *tx).await.map_err(q("mark"))?;
                moved.push(done.rows_affected() == 1);
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
