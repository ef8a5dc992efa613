//! [`SqliteLedger`]: the embedded default. One file, WAL (readers never wait for the
//! writer), `synchronous = NORMAL` (a committed claim is in the WAL, which survives the
//! process being killed; see [`SqliteLedger::open`] for a power cut), and every
//! write in a `BEGIN IMMEDIATE` transaction: SQLite's one writer at a time makes each batch
//! atomic, and other processes sharing the file wait for it (busy timeout 30 s).
//!
//! # Where the statements run
//!
//! The ledger holds one connection (rusqlite, SQLite compiled in). A claim or a mark — the
//! statements on the path of every confirmation — runs on the calling thread when the
//! connection is free and the file's write lock can be had at once: it then costs the
//! statement and nothing else (a hand-off to a database thread and back cost about a fifth
//! of a 100-order claim). Otherwise (another task of this process holds the connection,
//! or another process holds the write lock) it runs on a blocking thread, which waits for
//! both up to the busy timeout; a statement refused as busy has done nothing, so running
//! it again there is safe. Everything else (listing, counting, the start-up settle) runs
//! on a blocking thread from the start: it may read the whole ledger.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::model::limits::shortened;
use crate::model::LedgerState;

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
/// Binds: `?1` now, `?2` the order numbers, `?3` shop, `?4` action, `?5` token, `?6` the
/// sender's call timeout in milliseconds ([`Ledger::set_call_timeout`]).
const CLAIM: &str = "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, \
    error, attempts, token, claimed_at_ms, updated_at_ms, call_timeout_ms) \
    SELECT ?3, value, ?4, 'sending', NULL, 1, ?5, ?1, ?1, ?6 FROM json_each(?2) WHERE true \
    ON CONFLICT (shop, order_number, action) DO UPDATE SET \
        state = 'sending', error = NULL, attempts = rms_preflight_ledger.attempts + 1, \
        token = excluded.token, claimed_at_ms = excluded.claimed_at_ms, \
        updated_at_ms = excluded.updated_at_ms, call_timeout_ms = excluded.call_timeout_ms \
    WHERE rms_preflight_ledger.state = 'failed'";

/// Records a claim in flight (`rms_preflight_inflight`, migration 0003): `?1` token, `?2`
/// shop, `?3` action, `?4` which statement of the claim, `?5` the order numbers it won
/// (JSON), `?6` now, `?7` the sender's call timeout.
const INFLIGHT: &str = "INSERT INTO rms_preflight_inflight \
    (token, shop, action, part, order_numbers, updated_at_ms, call_timeout_ms) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Forgets the claims of token `?1`, shop `?2`, action `?3` none of whose rows is `sending`
/// any more (each is looked up by its key).
const SETTLED: &str = "DELETE FROM rms_preflight_inflight AS i \
    WHERE token = ?1 AND shop = ?2 AND action = ?3 AND NOT EXISTS ( \
        SELECT 1 FROM rms_preflight_ledger AS l WHERE l.shop = i.shop AND l.action = i.action \
          AND l.order_number IN (SELECT value FROM json_each(i.order_numbers)) \
          AND l.token = i.token AND +l.state = 'sending')";

/// A resend keeps its claim from looking idle: `?1` now, then token, shop, action.
const TOUCH_INFLIGHT: &str = "UPDATE rms_preflight_inflight SET updated_at_ms = ?1 \
    WHERE token = ?2 AND shop = ?3 AND action = ?4";

/// The claims in flight last touched at or before `?1` (shop `?2` and action `?3` when not
/// null).
const IDLE_CLAIMS: &str = "SELECT token, shop, action, order_numbers \
    FROM rms_preflight_inflight WHERE updated_at_ms <= ?1 \
      AND (?2 IS NULL OR shop = ?2) AND (?3 IS NULL OR action = ?3)";

/// The longest call timeout of the claims in flight last touched at or before `?1` (shop
/// `?2` and action `?3` when not null).
const LONGEST_CALL_TIMEOUT: &str = "SELECT max(call_timeout_ms) FROM rms_preflight_inflight \
    WHERE updated_at_ms <= ?1 AND (?2 IS NULL OR shop = ?2) AND (?3 IS NULL OR action = ?3)";

/// The rows of a claim's keys (`?1` the order numbers, `?2` shop, `?3` action) with the
/// token each holds.
///
/// Every batched statement names the shop and the action and takes the order numbers
/// `IN` the JSON array, so SQLite finds each row by the primary key. A `+` before
/// `state` (or `updated_at_ms`) keeps it from going through an index on the state
/// instead: it would then read the JSON batch again for every row in that index
/// (`the_batched_statements_find_rows_by_key` checks the plans).
const CLAIMED: &str = "SELECT shop, order_number, action, state, error, attempts, \
    claimed_at_ms, updated_at_ms, token FROM rms_preflight_ledger \
    WHERE shop = ?2 AND action = ?3 AND order_number IN (SELECT value FROM json_each(?1))";

/// The rows a mark may move: the order numbers `?2` of shop `?3`, action `?4`, holding
/// token `?5`, in a state the mark may leave. `{states}` is that state list.
macro_rules! markable {
    ($states:literal) => {
        concat!(
            "shop = ?3 AND action = ?4 AND order_number IN (SELECT value FROM json_each(?2)) \
             AND token = ?5 AND +state IN ",
            $states
        )
    };
}

/// Moves a batch of rows to state `?6` with error `?7`, each only while it holds token `?5`
/// and is `sending` or `unknown`, and answers the order numbers it moved: exact however
/// the rows stand (a row this ticket had already left in the same state within the same
/// millisecond would look moved to any read afterwards).
const MARK_OUTCOME: &str = concat!(
    "UPDATE rms_preflight_ledger SET state = ?6, error = ?7, updated_at_ms = ?1 WHERE ",
    markable!("('sending', 'unknown')"),
    " RETURNING order_number"
);

/// Counts a resend on a batch of rows still `sending` under token `?5`, answering the
/// order numbers it moved, like [`MARK_OUTCOME`].
const MARK_RESENT: &str = concat!(
    "UPDATE rms_preflight_ledger SET attempts = attempts + 1, updated_at_ms = ?1 WHERE ",
    markable!("('sending')"),
    " RETURNING order_number"
);

/// Keys per batched statement: a larger batch is split into statements of this many keys,
/// in one transaction.
const BATCH: usize = 500;

const GET: &str = "SELECT shop, order_number, action, state, error, attempts, claimed_at_ms, \
    updated_at_ms FROM rms_preflight_ledger WHERE shop = ?1 AND order_number = ?2 AND action = ?3";

/// Turns the rows of one idle claim (`?3` its order numbers, `?4` shop, `?5` action, `?6`
/// token) that are still `sending` and untouched since `?2` into `unknown` at `?1`.
const ABANDON: &str = "UPDATE rms_preflight_ledger
    SET state = 'unknown', error = NULL, updated_at_ms = ?1
    WHERE shop = ?4 AND action = ?5 AND order_number IN (SELECT value FROM json_each(?3))
      AND token = ?6 AND +state = 'sending' AND +updated_at_ms <= ?2
    RETURNING shop, order_number, action, state, error, attempts, claimed_at_ms, updated_at_ms";

