//! The once-only ledger on real databases: SQLite files under a temp dir (and PostgreSQL
//! when `RMS_PREFLIGHT_TEST_POSTGRES` names one), no mocks of the database.
//!
//! - claims are exclusive: many tasks over two connections to one file (two "processes")
//!   claim the same orders; exactly one claim wins per order;
//! - every transition of the protocol, on every backend;
//! - the guard with a ledger: the ledger's refusal is the rules' denial (S1), and under
//!   injected faults RMS accepts each order at most once — across two guards sharing one
//!   SQLite file, and across a crash in the middle of a bulk run (the guard dropped
//!   mid-call, the file reopened, the ledger reconciled).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use rms_preflight::guard::{DeferredMarks, Guard, Outcome, Tracked};
use rms_preflight::ledger::{
    self, Claim, Key, Ledger, LedgerError, LedgerState, Mark, MemoryLedger, Query, Resolution,
    Scope, SqliteLedger, State, Ticket,
};
use rms_preflight::model::{Order, Package};
use rms_preflight::rms::{RmsApi, RmsCall, RmsError, RmsReply};
use rms_preflight::rules::TransportFailure;
use rms_preflight::{Action, Engine, Shop};

use super::rms_client::engine;
use super::{postgres_url, Scratch};

const SHOP: &str = "375055";

fn number(i: usize) -> String {
    format!("375055-20261130-{i:08}")
}

fn key(shop: &str, i: usize) -> Key {
    Key::new(shop, &number(i), Action::Confirm)
}

fn tracked(i: usize) -> Tracked {
    Tracked::new(Order {
        order_number: Some(number(i)),
        order_progress: 100,
        postage_price: Some(660),
        package_model_list: vec![Package {
            basket_id: Some(1),
            postage_price: Some(660),
            ..Package::default()
        }],
        ..Order::default()
    })
}

