//! [`PostgresLedger`]: for several processes on several machines. The claim is the same
//! insert-if-absent on the same unique key as in SQLite; PostgreSQL's row locks make it
//! atomic across connections. Times come from the database server's clock, so the
//! machines' clocks need not agree for [`Ledger::abandon`] to tell dead senders from live
//! ones. Every batch is one transaction that locks its rows in key order, so two batches
//! over the same orders cannot deadlock.
//!
//! This build speaks to PostgreSQL without TLS (`sslmode=prefer` falls back to plain
//! TCP): keep the database on the machine or on a trusted network.

use std::str::FromStr;
use std::time::Duration;

use crate::model::LedgerState;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row as _};

use super::{
    answer_in_input_order, lock_order, marked_state, millis, new_token, resolved_state, schema,
    Claim, Key, Ledger, LedgerError, LedgerFuture, Mark, Query, Resolution, Row, Scope, State,
    Ticket,
};
use crate::model::Action;

/// The server's clock in milliseconds since the Unix epoch (the statement's own instant).
macro_rules! now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

macro_rules! columns {
    () => {
        "shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms"
    };
}

const CLAIM: &str = concat!(
    "INSERT INTO rms_preflight_ledger AS l
    (shop, order_number, action, state, error, attempts, token, claimed_at_ms, updated_at_ms)
    VALUES ($1, $2, $3, 'sending', NULL, 1, $4, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ")
    ON CONFLICT (shop, order_number, action) DO UPDATE SET
        state = 'sending', error = NULL, attempts = l.attempts + 1,
        token = excluded.token, claimed_at_ms = excluded.claimed_at_ms,
        updated_at_ms = excluded.updated_at_ms
    WHERE l.state = 'failed'
    RETURNING ",
    columns!()
);

const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM rms_preflight_ledger WHERE shop = $1 AND order_number = $2 AND action = $3"
);

const RESENT: &str = concat!(
    "UPDATE rms_preflight_ledger SET attempts = attempts + 1, updated_at_ms = ",
    now_ms!(),
    " WHERE shop = $1 AND order_number = $2 AND action = $3 AND token = $4 AND state = 'sending'"
);

const OUTCOME: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = $5, error = $6, updated_at_ms = ",
    now_ms!(),
    " WHERE shop = $1 AND order_number = $2 AND action = $3 AND token = $4
      AND state IN ('sending', 'unknown')"
);

const ABANDON: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = 'unknown', error = NULL, updated_at_ms = ",
    now_ms!(),
    " WHERE state = 'sending' AND updated_at_ms <= ",
    now_ms!(),
    " - $1
      AND ($2::text IS NULL OR shop = $2) AND ($3::text IS NULL OR action = $3)
    RETURNING ",
    columns!()
);

const ABANDON_SINCE: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = 'unknown', error = NULL, updated_at_ms = ",
    now_ms!(),
    " WHERE state = 'sending' AND updated_at_ms <= $1
      AND ($2::text IS NULL OR shop = $2) AND ($3::text IS NULL OR action = $3)
    RETURNING ",
    columns!()
);

const RESOLVE: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = $4, error = $5, updated_at_ms = ",
    now_ms!(),
    " WHERE shop = $1 AND order_number = $2 AND action = $3 AND state = 'unknown'"
);

/// How long opening waits for the server to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The ledger in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresLedger {
    pool: PgPool,
}

impl PostgresLedger {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and creates the
    /// ledger's table if needed. Errors never repeat the URL (it may hold a password).
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let open_error = |source: sqlx::Error| LedgerError::Open {
            backend: "PostgreSQL",
            where_: None,
            source: Box::new(source),
        };
        let options = PgConnectOptions::from_str(url).map_err(open_error)?;
        // One connection first: an unreachable server fails here at once (a pool would
        // retry until its acquire timeout), and the schema is brought up to date on it.
        let mut first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )))
            })
            .map_err(open_error)?;
        schema::apply_postgres(&mut first).await?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(PostgresLedger { pool })
    }

    /// Closes the pool (waits for queries in progress).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn read_row(r: &PgRow) -> Result<Row, LedgerError> {
    let get_err = |e: sqlx::Error| LedgerError::Query {
        what: "read a row",
        source: Box::new(e),
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

/// Indexes of `keys` in key order: the order a batch locks its rows in.
fn by_key<'k>(keys: impl Iterator<Item = &'k Key>) -> Vec<usize> {
    let keys: Vec<&Key> = keys.collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(keys[b]));
    order
}