const RESOLVE: &str = "UPDATE rms_preflight_ledger
    SET state = ?4, error = ?5, updated_at_ms = ?6
    WHERE shop = ?1 AND order_number = ?2 AND action = ?3 AND state = 'unknown'";

/// The page cache of each connection, in KiB as SQLite takes it (negative: a size, not a
/// page count): 16 MiB.
const CACHE_KIB: i64 = -16_384;

/// How long a statement waits for another process's write lock on a blocking thread.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The ledger in a SQLite file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    db: Arc<Db>,
    /// Copies the WAL back into the database file in the background (file ledgers only).
    checkpoints: Option<Arc<Checkpoints>>,
    /// What this handle's claims record as their sender's call timeout, in milliseconds
    /// ([`Ledger::set_call_timeout`]; 30 s, the proxy's default, until told).
    call_timeout_ms: Arc<AtomicI64>,
    /// The file, when this process may only read it ([`Ledger::writable`]).
    read_only: Option<String>,
}

/// The ledger's connections. `None` once closed.
#[derive(Debug)]
struct Db {
    /// The one connection that writes: claims from this process queue on it (no
    /// busy-waiting against ourselves); other processes wait on the file lock. An
    /// in-memory database lives as long as this connection.
    conn: Mutex<Option<Connection>>,
    /// A file ledger's reads that may cover the whole ledger (list, count, get): on a
    /// connection of their own, so that they never hold up a claim (WAL: a reader does
    /// not wait for the writer, nor the writer for it).
    reader: Option<Mutex<Option<Connection>>>,
}

/// The call timeout a claim records when its sender said none.
const DEFAULT_CALL_TIMEOUT_MS: i64 = 30_000;

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// WAL pages after which a commit checkpoints by itself: a safety net only, should the
/// background checkpoint fall behind (SQLite's default is 1,000, which puts a checkpoint
/// — and its syncs — inside every few dozenth claim).
const AUTOCHECKPOINT_PAGES: i64 = 20_000;

/// Where a `sqlite:` ledger URL points, and how to open it.
#[derive(Debug, Clone)]
struct Target {
    /// The database file; `None` for a database in memory.
    file: Option<PathBuf>,
    /// May the file be created (`mode=rwc`, the default) or must it exist (`mode=rw`).
    create: bool,
    /// Opened for reading only (`mode=ro`): `ledger list` of a live file; nothing claims
    /// through it.
    read_only: bool,
    /// `NORMAL` (the default) or `FULL`.
    synchronous: &'static str,
}

impl Target {
    /// Reads `sqlite:PATH`, `sqlite://PATH` (PATH percent-decoded), `sqlite::memory:`,
    /// with options after a `?`: `synchronous=normal|full`, `mode=rwc|rw|ro|memory`.
    fn parse(url: &str) -> Result<Target, LedgerError> {
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err(LedgerError::Url {
                scheme: url
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(32)
                    .collect(),
            });
        };
        let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
        let mut target = Target {
            file: None,
            create: true,
            read_only: false,
            synchronous: "NORMAL",
        };
        let memory_path = path == ":memory:";
        let mut memory = memory_path;
        let mut seen: Vec<&str> = Vec::new();
        for option in options.split('&').filter(|o| !o.is_empty()) {
            let name = option.split('=').next().unwrap_or_default();
            let refuse = |option: &str, problem| LedgerError::Option {
                option: shortened(option, 64),
                problem,
            };
            if seen.contains(&name) {
                return Err(refuse(name, "is given twice"));
            }
            seen.push(name);
            match option {
                "synchronous=normal" => target.synchronous = "NORMAL",
                "synchronous=full" => target.synchronous = "FULL",
                "mode=rwc" => target.create = true,
                "mode=rw" => target.create = false,
                "mode=ro" => {
                    target.create = false;
                    target.read_only = true;
                }
                "mode=memory" => memory = true,
                _ => return Err(refuse(option, OPTIONS)),
            }
        }
        if memory && target.read_only {
            // A new, empty ledger nothing could claim through: not what was meant.
            return Err(LedgerError::Option {
                option: "mode=ro".into(),
                problem: "needs a ledger file (a ledger in memory starts empty, and nothing could claim through it)",
            });
        }
        if memory {
            // A file named and a ledger in memory: which was meant cannot be told, and a
            // throwaway ledger where a durable one was asked for loses every claim.
            if !memory_path && !path.is_empty() {
                return Err(LedgerError::Option {
                    option: "mode=memory".into(),
                    problem: "names no file, but the url names one (use `sqlite::memory:` for a throwaway ledger)",
                });
            }
            return Ok(target);
        }
        // `%XX` decoded; a `%` not followed by two hex digits stays as it is.
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| LedgerError::Path {
                path: shortened(path, 256),
                problem: "is not UTF-8 once its `%` escapes are decoded",
            })?;
        if decoded.contains('\0') {
            return Err(LedgerError::Path {
                path: shortened(path, 256),
                problem: "holds a NUL character once its `%` escapes are decoded",
            });
        }
        if decoded.is_empty() {
            return Err(LedgerError::Path {
                path: String::new(),
                problem: "names no file (give a path, or `sqlite::memory:` for a throwaway ledger)",
            });
        }
        target.file = Some(PathBuf::from(decoded.as_ref()));
        Ok(target)
    }

    /// Opens a connection with the ledger's settings (WAL for a file).
    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = match &self.file {
            Some(file) if self.untouched(file) => {
                // `immutable=1`: SQLite reads the file as it is and creates nothing beside
                // it. Safe only while no process writes it, which a missing `-wal` shows (a
                // writer in WAL mode keeps one until its last connection closes).
                let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI;
                let path = file.to_str().unwrap_or_default();
                let mut uri = String::from("file:");
                for c in path.chars() {
                    match c {
                        '%' => uri.push_str("%25"),
                        '?' => uri.push_str("%3f"),
                        '#' => uri.push_str("%23"),
                        c => uri.push(c),
                    }
                }
                uri.push_str("?immutable=1");
                Connection::open_with_flags(uri, flags)?
            }
            Some(file) => {
                let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
                if self.read_only {
                    flags |= OpenFlags::SQLITE_OPEN_READ_ONLY;
                } else {
                    flags |= OpenFlags::SQLITE_OPEN_READ_WRITE;
                }
                if self.create && !self.read_only {
                    flags |= OpenFlags::SQLITE_OPEN_CREATE;
                }
                let conn = Connection::open_with_flags(file, flags)?;
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| {
                    r.get::<_, String>(0)
                })?;
                conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.pragma_update(None, "synchronous", self.synchronous)?;
        // The pages a claim walks stay in memory (SQLite's default is 2 MB).
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Whether the file is to be read without touching anything beside it: it exists,
    /// this process may only read it (`mode=ro`, or a file it cannot open for writing),
    /// and no process is writing it (no `-wal` beside it). Opened the usual way, SQLite
    /// would create `-wal` and `-shm` files owned by this process's user, which another
    /// user's proxy could not then write: `ledger list` run by someone else would stop
    /// the proxy from starting.
    fn untouched(&self, file: &Path) -> bool {
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        file.is_file()
            && file.to_str().is_some()
            && !Path::new(&wal).exists()
            && (self.read_only
                || std::fs::OpenOptions::new()
                    .write(true)
                    .open(file)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied))
    }
}

