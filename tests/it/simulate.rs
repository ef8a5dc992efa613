//! The simulator: the shipped scenario library passes (reports are snapshots), broken
//! expectations fail with expected-vs-got, malformed scenarios exit 2 with a location,
//! the sim-server speaks RMS's protocol to the real client, and exploration holds the
//! invariants — and catches a deliberately broken rule.

use std::sync::Arc;

use rms_preflight::rms::wire::{ConfirmOrderRequest, GetOrderRequest};
use rms_preflight::rms::{Credentials, HttpRms, HttpRmsConfig, RmsApi};
use rms_preflight::sim::report;
use rms_preflight::sim::scenario::Scenario;
use rms_preflight::sim::{explore, first_violation, shrink, ExploreConfig};
use rms_preflight::sim::{run_scenario, RunOptions};
use rms_preflight::sim::{FaultKind, FaultRule, SimClock, SimConfig, SimHandler, SimRms};
use rms_preflight::{Engine, RuleSet};

use super::{root, run, stderr, stdout};

fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(RuleSet::embedded().unwrap()))
}

fn library() -> Vec<(String, Scenario)> {
    let dir = root().join("fixtures/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!(
                "fixtures/scenarios/{}",
                p.file_name().unwrap().to_string_lossy()
            );
            (name, Scenario::load(&p).unwrap())
        })
        .collect()
}

#[test]
fn the_scenario_library_passes() {
    let engine = engine();
    let reports: Vec<_> = library()
        .iter()
        .map(|(file, s)| run_scenario(engine.clone(), s, file, &RunOptions::default()))
        .collect();
    let text = report::text_with(&reports, false);
    assert!(reports.iter().all(|r| r.passed()), "{text}");
    insta::assert_snapshot!("library-report", text);
}

#[test]
fn every_seed_tag_has_a_scenario() {
    let tags: std::collections::BTreeSet<String> =
        library().into_iter().flat_map(|(_, s)| s.tags).collect();
    for n in 1..=21 {
        assert!(
            tags.contains(&format!("S{n}")),
            "no scenario tagged S{n}: {tags:?}"
        );
    }
}

#[test]
fn the_simulate_command_runs_the_library() {
    let out = run(&["simulate", "fixtures/scenarios"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).ends_with(" passed, 0 failed\n"));
    let junit = run(
        &["simulate", "--format", "junit", "fixtures/scenarios"],
        None,
    );
    let xml = stdout(&junit);
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rms-preflight simulate\""
    ));
    assert!(xml.contains("failures=\"0\""));
    let json = run(
        &[
            "simulate",
            "--format",
            "json",
            "fixtures/scenarios/s01-confirm-once.yaml",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["summary"], serde_json::json!({"passed": 1, "failed": 0}));
    assert_eq!(v["scenarios"][0]["steps"].as_array().unwrap().len(), 4);
}

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rms-preflight-it-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A wrong expectation fails the scenario with expected vs got and the rule's reason.
#[test]
fn a_failing_expectation_is_reported() {
    let text = std::fs::read_to_string(root().join("fixtures/scenarios/s02-status-rules.yaml"))
        .unwrap()
        .replace(
            "expect: {decision: deny, source: S2, calls: {confirmOrder: 0}}",
            "expect: {decision: allow, calls: {confirmOrder: 1}}",
        );
    let path = tmp("wrong.yaml", &text);
    let out = run(&["simulate", &path.to_string_lossy()], None);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(report.contains("    step 1 (confirm 375055-20261130-00000002) at 2026-11-30T09:00:00+09:00:\n      decision: expected allow, got deny\n      calls to confirmOrder: expected 1, got 0\n      why: 375055-20261130-00000002: [S2] confirm-status (deny): only orders in status 100 (awaiting confirmation) can be confirmed\n"), "{report}");
    assert!(report.ends_with("0 passed, 1 failed\n"));
    let junit = stdout(&run(
        &["simulate", "--format", "junit", &path.to_string_lossy()],
        None,
    ));
    assert!(junit.contains("<failure message=\"step 1 (confirm 375055-20261130-00000002): decision: expected allow, got deny\">"), "{junit}");
}

