//! The ledger's schema: one list of SQL files per backend (`migrations/sqlite/`,
//! `migrations/postgres/`, embedded here), applied in order at open, each exactly once.
//!
//! The version applied last is kept in `rms_preflight_schema`. Applying runs in one write
//! transaction — `BEGIN IMMEDIATE` in SQLite, an advisory lock in PostgreSQL — so two
//! processes opening a new database at the same moment cannot both create it; a database
//! whose schema is newer than this build knows is refused rather than misread.

use sqlx::{Connection, PgConnection};

use super::{now_ms, LedgerError};

/// One SQL file: applied once, never edited after it shipped.
#[derive(Debug)]
pub(super) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(super) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sql: include_str!("../../migrations/sqlite/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "call timeout",
        sql: include_str!("../../migrations/sqlite/0002_call_timeout.sql"),
    },
    Migration {
        version: 3,
        name: "claims in flight",
        sql: include_str!("../../migrations/sqlite/0003_inflight.sql"),
    },
    Migration {
        version: 4,
        name: "state check as comparisons",
        sql: include_str!("../../migrations/sqlite/0004_state_check.sql"),
    },
];

pub(super) const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    name: "ledger",
    sql: include_str!("../../migrations/postgres/0001_ledger.sql"),
}];

pub(super) const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS rms_preflight_schema (
    version       BIGINT PRIMARY KEY,
    name          TEXT   NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

const CURRENT: &str = "SELECT max(version) FROM rms_preflight_schema";

/// The advisory-lock key that serialises schema changes in PostgreSQL ("rms_pref").
const PG_LOCK: i64 = 0x726d_735f_7072_6566;

/// The migrations after `current`, or an error if the database is ahead of this build.
fn pending(
    current: Option<i64>,
    all: &'static [Migration],
) -> Result<&'static [Migration], LedgerError> {
    let current = current.unwrap_or(0);
    let newest = all.last().map_or(0, |m| m.version);
    if current > newest {
        return Err(LedgerError::Schema(format!(
            "the database holds schema version {current}, newer than this build knows \
             ({newest}); use the rms-preflight that wrote it, or a newer one"
        )));
    }
    Ok(&all[all.iter().take_while(|m| m.version <= current).count()..])
}

/// Brings a SQLite ledger's schema up to date.
pub(super) fn apply_sqlite(conn: &mut rusqlite::Connection) -> Result<(), LedgerError> {
    let q = LedgerError::query;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(q("begin the schema update"))?;
    tx.execute_batch(VERSION_TABLE)
        .map_err(q("create the schema version table"))?;
    let current: Option<i64> = tx
        .query_row(CURRENT, [], |r| r.get(0))
        .map_err(without_sql)
        .map_err(q("read the schema version"))?;
    for m in pending(current, SQLITE)? {
        tx.execute_batch(m.sql)
            .map_err(without_sql)
            .map_err(q("apply a schema migration"))?;
        tx.execute(
            "INSERT INTO rms_preflight_schema (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, now_ms()],
        )
        .map_err(q("record the schema version"))?;
    }
    tx.commit().map_err(q("commit the schema update"))
}

/// SQLite's error without the statement rusqlite quotes in it (a whole migration file).
fn without_sql(e: rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqlInputError { error, msg, .. } => {
            rusqlite::Error::SqliteFailure(error, Some(msg))
        }
        e => e,
    }
}

/// Brings a PostgreSQL ledger's schema up to date.
pub(super) async fn apply_postgres(conn: &mut PgConnection) -> Result<(), LedgerError> {
    let q = LedgerError::query;
    let mut tx = conn.begin().await.map_err(q("begin the schema update"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PG_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(q("lock the schema"))?;
    sqlx::query(VERSION_TABLE)
        .execute(&mut *tx)
        .await
        .map_err(q("create the schema version table"))?;
    let current: Option<i64> = sqlx::query_scalar(CURRENT)
        .fetch_one(&mut *tx)
        .await
        .map_err(q("read the schema version"))?;
    for m in pending(current, POSTGRES)? {
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(q("apply a schema migration"))?;
        sqlx::query(
            "INSERT INTO rms_preflight_schema (version, name, applied_at_ms) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(q("record the schema version"))?;
    }
    tx.commit().await.map_err(q("commit the schema update"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_from_one_without_gaps() {
        for all in [SQLITE, POSTGRES] {
            for (i, m) in all.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            }
        }
    }

    #[test]
    fn pending_skips_what_is_applied_and_refuses_the_future() {
        assert_eq!(pending(None, SQLITE).unwrap().len(), SQLITE.len());
        assert!(pending(Some(SQLITE.len() as i64), SQLITE)
            .unwrap()
            .is_empty());
        let err = pending(Some(99), SQLITE).unwrap_err().to_string();
        assert!(err.contains("newer than this build knows"), "{err}");
    }
}