/// What [`Target::parse`] knows, for its message about an option it does not.
const OPTIONS: &str = "is not known: expected `synchronous=normal`, `synchronous=full`, `mode=rwc`, `mode=rw`, `mode=ro` or `mode=memory`";

/// A failure while opening a ledger file, said with the file's name: SQLite's own words
/// (`attempt to write a readonly database`) name none. A file this process can read but
/// not write — or whose `-wal`/`-shm` beside it another user's process created — is said
/// so, with where to look.
fn in_file(e: LedgerError, file: Option<&Path>) -> LedgerError {
    let Some(file) = file else { return e };
    let LedgerError::Query { what, source } = e else {
        return e;
    };
    let mut message = format!("{what}: {source}");
    if message.contains("readonly database") {
        message.push_str(
            " (this process cannot write the file or the `-wal`/`-shm` files beside it: check who owns them)",
        );
    }
    LedgerError::Open {
        backend: "SQLite",
        where_: Some(shortened(&file.display().to_string(), 256)),
        source: shortened(&message, 768).into(),
    }
}

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
    fn start(target: Target) -> Self {
        let task = tokio::spawn(async move {
            let conn: Arc<Mutex<Option<Connection>>> = Arc::new(Mutex::new(None));
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (conn, target) = (conn.clone(), target.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
                    if conn.is_none() {
                        *conn = target.connect().ok();
                    }
                    let Some(c) = conn.as_ref() else { return };
                    if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::debug!(error = %e, "ledger checkpoint failed; retrying");
                        *conn = None;
                    }
                })
                .await;
            }
        });
        Checkpoints { task }
    }
}

/// Gives every `sending` row no claim in flight covers one (grouped by claim): rows an
/// rms-preflight of schema 2 claimed in this file after a newer one upgraded it — it
/// still ran, and knows nothing of claims in flight. Without this no start-up would find
/// them once their sender died. Run at every open: one read of the whole ledger.
const COVER_SENDING_ROWS: &str = "INSERT OR IGNORE INTO rms_preflight_inflight \
    (token, shop, action, part, order_numbers, updated_at_ms, call_timeout_ms) \
    SELECT token, shop, action, -1, json_group_array(order_number), max(updated_at_ms), \
           max(call_timeout_ms) \
    FROM rms_preflight_ledger AS l WHERE state = 'sending' AND NOT EXISTS ( \
        SELECT 1 FROM rms_preflight_inflight AS i, json_each(i.order_numbers) AS n \
        WHERE i.token = l.token AND i.shop = l.shop AND i.action = l.action \
          AND n.value = l.order_number) \
    GROUP BY token, shop, action";

/// Answers whether the file can be written (`false`: read-only to this process).
fn cover_sending_rows(conn: &mut Connection) -> Result<bool, LedgerError> {
    let q = LedgerError::query;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Ok(false);
    }
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => return Ok(false),
        Err(e) => return Err(q("begin covering the claims in flight")(e)),
    };
    let covered = match tx.execute(COVER_SENDING_ROWS, []) {
        Ok(covered) => covered,
        // A file this process may only read (`ledger list` of a copy, another user's
        // file): nothing can claim through it either, so there is nothing to cover for.
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {
            tracing::debug!("the ledger file is read-only: claims in flight not covered");
            return Ok(false);
        }
        Err(e) => return Err(q("cover the claims in flight")(e)),
    };
    if covered > 0 {
        tracing::warn!(
            claims = covered,
            "the ledger held `sending` rows of no claim in flight (an rms-preflight older than \
             this one sent them after the file was upgraded): they are settled like any other"
        );
    }
    tx.commit()
        .map_err(q("commit covering the claims in flight"))?;
    Ok(true)
}

/// A `BEGIN IMMEDIATE` transaction of the hot statements (claims, marks), rolled back when
/// dropped uncommitted. Its `BEGIN` and `COMMIT` are cached statements: rusqlite's
/// `Transaction` parses both again every time, a tenth of a claim of a hundred orders.
struct Immediate<'c> {
    conn: &'c Connection,
    committed: bool,
}

impl<'c> Immediate<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Immediate {
            conn,
            committed: false,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.committed = true;
        Ok(())
    }
}