#[test]
fn malformed_scenarios_exit_2_with_location() {
    let base = "name: x\nstart: 2026-11-30T09:00:00+09:00\norders:\n  - {orderNumber: A1, orderProgress: 100}\nsteps:\n";
    let cases = [
        ("unknown-order.yaml", format!("{base}  - confirm: B2\n"), "at `steps[0]`: unknown order `B2`: it is not in `orders` (line 6, column 5)"),
        ("two-actions.yaml", format!("{base}  - confirm: A1\n    advance: 5m\n"), "at `steps[0]`: a step does one thing: split it into several steps (line 6, column 5)"),
        ("bad-duration.yaml", format!("{base}  - advance: soon\n"), "at `steps[0].advance`: invalid duration `soon`"),
        ("unknown-key.yaml", format!("{base}  - confrim: A1\n"), "at `steps[0].confrim`: unknown field `confrim`"),
        ("bad-fault.yaml", format!("{base}  - fault: {{kind: meteor}}\n"), "at `steps[0].fault.kind`: unknown variant `meteor`"),
        ("bad-order.yaml", "name: x\nstart: 2026-11-30T09:00:00+09:00\norders:\n  - {orderNumber: A1, orderProgress: high}\nsteps: []\n".to_owned(), "at `orders[0]`: not an RMS OrderModel: invalid type: string \"high\", expected i64 (line 4, column 5)"),
        ("broken.yaml", "name: [\n".to_owned(), "at `name`: invalid type: sequence, expected a string (line 1, column 7)"),
        ("bad-ledger.yaml", "name: x\nstart: 2026-11-30T09:00:00+09:00\nledger: postgres\norders: []\nsteps: []\n".to_owned(), "at `ledger`: unknown variant `postgres`, expected `memory` (line 3, column 9)"),
        ("kill-without-call.yaml", format!("{base}  - advance: 5m\n    kill_after: 1s\n"), "at `steps[0]`: `kill_after` needs an action that calls RMS (`confirm`, `fetch_status`, `reflect`, `ship`, `cancel`) (line 6, column 5)"),
        ("kill-too-late.yaml", format!("{base}  - confirm: A1\n    kill_after: 400d\n"), "at `steps[0].kill_after`: a duration over 366d is not simulated: write at most 366d (line 7, column 17)"),
        ("bad-restart.yaml", format!("{base}  - oms_restart: soon\n"), "at `steps[0].oms_restart`: invalid type"),
    ];
    for (name, text, expected) in cases {
        let path = tmp(name, &text);
        let out = run(&["simulate", &path.to_string_lossy()], None);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&path.display().to_string()),
            "{name}: names the file"
        );
    }
}