impl PostgresLedger {
    /// Runs an abandon statement ([`ABANDON`]: `$1` an idle time; [`ABANDON_SINCE`]: `$1` a
    /// cut) over `scope`, answering the rows it moved in key order.
    async fn abandon_by(
        &self,
        sql: &'static str,
        first: i64,
        scope: &Scope,
    ) -> Result<Vec<Row>, LedgerError> {
        let rows = sqlx::query(sql)
            .bind(first)
            .bind(scope.shop.as_deref())
            .bind(scope.action.map(Action::name))
            .fetch_all(&self.pool)
            .await
            .map_err(LedgerError::query("abandon"))?;
        let mut rows = rows.iter().map(read_row).collect::<Result<Vec<_>, _>>()?;
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows)
    }
}

impl Ledger for PostgresLedger {
    fn claim<'a>(&'a self, keys: &'a [Key]) -> LedgerFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let (distinct, place) = lock_order(keys);
            let mut tx = self.pool.begin().await.map_err(q("begin a claim"))?;
            let mut answers = Vec::with_capacity(distinct.len());
            for key in distinct {
                let token = new_token();
                let won = sqlx::query(CLAIM)
                    .bind(&key.shop)
                    .bind(&key.order_number)
                    .bind(key.action.name())
                    .bind(token)
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
                    // A new statement, so a new snapshot (READ COMMITTED): it sees the row
                    // whose key the claim ran into, even one committed a moment ago.
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
            let mut tx = self.pool.begin().await.map_err(q("begin a mark"))?;
            let mut moved = vec![false; marks.len()];
            for i in by_key(marks.iter().map(|(t, _)| &t.key)) {
                let (ticket, mark) = &marks[i];
                let k = &ticket.key;
                let query = match marked_state(mark) {
                    None => sqlx::query(RESENT)
                        .bind(&k.shop)
                        .bind(&k.order_number)
                        .bind(k.action.name())
                        .bind(ticket.token),
                    Some(state) => sqlx::query(OUTCOME)
                        .bind(&k.shop)
                        .bind(&k.order_number)
                        .bind(k.action.name())
                        .bind(ticket.token)
                        .bind(state.kind().name())
                        .bind(state.error().map(str::to_owned)),
                };
                let done = query.execute(&mut *tx).await.map_err(q("mark"))?;
                moved[i] = done.rows_affected() == 1;
            }
            tx.commit().await.map_err(q("commit a mark"))?;
            Ok(moved)
        })
    }

    fn abandon<'a>(&'a self, scope: &'a Scope, idle_for: Duration) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(self.abandon_by(ABANDON, millis(idle_for), scope))
    }

    /// `cutoff_ms` is on the database server's clock, which stamps the rows.
    fn abandon_untouched_since<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(self.abandon_by(ABANDON_SINCE, cutoff_ms, scope))
    }

    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            if resolutions.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let mut tx = self.pool.begin().await.map_err(q("begin a resolve"))?;
            let mut moved = vec![false; resolutions.len()];
            for i in by_key(resolutions.iter().map(|(k, _)| k)) {
                let (k, resolution) = &resolutions[i];
                let state = resolved_state(resolution);
                let done = sqlx::query(RESOLVE)
                    .bind(&k.shop)
                    .bind(&k.order_number)
                    .bind(k.action.name())
                    .bind(state.kind().name())
                    .bind(state.error().map(str::to_owned))
                    .execute(&mut *tx)
                    .await
                    .map_err(q("resolve"))?;
                moved[i] = done.rows_affected() == 1;
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
            let mut b = QueryBuilder::<Postgres>::new(concat!(
                "SELECT ",
                columns!(),
                " FROM rms_preflight_ledger WHERE 1 = 1"
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
            let mut b = QueryBuilder::<Postgres>::new(
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