impl std::ops::Deref for Immediate<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Immediate<'_> {
    fn drop(&mut self) {
        // A statement that failed (or a commit refused as busy) leaves the transaction
        // open: nothing of it is kept.
        if !self.committed && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Whether `e` is SQLite saying another connection holds the lock it needs (nothing was
/// done).
fn is_busy(e: &LedgerError) -> bool {
    let LedgerError::Query { source, .. } = e else {
        return false;
    };
    source
        .downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        .is_some_and(|c| matches!(c, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn closed() -> LedgerError {
    LedgerError::Query {
        what: "use the ledger",
        source: "the ledger is closed".into(),
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
    /// per mark); `?synchronous=normal` names the default. `?mode=rw` refuses to create a
    /// missing file.
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
        let target = Target::parse(url)?;
        if let Some(file) = &target.file {
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
        let opening = target.clone();
        let (conn, reader, writable) = tokio::task::spawn_blocking(move || {
            let mut conn = opening.connect().map_err(|e| {
                let path = opening
                    .file
                    .as_ref()
                    .map_or_else(|| ":memory:".into(), |f| f.display().to_string());
                // SQLite's own message may end with the path: said once, before it.
                let message = e.to_string();
                let message = message
                    .strip_suffix(&format!(": {path}"))
                    .unwrap_or(&message);
                LedgerError::Open {
                    backend: "SQLite",
                    where_: Some(shortened(&path, 256)),
                    source: shortened(message, 512).into(),
                }
            })?;
            let file = opening.file.as_deref();
            schema::apply_sqlite(&mut conn).map_err(|e| in_file(e, file))?;
            let writable = cover_sending_rows(&mut conn).map_err(|e| in_file(e, file))?;
            let reader = match opening.file {
                Some(_) => Some(
                    opening
                        .connect()
                        .and_then(|r| r.pragma_update(None, "query_only", true).map(|()| r))
                        .map_err(LedgerError::query("open the ledger's reader"))
                        .map_err(|e| in_file(e, file))?,
                ),
                None => None,
            };
            Ok((conn, reader, writable))
        })
        .await
        .map_err(|e| LedgerError::Query {
            what: "open the ledger",
            source: Box::new(e),
        })??;
        let read_only = match (&target.file, writable) {
            (Some(file), false) => Some(shortened(&file.display().to_string(), 256)),
            _ => None,
        };
        // A file this process may only read has nothing to copy back.
        let checkpoints = (target.file.is_some() && read_only.is_none())
            .then(|| Arc::new(Checkpoints::start(target)));
        Ok(SqliteLedger {
            db: Arc::new(Db {
                conn: Mutex::new(Some(conn)),
                reader: reader.map(|r| Mutex::new(Some(r))),
            }),
            checkpoints,
            call_timeout_ms: Arc::new(AtomicI64::new(DEFAULT_CALL_TIMEOUT_MS)),
            read_only,
        })
    }

    /// The database file a `sqlite:` ledger URL names, as SQLite opens it
    /// (percent-decoded; `sqlite:PATH`, `sqlite://PATH`, with or without options);
    /// `None` for an in-memory ledger or another URL.
    pub fn file_of(url: &str) -> Option<PathBuf> {
        Target::parse(url).ok()?.file
    }

    /// Closes the connection (after the statement in progress, if any) and stops the
    /// background checkpoint.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpoints {
            c.task.abort();
        }
        let db = self.db.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for conn in std::iter::once(&db.conn).chain(db.reader.as_ref()) {
                let conn = conn.lock().unwrap_or_else(PoisonError::into_inner).take();
                drop(conn);
            }
        })
        .await;
    }

    /// Runs `work` on this thread when the connection is free and SQLite can take its
    /// locks at once; otherwise on a blocking thread ([`SqliteLedger::blocking`]). `work`
    /// must leave nothing done when it fails as busy (one transaction, rolled back).
    async fn hot<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        if let Ok(mut guard) = self.db.conn.try_lock() {
            let Some(conn) = guard.as_mut() else {
                return Err(closed());
            };
            let _ = conn.busy_timeout(Duration::ZERO);
            let done = work(conn);
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            match done {
                Err(e) if is_busy(&e) => {}
                done => return done,
            }
        }
        self.blocking(work).await
    }

    /// Runs `work` on a blocking thread, which waits for the writing connection and for
    /// SQLite's locks (up to the busy timeout).
    async fn blocking<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        self.on_blocking_thread(false, work).await
    }

    /// Runs a read on a blocking thread, on the reader when there is one.
    async fn read<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        self.on_blocking_thread(true, work).await
    }

    async fn on_blocking_thread<T, F>(&self, read: bool, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match (&db.reader, read) {
                (Some(reader), true) => reader,
                _ => &db.conn,
            };
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = guard.as_mut().ok_or_else(closed)?;
            work(conn)
        })
        .await
        .map_err(|e| LedgerError::Query {
            what: "run a ledger statement",
            source: Box::new(e),
        })?
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> Result<Row, LedgerError> {
    let get_err = |e: rusqlite::Error| LedgerError::Query {
        what: "read a row",
        source: Box::new(e),
    };
    let state: String = r.get(3).map_err(get_err)?;
    row_of(
        r.get(0).map_err(get_err)?,
        r.get(1).map_err(get_err)?,
        r.get(2).map_err(get_err)?,
        &state,
        r.get(4).map_err(get_err)?,
        r.get(5).map_err(get_err)?,
        r.get(6).map_err(get_err)?,
        r.get(7).map_err(get_err)?,
    )
}

