//! The guard: denied calls send nothing; bulk confirm chunks; uncertain confirmations are
//! reconciled before any resend (S1 holds under faults).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use rms_preflight::guard::{Guard, Outcome, Tracked};
use rms_preflight::model::{Order, Package};
use rms_preflight::rms::wire::UpdateOrderShippingRequest;
use rms_preflight::rms::{RmsApi, RmsCall, RmsError, RmsReply};
use rms_preflight::rules::TransportFailure;
use rms_preflight::{Label, Shop};

use super::rms_client::{client, engine, replay_server};

fn order(number: &str, progress: i64, postage: i64) -> Order {
    Order {
        order_number: Some(number.into()),
        order_progress: progress,
        postage_price: Some(postage),
        package_model_list: vec![Package {
            basket_id: Some(1),
            postage_price: Some(postage),
            ..Package::default()
        }],
        ..Order::default()
    }
}

fn tracked(number: &str) -> Tracked {
    Tracked::new(order(number, 100, 660))
}

fn sources(o: &Outcome) -> Vec<String> {
    match o {
        Outcome::Denied(r) => r.findings.iter().map(|f| f.source.to_string()).collect(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn denied_calls_make_no_request() {
    let (server, replayer) = replay_server(&["happy-path.yaml"]).await;
    let guard = Guard::new(client(&server, engine()), engine(), Shop::default());

    let mut bundled = tracked("375055-20261130-00000001");
    bundled.oms.bundle_id = Some("B-1".into());
    assert_eq!(sources(&guard.confirm(&bundled).await), ["S8"]);

    let unset = Tracked::new(order("375055-20261130-00000001", 100, -9999));
    assert_eq!(sources(&guard.confirm(&unset).await), ["S13"]);

    let mut twice = Tracked::new(order("375055-20261130-00000001", 200, 660));
    twice.oms.confirm_sent = true;
    assert_eq!(sources(&guard.confirm(&twice).await), ["S1", "S2"]);

    let mut processing = Tracked::new(order("375055-20261130-00000001", 300, 660));
    processing.oms.label = Label::Processing;
    let ship = UpdateOrderShippingRequest {
        order_number: "375055-20261130-00000001".into(),
        basketid_model_list: vec![],
    };
    assert_eq!(sources(&guard.ship(&processing, &ship).await), ["S6"]);

    let expired = Guard::new(
        client(&server, engine()),
        engine(),
        Shop {
            license_expires_at: Some("2020-01-01T00:00:00+09:00".parse().unwrap()),
            ..Shop::default()
        },
    );
    assert_eq!(
        sources(&expired.confirm(&tracked("375055-20261130-00000001")).await),
        ["S17"]
    );

    // Counted at the server: not one byte left the client.
    assert_eq!(replayer.requests(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn allowed_calls_go_through() {
    let (server, replayer) = replay_server(&["happy-path.yaml"]).await;
    let guard = Guard::new(client(&server, engine()), engine(), Shop::default());
    let out = guard.confirm(&tracked("375055-20261130-00000001")).await;
    assert!(out.is_done(), "{out:?}");
    let mut processed = Tracked::new(order("375055-20261130-00000001", 300, 660));
    processed.oms.label = Label::Processed;
    processed.oms.confirm_sent = true;
    let fetched = guard.fetch_status(&processed).await;
    match fetched {
        Outcome::Done(d) => {
            assert_eq!(d.order.unwrap().order_progress, 300);
            // Fetching outside the S7 cases is allowed with a warning.
            assert_eq!(d.warnings[0].source, "S7");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(replayer.requests(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn confirm_errors_recover_as_their_remedies_say() {
    let (server, replayer) = replay_server(&["confirm-errors.yaml"]).await;
    let guard = Guard::new(client(&server, engine()), engine(), Shop::default());
    let orders: Vec<Tracked> = ["17", "18", "19", "20", "21", "31"]
        .iter()
        .map(|n| tracked(&format!("375055-20261130-000000{n}")))
        .collect();
    // One at a time, so each confirmOrder body holds one number, as recorded.
    let mut outcomes = Vec::new();
    for t in &orders {
        outcomes.push(guard.confirm(t).await);
    }
    let failed = |o: &Outcome| o.failure().map(|f| (f.error.clone(), f.source.clone()));
    assert_eq!(
        failed(&outcomes[0]),
        Some(("license_expired".into(), "S17".into()))
    );
    assert_eq!(
        failed(&outcomes[1]),
        Some(("not_confirmable".into(), "S18".into()))
    );
    for (i, reconciled) in [(2, false), (3, true), (4, false), (5, true)] {
        match &outcomes[i] {
            Outcome::Done(d) => {
                assert_eq!(d.reconciled, reconciled, "{}", orders[i].order_number())
            }
            other => panic!("{}: {other:?}", orders[i].order_number()),
        }
    }
    // S19, S21: read back (still 100), sent again. S20 and the lost answer: read back
    // (already 200), never sent again. S17, S18: no read-back, no resend.
    let log = replayer.log();
    let confirms = log.iter().filter(|l| l.ends_with("confirmOrder")).count();
    let reads = log.iter().filter(|l| l.ends_with("getOrder")).count();
    assert_eq!((confirms, reads), (8, 4), "{log:?}");
    assert_eq!(replayer.unmatched(), 0, "{log:?}");
    server.shutdown().await;
}

/// An in-memory RMS for the bulk and fault tests: it confirms orders in 100, counts
/// every confirm it *accepts*, and can lose answers or fail before acting.
#[derive(Default)]
struct FakeRms {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    progress: HashMap<String, i64>,
    accepted: HashMap<String, u32>,
    /// Confirm requests that named an order RMS had already confirmed.
    resent_after_confirmed: u32,
    confirm_bodies: Vec<usize>,
    /// Fault plan, consumed one per call: 0 ok, 1 fail before acting (500),
    /// 2 act then lose the answer (timeout), 3 QPS (403) before acting.
    faults: Vec<u8>,
}

impl RmsApi for FakeRms {
    async fn send(&self, call: RmsCall) -> Result<RmsReply, RmsError> {
        let mut s = self.state.lock().unwrap();
        let fault = if s.faults.is_empty() {
            0
        } else {
            s.faults.remove(0)
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
                    403,
                    serde_json::json!({"errors":[{"code":"GA0003","message":"Forbidden- Exceeded QPS Limitation"}]}),
                )
            }
            _ => {}
        }
        let body = match call.function.as_str() {
            "confirmOrder" => {
                s.confirm_bodies.push(numbers.len());
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
        };
        if fault == 2 {
            return Err(RmsError::Transport {
                kind: TransportFailure::Timeout,
                message: "answer lost".into(),
            });
        }
        reply(200, body)
    }
}

#[tokio::test]
async fn bulk_confirm_checks_each_order_and_sends_chunks_of_100() {
    let fake = Arc::new(FakeRms::default());
    let guard = Guard::new(fake.clone(), engine(), Shop::default());
    let mut orders: Vec<Tracked> = (0..250)
        .map(|i| tracked(&format!("375055-20261130-{i:08}")))
        .collect();
    orders[3].oms.bundle_id = Some("B".into());
    orders[7] = Tracked::new(order("375055-20261130-00000007", 100, -9999));
    let outcomes = guard.confirm_bulk(&orders).await;
    assert_eq!(outcomes.len(), 250);
    assert_eq!(outcomes[3].0, "375055-20261130-00000003");
    assert!(outcomes[3].1.is_denied());
    assert!(outcomes[7].1.is_denied());
    assert_eq!(outcomes.iter().filter(|(_, o)| o.is_done()).count(), 248);
    assert_eq!(fake.state.lock().unwrap().confirm_bodies, [100, 100, 48]);
}

/// S1 in one bulk run: an order listed twice (or 101 times, or once with spaces around
/// its number) goes into confirmOrder once; every repeat is denied by the rules with S1.
#[tokio::test]
async fn bulk_confirm_sends_each_order_number_once() {
    let fake = Arc::new(FakeRms::default());
    let guard = Guard::new(fake.clone(), engine(), Shop::default());
    let mut orders = vec![
        tracked("375055-20261130-00000001"),
        tracked("375055-20261130-00000002"),
        tracked("375055-20261130-00000001"),
        tracked(" 375055-20261130-00000002 "),
    ];
    let outcomes = guard.confirm_bulk(&orders).await;
    assert!(
        outcomes[0].1.is_done() && outcomes[1].1.is_done(),
        "{outcomes:?}"
    );
    assert_eq!(sources(&outcomes[2].1), ["S1"]);
    assert_eq!(sources(&outcomes[3].1), ["S1"]);
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.confirm_bodies, [2]);
        assert_eq!(s.resent_after_confirmed, 0);
    }

    let fake = Arc::new(FakeRms::default());
    let guard = Guard::new(fake.clone(), engine(), Shop::default());
    orders = vec![tracked("375055-20261130-00000009"); 101];
    let outcomes = guard.confirm_bulk(&orders).await;
    assert!(outcomes[0].1.is_done());
    assert!(outcomes[1..].iter().all(|(_, o)| o.is_denied()));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.confirm_bodies, [1], "one call, one number");
    assert_eq!(s.accepted.get("375055-20261130-00000009"), Some(&1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Repeats in the OMS's list, with faults: still one confirmation an order.
    #[test]
    fn s1_holds_with_repeated_numbers_and_faults(faults in prop::collection::vec(0u8..4, 0..20), picks in prop::collection::vec(0usize..4, 1..12)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let fake = Arc::new(FakeRms::default());
            fake.state.lock().unwrap().faults = faults;
            let guard = Guard::new(fake.clone(), engine(), Shop::default());
            let orders: Vec<Tracked> = picks.iter().map(|i| tracked(&format!("375055-20261130-{i:08}"))).collect();
            let outcomes = guard.confirm_bulk(&orders).await;
            let s = fake.state.lock().unwrap();
            prop_assert_eq!(s.resent_after_confirmed, 0, "a confirm was resent after RMS confirmed");
            for (k, (number, outcome)) in outcomes.iter().enumerate() {
                prop_assert!(s.accepted.get(number).copied().unwrap_or(0) <= 1);
                let repeat = picks[..k].contains(&picks[k]);
                prop_assert_eq!(outcome.is_denied(), repeat, "entry {}: {:?}", k, outcome);
            }
            Ok(())
        })?;
    }

    /// Whatever fails when (errors before RMS acts, answers lost after it acted, QPS),
    /// no confirmation is ever sent for an order RMS has already confirmed, and every
    /// order ends confirmed exactly once or failed with a remedy.
    #[test]
    fn s1_holds_under_injected_faults(faults in prop::collection::vec(0u8..4, 0..40), n in 1usize..8) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let fake = Arc::new(FakeRms::default());
            fake.state.lock().unwrap().faults = faults;
            let guard = Guard::new(fake.clone(), engine(), Shop::default());
            let orders: Vec<Tracked> = (0..n).map(|i| tracked(&format!("375055-20261130-{i:08}"))).collect();
            let outcomes = guard.confirm_bulk(&orders).await;
            let s = fake.state.lock().unwrap();
            prop_assert_eq!(s.resent_after_confirmed, 0, "a confirm was resent after RMS confirmed");
            for (number, outcome) in &outcomes {
                let accepted = s.accepted.get(number).copied().unwrap_or(0);
                prop_assert!(accepted <= 1);
                match outcome {
                    Outcome::Done(_) => prop_assert_eq!(accepted, 1, "{} done but RMS has it {} times", number, accepted),
                    Outcome::Failed(f) => prop_assert!(!f.remedy.is_empty()),
                    Outcome::Denied(_) => prop_assert!(false, "nothing should be denied"),
                }
            }
            Ok(())
        })?;
    }
}