/// The sim-server speaks RMS's wire protocol to the real client; a confirmation whose
/// answer is lost is reconciled, never sent twice.
#[test]
fn sim_server_over_loopback_with_the_real_client() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = engine();
        let clock = SimClock::new("2026-11-30T09:00:00+09:00".parse().unwrap());
        let config = SimConfig {
            timeout: std::time::Duration::from_millis(4000),
            ..SimConfig::default()
        };
        let sim = Arc::new(SimRms::new(engine.clone(), clock, config));
        for n in ["375055-20261130-00000001", "375055-20261130-00000002"] {
            let order = serde_json::json!({"orderNumber": n, "orderProgress": 100, "orderDatetime": "2026-11-30T08:00:00+0900", "postagePrice": 660});
            sim.add_order(order.as_object().unwrap().clone()).unwrap();
        }
        let server = rms_preflight::fixture::Server::start("127.0.0.1:0".parse().unwrap(), Arc::new(SimHandler { sim: sim.clone() }))
            .await
            .unwrap();
        let mut config = HttpRmsConfig::for_rules(&engine);
        config.base = format!("{}/es/2.0", server.url());
        config.request_interval = std::time::Duration::ZERO;
        config.timeout = std::time::Duration::from_millis(1500);
        let rms = HttpRms::new(config, &Credentials::new("SP1_x", "SL1_y"), engine.clone()).unwrap();

        let confirmed = rms
            .confirm_order(&ConfirmOrderRequest { order_number_list: vec!["375055-20261130-00000001".into()] })
            .await
            .unwrap();
        assert!(!confirmed.message_model_list[0].is_error());
        let got = rms
            .get_order(&GetOrderRequest { order_number_list: vec!["375055-20261130-00000001".into()], version: 7 })
            .await
            .unwrap();
        assert_eq!(got.orders().unwrap()[0].order_progress, 200);

        // The lost answer: RMS confirms, the client times out; the guard reads back.
        sim.inject(FaultRule { kind: FaultKind::LostResponse, functions: vec!["confirmOrder".into()], remaining: Some(1), until: None });
        let guard = rms_preflight::guard::Guard::new(rms, engine.clone(), rms_preflight::Shop::default());
        let order: rms_preflight::Order = serde_json::from_value(serde_json::json!({"orderNumber": "375055-20261130-00000002", "orderProgress": 100, "postagePrice": 660})).unwrap();
        let outcome = guard.confirm(&rms_preflight::guard::Tracked::new(order)).await;
        match outcome {
            rms_preflight::guard::Outcome::Done(d) => assert!(d.reconciled, "{d:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(sim.accepted_confirms("375055-20261130-00000002"), 1);
        let confirms = sim.calls().iter().filter(|c| c.function == "confirmOrder" && c.orders == ["375055-20261130-00000002"]).count();
        assert_eq!(confirms, 1, "reconciled, not sent twice");
        server.shutdown().await;
    });
}

#[test]
fn sim_server_command_serves_a_state_file() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "sim-server",
            "--listen",
            "127.0.0.1:0",
            "--state",
            "fixtures/scenarios/s01-confirm-once.yaml",
        ])
        .current_dir(root())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("simulated RMS with 1 orders on http://127.0.0.1:"),
        "{line}"
    );
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let body = r#"{"orderNumberList":["375055-20261130-00000001"],"version":7}"#;
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /es/2.0/order/getOrder/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.contains("\"orderProgress\":100"), "{response}");
    super::terminate(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("sim-server: 1 calls"), "{rest}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

    /// A bounded exploration in the test suite (CI runs 100,000 steps separately).
    #[test]
    fn exploration_holds_the_invariants(seed in proptest::prelude::any::<u64>(), orders in 3usize..16) {
        let result = explore(engine(), &ExploreConfig { orders, steps: 1000, seed });
        proptest::prop_assert!(result.violation.is_none(), "seed {}: {:?}", seed, result.violation.map(|v| (v.message, v.scenario.to_yaml())));
        proptest::prop_assert!(result.calls > 50, "the exploration exercised RMS ({} calls)", result.calls);
    }
}