/// Every row `rows` answers, read with [`read_row`].
fn read_rows(mut rows: rusqlite::Rows<'_>, what: &'static str) -> Result<Vec<Row>, LedgerError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(LedgerError::query(what))? {
        out.push(read_row(r)?);
    }
    Ok(out)
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
/// ([`CLAIM`]) with `token`, and records what it won as the claim's `part` in flight
/// ([`INFLIGHT`]). Answers in `group`'s order; a won claim's row is read back only when
/// `rows_needed` (the caller answers a repeated key with it) or when not every key was won.
#[allow(clippy::too_many_arguments)]
fn claim_group(
    conn: &Connection,
    group: &[Key],
    part: usize,
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
    let (shop, action) = (first.shop.as_str(), first.action.name());
    let written = conn
        .prepare_cached(CLAIM)
        .and_then(|mut s| s.execute(params![now, json, shop, action, token, call_timeout_ms]))
        .map_err(q("claim"))?;
    let in_flight = |numbers: &str| {
        conn.prepare_cached(INFLIGHT)
            .and_then(|mut s| {
                s.execute(params![
                    token,
                    shop,
                    action,
                    i64::try_from(part).unwrap_or(i64::MAX),
                    numbers,
                    now,
                    call_timeout_ms
                ])
            })
            .map_err(q("record a claim in flight"))
    };
    if written == group.len() {
        in_flight(&json)?;
    }
    if written == group.len() && !rows_needed {
        // Every key was written, so every key is this claim's.
        return Ok(group
            .iter()
            .map(|key| {
                let ticket = Ticket {
                    key: key.clone(),
                    token,
                };
                (Claim::Won(ticket), None)
            })
            .collect());
    }
    let mut read = conn
        .prepare_cached(CLAIMED)
        .map_err(q("read the claimed rows"))?;
    let mut found = read
        .query(params![json, shop, action])
        .map_err(q("read the claimed rows"))?;
    let mut rows: HashMap<Key, (Row, i64)> = HashMap::with_capacity(group.len());
    while let Some(r) = found.next().map_err(q("read the claimed rows"))? {
        let row = read_row(r)?;
        let held_by: i64 = r.get(8).map_err(q("read the claimed rows"))?;
        rows.insert(row.key.clone(), (row, held_by));
    }
    if written != group.len() {
        let won: Vec<&str> = rows
            .values()
            .filter(|(_, held_by)| *held_by == token)
            .map(|(row, _)| row.key.order_number.as_str())
            .collect();
        if !won.is_empty() {
            in_flight(&batch_json(&won)?)?;
        }
    }
    let mut answers = Vec::with_capacity(group.len());
    for key in group {
        let Some((row, held_by)) = rows.remove(key) else {
            return Err(LedgerError::Corrupt {
                key: key.to_string(),
                message: "neither claimed nor found".into(),
            });
        };
        if held_by == token {
            let ticket = Ticket {
                key: key.clone(),
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
fn mark_group(
    conn: &Connection,
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
    let (shop, action, token) = (
        ticket.key.shop.as_str(),
        ticket.key.action.name(),
        ticket.token,
    );
    let mut statement = match &state {
        None => conn.prepare_cached(MARK_RESENT),
        Some(_) => conn.prepare_cached(MARK_OUTCOME),
    }
    .map_err(q("mark"))?;
    let mut hit = match &state {
        None => statement.query(params![now, json, shop, action, token]),
        Some(s) => statement.query(params![
            now,
            json,
            shop,
            action,
            token,
            s.kind().name(),
            s.error()
        ]),
    }
    .map_err(q("mark"))?;
    let mut numbers_moved = HashSet::with_capacity(group.len());
    while let Some(r) = hit.next().map_err(q("mark"))? {
        numbers_moved.insert(r.get::<_, String>(0).map_err(q("mark"))?);
    }
    drop(hit);
    drop(statement);
    if !numbers_moved.is_empty() {
        match state {
            // Still in flight, and not idle.
            None => conn
                .prepare_cached(TOUCH_INFLIGHT)
                .and_then(|mut s| s.execute(params![now, token, shop, action])),
            Some(_) => conn
                .prepare_cached(SETTLED)
                .and_then(|mut s| s.execute(params![token, shop, action])),
        }
        .map_err(q("mark a claim in flight"))?;
    }
    for &i in group {
        moved[i] = numbers_moved.contains(&marks[i].0.key.order_number);
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

/// The statement of [`Ledger::list`] for `query`, and its binds.
fn list_sql(query: &Query) -> (String, Vec<SqlValue>) {
    // A reconciler's page of `unknown` rows: through their partial index, which SQLite
    // would otherwise pass over for the primary key (every row of the shop) on a ledger it
    // has no statistics of.
    let index = if query.states == [LedgerState::Unknown] {
        " INDEXED BY rms_preflight_ledger_unknown"
    } else {
        ""
    };
    let mut sql = format!("SELECT {COLUMNS} FROM rms_preflight_ledger{index} WHERE 1 = 1");
    let mut binds: Vec<SqlValue> = Vec::new();
    let mut bind = |sql: &mut String, v: SqlValue| {
        binds.push(v);
        sql.push_str(&format!("?{}", binds.len()));
    };
    if let Some(shop) = &query.scope.shop {
        sql.push_str(" AND shop = ");
        bind(&mut sql, SqlValue::Text(shop.clone()));
    }
    if let Some(action) = query.scope.action {
        sql.push_str(" AND action = ");
        bind(&mut sql, SqlValue::Text(action.name().into()));
    }
    // The states as literals (the four names of the schema's CHECK), so that
    // SQLite can use the partial index of `unknown` rows (it cannot see a bound
    // value when it plans).
    match query.states.as_slice() {
        [] => {}
        [one] => sql.push_str(&format!(" AND state = '{}'", one.name())),
        many => {
            let names: Vec<String> = many.iter().map(|s| format!("'{}'", s.name())).collect();
            sql.push_str(&format!(" AND state IN ({})", names.join(", ")));
        }
    }
    if let Some(after) = &query.after {
        sql.push_str(" AND (shop, order_number, action) > (");
        bind(&mut sql, SqlValue::Text(after.shop.clone()));
        sql.push_str(", ");
        bind(&mut sql, SqlValue::Text(after.order_number.clone()));
        sql.push_str(", ");
        bind(&mut sql, SqlValue::Text(after.action.name().into()));
        sql.push(')');
    }
    sql.push_str(" ORDER BY shop, order_number, action");
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ");
        bind(&mut sql, SqlValue::Integer(i64::from(limit)));
    }
    (sql, binds)
}

impl Ledger for SqliteLedger {
    fn writable(&self) -> Result<(), LedgerError> {
        match &self.read_only {
            None => Ok(()),
            Some(file) => Err(LedgerError::Open {
                backend: "SQLite",
                where_: Some(file.clone()),
                source: "this process may only read it (a read-only file or directory, or `mode=ro`), and every claim is written to it".into(),
            }),
        }
    }

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
            let jobs: Vec<Vec<Key>> = groups
                .iter()
                .map(|g| g.iter().map(|&i| distinct[i].clone()).collect())
                .collect();
            let token = new_token();
            let now = now_ms();
            let call_timeout_ms = self.call_timeout_ms.load(Ordering::Relaxed);
            // One transaction: the batch is all or nothing.
            let got = self
                .hot(move |conn| {
                    let tx = Immediate::begin(conn).map_err(q("begin a claim"))?;
                    let mut got = Vec::with_capacity(jobs.len());
                    for (part, keys) in jobs.iter().enumerate() {
                        got.push(claim_group(
                            &tx,
                            keys,
                            part,
                            now,
                            token,
                            call_timeout_ms,
                            repeated,
                        )?);
                    }
                    tx.commit().map_err(q("commit a claim"))?;
                    Ok(got)
                })
                .await?;
            let mut answers: Vec<Option<(Claim, Option<Row>)>> = vec![None; distinct.len()];
            for (group, got) in groups.iter().zip(got) {
                for (&i, a) in group.iter().zip(got) {
                    answers[i] = Some(a);
                }
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
            // A key marked twice in one batch is marked in order, one statement each (the
            // second sees what the first did); every other key goes in batches.
            let mut seen = HashSet::new();
            let repeated = marks.iter().any(|(t, _)| !seen.insert(&t.key));
            let groups: Vec<Vec<usize>> = if repeated {
                (0..marks.len()).map(|i| vec![i]).collect()
            } else {
                mark_groups(marks)
            };
            let marks = marks.to_vec();
            self.hot(move |conn| {
                let tx = Immediate::begin(conn).map_err(q("begin a mark"))?;
                let mut moved = vec![false; marks.len()];
                for group in &groups {
                    mark_group(&tx, &marks, group, now, &mut moved)?;
                }
                tx.commit().map_err(q("commit a mark"))?;
                Ok(moved)
            })
            .await
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
            let (shop, action) = (scope.shop.clone(), scope.action.map(Action::name));
            let mut rows = self
                .blocking(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(q("begin an abandon"))?;
                    let idle: Vec<(i64, String, String, String)> = tx
                        .prepare(IDLE_CLAIMS)
                        .and_then(|mut s| {
                            s.query_map(params![cutoff, shop, action], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                            })?
                            .collect()
                        })
                        .map_err(q("find the idle claims"))?;
                    let mut rows = Vec::new();
                    for (token, shop, action, numbers) in idle {
                        let mut s = tx.prepare_cached(ABANDON).map_err(q("abandon"))?;
                        let found = s
                            .query(params![now, cutoff, numbers, shop, action, token])
                            .map_err(q("abandon"))?;
                        rows.extend(read_rows(found, "abandon")?);
                        tx.prepare_cached(SETTLED)
                            .and_then(|mut s| s.execute(params![token, shop, action]))
                            .map_err(q("abandon"))?;
                    }
                    tx.commit().map_err(q("commit an abandon"))?;
                    Ok(rows)
                })
                .await?;
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(rows)
        })
    }

    fn set_call_timeout(&self, timeout: Duration) {
        self.call_timeout_ms
            .store(millis(timeout), Ordering::Relaxed);
    }

    fn longest_call_timeout<'a>(
        &'a self,
        scope: &'a Scope,
        cutoff_ms: i64,
    ) -> LedgerFuture<'a, Option<Duration>> {
        Box::pin(async move {
            let (shop, action) = (scope.shop.clone(), scope.action.map(Action::name));
            let longest: Option<i64> = self
                .read(move |conn| {
                    conn.query_row(
                        LONGEST_CALL_TIMEOUT,
                        params![cutoff_ms, shop, action],
                        |r| r.get(0),
                    )
                    .map_err(LedgerError::query("read the claims' call timeouts"))
                })
                .await?;
            Ok(longest.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
        })
    }

    fn resolve<'a>(&'a self, resolutions: &'a [(Key, Resolution)]) -> LedgerFuture<'a, Vec<bool>> {
        Box::pin(async move {
            if resolutions.is_empty() {
                return Ok(Vec::new());
            }
            let q = LedgerError::query;
            let now = now_ms();
            let resolutions = resolutions.to_vec();
            self.blocking(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(q("begin a resolve"))?;
                let mut moved = Vec::with_capacity(resolutions.len());
                {
                    let mut s = tx.prepare_cached(RESOLVE).map_err(q("resolve"))?;
                    for (k, resolution) in &resolutions {
                        let state = resolved_state(resolution);
                        let done = s
                            .execute(params![
                                k.shop,
                                k.order_number,
                                k.action.name(),
                                state.kind().name(),
                                state.error(),
                                now
                            ])
                            .map_err(q("resolve"))?;
                        moved.push(done == 1);
                    }
                }
                tx.commit().map_err(q("commit a resolve"))?;
                Ok(moved)
            })
            .await
        })
    }

    fn get<'a>(&'a self, key: &'a Key) -> LedgerFuture<'a, Option<Row>> {
        Box::pin(async move {
            let key = key.clone();
            self.read(move |conn| {
                let mut s = conn
                    .prepare_cached(GET)
                    .map_err(LedgerError::query("get"))?;
                let found = s
                    .query(params![key.shop, key.order_number, key.action.name()])
                    .map_err(LedgerError::query("get"))?;
                Ok(read_rows(found, "get")?.pop())
            })
            .await
        })
    }

    fn list<'a>(&'a self, query: &'a Query) -> LedgerFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let (sql, binds) = list_sql(query);
            self.read(move |conn| {
                let mut s = conn.prepare(&sql).map_err(LedgerError::query("list"))?;
                let found = s
                    .query(rusqlite::params_from_iter(binds))
                    .map_err(LedgerError::query("list"))?;
                read_rows(found, "list")
            })
            .await
        })
    }

    fn count<'a>(&'a self, scope: &'a Scope) -> LedgerFuture<'a, Vec<(LedgerState, u64)>> {
        Box::pin(async move {
            let (shop, action) = (scope.shop.clone(), scope.action.map(Action::name));
            let found = self
                .read(move |conn| {
                    let q = LedgerError::query;
                    let mut s = conn
                        .prepare_cached(
                            "SELECT state, COUNT(*) FROM rms_preflight_ledger \
                             WHERE (?1 IS NULL OR shop = ?1) AND (?2 IS NULL OR action = ?2) \
                             GROUP BY state",
                        )
                        .map_err(q("count"))?;
                    let rows = s
                        .query_map(params![shop, action], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                        })
                        .map_err(q("count"))?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(q("count"))
                })
                .await?;
            super::counts_in_order(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan of `sql`, one step a line.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut s = conn.prepare(&explain).expect("plan");
        // Unbound parameters are null: the plan does not depend on them.
        let mut rows = s.raw_query();
        let mut plan = Vec::new();
        while let Some(r) = rows.next().expect("plan row") {
            plan.push(r.get::<_, String>(3).expect("detail"));
        }
        plan
    }

    /// Every batched statement must reach each key's row by the primary key. A plan through
    /// an index on the state (or a scan of the ledger) reads the whole JSON batch again for
    /// every row it passes: a mark of 100 keys took milliseconds once the ledger held a few
    /// hundred `sending` rows.
    #[tokio::test]
    async fn the_batched_statements_find_rows_by_key() {
        let ledger = SqliteLedger::open("sqlite::memory:").await.expect("ledger");
        let guard = ledger.db.conn.lock().expect("lock");
        let conn = guard.as_ref().expect("open");
        for (name, sql) in [
            ("CLAIM", CLAIM),
            ("CLAIMED", CLAIMED),
            ("MARK_OUTCOME", MARK_OUTCOME),
            ("MARK_RESENT", MARK_RESENT),
            ("SETTLED", SETTLED),
            ("ABANDON", ABANDON),
        ] {
            let plan = plan(conn, sql);
            let text = plan.join("\n");
            assert!(
                !text.contains("rms_preflight_ledger_unknown")
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

    /// A reconciler's page of `unknown` rows goes through their partial index, not over
    /// every row of the shop.
    #[tokio::test]
    async fn unknown_rows_are_listed_through_their_index() {
        let ledger = SqliteLedger::open("sqlite::memory:").await.expect("ledger");
        let guard = ledger.db.conn.lock().expect("lock");
        let conn = guard.as_ref().expect("open");
        let (sql, _) = list_sql(&Query {
            scope: Scope::of("s", Action::Confirm),
            states: vec![LedgerState::Unknown],
            after: Some(Key::new("s", "1", Action::Confirm)),
            limit: Some(100),
        });
        let text = plan(conn, &sql).join("\n");
        assert!(
            text.contains("rms_preflight_ledger_unknown"),
            "{sql}:\n{text}"
        );
    }

    /// A scratch directory for a test's ledger file `ledger.db`, named after `tag`.
    fn scratch(tag: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("rms-preflight-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("ledger.db");
        let _ = std::fs::remove_file(&file);
        (dir, file)
    }

    /// A ledger file as a build of schema `version` left it, without its rows.
    fn ledger_of_version(file: &std::path::Path, version: usize) -> Connection {
        let conn = Connection::open(file).expect("open");
        conn.execute_batch(schema::VERSION_TABLE).expect("versions");
        for m in &schema::SQLITE[..version] {
            conn.execute_batch(m.sql).expect("migration");
            conn.execute(
                "INSERT INTO rms_preflight_schema VALUES (?1, ?2, 0)",
                params![m.version, m.name],
            )
            .expect("version");
        }
        conn
    }

    /// The order numbers of the rows abandoned as untouched since `cutoff`, in every shop.
    async fn abandoned(ledger: &SqliteLedger, cutoff: i64) -> Vec<String> {
        let rows = ledger
            .abandon_untouched_since(&Scope::default(), cutoff)
            .await
            .expect("abandon");
        rows.into_iter().map(|r| r.key.order_number).collect()
    }

    /// A ledger written by the schema before claims in flight had their own table
    /// (version 2): its `sending` rows become claims in flight, so that they are still
    /// found and abandoned — those claimed by an older build after the upgrade too.
    #[tokio::test]
    async fn sending_rows_of_an_older_schema_are_still_found() {
        let (dir, file) = scratch("v2");
        {
            let conn = ledger_of_version(&file, 2);
            for (n, state, token) in [
                ("1", "sending", 7),
                ("2", "sending", 7),
                ("3", "confirmed", 7),
                ("4", "sending", 8),
            ] {
                conn.execute(
                    "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, attempts, token, claimed_at_ms, updated_at_ms, call_timeout_ms) VALUES ('s', ?1, 'confirm', ?2, 1, ?3, 5, 5, 45000)",
                    params![n, state, token],
                )
                .expect("row");
            }
        }
        let url = format!("sqlite:{}", file.display());
        let ledger = SqliteLedger::open(&url).await.expect("ledger");
        let scope = Scope::default();
        assert_eq!(
            ledger
                .longest_call_timeout(&scope, 5)
                .await
                .expect("longest"),
            Some(Duration::from_secs(45))
        );
        assert_eq!(abandoned(&ledger, 5).await, ["1", "2", "4"]);
        assert_eq!(
            ledger
                .longest_call_timeout(&scope, i64::MAX)
                .await
                .expect("longest"),
            None
        );
        ledger.close().await;

        // An older rms-preflight still running on the file after the upgrade claims the
        // way it knows (no claim in flight) and dies: the next open covers its rows.
        {
            let conn = Connection::open(&file).expect("open");
            conn.execute(
                "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, attempts, token, claimed_at_ms, updated_at_ms, call_timeout_ms) VALUES ('s', '5', 'confirm', 'sending', 1, 9, 6, 6, 30000)",
                [],
            )
            .expect("row");
        }
        let ledger = SqliteLedger::open(&url).await.expect("ledger");
        assert_eq!(abandoned(&ledger, 6).await, ["5"]);
        ledger.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A transaction dropped uncommitted leaves nothing and ends (the connection is back in
    /// autocommit), and one SQLite refuses as busy leaves nothing begun.
    #[test]
    fn an_uncommitted_transaction_leaves_nothing() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("table");
        {
            let tx = Immediate::begin(&conn).expect("begin");
            tx.execute("INSERT INTO t VALUES (1)", []).expect("insert");
        }
        assert!(conn.is_autocommit());
        let tx = Immediate::begin(&conn).expect("begin");
        tx.execute("INSERT INTO t VALUES (2)", []).expect("insert");
        tx.commit().expect("commit");
        let all: String = conn
            .query_row("SELECT group_concat(x) FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(all, "2");

        let dir = std::env::temp_dir().join(format!("rms-preflight-tx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("busy.db");
        let _ = std::fs::remove_file(&file);
        let a = Connection::open(&file).expect("a");
        a.pragma_update(None, "journal_mode", "WAL").expect("wal");
        let b = Connection::open(&file).expect("b");
        b.busy_timeout(Duration::ZERO).expect("timeout");
        let held = Immediate::begin(&a).expect("a begins");
        let e = Immediate::begin(&b).err().expect("b is refused");
        assert!(is_busy(&LedgerError::query("begin")(e)));
        assert!(b.is_autocommit());
        drop(held);
        Immediate::begin(&b)
            .expect("b begins")
            .commit()
            .expect("b commits");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A failure while opening a file names the file, and a write SQLite refused says
    /// where to look (a `-wal`/`-shm` another user's `ledger list` created, say); a failure
    /// without a file, or of another kind, is left as it was.
    #[test]
    fn an_open_failure_names_the_file_and_where_to_look() {
        let refused = || LedgerError::Query {
            what: "begin the schema update",
            source: "attempt to write a readonly database".into(),
        };
        let file = std::path::Path::new("/srv/ledger.db");
        assert_eq!(
            in_file(refused(), Some(file)).to_string(),
            "cannot open the SQLite ledger `/srv/ledger.db`: begin the schema update: attempt to write a readonly database (this process cannot write the file or the `-wal`/`-shm` files beside it: check who owns them)"
        );
        assert_eq!(
            in_file(
                LedgerError::Query {
                    what: "read the schema version",
                    source: "disk I/O error".into(),
                },
                Some(file)
            )
            .to_string(),
            "cannot open the SQLite ledger `/srv/ledger.db`: read the schema version: disk I/O error"
        );
        assert_eq!(
            in_file(refused(), None).to_string(),
            "ledger query failed (begin the schema update): attempt to write a readonly database"
        );
        let schema = LedgerError::Schema("version 9 is newer than this build".into());
        assert_eq!(
            in_file(schema, Some(file)).to_string(),
            "ledger schema: version 9 is newer than this build"
        );
    }

    /// `mode=ro` opens the file for reading only: it is listed, but it says it cannot be
    /// written (naming the file), and a claim through it fails without writing anything.
    #[tokio::test]
    async fn a_ledger_opened_read_only_says_so_and_claims_nothing() {
        let (dir, file) = scratch("mode-ro");
        let url = format!("sqlite:{}", file.display());
        let ledger = SqliteLedger::open(&url).await.expect("ledger");
        ledger
            .claim(&[Key::new("s", "1", Action::Confirm)])
            .await
            .expect("claim");
        assert!(ledger.writable().is_ok());
        ledger.close().await;
        let ledger = SqliteLedger::open(&format!("{url}?mode=ro"))
            .await
            .expect("read-only ledger");
        let e = ledger.writable().expect_err("read-only");
        assert_eq!(
            e.to_string(),
            format!(
                "cannot open the SQLite ledger `{}`: this process may only read it (a read-only file or directory, or `mode=ro`), and every claim is written to it",
                file.display()
            )
        );
        assert_eq!(ledger.list(&Query::default()).await.expect("list").len(), 1);
        assert!(ledger
            .claim(&[Key::new("s", "2", Action::Confirm)])
            .await
            .is_err());
        ledger.close().await;
        let ledger = SqliteLedger::open(&url).await.expect("ledger");
        assert_eq!(
            ledger.list(&Query::default()).await.expect("list").len(),
            1,
            "nothing was claimed through the read-only handle"
        );
        ledger.close().await;
        // A missing file is not created read-only.
        assert!(
            SqliteLedger::open(&format!("sqlite:{}?mode=ro", dir.join("none.db").display()))
                .await
                .is_err()
        );
        assert!(!dir.join("none.db").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A ledger file this process may only read is still read (`ledger list` of another
    /// user's file): covering claims in flight, which writes, is skipped there.
    #[tokio::test]
    async fn a_read_only_ledger_is_still_read() {
        let (dir, file) = scratch("ro");
        let ledger = SqliteLedger::open(&format!("sqlite:{}", file.display()))
            .await
            .expect("ledger");
        ledger
            .claim(&[Key::new("s", "1", Action::Confirm)])
            .await
            .expect("claim");
        ledger.close().await;
        let mut conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("read-only");
        // The claim's row is covered already: make it look like an older build's.
        {
            let rw = Connection::open(&file).expect("rw");
            rw.execute("DELETE FROM rms_preflight_inflight", [])
                .expect("forget the claim in flight");
        }
        assert!(!cover_sending_rows(&mut conn).expect("a read-only file is not an error"));
        let uncovered: i64 = conn
            .query_row("SELECT count(*) FROM rms_preflight_inflight", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(uncovered, 0);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every row of the ledger table, each column as text, in key order.
    fn ledger_rows(conn: &Connection) -> Vec<Vec<Option<String>>> {
        let mut s = conn
            .prepare(
                "SELECT shop, order_number, action, state, error, attempts, token, \
                 claimed_at_ms, updated_at_ms, call_timeout_ms FROM rms_preflight_ledger \
                 ORDER BY shop, order_number, action",
            )
            .expect("select");
        let rows = s
            .query_map([], |r| {
                (0..10)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                            rusqlite::types::Value::Null => None,
                            rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                            rusqlite::types::Value::Text(t) => Some(t),
                            other => Some(format!("{other:?}")),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("rows");
        rows.collect::<Result<_, _>>().expect("row")
    }

    /// Migration 0004 rebuilds the ledger table with its state CHECK as comparisons: every
    /// row of a version 3 ledger is kept as it was (claims in flight with it), the partial
    /// index of `unknown` rows is back, and the constraints still refuse what they refused.
    #[tokio::test]
    async fn the_state_check_rebuild_keeps_every_row_and_constraint() {
        let (dir, file) = scratch("v3");
        let before = {
            let conn = ledger_of_version(&file, 3);
            for (n, state, error, attempts, timeout) in [
                ("1", "sending", None, 1, 45000),
                ("2", "confirmed", None, 2, 30000),
                ("3", "failed", Some("confirm-not-awaiting"), 3, 30000),
                ("4", "unknown", Some("timeout"), 1, 60000),
                ("5", "unknown", None, 1, 30000),
            ] {
                conn.execute(
                    "INSERT INTO rms_preflight_ledger (shop, order_number, action, state, error, attempts, token, claimed_at_ms, updated_at_ms, call_timeout_ms) VALUES ('s', ?1, 'confirm', ?2, ?3, ?4, -7, 5, 6, ?5)",
                    params![n, state, error, attempts, timeout],
                )
                .expect("row");
            }
            conn.execute(
                "INSERT INTO rms_preflight_inflight VALUES (-7, 's', 'confirm', 0, '[\"1\"]', 6, 45000)",
                [],
            )
            .expect("in flight");
            ledger_rows(&conn)
        };
        let url = format!("sqlite:{}", file.display());
        let ledger = SqliteLedger::open(&url).await.expect("ledger");
        {
            let guard = ledger.db.conn.lock().expect("lock");
            let conn = guard.as_ref().expect("open");
            assert_eq!(ledger_rows(conn), before);
            let version: i64 = conn
                .query_row("SELECT max(version) FROM rms_preflight_schema", [], |r| {
                    r.get(0)
                })
                .expect("version");
            assert_eq!(version, 4);
            let table: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = 'rms_preflight_ledger'",
                    [],
                    |r| r.get(0),
                )
                .expect("table");
            assert!(!table.contains(" IN ("), "{table}");
            let refused = |sql: &str| {
                let e = conn.execute(sql, []).expect_err(sql);
                assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
            };
            refused("INSERT INTO rms_preflight_ledger (shop, order_number, action, state, attempts, token, claimed_at_ms, updated_at_ms) VALUES ('s', '9', 'confirm', 'lost', 1, 1, 1, 1)");
            refused("INSERT INTO rms_preflight_ledger (shop, order_number, action, state, attempts, token, claimed_at_ms, updated_at_ms) VALUES ('s', '9', 'confirm', 'failed', 1, 1, 1, 1)");
            refused("INSERT INTO rms_preflight_ledger (shop, order_number, action, state, attempts, token, claimed_at_ms, updated_at_ms) VALUES ('s', '9', 'confirm', 'sending', 0, 1, 1, 1)");
            let (sql, _) = list_sql(&Query {
                scope: Scope::of("s", Action::Confirm),
                states: vec![LedgerState::Unknown],
                after: None,
                limit: Some(100),
            });
            let text = plan(conn, &sql).join("\n");
            assert!(text.contains("rms_preflight_ledger_unknown"), "{text}");
        }
        // The claim in flight is still found through its own table.
        assert_eq!(abandoned(&ledger, 6).await, ["1"]);
        ledger.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What a proxy locks while it serves (`src/proxy/serving.rs`): the file as SQLite
    /// opens it, options aside; no file for memory or another backend.
    #[test]
    fn ledger_files() {
        let file_of = SqliteLedger::file_of;
        assert_eq!(
            file_of("sqlite:/var/l.db?synchronous=full"),
            Some(PathBuf::from("/var/l.db"))
        );
        assert_eq!(
            file_of("sqlite:/var/l%33.db"),
            Some(PathBuf::from("/var/l3.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("postgres://u@h/db"), None);
    }

    #[test]
    fn urls() {
        let file = |url: &str| Target::parse(url).map(|t| t.file);
        assert_eq!(
            file("sqlite:/var/l.db").unwrap(),
            Some(PathBuf::from("/var/l.db"))
        );
        assert_eq!(
            file("sqlite:///var/l.db").unwrap(),
            Some(PathBuf::from("/var/l.db"))
        );
        assert_eq!(
            file("sqlite:l%33.db?synchronous=full").unwrap(),
            Some(PathBuf::from("l3.db"))
        );
        assert_eq!(
            file("sqlite:l%zz.db").unwrap(),
            Some(PathBuf::from("l%zz.db"))
        );
        assert_eq!(file("sqlite::memory:").unwrap(), None);
        assert_eq!(file("sqlite:?mode=memory").unwrap(), None);
        assert_eq!(
            Target::parse("sqlite:x?synchronous=full")
                .unwrap()
                .synchronous,
            "FULL"
        );
        assert!(!Target::parse("sqlite:x?mode=rw").unwrap().create);
        let ro = Target::parse("sqlite:x?mode=ro").unwrap();
        assert!(ro.read_only && !ro.create);
        assert_eq!(
            Target::parse("sqlite::memory:?mode=ro")
                .unwrap_err()
                .to_string(),
            "the SQLite ledger url's option `mode=ro` needs a ledger file (a ledger in memory starts empty, and nothing could claim through it)"
        );
        let refused = |url: &str| Target::parse(url).unwrap_err().to_string();
        assert_eq!(
            refused("sqlite:x.db?cache=shared"),
            "the SQLite ledger url's option `cache=shared` is not known: expected `synchronous=normal`, `synchronous=full`, `mode=rwc`, `mode=rw`, `mode=ro` or `mode=memory`"
        );
        assert_eq!(
            refused("sqlite:x.db?mode=rw&mode=rwc"),
            "the SQLite ledger url's option `mode` is given twice"
        );
        assert_eq!(
            refused("sqlite:/var/l.db?mode=memory"),
            "the SQLite ledger url's option `mode=memory` names no file, but the url names one (use `sqlite::memory:` for a throwaway ledger)"
        );
        assert_eq!(
            refused("sqlite:/var/x%00y.db"),
            "the SQLite ledger `/var/x%00y.db` holds a NUL character once its `%` escapes are decoded"
        );
        assert!(matches!(
            Target::parse("sqlite:").unwrap_err(),
            LedgerError::Path { .. }
        ));
        assert!(matches!(
            Target::parse("sqlite:%ff").unwrap_err(),
            LedgerError::Path { .. }
        ));
        let long = format!("sqlite:{}%00", "é".repeat(300));
        let message = refused(&long);
        assert!(
            message.contains(&format!("`{}…`", "é".repeat(256))),
            "{message}"
        );
    }
}