/// A shop key no earlier run used, so tests can share one PostgreSQL database.
fn fresh_shop(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

// ---------------------------------------------------------------------------------------
// Claims are exclusive.

/// `tasks` tasks, spread over `handles`, each claim all of `orders` (in its own order, in
/// batches of up to 7); returns how many claims each order won.
async fn race(handles: &[Arc<dyn Ledger>], shop: &str, orders: usize, tasks: usize) -> Vec<usize> {
    let mut joins = Vec::new();
    for t in 0..tasks {
        let ledger = handles[t % handles.len()].clone();
        let shop = shop.to_owned();
        joins.push(tokio::spawn(async move {
            // Each task walks the orders from its own start, so claims really collide.
            let keys: Vec<Key> = (0..orders)
                .map(|i| key(&shop, (i + t * 13) % orders))
                .collect();
            let mut won = Vec::new();
            for batch in keys.chunks(1 + t % 7) {
                let claims = ledger.claim(batch).await.unwrap();
                assert_eq!(claims.len(), batch.len());
                for (k, c) in batch.iter().zip(claims) {
                    match c {
                        Claim::Won(ticket) => {
                            assert_eq!(&ticket.key, k);
                            won.push(k.order_number.clone());
                        }
                        Claim::Held(row) => {
                            assert_eq!(&row.key, k);
                            assert_eq!(row.state, State::Sending, "{row:?}");
                        }
                    }
                }
            }
            won
        }));
    }
    let mut wins: HashMap<String, usize> = HashMap::new();
    for j in joins {
        for n in j.await.unwrap() {
            *wins.entry(n).or_default() += 1;
        }
    }
    (0..orders)
        .map(|i| wins.get(&number(i)).copied().unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_claims_are_exclusive_across_tasks_and_connections() {
    let dir = Scratch::new("ledger-race");
    // Two handles on one file: two pools, as two processes would have.
    let a: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
    let b: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
    let wins = race(&[a.clone(), b.clone()], SHOP, 200, 16).await;
    assert!(wins.iter().all(|&w| w == 1), "wins per order: {wins:?}");
    // And the file says the same to a third reader.
    let c = SqliteLedger::open(&dir.ledger_url()).await.unwrap();
    let rows = c.list(&Query::default()).await.unwrap();
    assert_eq!(rows.len(), 200);
    assert!(rows
        .iter()
        .all(|r| r.state == State::Sending && r.attempts == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_claims_are_exclusive_across_tasks() {
    let m: Arc<dyn Ledger> = Arc::new(MemoryLedger::new());
    let wins = race(&[m], SHOP, 200, 16).await;
    assert!(wins.iter().all(|&w| w == 1), "wins per order: {wins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_are_exclusive_across_tasks_and_connections() {
    let Some(url) = postgres_url() else { return };
    let a = ledger::open(&url).await.unwrap();
    let b = ledger::open(&url).await.unwrap();
    let shop = fresh_shop("race");
    let wins = race(&[a, b], &shop, 200, 16).await;
    assert!(wins.iter().all(|&w| w == 1), "wins per order: {wins:?}");
}

// ---------------------------------------------------------------------------------------
// The protocol, transition by transition, on every backend.

async fn protocol(ledger: &dyn Ledger, shop: &str) {
    let (k1, k2, k3) = (key(shop, 1), key(shop, 2), key(shop, 3));

    // Claim: the first wins, a repeat in the same batch and a later claim are held.
    let claims = ledger.claim(&[k1.clone(), k1.clone()]).await.unwrap();
    let Claim::Won(t1) = &claims[0] else {
        panic!("{claims:?}")
    };
    assert!(matches!(&claims[1], Claim::Held(r) if r.state == State::Sending));
    let again = ledger.claim(std::slice::from_ref(&k1)).await.unwrap();
    assert!(matches!(&again[0], Claim::Held(r) if r.state == State::Sending && r.attempts == 1));

    // Resent keeps it sending and counts the attempt; confirmed is final.
    assert_eq!(
        ledger.mark(&[(t1.clone(), Mark::Resent)]).await.unwrap(),
        [true]
    );
    assert_eq!(
        ledger.mark(&[(t1.clone(), Mark::Confirmed)]).await.unwrap(),
        [true]
    );
    let row = ledger.get(&k1).await.unwrap().unwrap();
    assert_eq!((row.state.clone(), row.attempts), (State::Confirmed, 2));
    let held = ledger.claim(std::slice::from_ref(&k1)).await.unwrap();
    assert!(matches!(&held[0], Claim::Held(r) if r.state == State::Confirmed));
    // Nothing moves a confirmed row: not its own ticket, not a resend.
    assert_eq!(
        ledger
            .mark(&[
                (t1.clone(), Mark::Resent),
                (
                    t1.clone(),
                    Mark::Failed {
                        error: "api_error".into()
                    }
                )
            ])
            .await
            .unwrap(),
        [false, false]
    );

    // Failed may be claimed again, with a new ticket; the old one is dead.
    let Claim::Won(t2) = ledger
        .claim(std::slice::from_ref(&k2))
        .await
        .unwrap()
        .remove(0)
    else {
        panic!("k2 not won")
    };
    let failed = Mark::Failed {
        error: "license_expired".into(),
    };
    assert_eq!(ledger.mark(&[(t2.clone(), failed)]).await.unwrap(), [true]);
    assert_eq!(
        ledger.get(&k2).await.unwrap().unwrap().state,
        State::Failed {
            error: "license_expired".into()
        }
    );
    let Claim::Won(t2b) = ledger
        .claim(std::slice::from_ref(&k2))
        .await
        .unwrap()
        .remove(0)
    else {
        panic!("a failed row could not be claimed again")
    };
    assert_ne!(t2.token, t2b.token);
    assert_eq!(
        ledger.mark(&[(t2.clone(), Mark::Confirmed)]).await.unwrap(),
        [false]
    );
    assert_eq!(ledger.get(&k2).await.unwrap().unwrap().attempts, 2);

    // A sender that dies: its row is abandoned (idle long enough), then resolved.
    let Claim::Won(t3) = ledger
        .claim(std::slice::from_ref(&k3))
        .await
        .unwrap()
        .remove(0)
    else {
        panic!("k3 not won")
    };
    let scope = Scope::of(shop, Action::Confirm);
    assert!(ledger
        .abandon(&scope, Duration::from_secs(3600))
        .await
        .unwrap()
        .is_empty());
    // A fixed cut on the rows' own clock: a row touched after it is not abandoned.
    let oldest = ledger.get(&k2).await.unwrap().unwrap().updated_at_ms;
    assert!(ledger
        .abandon_untouched_since(&scope, oldest - 1)
        .await
        .unwrap()
        .is_empty());
    let abandoned = ledger.abandon(&scope, Duration::ZERO).await.unwrap();
    let numbers: Vec<&str> = abandoned
        .iter()
        .map(|r| r.key.order_number.as_str())
        .collect();
    assert_eq!(numbers, [number(2), number(3)]);
    assert!(abandoned
        .iter()
        .all(|r| r.state == State::Unknown { cause: None }));
    // An unknown row refuses claims and resends, but still takes its holder's outcome.
    assert!(matches!(
        &ledger.claim(std::slice::from_ref(&k3)).await.unwrap()[0],
        Claim::Held(r) if r.state.kind() == LedgerState::Unknown
    ));
    assert_eq!(
        ledger.mark(&[(t3.clone(), Mark::Resent)]).await.unwrap(),
        [false]
    );
    let resolutions = [
        (
            k2.clone(),
            Resolution::Failed {
                error: "unrecognised".into(),
            },
        ),
        (k1.clone(), Resolution::Confirmed),
    ];
    assert_eq!(ledger.resolve(&resolutions).await.unwrap(), [true, false]);
    assert_eq!(
        ledger
            .mark(&[(
                t3.clone(),
                Mark::Unknown {
                    cause: Some("api_error".into())
                }
            )])
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(
        ledger.get(&k3).await.unwrap().unwrap().state,
        State::Unknown {
            cause: Some("api_error".into())
        }
    );

    // One batch where some marks move and some do not (a dead ticket, a settled row):
    // each answer is its own key's, whatever the backend does for a whole batch.
    let marks_shop = format!("{shop}-marks");
    let (k4, k5) = (key(&marks_shop, 4), key(&marks_shop, 5));
    let won = ledger.claim(&[k4.clone(), k5.clone()]).await.unwrap();
    let (Some(t4), Some(t5)) = (won[0].ticket().cloned(), won[1].ticket().cloned()) else {
        panic!("{won:?}")
    };
    let dead = Ticket {
        token: t5.token ^ 1,
        ..t5.clone()
    };
    assert_eq!(
        ledger
            .mark(&[
                (t4.clone(), Mark::Confirmed),
                (dead, Mark::Confirmed),
                (t1.clone(), Mark::Confirmed),
            ])
            .await
            .unwrap(),
        [true, false, false]
    );
    assert_eq!(
        ledger
            .mark(&[(t4.clone(), Mark::Resent), (t5.clone(), Mark::Resent)])
            .await
            .unwrap(),
        [false, true]
    );
    assert_eq!(ledger.get(&k5).await.unwrap().unwrap().attempts, 2);

    // Reading: filters, key order, pages, other shops and actions kept apart.
    let other = Key::new(format!("{shop}-other"), &number(1), Action::Confirm);
    let cancel = Key::new(shop, &number(1), Action::Cancel);
    assert!(ledger
        .claim(&[other.clone(), cancel.clone()])
        .await
        .unwrap()
        .iter()
        .all(|c| c.ticket().is_some()));
    // A batch across shops and actions, some keys held and some new: each key answered
    // for itself, in the input's order (several statements, one transaction).
    let o2 = Key::new(format!("{shop}-other"), &number(2), Action::Confirm);
    let o2_cancel = Key::new(format!("{shop}-other"), &number(2), Action::Cancel);
    let mixed = ledger
        .claim(&[o2.clone(), other.clone(), o2_cancel.clone(), cancel.clone()])
        .await
        .unwrap();
    assert!(
        matches!(
            mixed.as_slice(),
            [Claim::Won(a), Claim::Held(b), Claim::Won(c), Claim::Held(d)]
                if a.key == o2 && b.key == other && c.key == o2_cancel && d.key == cancel
        ),
        "{mixed:?}"
    );
    let mine = |states: Vec<LedgerState>, after: Option<Key>, limit: Option<u32>| Query {
        scope: Scope::of(shop, Action::Confirm),
        states,
        after,
        limit,
    };
    let all = ledger.list(&mine(vec![], None, None)).await.unwrap();
    let keys: Vec<&Key> = all.iter().map(|r| &r.key).collect();
    assert_eq!(keys, [&k1, &k2, &k3]);
    let page = ledger.list(&mine(vec![], None, Some(2))).await.unwrap();
    assert_eq!(page.len(), 2);
    let rest = ledger
        .list(&mine(vec![], Some(page[1].key.clone()), Some(2)))
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|r| &r.key).collect::<Vec<_>>(), [&k3]);
    let open = ledger
        .list(&mine(
            vec![LedgerState::Unknown, LedgerState::Failed],
            None,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(open.iter().map(|r| &r.key).collect::<Vec<_>>(), [&k2, &k3]);
    let shop_wide = Query {
        scope: Scope {
            shop: Some(shop.to_owned()),
            action: None,
        },
        ..Query::default()
    };
    assert_eq!(ledger.list(&shop_wide).await.unwrap().len(), 4);
    assert_eq!(ledger.get(&key(shop, 99)).await.unwrap(), None);

    // Export: one JSON object a line, every field named.
    let mut out = Vec::new();
    let n = ledger::export_jsonl(ledger, &shop_wide.scope, &mut out)
        .await
        .unwrap();
    assert_eq!(n, 4);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["order_number"], number(1));
    assert_eq!(lines[0]["action"], "cancel");
    assert_eq!(lines[1]["state"], "confirmed");
    assert_eq!(lines[3]["state"], "unknown");
    assert_eq!(lines[3]["cause"], "api_error");
    assert_eq!(lines[2]["attempts"], 2);
}

/// Pages of `list` come in key order (shop, order number, then action name) whatever
/// order the rows were claimed in, and a page starts right after the key the last one
/// ended on: `ledger list --after` walks a ledger this way. (The memory ledger hashes its
/// rows; only what it lists is put in order.)
async fn pages_in_key_order(ledger: &dyn Ledger, shop: &str) {
    let mut keys: Vec<Key> = [5, 1, 9, 7, 3, 10, 2, 6, 8, 4, 11]
        .into_iter()
        .flat_map(|i| [key(shop, i), Key::new(shop, &number(i), Action::Cancel)])
        .collect();
    ledger.claim(&keys).await.unwrap();
    keys.sort();
    let scope = Scope {
        shop: Some(shop.to_owned()),
        action: None,
    };
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = ledger
            .list(&Query {
                scope: scope.clone(),
                states: Vec::new(),
                after: after.clone(),
                limit: Some(8),
            })
            .await
            .unwrap();
        assert!(page.len() <= 8, "a page of {}", page.len());
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        listed.extend(page.into_iter().map(|r| r.key));
    }
    assert_eq!(listed, keys);
    // And all of it at once.
    let all = ledger
        .list(&Query {
            scope,
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(all.into_iter().map(|r| r.key).collect::<Vec<_>>(), keys);
}

#[tokio::test]
async fn list_pages_in_key_order_on_every_backend() {
    pages_in_key_order(&MemoryLedger::new(), SHOP).await;
    let dir = Scratch::new("ledger-pages");
    pages_in_key_order(&SqliteLedger::open(&dir.ledger_url()).await.unwrap(), SHOP).await;
    if let Some(url) = postgres_url() {
        let shop = fresh_shop("pages");
        pages_in_key_order(&*ledger::open(&url).await.unwrap(), &shop).await;
    }
}

#[tokio::test]
async fn protocol_on_memory() {
    protocol(&MemoryLedger::new(), SHOP).await;
}

#[tokio::test]
async fn protocol_on_sqlite_file_and_in_memory() {
    let dir = Scratch::new("ledger-protocol");
    protocol(&SqliteLedger::open(&dir.ledger_url()).await.unwrap(), SHOP).await;
    protocol(&*ledger::open("sqlite::memory:").await.unwrap(), SHOP).await;
}

#[tokio::test]
async fn protocol_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let shop = fresh_shop("protocol");
    protocol(&*ledger::open(&url).await.unwrap(), &shop).await;
}

// ---------------------------------------------------------------------------------------
// Opening.

#[tokio::test]
async fn a_sqlite_ledger_survives_reopening_and_refuses_a_newer_schema() {
    let dir = Scratch::new("ledger-reopen");
    {
        let l = SqliteLedger::open(&dir.ledger_url()).await.unwrap();
        l.claim(&[key(SHOP, 1)]).await.unwrap();
        l.close().await;
    }
    // WAL: the file and its journal; reopening applies nothing twice.
    let l = SqliteLedger::open(&dir.ledger_url()).await.unwrap();
    let row = l.get(&key(SHOP, 1)).await.unwrap().unwrap();
    assert_eq!(row.state, State::Sending);
    assert!(dir.path().join("ledger.db-wal").exists() || dir.path().join("ledger.db").exists());
    l.close().await;

    // A schema written by a newer build is refused, not misread.
    let conn = rusqlite::Connection::open(dir.path().join("ledger.db")).unwrap();
    conn.execute(
        "INSERT INTO rms_preflight_schema (version, name, applied_at_ms) VALUES (99, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SqliteLedger::open(&dir.ledger_url()).await.unwrap_err();
    assert!(matches!(err, LedgerError::Schema(_)), "{err}");
    assert!(
        err.to_string().contains("newer than this build knows"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_urls_and_unreachable_databases_fail_without_echoing_the_url() {
    let err = ledger::open("mysql://user:hunter2@127.0.0.1/db")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LedgerError::Url { .. }));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Port 1 on loopback: refused at once. The password never shows.
    let err = ledger::open("postgres://user:hunter2@127.0.0.1:1/db")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LedgerError::Open { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = ledger::open("sqlite:/nonexistent-dir/for/sure/ledger.db")
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("cannot open the SQLite ledger"), "{text}");
    assert!(
        text.contains("/nonexistent-dir/for/sure/ledger.db"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// The guard with a ledger.

/// RMS for the ledger tests, after the `FakeRms` of `guard.rs`: one RMS shared by every
/// guard of a test; it counts the confirmations it *accepts*, can lose answers or fail
/// before acting, and can hang — after acting or before — to let a test "kill" the guard
/// in the middle of a call.
#[derive(Default)]
struct SharedRms {
    state: Mutex<RmsState>,
    hung: tokio::sync::Notify,
    /// Once set, the next `getOrder` first has this ledger abandon every `sending` row, as
    /// another process's reconciliation (with too short a stale time) would.
    takeover: Mutex<Option<Arc<dyn Ledger>>>,
}

#[derive(Default)]
struct RmsState {
    progress: HashMap<String, i64>,
    accepted: HashMap<String, u32>,
    /// Confirm requests that named an order RMS had already confirmed.
    resent_after_confirmed: u32,
    /// Fault plan, one per call: 0 ok, 1 fail before acting (500), 2 act then lose the
    /// answer (timeout), 3 refuse every order (license expired, 401), 4 act then hang,
    /// 5 hang before acting.
    faults: Vec<u8>,
}

impl SharedRms {
    fn accepted(&self, number: &str) -> u32 {
        let s = self.state.lock().unwrap();
        s.accepted.get(number).copied().unwrap_or(0)
    }
}

impl RmsApi for SharedRms {
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        // Let the other guard's task run: calls interleave as they would on the network.
        tokio::task::yield_now().await;
        if call.function == "getOrder" {
            let takeover = self.takeover.lock().unwrap().take();
            if let Some(ledger) = takeover {
                ledger
                    .abandon(&Scope::default(), Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
        let fault = {
            let mut s = self.state.lock().unwrap();
            if s.faults.is_empty() {
                0
            } else {
                s.faults.remove(0)
            }
        };
        let numbers: Vec<String> = call.body["orderNumberList"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let reply = |status: u16, body: serde_json::Value| {
            Ok(RmsReply {
                status,
                body: body.to_string().into(),
            })
        };
        match fault {
            1 => return reply(500, serde_json::json!("APIエラー")),
            3 => {
                return reply(
                    401,
                    serde_json::json!({"errors":[{"code":"ES01-01","message":"Un-Authorised"}]}),
                )
            }
            5 => {
                self.hung.notify_one();
                std::future::pending::<()>().await;
            }
            _ => {}
        }
        let body = {
            let mut s = self.state.lock().unwrap();
            match call.function.as_str() {
                "confirmOrder" => {
                    let mut messages = Vec::new();
                    for n in &numbers {
                        let p = *s.progress.get(n).unwrap_or(&100);
                        if p != 100 {
                            s.resent_after_confirmed += 1;
                            messages.push(serde_json::json!({"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","message":"注文確認できないステータスです。","orderNumber": n}));
                        } else {
                            s.progress.insert(n.clone(), 200);
                            *s.accepted.entry(n.clone()).or_default() += 1;
                            messages.push(serde_json::json!({"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認に成功しました。","orderNumber": n}));
                        }
                    }
                    serde_json::json!({ "MessageModelList": messages })
                }
                "getOrder" => {
                    let orders: Vec<serde_json::Value> = numbers
                        .iter()
                        .map(|n| serde_json::json!({"orderNumber": n, "orderProgress": *s.progress.get(n).unwrap_or(&100)}))
                        .collect();
                    serde_json::json!({ "MessageModelList": [], "OrderModelList": orders })
                }
                other => return reply(404, serde_json::json!({ "unknown": other })),
            }
        };
        match fault {
            2 => Err(RmsError::Transport {
                kind: TransportFailure::Timeout,
                message: "answer lost".into(),
            }),
            4 => {
                self.hung.notify_one();
                std::future::pending().await
            }
            _ => reply(200, body),
        }
    }
}

fn ledger_guard(
    rms: &Arc<SharedRms>,
    engine: &Arc<Engine>,
    ledger: Arc<dyn Ledger>,
) -> Guard<Arc<SharedRms>> {
    Guard::new(rms.clone(), engine.clone(), Shop::default()).with_ledger(ledger, SHOP)
}

fn rt() -> tokio::runtime::Runtime {
    // Real time: sqlx's pool keeps its own timers, which a paused clock would fire early.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The rules deny what the ledger holds — the guard's claim refused, the engine's S1
/// finding with `ledger.state` cited and the state's own remedy — and send nothing.
#[tokio::test]
async fn a_claim_held_elsewhere_is_the_rules_denial() {
    let dir = Scratch::new("ledger-denial");
    let rms = Arc::new(SharedRms::default());
    let engine = engine();
    let l: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
    // Another worker claimed order 1 and is sending it; order 2 is confirmed already.
    let claims = l.claim(&[key(SHOP, 1), key(SHOP, 2)]).await.unwrap();
    let t2 = claims[1].ticket().unwrap().clone();
    l.mark(&[(t2, Mark::Confirmed)]).await.unwrap();

    let guard = ledger_guard(&rms, &engine, l.clone());
    let outcomes = guard
        .confirm_bulk(&[tracked(1), tracked(2), tracked(3)])
        .await;
    for (k, state) in [(0, "sending"), (1, "confirmed")] {
        let Outcome::Denied(report) = &outcomes[k].1 else {
            panic!("{:?}", outcomes[k])
        };
        let f = &report.findings[0];
        assert_eq!(
            (f.rule.as_ref(), f.source.as_ref()),
            ("confirm-ledger-claimed", "S1")
        );
        assert_eq!(
            f.fields,
            [("ledger.state".to_owned(), serde_json::json!(state))]
        );
        assert_eq!(
            f.remedies.len(),
            1,
            "one remedy, the state's own: {:?}",
            f.remedies
        );
    }
    assert!(outcomes[2].1.is_done(), "{:?}", outcomes[2]);
    assert_eq!((rms.accepted(&number(1)), rms.accepted(&number(2))), (0, 0));
    assert_eq!(rms.accepted(&number(3)), 1);
    assert_eq!(
        l.get(&key(SHOP, 3)).await.unwrap().unwrap().state,
        State::Confirmed
    );
}

/// Outcomes land in the ledger as the module says: confirmed, failed(id) when RMS refused,
/// unknown(cause) when even the read-back failed — and reconciliation settles the unknown.
#[tokio::test]
async fn outcomes_are_recorded_and_unknowns_reconciled() {
    let rms = Arc::new(SharedRms::default());
    let engine = engine();
    let l: Arc<dyn Ledger> = Arc::new(MemoryLedger::new());
    let guard = ledger_guard(&rms, &engine, l.clone());

    // A refusal (401: licence expired): failed, and claimable again.
    rms.state.lock().unwrap().faults = vec![3];
    let o = guard.confirm(&tracked(1)).await;
    assert_eq!(
        o.failure().map(|f| f.error.as_str()),
        Some("license_expired")
    );
    assert_eq!(
        l.get(&key(SHOP, 1)).await.unwrap().unwrap().state,
        State::Failed {
            error: "license_expired".into()
        }
    );
    assert!(guard.confirm(&tracked(1)).await.is_done());
    assert_eq!(rms.accepted(&number(1)), 1);

    // The answer lost after RMS acted, and the read-back failing too: unknown.
    rms.state.lock().unwrap().faults = vec![2, 1];
    let o = guard.confirm(&tracked(2)).await;
    assert!(o.failure().is_some_and(|f| f.outcome_unknown), "{o:?}");
    assert_eq!(
        l.get(&key(SHOP, 2)).await.unwrap().unwrap().state.kind(),
        LedgerState::Unknown
    );
    // Unknown is refused by the rules until reconciled...
    assert!(guard.confirm(&tracked(2)).await.is_denied());
    // ...which reads it back: RMS had it, so it is confirmed, and never sent again.
    let r = guard.reconcile_ledger().await.unwrap();
    assert_eq!(r.confirmed, [number(2)]);
    assert_eq!(
        l.get(&key(SHOP, 2)).await.unwrap().unwrap().state,
        State::Confirmed
    );
    assert!(guard.confirm(&tracked(2)).await.is_denied());
    assert_eq!(rms.accepted(&number(2)), 1);
    assert_eq!(rms.state.lock().unwrap().resent_after_confirmed, 0);
}

/// Two guards on one file, the same 50 orders, at once on two threads: each order is sent
/// by exactly one of them; the other's entry is the rules' denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guards_at_once_send_each_order_once() {
    let dir = Scratch::new("ledger-at-once");
    let rms = Arc::new(SharedRms::default());
    let engine = engine();
    let mut guards = Vec::new();
    for _ in 0..2 {
        let l: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
        guards.push(Arc::new(ledger_guard(&rms, &engine, l)));
    }
    let orders: Arc<Vec<Tracked>> = Arc::new((0..50).map(tracked).collect());
    let runs: Vec<_> = guards
        .iter()
        .map(|g| {
            let (g, orders) = (g.clone(), orders.clone());
            tokio::spawn(async move { g.confirm_bulk(&orders).await })
        })
        .collect();
    let mut results = Vec::new();
    for r in runs {
        results.push(r.await.unwrap());
    }
    for (i, ((_, a), (_, b))) in results[0].iter().zip(&results[1]).enumerate() {
        assert!(a.is_done() != b.is_done(), "{i}: {a:?} / {b:?}");
        let denied = if a.is_done() { b } else { a };
        let Outcome::Denied(report) = denied else {
            panic!("{i}: {denied:?}")
        };
        assert_eq!(report.findings[0].rule, "confirm-ledger-claimed");
        assert_eq!(rms.accepted(&number(i)), 1);
    }
    assert_eq!(rms.state.lock().unwrap().resent_after_confirmed, 0);
}

/// `confirmed` marks written behind the answers: two guards sharing one `DeferredMarks`
/// hand theirs over, the answers do not wait for them, and once written every row is
/// `confirmed` (one transaction for both, as the writer gathers what it was handed).
/// Meanwhile a row reads `sending`, which refuses a second claim just the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_marks_are_written_behind_the_answers() {
    let dir = Scratch::new("ledger-write-behind");
    let rms = Arc::new(SharedRms::default());
    let engine = engine();
    let l: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
    let marks = DeferredMarks::new();
    let guards: Vec<_> = (0..2)
        .map(|_| ledger_guard(&rms, &engine, l.clone()).with_deferred_marks(marks.clone()))
        .collect();
    let first: Vec<Tracked> = (0..20).map(tracked).collect();
    let second: Vec<Tracked> = (20..40).map(tracked).collect();
    let (a, b) = tokio::join!(
        guards[0].confirm_bulk(&first),
        guards[1].confirm_bulk(&second)
    );
    assert!(a.iter().chain(&b).all(|(_, o)| o.is_done()), "{a:?} {b:?}");
    // Whatever has landed by now, no row is anything but `sending` or `confirmed`, and a
    // second claim of any of them is refused.
    let keys: Vec<Key> = (0..40).map(|i| key(SHOP, i)).collect();
    for c in l.claim(&keys).await.unwrap() {
        match c {
            Claim::Held(row) => assert!(
                matches!(row.state, State::Sending | State::Confirmed),
                "{row:?}"
            ),
            Claim::Won(t) => panic!("claimed again: {t:?}"),
        }
    }
    marks.written().await;
    for k in &keys {
        assert_eq!(
            l.get(k).await.unwrap().unwrap().state,
            State::Confirmed,
            "{k}"
        );
    }
    for i in 0..40 {
        assert_eq!(rms.accepted(&number(i)), 1);
    }
    marks.flush().await;
}

/// A guard whose row was taken from it while it read an uncertain order back (another
/// process abandoned it) does not resend, even though the order is still in 100: it
/// records that RMS did not act, and the next confirmation claims and sends it once.
#[tokio::test]
async fn a_guard_that_lost_its_claim_does_not_resend() {
    let rms = Arc::new(SharedRms::default());
    let engine = engine();
    let l: Arc<dyn Ledger> = Arc::new(MemoryLedger::new());
    let guard = ledger_guard(&rms, &engine, l.clone());
    // 500 before acting (uncertain), and the read-back finds the row taken over.
    rms.state.lock().unwrap().faults = vec![1];
    *rms.takeover.lock().unwrap() = Some(l.clone());
    let o = guard.confirm(&tracked(1)).await;
    let f = o.failure().expect("not resent, so failed");
    assert!(!f.outcome_unknown, "RMS did not act: {f:?}");
    assert!(f.detail.contains("taken over"), "{}", f.detail);
    assert_eq!(rms.accepted(&number(1)), 0);
    assert_eq!(
        l.get(&key(SHOP, 1)).await.unwrap().unwrap().state,
        State::Failed {
            error: "api_error".into()
        }
    );
    assert!(guard.confirm(&tracked(1)).await.is_done());
    assert_eq!(rms.accepted(&number(1)), 1);
}

/// Runs `bulk` on `guard` until RMS hangs (the guard is then dropped mid-call, as a
/// killed process would be) or the bulk run ends. Returns whether it hung.
async fn run_until_hang(guard: &Guard<Arc<SharedRms>>, rms: &SharedRms, bulk: &[Tracked]) -> bool {
    tokio::select! {
        _ = guard.confirm_bulk(bulk) => false,
        _ = rms.hung.notified() => true,
    }
}

/// Every order of `all` ends confirmed exactly once at RMS and `confirmed` in the ledger,
/// after one clean reconciliation and one clean confirmation of everything.
async fn settle_everything(
    guard: &Guard<Arc<SharedRms>>,
    rms: &SharedRms,
    ledger: &dyn Ledger,
    all: &[Tracked],
) -> Result<(), TestCaseError> {
    rms.state.lock().unwrap().faults.clear();
    let r = guard.reconcile_ledger().await.unwrap();
    prop_assert!(r.unresolved.is_empty(), "{:?}", r);
    for (number, outcome) in guard.confirm_bulk(all).await {
        let row = ledger
            .get(&Key::new(SHOP, &number, Action::Confirm))
            .await
            .unwrap();
        prop_assert_eq!(
            row.map(|r| r.state),
            Some(State::Confirmed),
            "{}: {:?}",
            number,
            outcome
        );
        prop_assert_eq!(rms.accepted(&number), 1, "{}", number);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Two guards — two "processes" with their own connections — share one SQLite file and
    /// one RMS, and confirm overlapping lists at once under injected faults: RMS accepts
    /// each order at most once, never sees a confirmation for an order it already
    /// confirmed, and everything ends confirmed exactly once.
    #[test]
    fn s1_holds_across_two_guards_sharing_a_sqlite_file(
        faults in prop::collection::vec(0u8..4, 0..24),
        a in prop::collection::vec(0usize..10, 1..14),
        b in prop::collection::vec(0usize..10, 1..14),
    ) {
        rt().block_on(async {
            let dir = Scratch::new("ledger-two-guards");
            let rms = Arc::new(SharedRms::default());
            rms.state.lock().unwrap().faults = faults;
            let engine = engine();
            let l1: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
            let l2: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
            let g1 = ledger_guard(&rms, &engine, l1.clone());
            let g2 = ledger_guard(&rms, &engine, l2.clone());
            let bulk_a: Vec<Tracked> = a.iter().map(|&i| tracked(i)).collect();
            let bulk_b: Vec<Tracked> = b.iter().map(|&i| tracked(i)).collect();
            let (oa, ob) = tokio::join!(g1.confirm_bulk(&bulk_a), g2.confirm_bulk(&bulk_b));
            {
                let s = rms.state.lock().unwrap();
                prop_assert_eq!(s.resent_after_confirmed, 0, "a confirm was sent for an order RMS had confirmed");
                prop_assert!(s.accepted.values().all(|&n| n <= 1), "{:?}", s.accepted);
            }
            // A Done is an order RMS holds, and the ledger too.
            for (number, outcome) in oa.iter().chain(&ob) {
                if outcome.is_done() {
                    prop_assert_eq!(rms.accepted(number), 1);
                    let row = l1.get(&Key::new(SHOP, number, Action::Confirm)).await.unwrap();
                    prop_assert_eq!(row.map(|r| r.state), Some(State::Confirmed));
                }
            }
            let all: Vec<Tracked> = (0..10).map(tracked).collect();
            settle_everything(&g2, &rms, &*l2, &all).await?;
            prop_assert_eq!(rms.state.lock().unwrap().resent_after_confirmed, 0);
            Ok(())
        })?;
    }

    /// A guard killed in the middle of a bulk run (dropped while RMS holds a call: after
    /// acting, or before), its SQLite file reopened by a new guard that reconciles first:
    /// whatever RMS had taken is `confirmed` and never sent again; whatever it had not is
    /// sent once.
    #[test]
    fn s1_holds_across_a_crash_mid_bulk(
        faults in prop::collection::vec(0u8..4, 0..12),
        hang_at in 0usize..12,
        hang_after_acting in any::<bool>(),
        n in 1usize..180,
    ) {
        rt().block_on(async {
            let dir = Scratch::new("ledger-crash");
            let rms = Arc::new(SharedRms::default());
            let mut plan = faults;
            plan.insert(hang_at.min(plan.len()), if hang_after_acting { 4 } else { 5 });
            rms.state.lock().unwrap().faults = plan;
            let engine = engine();
            let all: Vec<Tracked> = (0..n).map(tracked).collect();
            let l1 = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
            let g1 = ledger_guard(&rms, &engine, l1.clone());
            let hung = run_until_hang(&g1, &rms, &all).await;
            // What the plan had left (the hang itself, if the run ended first) is not for
            // the restarted guard.
            rms.state.lock().unwrap().faults.clear();
            // The crash: the guard and its connections are gone; rows may be left sending.
            drop(g1);
            l1.close().await;
            drop(l1);

            let l2: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.ledger_url()).await.unwrap());
            let sending: HashSet<String> = l2
                .list(&Query { states: vec![LedgerState::Sending], ..Query::default() })
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.key.order_number)
                .collect();
            if hung {
                prop_assert!(!sending.is_empty(), "a call was in flight, so its rows are sending");
            }
            // One process restarting on its own file: nothing else sends, so no wait.
            let g2 = ledger_guard(&rms, &engine, l2.clone()).with_ledger_stale_after(Duration::ZERO);
            let r = g2.reconcile_ledger().await.unwrap();
            let abandoned: HashSet<String> = r.abandoned.iter().cloned().collect();
            prop_assert_eq!(&abandoned, &sending);
            for number in &r.confirmed {
                prop_assert_eq!(rms.accepted(number), 1, "{} confirmed but RMS lacks it", number);
            }
            for number in &r.resendable {
                prop_assert_eq!(rms.accepted(number), 0, "{} resendable but RMS has it", number);
            }
            // The OMS sends everything again, faults and all: nothing twice.
            rms.state.lock().unwrap().faults = vec![0, 2, 0, 1];
            g2.confirm_bulk(&all).await;
            {
                let s = rms.state.lock().unwrap();
                prop_assert_eq!(s.resent_after_confirmed, 0, "a confirm was sent for an order RMS had confirmed");
                prop_assert!(s.accepted.values().all(|&n| n <= 1), "{:?}", s.accepted);
            }
            settle_everything(&g2, &rms, &*l2, &all).await?;
            Ok(())
        })?;
    }
}

/// A SQLite claim records its sender's call timeout, and the longest of the claims still
/// `sending` is read back (what a proxy starting alone waits out); settled rows, later
/// claims and other scopes do not count.
#[tokio::test]
async fn sqlite_claims_record_their_senders_call_timeout() {
    let dir = Scratch::new("ledger-call-timeout");
    let l = SqliteLedger::open(&dir.ledger_url()).await.unwrap();
    let scope = Scope::of(SHOP, Action::Confirm);
    let now = || {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    assert_eq!(l.longest_call_timeout(&scope, now()).await.unwrap(), None);
    l.set_call_timeout(Duration::from_secs(45));
    l.claim(&[key(SHOP, 1)]).await.unwrap();
    l.set_call_timeout(Duration::from_secs(3));
    let Claim::Won(t2) = l.claim(&[key(SHOP, 2)]).await.unwrap().remove(0) else {
        panic!("not won")
    };
    let cut = now();
    assert_eq!(
        l.longest_call_timeout(&scope, cut).await.unwrap(),
        Some(Duration::from_secs(45))
    );
    assert_eq!(
        l.longest_call_timeout(&Scope::of("another shop", Action::Confirm), cut)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        l.longest_call_timeout(&scope, cut - 60_000).await.unwrap(),
        None,
        "claims made after the cut"
    );
    // Only rows still `sending` count.
    l.abandon(&scope, Duration::ZERO).await.unwrap();
    assert_eq!(l.longest_call_timeout(&scope, now()).await.unwrap(), None);
    let _ = t2;
    l.close().await;
}