/// searchOrder honours its date window, status filter and pagination, as RMS documents.
#[tokio::test(start_paused = true)]
async fn sim_search_order_follows_rms_limits() {
    use rms_preflight::rms::wire::{PaginationRequestModel, SearchOrderRequest};
    use rms_preflight::rms::RmsError;
    let engine = engine();
    let sim = SimRms::new(
        engine.clone(),
        SimClock::new("2026-11-30T09:00:00+09:00".parse().unwrap()),
        SimConfig::default(),
    );
    for i in 0..25 {
        let progress = if i % 5 == 0 { 300 } else { 100 };
        let order = serde_json::json!({"orderNumber": format!("375055-20261130-{i:08}"), "orderProgress": progress,
            "orderDatetime": format!("2026-11-{:02}T10:00:00+0900", 1 + i)});
        sim.add_order(order.as_object().unwrap().clone()).unwrap();
    }
    let search =
        |start: &str, end: &str, statuses: Option<Vec<i64>>, page: u32| SearchOrderRequest {
            date_type: 1,
            start_datetime: start.into(),
            end_datetime: end.into(),
            order_progress_list: statuses,
            sub_status_id_list: None,
            pagination_request_model: Some(PaginationRequestModel {
                request_records_amount: 10,
                request_page: page,
                sort_model_list: None,
            }),
            extra: Default::default(),
        };
    let all = sim
        .search_order(&search(
            "2026-11-01T00:00:00+0900",
            "2026-11-30T23:59:59+0900",
            None,
            3,
        ))
        .await
        .unwrap();
    assert_eq!(all.order_number_list.len(), 5, "page 3 of 25 by 10");
    let p = all.pagination_response_model.unwrap();
    assert_eq!(
        (p.total_records_amount, p.total_pages, p.request_page),
        (25, 3, 3)
    );
    let shipped = sim
        .search_order(&search(
            "2026-11-01T00:00:00+0900",
            "2026-11-10T23:59:59+0900",
            Some(vec![300]),
            1,
        ))
        .await
        .unwrap();
    assert_eq!(
        shipped.order_number_list,
        ["375055-20261130-00000000", "375055-20261130-00000005"]
    );
    let too_wide = sim
        .search_order(&search(
            "2026-09-01T00:00:00+0900",
            "2026-11-30T00:00:00+0900",
            None,
            1,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(too_wide, RmsError::Status { status: 400, .. }),
        "{too_wide:?}"
    );
    let no_date_type = sim
        .send(rms_preflight::rms::RmsCall {
            function: "searchOrder".into(),
            body: serde_json::json!({}),
        })
        .await
        .unwrap();
    assert_eq!(no_date_type.status, 400);
    assert!(String::from_utf8_lossy(&no_date_type.body)
        .contains("ORDER_EXT_API_SEARCH_ORDER_ERROR_009"));
}

/// A deliberately broken rule set (S1's rule disabled) is caught and shrunk to a short
/// scenario that still reproduces it — and that `simulate` fails on.
#[test]
fn a_broken_rule_is_caught_and_shrunk() {
    let broken = rms_preflight::rules::EMBEDDED_RULES.replacen(
        "    when: oms.confirm_sent\n",
        "    when: oms.confirm_sent and false\n",
        1,
    );
    assert_ne!(broken, rms_preflight::rules::EMBEDDED_RULES);
    let engine = Arc::new(Engine::new(
        RuleSet::from_yaml("broken.yaml", &broken).unwrap(),
    ));
    let result = explore(
        engine.clone(),
        &ExploreConfig {
            orders: 8,
            steps: 2000,
            seed: 7,
        },
    );
    let violation = result.violation.expect("the broken rule is found");
    assert!(
        violation.message.starts_with("S1:"),
        "{}",
        violation.message
    );
    let shrunk = shrink(engine.clone(), &violation);
    assert!(
        shrunk.scenario.steps.len() <= 3,
        "{}",
        shrunk.scenario.to_yaml()
    );
    assert!(
        shrunk.scenario.orders.len() <= 2,
        "{}",
        shrunk.scenario.to_yaml()
    );
    // Written and read back, it still reproduces.
    let reread = Scenario::parse("shrunk.yaml", &shrunk.scenario.to_yaml()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let again = rt
        .block_on(first_violation(engine.clone(), &reread))
        .unwrap();
    assert!(again.violation.is_some());
    // With the real rules, the same scenario passes; with the broken ones it fails.
    let good = run_scenario(
        self::engine(),
        &reread,
        "shrunk.yaml",
        &RunOptions::default(),
    );
    assert!(good.passed(), "{}", report::text(&[good]));
    let bad = run_scenario(engine, &reread, "shrunk.yaml", &RunOptions::default());
    assert!(!bad.passed());
}

/// The scenario schema is generated from the types; it must not drift.
#[test]
fn scenario_schema_is_current() {
    let out = run(&["rules", "schema", "scenario"], None);
    let path = root().join("rules/scenario.schema.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    assert!(std::fs::read(&path).unwrap_or_default() == out.stdout, "rules/scenario.schema.json is stale: run `UPDATE_SCHEMAS=1 cargo test --test it scenario_schema`");
}

/// Random faults come from a seed: the same seed gives the same run, and the invariants
/// hold whatever fails.
#[test]
fn random_faults_are_seeded_and_keep_the_invariants() {
    let engine = engine();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    for seed in [1u64, 2, 3] {
        let mut scenario = rms_preflight::sim::generate(&ExploreConfig {
            orders: 10,
            steps: 300,
            seed,
        });
        scenario.sim = Some(rms_preflight::sim::scenario::SimSettings {
            random_fault_rate: Some(0.3),
            seed: Some(seed),
            ..Default::default()
        });
        let first = rt
            .block_on(first_violation(engine.clone(), &scenario))
            .unwrap();
        let again = rt
            .block_on(first_violation(engine.clone(), &scenario))
            .unwrap();
        assert_eq!(first, again, "seed {seed}: a seeded run is repeatable");
        assert_eq!(first.violation, None, "seed {seed}");
        // The faults did happen: without them the same steps make other calls.
        let mut calm = scenario.clone();
        calm.sim = None;
        let without = rt.block_on(first_violation(engine.clone(), &calm)).unwrap();
        assert_ne!(
            first.calls, without.calls,
            "seed {seed}: faults changed the traffic"
        );
    }
}

/// Why scenarios have `ledger:`: the same restart without a ledger lets the OMS send the
/// confirmation again (RMS refuses it: S18), and with one the rules refuse it before any
/// call (S1, `confirm-ledger-claimed`). A `kill_after` longer than the action changes
/// nothing but the step's name.
#[test]
fn a_restarted_oms_resends_without_a_ledger_and_not_with_one() {
    let body = |ledger: &str| {
        format!(
            "name: restart\nstart: 2026-11-30T09:00:00+09:00\n{ledger}orders:\n  - {{orderNumber: \"375055-20261130-00000001\", orderProgress: 100, orderDatetime: \"2026-11-30T08:00:00+0900\", postagePrice: 660}}\nsteps:\n  - confirm: \"375055-20261130-00000001\"\n    kill_after: 1m\n    expect: {{outcome: done, accepted_confirms: 1}}\n  - oms_restart: true\n    expect: {{order: \"375055-20261130-00000001\", confirm_sent: false}}\n  - confirm: \"375055-20261130-00000001\"\n"
        )
    };
    let without = tmp(
        "restart-without-ledger.yaml",
        &format!("{}    expect: {{decision: allow, outcome: failed, error: not_confirmable, calls: {{confirmOrder: 1}}, accepted_confirms: 1}}\n", body("")),
    );
    let with = tmp(
        "restart-with-ledger.yaml",
        &format!("{}    expect: {{decision: deny, rule: confirm-ledger-claimed, remedy_variant: \"confirm-ledger-claimed#2\", outcome: denied, calls: {{confirmOrder: 0}}, accepted_confirms: 1}}\n", body("ledger: memory\n")),
    );
    for path in [without, with] {
        let out = run(&["simulate", &path.to_string_lossy()], None);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let text = stdout(&out);
        assert!(text.contains("1 passed, 0 failed"), "{text}");
    }
    let out = run(
        &[
            "simulate",
            "--format",
            "json",
            &tmp(
                "restart-with-ledger.yaml",
                &format!(
                    "{}    expect: {{rule: confirm-ledger-claimed}}\n",
                    body("ledger: memory\n")
                ),
            )
            .to_string_lossy(),
        ],
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["scenarios"][0]["steps"][0]["what"],
        "confirm 375055-20261130-00000001 (not killed: done within 1m)"
    );
}
