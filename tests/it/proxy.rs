//! Issue 10: the guarding proxy (`rms-preflight proxy`, the real binary) in front of the
//! simulated RMS over loopback. The simulator runs in this process so the tests can read
//! its call log: what RMS *received* is the judge, not what the proxy says it did.
//!
//! - 8 clients confirm the same 500 orders at once (some -9999, some bundled, some not in
//!   100): RMS receives every allowed order exactly once and never a denied one; every
//!   client gets a well-formed RMS-shaped answer for every order.
//! - The proxy is SIGKILLed while RMS holds confirmations whose answers are lost, and
//!   restarted on the same SQLite file: the clients resend everything, still no order
//!   reaches RMS twice, and the rows left `sending` are reconciled.
//! - Two proxies on one PostgreSQL database (when `RMS_PREFLIGHT_TEST_POSTGRES` names one).
//! - A denied order costs no upstream call; the proxy keeps the configured rate; no
//!   spelling of a path carries a confirmation past the check; reads and `--dry-run` relay.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use rms_preflight::fixture::{Handler, HttpRequest, HttpResponse, Server};
use rms_preflight::model::Timestamp;
use rms_preflight::rms::Credentials;
use rms_preflight::sim::{FaultKind, FaultRule, SimClock, SimConfig, SimHandler, SimRms};

use super::rms_client::engine;
use super::root;
use super::{exchange, postgres_url, Scratch};

const SECRET: &str = "SP375055_proxy-test-secret";
const LICENCE: &str = "SL375055_proxy-test-licence";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// What kind of order number `i` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// -9999 shipping fee (S13).
    Unset,
    /// Already past 100 in RMS (S2).
    NotIn100,
    /// Bundled in the OMS (S8), said in the `x-rms-preflight-oms` header.
    Bundled,
    Good,
}

fn kind(i: usize) -> Kind {
    match i % 10 {
        0 => Kind::Unset,
        1 => Kind::NotIn100,
        2 => Kind::Bundled,
        _ => Kind::Good,
    }
}

fn number(i: usize) -> String {
    format!("375055-20261130-{:08}", i + 1)
}

/// The simulated RMS with `n` orders, on 127.0.0.1:0.
async fn sim_rms(n: usize, config: SimConfig) -> (Arc<SimRms>, Server) {
    let now = Timestamp::now_jst();
    let placed = Timestamp::from_unix(now.unix_seconds() - 3600, 9 * 3600).to_string();
    let sim = Arc::new(SimRms::new(engine(), SimClock::new(now), config));
    for i in 0..n {
        let mut order = json!({
            "orderNumber": number(i),
            "orderProgress": 100,
            "orderDatetime": placed,
            "postagePrice": 660,
            "deliveryPrice": 0,
            "goodsPrice": 3000,
            "totalPrice": 3660,
            "requestPrice": 3660,
        });
        match kind(i) {
            Kind::Unset => order["postagePrice"] = json!(-9999),
            Kind::NotIn100 => order["orderProgress"] = json!(300),
            _ => {}
        }
        sim.add_order(order.as_object().unwrap().clone()).unwrap();
    }
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SimHandler { sim: sim.clone() }),
    )
    .await
    .unwrap();
    (sim, server)
}

/// A running `rms-preflight proxy`: its URL and every line it logged.
struct ProxyProcess {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProxyProcess {
    fn start(upstream: &str, ledger: &str, extra: &[&str]) -> ProxyProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
            .args([
                "proxy",
                "--upstream",
                upstream,
                "--listen",
                "127.0.0.1:0",
                "--ledger",
                ledger,
            ])
            .args(extra)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut url = None;
        let mut line = String::new();
        while url.is_none() {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                let seen = log.lock().unwrap().join("");
                panic!("the proxy stopped before listening:\n{seen}");
            }
            log.lock().unwrap().push(line.clone());
            if let Some(rest) = line.strip_prefix("rms-preflight proxy on ") {
                url = rest.split_whitespace().next().map(str::to_owned);
            }
        }
        // Keep reading, or a full pipe would stop the proxy.
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push(std::mem::take(&mut line));
            }
        });
        ProxyProcess {
            child,
            url: url.unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("")
    }

    /// The log once it holds `needle` (a thread reads the proxy's stderr: a line written
    /// before an answer may be read after it), or as it is after 10 s.
    fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn authorization() -> String {
    Credentials::new(SECRET, LICENCE).authorization()
}

/// A `confirmOrder` for `numbers`, with the OMS's bundle facts.
fn confirm_request(
    client: &reqwest::Client,
    base: &str,
    numbers: &[String],
) -> reqwest::RequestBuilder {
    let bundled: serde_json::Map<String, Value> = numbers
        .iter()
        .filter(|n| kind(index_of(n)) == Kind::Bundled)
        .map(|n| (n.clone(), json!({"bundle_id": "B-1"})))
        .collect();
    client
        .post(format!("{base}/es/2.0/order/confirmOrder/"))
        .header("Authorization", authorization())
        .header("x-rms-preflight-oms", Value::Object(bundled).to_string())
        .body(json!({ "orderNumberList": numbers }).to_string())
}

/// One client call: `confirmOrder` for `numbers`; the status and the body.
async fn confirm(client: &reqwest::Client, base: &str, numbers: &[String]) -> (u16, Value) {
    let response = confirm_request(client, base, numbers).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value =
        serde_json::from_slice(&response.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
    (status, body)
}

fn index_of(number: &str) -> usize {
    number.rsplit('-').next().unwrap().parse::<usize>().unwrap() - 1
}

/// Every answer is RMS-shaped: one message per order, in the request's order; a denied
/// order carries the proxy's code, the rule, the seed tag and a remedy. Returns the
/// message codes by order number.
fn check_answer(numbers: &[String], status: u16, body: &Value) -> Vec<(String, String)> {
    assert_eq!(status, 200, "{body}");
    let list = body["MessageModelList"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(list.len(), numbers.len(), "{body}");
    let mut codes = Vec::new();
    for (n, m) in numbers.iter().zip(list) {
        assert_eq!(m["orderNumber"], json!(n), "in request order: {m}");
        let code = m["messageCode"].as_str().unwrap_or_else(|| panic!("{m}"));
        let kind_of_message = m["messageType"].as_str().unwrap();
        assert!(matches!(kind_of_message, "INFO" | "ERROR"), "{m}");
        assert!(!m["message"].as_str().unwrap().is_empty(), "{m}");
        if code.starts_with("RMS_PREFLIGHT_S") {
            let p = &m["preflight"];
            assert_eq!(p["decision"], "deny", "{m}");
            assert!(p["rule"].as_str().is_some_and(|r| !r.is_empty()), "{m}");
            assert_eq!(
                rms_preflight::proxy::answer::code(p["source"].as_str().unwrap()),
                code
            );
            assert!(!p["remedy"].as_array().unwrap().is_empty(), "{m}");
            assert!(p["message"]["en"].as_str().is_some(), "{m}");
        }
        codes.push((n.clone(), code.to_owned()));
    }
    codes
}

/// How many `confirmOrder` calls RMS received with each order in them.
fn confirms_received(sim: &SimRms) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for call in sim.calls().iter().filter(|c| c.function == "confirmOrder") {
        for n in &call.orders {
            *out.entry(n.clone()).or_default() += 1;
        }
    }
    out
}

/// Eight clients, each confirming all `n` orders in chunks of 100 (each client starting
/// at a different chunk), against `bases` in turn. Every answer is checked.
async fn eight_clients(bases: &[String], n: usize) -> Vec<(String, String)> {
    let numbers: Vec<String> = (0..n).map(number).collect();
    let chunks: Vec<Vec<String>> = numbers.chunks(100).map(<[String]>::to_vec).collect();
    let mut tasks = Vec::new();
    for c in 0..8 {
        let chunks = chunks.clone();
        let base = bases[c % bases.len()].clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut codes = Vec::new();
            for k in 0..chunks.len() {
                let chunk = &chunks[(k + c) % chunks.len()];
                let (status, body) = confirm(&client, &base, chunk).await;
                codes.extend(check_answer(chunk, status, &body));
            }
            codes
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// The invariant: every allowed order reached RMS exactly once, no denied one ever.
fn assert_once_only(sim: &SimRms, n: usize) {
    let received = confirms_received(sim);
    for i in 0..n {
        let got = received.get(&number(i)).copied().unwrap_or(0);
        match kind(i) {
            Kind::Good => {
                assert_eq!(got, 1, "{} reached RMS {got} times", number(i));
                assert_eq!(sim.accepted_confirms(&number(i)), 1);
            }
            other => assert_eq!(got, 0, "{} ({other:?}) reached RMS", number(i)),
        }
    }
}

fn ledger_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .arg("ledger")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn eight_clients_one_confirmation_each_through_the_proxy() {
    let scratch = Scratch::new("proxy-eight");
    let rt = rt();
    rt.block_on(async {
        let (sim, server) = sim_rms(500, SimConfig::default()).await;
        let proxy = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &["--rate", "0"]);
        let codes = eight_clients(std::slice::from_ref(&proxy.url), 500).await;
        assert_once_only(&sim, 500);

        // Per order, across the 8 clients: a good order was confirmed by RMS for exactly
        // one client and refused by the proxy for the other seven; the others were
        // refused by their own rule every time.
        let mut by_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, code) in codes {
            by_order.entry(n).or_default().push(code);
        }
        for (n, codes) in &by_order {
            assert_eq!(codes.len(), 8);
            let expected: &[&str] = match kind(index_of(n)) {
                Kind::Unset => &["RMS_PREFLIGHT_S13"],
                Kind::NotIn100 => &["RMS_PREFLIGHT_S2"],
                Kind::Bundled => &["RMS_PREFLIGHT_S8"],
                // After RMS took it, the ledger (S1) or RMS's own evidence in the fresh
                // snapshot (S7c: confirmed, S2: not in 100) refuses every other client.
                Kind::Good => &[
                    "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
                    "RMS_PREFLIGHT_S1",
                    "RMS_PREFLIGHT_S7C",
                    "RMS_PREFLIGHT_S2",
                ],
            };
            for c in codes {
                assert!(expected.contains(&c.as_str()), "{n}: {codes:?}");
            }
            if kind(index_of(n)) == Kind::Good {
                let confirmed = codes
                    .iter()
                    .filter(|c| *c == "ORDER_EXT_API_CONFIRM_ORDER_INFO_101")
                    .count();
                assert_eq!(confirmed, 1, "{n}: {codes:?}");
            }
        }

        // A denial's log line names the order as it is (escaped, not quoted again).
        let unset = number((0..500).find(|&i| kind(i) == Kind::Unset).unwrap());
        let log = proxy.log_with(&format!("\"order\":\"{unset}\""));
        assert!(log.contains(&format!("\"order\":\"{unset}\"")), "{log}");

        // Metrics and health.
        let client = reqwest::Client::new();
        let health = client
            .get(format!("{}/-/healthz", proxy.url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        // `confirmed` marks land just after their answers (the row reads `sending` until
        // then, which refuses a second claim as well): wait for them, within reason.
        let mut metrics = String::new();
        for _ in 0..200 {
            metrics = client
                .get(format!("{}/-/metrics", proxy.url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if metrics.contains("rms_preflight_ledger_rows{state=\"sending\"} 0") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            metrics.contains("rms_preflight_proxy_calls_total{function=\"confirmOrder\"} 40"),
            "{metrics}"
        );
        assert!(
            metrics.contains("rms_preflight_proxy_forwarded_total{function=\"confirmOrder\"} 350"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "rms_preflight_proxy_denied_total{rule=\"confirm-shipping-fee-unset\"} 400"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("rms_preflight_ledger_rows{state=\"confirmed\"} 350"),
            "{metrics}"
        );
        assert!(
            metrics.contains("rms_preflight_ledger_rows{state=\"sending\"} 0"),
            "{metrics}"
        );
        assert!(
            metrics.contains("rms_preflight_proxy_upstream_seconds_count"),
            "{metrics}"
        );

        // The logs are JSON lines and carry no credential (read by a thread: wait for them).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut log = proxy.log();
        while log.lines().filter(|l| l.starts_with('{')).count() < 40 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            log = proxy.log();
        }
        let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
        assert!(lines.len() >= 40, "{log}");
        for l in &lines {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.get("level").is_some(), "{l}");
        }
        for secret in [SECRET, LICENCE, &authorization()[4..]] {
            assert!(!log.contains(secret), "the log holds a credential");
        }

        // The ledger, from the command line.
        let (code, out, err) = ledger_cli(&[
            "list",
            "--ledger",
            &scratch.ledger_url(),
            "--state",
            "confirmed",
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 350, "{out}");
        let (code, out, _) = ledger_cli(&["show", "--ledger", &scratch.ledger_url(), &number(3)]);
        assert_eq!(code, 0);
        assert!(
            out.contains(&number(3)) && out.contains("confirm") && out.contains("confirmed"),
            "{out}"
        );
        // Nothing found is told apart from a find, as `grep` does.
        let (absent, nothing, err) =
            ledger_cli(&["show", "--ledger", &scratch.ledger_url(), "1-2-3"]);
        assert_eq!((absent, nothing.as_str()), (1, ""), "{err}");
        assert!(err.contains("no ledger row for `1-2-3`"), "{err}");
        assert!(
            out.starts_with("esa-"),
            "the shop key, never the secret: {out}"
        );
        let (code, out, _) = ledger_cli(&["export", "--ledger", &scratch.ledger_url()]);
        assert_eq!(code, 0);
        assert_eq!(out.lines().count(), 350);
        for l in out.lines() {
            let row: Value = serde_json::from_str(l).unwrap();
            assert_eq!(row["state"], "confirmed");
        }
        drop(proxy);
    });
}

#[test]
fn a_proxy_killed_mid_call_and_restarted_sends_nothing_twice() {
    let scratch = Scratch::new("proxy-crash");
    let rt = rt();
    rt.block_on(async {
        let config = SimConfig {
            timeout: Duration::from_secs(3),
            ..SimConfig::default()
        };
        let (sim, server) = sim_rms(500, config).await;
        // RMS takes the first two confirmations but their answers never arrive: the proxy
        // is killed while it waits, with those rows `sending`.
        sim.inject(FaultRule {
            kind: FaultKind::LostResponse,
            functions: vec!["confirmOrder".into()],
            remaining: Some(2),
            until: None,
        });
        // (Its claims record its upstream timeout: the successor waits that out.)
        let mut first = ProxyProcess::start(
            &server.url(),
            &scratch.ledger_url(),
            &[
                "--rate",
                "0",
                "--stale-after",
                "0s",
                "--upstream-timeout",
                "5s",
            ],
        );
        let base = first.url.clone();
        let clients = tokio::spawn(async move {
            // Their answers do not matter: the proxy dies under them.
            let client = reqwest::Client::new();
            let numbers: Vec<String> = (0..500).map(number).collect();
            let mut tasks = Vec::new();
            for chunk in numbers.chunks(100) {
                let client = client.clone();
                let base = base.clone();
                let chunk = chunk.to_vec();
                tasks.push(tokio::spawn(async move {
                    confirm_request(&client, &base, &chunk).send().await
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while sim
            .calls()
            .iter()
            .filter(|c| c.function == "confirmOrder" && c.fault == Some(FaultKind::LostResponse))
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "no lost confirmation happened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.kill();
        let _ = clients.await;
        let lost: Vec<String> = sim
            .calls()
            .iter()
            .filter(|c| c.fault == Some(FaultKind::LostResponse))
            .flat_map(|c| c.confirmed.clone())
            .collect();
        assert!(
            !lost.is_empty(),
            "RMS confirmed orders whose answers were lost"
        );
        let (_, sending, _) = ledger_cli(&[
            "list",
            "--ledger",
            &scratch.ledger_url(),
            "--state",
            "sending",
        ]);
        assert!(!sending.is_empty(), "the kill left claims `sending`");

        // Restart on the same file; once the claims left `sending` are settled (after the
        // upstream timeout: a call of the dead proxy may be at RMS until then), every
        // client resends everything.
        let second = ProxyProcess::start(
            &server.url(),
            &scratch.ledger_url(),
            &[
                "--rate",
                "0",
                "--stale-after",
                "0s",
                "--upstream-timeout",
                "2s",
            ],
        );
        second.log_with("are now `unknown`");
        let codes = eight_clients(std::slice::from_ref(&second.url), 500).await;
        assert_once_only(&sim, 500);
        // The orders whose answers were lost were read back, not resent.
        for n in &lost {
            assert!(
                codes
                    .iter()
                    .filter(|(m, _)| m == n)
                    .all(|(_, c)| c.starts_with("RMS_PREFLIGHT_S")),
                "{n} was confirmed by RMS before the crash: every resend is refused: {codes:?}"
            );
        }
        let (_, open, _) = ledger_cli(&[
            "list",
            "--ledger",
            &scratch.ledger_url(),
            "--state",
            "sending",
            "--state",
            "unknown",
        ]);
        assert_eq!(open, "", "every row left open was reconciled");
        assert!(
            second.log().contains("are now `unknown`"),
            "{}",
            second.log()
        );
    });
}

#[test]
fn two_proxies_sharing_one_postgres_database() {
    let Some(url) = postgres_url() else { return };
    let rt = rt();
    rt.block_on(async {
        // Earlier runs' rows are another shop's: the shop key is the secret's hash, and
        // the simulated orders are new, so a fresh secret keeps runs apart.
        let (sim, server) = sim_rms(500, SimConfig::default()).await;
        let shop = Scratch::new("proxy-pg-shop");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let shop_file = shop.path().join("shop.yaml");
        std::fs::write(&shop_file, format!("id: pg-test-{nanos}\n")).unwrap();
        let shop_arg = shop_file.display().to_string();
        let a = ProxyProcess::start(&server.url(), &url, &["--rate", "0", "--shop", &shop_arg]);
        let b = ProxyProcess::start(&server.url(), &url, &["--rate", "0", "--shop", &shop_arg]);
        eight_clients(&[a.url.clone(), b.url.clone()], 500).await;
        assert_once_only(&sim, 500);
        for p in [&a, &b] {
            assert!(!p.log().contains(&url), "the database URL is never logged");
        }
    });
}

/// An upstream that records what reached it and answers every call with `answer`.
struct Recording {
    seen: Mutex<Vec<HttpRequest>>,
    answer: HttpResponse,
}

impl Handler for Recording {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        self.seen.lock().unwrap().push(request);
        self.answer.clone()
    }
}

#[test]
fn no_spelling_carries_a_confirmation_past_the_check_and_reads_relay_as_they_came() {
    let rt = rt();
    let scratch = Scratch::new("proxy-spellings");
    rt.block_on(async {
        let upstream = Arc::new(Recording {
            seen: Mutex::new(Vec::new()),
            answer: HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json;charset=UTF-8".into()), ("requestid".into(), "r-1".into())],
                body: bytes::Bytes::from_static(br#"{"MessageModelList":[{"messageType":"INFO","messageCode":"X","message":"x"}]}"#),
            },
        });
        let server = Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone()).await.unwrap();
        let proxy = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &["--rate", "0"]);
        let client = reqwest::Client::new();
        let body = json!({"orderNumberList": [number(3)]}).to_string();

        // A read goes through as it came: path, query, body, Authorization; the answer
        // comes back as it came.
        let got = client
            .post(format!("{}/es/2.0/order/getOrder/?x=1", proxy.url))
            .header("Authorization", authorization())
            .body(r#"{"orderNumberList":["a"],"version":7}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["requestid"], "r-1");
        assert!(got.text().await.unwrap().contains("\"messageCode\":\"X\""));
        {
            let seen = upstream.seen.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].path, "/es/2.0/order/getOrder/?x=1");
            assert_eq!(seen[0].header("authorization"), Some(authorization().as_str()));
            assert_eq!(&seen[0].body[..], br#"{"orderNumberList":["a"],"version":7}"#);
        }

        // Spellings of confirmOrder are confirmOrder: checked (this upstream answers no
        // order, so nothing can be checked and nothing is sent); unknown functions and
        // paths are refused, never relayed.
        for path in [
            "/es/2.0/order/ConfirmOrder/",
            "/es/2.0/order/%63onfirmOrder",
            "/es/2.0/order/confirmOrder//",
            "/es/2.0/order%2FconfirmOrder",
            "/es/2.0/order/%2563onfirmOrder/",
        ] {
            let r = client.post(format!("{}{path}", proxy.url)).header("Authorization", authorization()).body(body.clone()).send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(status, 200, "{path}: {v}");
            assert_eq!(v["MessageModelList"][0]["messageType"], "ERROR", "{path}: {v}");
        }
        // Found by QA: a decoded `#` or `?` in the prefix once moved the proxy's own
        // snapshot read onto confirmOrder; a function in a non-final segment was relayed as
        // a read. Every such path is refused now.
        for path in [
            "/es/2.0/order/confirmOrder/x",
            "/es/2.0/order/confirmOrders",
            "/es/2.0/order/%zz",
            "/",
            "/es/2.0/order/confirmOrder%23/order/confirmOrder",
            "/es/2.0/order/confirmOrder%3F/order/getOrder",
            "/es/2.0/order/confirmOrder;x/order/getOrder",
            "/es/2.0/order/confirmOrder/..%2Forder%2FgetOrder",
            "/es/2.0/order/confirmOrder/order/getOrder",
            // Found by the second QA round: only RMS's base path is accepted.
            "/x/es/2.0/order/confirmOrder/",
            "/es/2.0/confirmOrder/order/confirmOrder/",
            "/es/9.9/order/getOrder/",
        ] {
            let r = client.post(format!("{}{path}", proxy.url)).header("Authorization", authorization()).body(body.clone()).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(v["MessageModelList"][0]["messageCode"], "RMS_PREFLIGHT_UNKNOWN_FUNCTION");
        }
        // Bodies that cannot be checked are refused: not JSON, no list, over 100, no shop.
        let over: Vec<String> = (0..101).map(number).collect();
        for (b, auth) in [
            ("not json".to_owned(), true),
            ("{}".to_owned(), true),
            (json!({"orderNumberList": over}).to_string(), true),
            (json!({"orderNumberList": [1]}).to_string(), true),
            (body.clone(), false),
        ] {
            let mut r = client.post(format!("{}/es/2.0/order/confirmOrder/", proxy.url)).body(b.clone());
            if auth {
                r = r.header("Authorization", authorization());
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 400, "{b}");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            let code = v["MessageModelList"][0]["messageCode"].as_str().unwrap().to_owned();
            assert!(code == "RMS_PREFLIGHT_BAD_REQUEST" || code == "RMS_PREFLIGHT_NO_SHOP", "{v}");
        }
        // Each refusal is one JSON log line with one `message` key (the reason has its own).
        let log = proxy.log_with("refused: the request cannot be checked");
        let refusals: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("refused: the request cannot be checked"))
            .collect();
        assert!(!refusals.is_empty(), "{log}");
        for line in refusals {
            assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
            assert!(line.contains("\"reason\":"), "{line}");
        }
        // A body that names an order twice (by case) or an OMS header that names one order
        // twice is refused: the proxy must check what RMS will act on.
        let decoy = json!({"OrderShippingModelList": [{"OrderNumber": number(3), "orderNumber": number(0)}]});
        let r = client
            .post(format!("{}/es/2.0/order/updateOrderShippingAsync/", proxy.url))
            .header("Authorization", authorization())
            .body(decoy.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let twice = format!(r#"{{"{n}":{{"bundle_id":"B-1"}}," {n}":{{}}}}"#, n = number(3));
        let r = client
            .post(format!("{}/es/2.0/order/confirmOrder/", proxy.url))
            .header("Authorization", authorization())
            .header("x-rms-preflight-oms", twice)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // The OMS header in two lines, and order numbers with a control character at
        // either end (trimmed by the check, forwarded raw) are refused too.
        let r = client
            .post(format!("{}/es/2.0/order/confirmOrder/", proxy.url))
            .header("Authorization", authorization())
            .header("x-rms-preflight-oms", "{}")
            .header("X-RMS-Preflight-OMS", format!(r#"{{"{}":{{"bundle_id":"B-1"}}}}"#, number(3)))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // Found by QA: characters beyond printable ASCII that Unicode does not call
        // ignorable (U+FFF9, U+13430, U+2800, U+2028) are refused as well: RMS's order
        // numbers are printable ASCII.
        let mid = |c: char| {
            let n = number(3);
            format!("{}{c}{}", &n[..7], &n[7..])
        };
        for n in [
            format!("{}\n", number(3)),
            format!("\t{}", number(3)),
            format!("\u{202e}{}", number(3)),
            format!("{}\u{fff9}", number(3)),
            format!("\u{13430}{}", number(3)),
            format!("{}\u{2800}", number(3)),
            mid('\u{2028}'),
            mid(' '),
        ] {
            let r = client
                .post(format!("{}/es/2.0/order/confirmOrder/", proxy.url))
                .header("Authorization", authorization())
                .body(json!({ "orderNumberList": [n] }).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{n:?}");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            let message = v["MessageModelList"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("is not an order number"), "{n:?}: {message}");
        }
        // A body naming a key twice means what its reader makes of it (serde_json keeps
        // the last, another parser the first): refused, for a forwarded body as for
        // confirmOrder's, before anything is checked or sent.
        for (function, body) in [
            (
                "confirmOrder",
                format!(r#"{{"orderNumberList":["{}"],"orderNumberList":["{}"]}}"#, number(3), number(0)),
            ),
            (
                "updateOrderShippingAsync",
                format!(r#"{{"OrderShippingModelList":[{{"orderNumber":"{}","orderNumber":"{}"}}]}}"#, number(3), number(0)),
            ),
        ] {
            let r = client
                .post(format!("{}/es/2.0/order/{function}/", proxy.url))
                .header("Authorization", authorization())
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{body}");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            let message = v["MessageModelList"][0]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with("the body names `"), "{body}: {message}");
        }
        // A read in any spelling goes upstream in the one canonical spelling, with one
        // content type back.
        let got = client
            .post(format!("{}/es/2.0/order/GETORDER?x=2", proxy.url))
            .header("Authorization", authorization())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(got.headers().get_all("content-type").iter().count(), 1);
        {
            let seen = upstream.seen.lock().unwrap();
            assert_eq!(seen.last().unwrap().path, "/es/2.0/order/getOrder/?x=2");
        }
        let seen = upstream.seen.lock().unwrap();
        let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
        assert!(
            paths.iter().all(|p| p.contains("getOrder")),
            "only reads reached the upstream: {paths:?}"
        );
    });
}

#[test]
fn a_denied_order_costs_no_upstream_call_and_the_rate_holds() {
    let rt = rt();
    let scratch = Scratch::new("proxy-rate");
    rt.block_on(async {
        let (sim, server) = sim_rms(100, SimConfig::default()).await;
        // 20 calls a second: at least 50 ms between two upstream calls.
        let proxy = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &["--rate", "20"]);
        let client = reqwest::Client::new();
        // The OMS reads its orders through the proxy: their snapshots are now fresh.
        let numbers: Vec<String> = (0..100).map(number).collect();
        let r = client
            .post(format!("{}/es/2.0/order/getOrder/", proxy.url))
            .header("Authorization", authorization())
            .body(json!({"orderNumberList": numbers, "version": 7}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let before = sim.call_count();
        // Confirming only denied orders costs RMS nothing.
        let denied: Vec<String> = (0..100)
            .filter(|&i| kind(i) != Kind::Good)
            .map(number)
            .collect();
        let (status, body) = confirm(&client, &proxy.url, &denied).await;
        check_answer(&denied, status, &body);
        assert_eq!(
            sim.call_count(),
            before,
            "a denied order cost an upstream call"
        );

        // Four clients at once, reads and confirmations: RMS never sees two calls closer
        // than the rate allows. (A lower bound on elapsed time: slowness cannot fail it.)
        let started = Instant::now();
        let before = sim.call_count();
        let mut tasks = Vec::new();
        for c in 0..4 {
            let client = client.clone();
            let base = proxy.url.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..3 {
                    let r = client
                        .post(format!("{base}/es/2.0/order/getOrder/"))
                        .header("Authorization", authorization())
                        .body(
                            json!({"orderNumberList": [number(c * 10 + k)], "version": 7})
                                .to_string(),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let calls = sim.call_count() - before;
        assert_eq!(calls, 12);
        assert!(
            started.elapsed() >= Duration::from_millis(50 * (calls as u64 - 1)),
            "{calls} calls in {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn dry_run_relays_everything_and_counts_what_it_would_deny() {
    let rt = rt();
    let scratch = Scratch::new("proxy-dry");
    rt.block_on(async {
        let (sim, server) = sim_rms(10, SimConfig::default()).await;
        let proxy = ProxyProcess::start(
            &server.url(),
            &scratch.ledger_url(),
            &["--rate", "0", "--dry-run"],
        );
        let client = reqwest::Client::new();
        let numbers = vec![number(0), number(3)];
        let (status, body) = confirm(&client, &proxy.url, &numbers).await;
        assert_eq!(status, 200, "{body}");
        // RMS itself answered both (the -9999 one with its own error).
        let received = confirms_received(&sim);
        assert_eq!(received.get(&number(0)), Some(&1));
        assert_eq!(received.get(&number(3)), Some(&1));
        let metrics = client
            .get(format!("{}/-/metrics", proxy.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                "rms_preflight_proxy_would_deny_total{rule=\"confirm-shipping-fee-unset\"} 1"
            ),
            "{metrics}"
        );
        let log = proxy.log_with("would deny");
        assert!(log.contains("would deny"), "{log}");
        // Found by QA: what enforcing would refuse as unreadable — an OMS header that is
        // not JSON on confirmOrder, a forwarded body naming a key twice — is relayed too,
        // and logged, so the shop sees it before it enforces.
        let r = confirm_request(&client, &proxy.url, &[number(1)])
            .header("x-rms-preflight-oms", "not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(confirms_received(&sim).get(&number(1)), Some(&1));
        let twice = format!(
            r#"{{"orderNumber":"{}","orderNumber":"{}"}}"#,
            number(2),
            number(4)
        );
        let r = client
            .post(format!("{}/es/2.0/order/cancelOrder/", proxy.url))
            .header("Authorization", authorization())
            .body(twice)
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 400, "relayed, RMS answered");
        let log = proxy.log_with("dry run: relayed a call that would be refused");
        assert!(log.contains("names `orderNumber` twice"), "{log}");
        assert!(
            log.contains("dry run: relayed a confirmOrder that cannot be checked"),
            "{log}"
        );
    });
}

#[test]
fn bad_proxy_arguments_exit_2_without_echoing_secrets() {
    for (args, expect) in [
        (
            vec!["--upstream", "ftp://x", "--listen", "127.0.0.1:0"],
            "--upstream",
        ),
        (
            vec![
                "--upstream",
                "http://user:hunter2@127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
            ],
            "user-info",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--rate=-1",
            ],
            "rate",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--ledger",
                "postgres://u:hunter2@127.0.0.1:1/x",
            ],
            "ledger",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--shop",
                "tests/corpus/proxy/shop-unknown-field.yaml",
            ],
            "line",
        ),
        // A SQLite ledger that names no file, or a file that cannot hold one.
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--ledger",
                "sqlite:",
            ],
            "names no file",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--ledger",
                "sqlite:/dev/null",
            ],
            "`/dev/null` is not a regular file",
        ),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--ledger",
                "sqlite:tests",
            ],
            "`tests` is not a regular file",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
            .arg("proxy")
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "{args:?}: {err}");
    }
    let (code, _, err) = ledger_cli(&["list", "--ledger", "sqlite:/nonexistent/dir/ledger.db"]);
    assert_eq!(code, 2, "{err}");
}

/// A proxy (SQLite ledger in `scratch`, no rate limit, and `args`) in front of
/// `upstream`, served on 127.0.0.1:0.
async fn proxy_before<H: Handler>(
    upstream: H,
    scratch: &Scratch,
    args: &[&str],
) -> (Server, ProxyProcess) {
    let server = Server::start("127.0.0.1:0".parse().unwrap(), Arc::new(upstream))
        .await
        .unwrap();
    let args: Vec<&str> = ["--rate", "0"].iter().chain(args).copied().collect();
    let proxy = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &args);
    (server, proxy)
}

/// The good orders of [`sim_rms`] with 8 orders.
fn good_of_eight() -> Vec<String> {
    (0..8)
        .filter(|&i| kind(i) == Kind::Good)
        .map(number)
        .collect()
}

/// Reads from the simulated RMS; a `confirmOrder` is acted on `hold` after it arrived,
/// whether or not its caller is still there: a call goes on at RMS after the proxy that
/// sent it died.
struct LateConfirms {
    sim: Arc<SimRms>,
    hold: Duration,
}

impl Handler for LateConfirms {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let sim = SimHandler {
            sim: self.sim.clone(),
        };
        if !request.path.contains("/confirmOrder") {
            return sim.handle(request).await;
        }
        let hold = self.hold;
        let late = tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            sim.handle(request).await
        });
        late.await.unwrap()
    }
}

/// A proxy with `first_timeout` as its upstream timeout, in front of an RMS that acts on a
/// confirmation 3 s after it arrived, SIGKILLed while RMS holds its confirmation of one
/// good order: the simulated RMS, the upstream server (keep it alive) and the order.
async fn proxy_killed_while_rms_holds_a_call(
    scratch: &Scratch,
    first_timeout: &str,
) -> (Arc<SimRms>, Server, String) {
    let (sim, _) = sim_rms(8, SimConfig::default()).await;
    let (upstream, mut first) = proxy_before(
        LateConfirms {
            sim: sim.clone(),
            hold: Duration::from_secs(3),
        },
        scratch,
        &["--upstream-timeout", first_timeout],
    )
    .await;
    let order = good_of_eight()[0].clone();
    let base = first.url.clone();
    let asked = vec![order.clone()];
    let hung = tokio::spawn(async move {
        confirm_request(&reqwest::Client::new(), &base, &asked)
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger_cli(&[
        "list",
        "--ledger",
        &scratch.ledger_url(),
        "--state",
        "sending",
    ])
    .1
    .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the confirmation was never claimed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // on its way to RMS
    first.kill();
    let _ = hung.await;
    (sim, upstream, order)
}

/// A successor of [`proxy_killed_while_rms_holds_a_call`] on the same ledger, started at
/// once with `--stale-after 0s` and `timeout` as its upstream timeout.
fn successor(scratch: &Scratch, upstream: &Server, timeout: &str) -> ProxyProcess {
    ProxyProcess::start(
        &upstream.url(),
        &scratch.ledger_url(),
        &[
            "--rate",
            "0",
            "--stale-after",
            "0s",
            "--upstream-timeout",
            timeout,
        ],
    )
}

/// Once the successor has settled what was left: a resend of `order` is refused for good
/// (read back, found confirmed), and RMS took it exactly once. Returns the log.
async fn settled_once(sim: &SimRms, second: &ProxyProcess, order: &str) -> String {
    let log = second.log_with("are now `unknown`");
    assert!(log.contains("are now `unknown`"), "{log}");
    let asked = [order.to_owned()];
    let (status, body) = confirm(&reqwest::Client::new(), &second.url, &asked).await;
    let codes = check_answer(&asked, status, &body);
    assert_eq!(
        codes[0].1, "RMS_PREFLIGHT_S1",
        "confirmed by the first call: {body}"
    );
    assert_eq!(confirms_received(sim).get(order).copied(), Some(1));
    assert_eq!(sim.accepted_confirms(order), 1);
    log
}

/// A confirmation still at RMS when its proxy was killed is not sent again by a successor
/// started at once with `--stale-after 0s`: until the upstream timeout has passed, the
/// claim stays `sending` and a resend is refused (S1, in flight); after it, the order is
/// read back, found confirmed, and refused for good. (Read back at once, it would still be
/// in 100 and go to RMS a second time.)
#[test]
fn a_call_still_at_rms_when_its_proxy_died_is_not_sent_again() {
    let scratch = Scratch::new("proxy-late-rms");
    let rt = rt();
    rt.block_on(async {
        let (sim, upstream, order) = proxy_killed_while_rms_holds_a_call(&scratch, "4s").await;
        let second = successor(&scratch, &upstream, "4s");
        let asked = [order.clone()];
        let (status, body) = confirm(&reqwest::Client::new(), &second.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert_eq!(codes[0].1, "RMS_PREFLIGHT_S1", "still in flight: {body}");

        settled_once(&sim, &second, &order).await;
        let (_, row, _) = ledger_cli(&["show", "--ledger", &scratch.ledger_url(), &order]);
        assert!(row.contains("confirmed"), "{row}");
    });
}

/// The same with a successor whose upstream timeout is shorter than the dead proxy's
/// (QA's case): the claim recorded its sender's timeout, and the successor waits that
/// out, not its own, before the order is read back.
#[test]
fn a_successor_with_a_shorter_upstream_timeout_waits_out_the_dead_proxys() {
    let scratch = Scratch::new("proxy-late-rms-shorter");
    let rt = rt();
    rt.block_on(async {
        let (sim, upstream, order) = proxy_killed_while_rms_holds_a_call(&scratch, "6s").await;
        let second = successor(&scratch, &upstream, "1s");
        let started = Instant::now();
        let asked = [order.clone()];
        // Past the successor's own timeout, within the dead proxy's and before RMS acted.
        tokio::time::sleep(Duration::from_millis(1800)).await;
        assert!(
            started.elapsed() < Duration::from_millis(2600),
            "too slow to tell"
        );
        let (status, body) = confirm(&reqwest::Client::new(), &second.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert_eq!(codes[0].1, "RMS_PREFLIGHT_S1", "still in flight: {body}");

        let log = settled_once(&sim, &second, &order).await;
        assert!(log.contains("longer upstream timeout"), "{log}");
    });
}

/// Reads from the simulated RMS; every `confirmOrder` refused as a whole with RMS's 401.
struct RefusingConfirms {
    sim: SimHandler,
}

impl Handler for RefusingConfirms {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if request.path.contains("/confirmOrder") {
            return HttpResponse::json(
                401,
                &json!({"Results": {"errorCode": "ES01-01", "message": "Un-Authorised", "extra": 1}}),
            );
        }
        self.sim.handle(request).await
    }
}

/// A call RMS refuses as a whole (401: the licence key) comes back to the OMS as RMS wrote
/// it, status and body, when the proxy has no word of its own about any order — and the
/// proxy's own entries only when it has (a denial in the same request).
#[test]
fn a_call_rms_refuses_whole_comes_back_as_it_came() {
    let scratch = Scratch::new("proxy-refused-whole");
    let rt = rt();
    rt.block_on(async {
        let (sim, _) = sim_rms(8, SimConfig::default()).await;
        let (_upstream, proxy) = proxy_before(
            RefusingConfirms {
                sim: SimHandler { sim },
            },
            &scratch,
            &[],
        )
        .await;
        let client = reqwest::Client::new();
        let good = good_of_eight();
        assert!(good.len() >= 2);
        let (status, body) = confirm(&client, &proxy.url, &good[..2]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["Results"]["errorCode"], "ES01-01", "{body}");
        assert_eq!(body["Results"]["extra"], 1, "{body}");
        // With a denied order beside it, every order gets its own entry.
        let unset = number((0..8).find(|&i| kind(i) == Kind::Unset).unwrap());
        let (status, body) = confirm(&client, &proxy.url, &[good[2].clone(), unset]).await;
        assert_eq!(status, 200, "{body}");
        let codes: Vec<&str> = body["MessageModelList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["messageCode"].as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), 2, "{body}");
        assert_eq!(codes[1], "RMS_PREFLIGHT_S13", "{body}");
        assert!(codes[0].starts_with("RMS_PREFLIGHT_"), "{body}");
    });
}

/// A proxy starting with `--stale-after 0s` beside one that still serves the same ledger
/// file (it may be draining calls in flight after a SIGTERM) does not take that proxy's
/// `sending` rows for abandoned: it settles with the live stale time, and says so.
#[test]
fn a_second_proxy_on_a_served_ledger_file_does_not_abandon_its_claims() {
    let scratch = Scratch::new("proxy-serving-lock");
    let rt = rt();
    rt.block_on(async {
        let (_sim, server) = sim_rms(4, SimConfig::default()).await;
        let first = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &["--rate", "0"]);
        // The same file by another name: the lock is on the file, not on its name.
        let link = scratch.path().join("link.db");
        std::os::unix::fs::symlink(scratch.path().join("ledger.db"), &link).unwrap();
        let second = ProxyProcess::start(
            &server.url(),
            &format!("sqlite:{}", link.display()),
            &["--rate", "0", "--stale-after", "0s"],
        );
        let log = second.log_with("another proxy serves this ledger file");
        assert!(
            log.contains("another proxy serves this ledger file"),
            "{log}"
        );
        drop(first);
        drop(second);
        // Alone, the same start-up settles with `--stale-after` as given: no warning.
        let third = ProxyProcess::start(
            &server.url(),
            &scratch.ledger_url(),
            &["--rate", "0", "--stale-after", "0s"],
        );
        assert!(
            !third.log().contains("another proxy serves"),
            "{}",
            third.log()
        );
    });
}

/// Found by QA: a proxy whose confirmation timed out read the order back at once, found
/// it still awaiting confirmation (RMS was slow, not idle) and sent it again — and RMS took
/// both. A call RMS may have received is not sent again before the upstream timeout has
/// passed once more with its row untouched: retried at once, the order is refused (S1,
/// outcome unknown); retried after RMS acted, it is read back and found confirmed. RMS
/// receives one confirmation.
#[test]
fn a_confirmation_rms_answers_too_late_is_not_sent_again() {
    let scratch = Scratch::new("proxy-late-answer");
    let rt = rt();
    rt.block_on(async {
        let (sim, _) = sim_rms(8, SimConfig::default()).await;
        let (_upstream, proxy) = proxy_before(
            LateConfirms {
                sim: sim.clone(),
                hold: Duration::from_millis(1500),
            },
            &scratch,
            &["--upstream-timeout", "1s"],
        )
        .await;
        let client = reqwest::Client::new();
        let asked = [good_of_eight()[0].clone()];
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert_eq!(codes[0].1, "RMS_PREFLIGHT_API_ERROR", "{body}");
        let detail = body["MessageModelList"][0]["preflight"].to_string();
        assert!(detail.contains("not sent again"), "{body}");
        // Retried at once: RMS still holds the call; the ledger refuses (outcome unknown).
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert_eq!(codes[0].1, "RMS_PREFLIGHT_S1", "{body}");
        // RMS acts on the first call 1.5 s after it came; then the hold passes too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert_eq!(
            codes[0].1, "RMS_PREFLIGHT_S1",
            "confirmed by the first call: {body}"
        );
        assert_eq!(confirms_received(&sim).get(&asked[0]).copied(), Some(1));
        assert_eq!(sim.accepted_confirms(&asked[0]), 1);
    });
}

/// The first `confirmOrder` is held past the proxy's upstream timeout and never reaches
/// RMS; every later one goes straight to the simulated RMS.
struct LostFirstConfirm {
    sim: SimHandler,
    lost: std::sync::atomic::AtomicBool,
    /// How long the lost call is held before its 500.
    delay: Duration,
}

impl Handler for LostFirstConfirm {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if request.path.contains("/confirmOrder")
            && !self.lost.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            tokio::time::sleep(self.delay).await;
            return HttpResponse::json(500, &json!({}));
        }
        self.sim.handle(request).await
    }
}

/// The other side of the hold: a confirmation RMS never received is sent again once the
/// hold has passed (the read-back then proves RMS did not act), and only once.
#[test]
fn a_lost_confirmation_is_sent_again_once_the_hold_has_passed() {
    // Held past the timeout, then a 500; or a 500 at once (answered by the proxy's own
    // entry, which says the order is held, not by RMS's bare 500).
    for delay in [Duration::from_secs(3), Duration::ZERO] {
        lost_confirmation_is_sent_again_once_the_hold_has_passed(delay);
    }
}

fn lost_confirmation_is_sent_again_once_the_hold_has_passed(delay: Duration) {
    let scratch = Scratch::new("proxy-lost-call");
    let rt = rt();
    rt.block_on(async {
        let (sim, _) = sim_rms(8, SimConfig::default()).await;
        let (_upstream, proxy) = proxy_before(
            LostFirstConfirm {
                sim: SimHandler { sim: sim.clone() },
                lost: std::sync::atomic::AtomicBool::new(false),
                delay,
            },
            &scratch,
            &["--upstream-timeout", "1s"],
        )
        .await;
        let client = reqwest::Client::new();
        let asked = [good_of_eight()[0].clone()];
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        assert_eq!(
            check_answer(&asked, status, &body)[0].1,
            "RMS_PREFLIGHT_API_ERROR"
        );
        let detail = body["MessageModelList"][0]["preflight"].to_string();
        assert!(detail.contains("not sent again"), "{body}");
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        assert_eq!(check_answer(&asked, status, &body)[0].1, "RMS_PREFLIGHT_S1");
        assert_eq!(confirms_received(&sim).get(&asked[0]), None);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (status, body) = confirm(&client, &proxy.url, &asked).await;
        let codes = check_answer(&asked, status, &body);
        assert!(
            !codes[0].1.starts_with("RMS_PREFLIGHT_"),
            "sent, RMS's answer: {body}"
        );
        assert_eq!(confirms_received(&sim).get(&asked[0]).copied(), Some(1));
        assert_eq!(sim.accepted_confirms(&asked[0]), 1);
    });
}

/// Reads from the simulated RMS; `confirmOrder` answered 200 with one INFO per order, a
/// second message about the first order, a message about no order, one with an explicit
/// `"orderNumber": null`, one about an order nobody asked for, and top-level fields (one a
/// number too long for a float).
struct ChattyConfirms {
    sim: SimHandler,
    /// An order the proxy denies, which RMS's answer names all the same.
    denied: String,
}

impl Handler for ChattyConfirms {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if !request.path.contains("/confirmOrder") {
            return self.sim.handle(request).await;
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let numbers: Vec<String> = body["orderNumberList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        let mut list: Vec<Value> = numbers
            .iter()
            .map(|n| json!({"messageType": "INFO", "messageCode": "ORDER_EXT_API_CONFIRM_ORDER_INFO_101", "message": "ok", "orderNumber": n, "x": [1]}))
            .collect();
        list.push(json!({"messageType": "WARNING", "messageCode": "W-GENERAL", "message": "about no order"}));
        list.push(json!({"messageType": "INFO", "messageCode": "SECOND", "message": "again", "orderNumber": numbers[0]}));
        list.push(json!({"messageType": "INFO", "messageCode": "NULL", "message": "", "orderNumber": null}));
        list.push(json!({"messageType": "ERROR", "messageCode": "UNASKED", "message": "?", "orderNumber": "375055-20261130-99999999"}));
        list.push(json!({"messageType": "ERROR", "messageCode": "ABOUT-DENIED", "message": "?", "orderNumber": self.denied}));
        let list = serde_json::to_string(&list).unwrap();
        let body = format!(
            r#"{{"MessageModelList":{list},"requestId":"r-1","big":123456789012345678901234567890}}"#
        );
        HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }
}

/// The digits of the number written after `"key":` in a JSON text, as written.
fn raw_number_of<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(&format!("\"{key}\":"))
        .map(|i| i + key.len() + 3)
        .unwrap_or_else(|| panic!("no `{key}` in {text}"));
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The merged answer keeps everything RMS wrote, as RMS wrote it: each order's message in
/// its place (the first about it), then RMS's other messages, and RMS's top-level fields.
#[test]
fn the_merged_answer_keeps_all_rms_wrote() {
    let scratch = Scratch::new("proxy-chatty");
    let rt = rt();
    rt.block_on(async {
        let (sim, _) = sim_rms(8, SimConfig::default()).await;
        let (_upstream, proxy) = proxy_before(
            ChattyConfirms {
                sim: SimHandler { sim },
                denied: number((0..8).find(|&i| kind(i) == Kind::Unset).unwrap()),
            },
            &scratch,
            &[],
        )
        .await;
        let client = reqwest::Client::new();
        let good = good_of_eight();
        let unset = number((0..8).find(|&i| kind(i) == Kind::Unset).unwrap());
        let asked = [good[0].clone(), unset, good[1].clone()];
        let response = confirm_request(&client, &proxy.url, &asked)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body_text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&body_text).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["requestId"], "r-1", "{body}");
        let list = body["MessageModelList"].as_array().unwrap();
        let codes: Vec<&str> = list
            .iter()
            .map(|m| m["messageCode"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            [
                "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
                "RMS_PREFLIGHT_S13",
                "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
                "ABOUT-DENIED",
                "UNASKED",
                "W-GENERAL",
                "SECOND",
                "NULL"
            ],
            "{body}"
        );
        assert_eq!(list[0]["orderNumber"], good[0].as_str());
        assert_eq!(list[0]["x"], json!([1]));
        // Written back as RMS wrote it, `null` included (not dropped as an absent field).
        assert_eq!(list[7].get("orderNumber"), Some(&Value::Null), "{body}");
        // RMS's top-level fields as RMS wrote them: a number too long for a float too.
        assert_eq!(
            raw_number_of(&body_text, "big"),
            "123456789012345678901234567890"
        );
        assert_eq!(list[2]["orderNumber"], good[1].as_str());
    });
}

/// A body announced over the limit is refused by the server's limit layer before the
/// proxy reads it; the OMS still gets RMS's shape, as for every other refusal.
#[test]
fn a_limit_layers_refusal_is_in_rms_shape() {
    let scratch = Scratch::new("proxy-413");
    let rt = rt();
    rt.block_on(async {
        let (_sim, server) = sim_rms(1, SimConfig::default()).await;
        let proxy = ProxyProcess::start(&server.url(), &scratch.ledger_url(), &["--rate", "0"]);
        let addr = proxy.url.trim_start_matches("http://").parse().unwrap();
        let answer = exchange(addr, "POST /es/2.0/order/confirmOrder/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(v["MessageModelList"][0]["messageType"], "ERROR", "{answer}");
        assert_eq!(v["MessageModelList"][0]["messageCode"], "RMS_PREFLIGHT_BAD_REQUEST");
        assert_eq!(
            v["MessageModelList"][0]["message"],
            "the request body is over the size limit"
        );
    });
}

/// The simulated RMS, whose `getOrder` answers write two orders ambiguously: the first
/// with `postagePrice` twice (-9999, then the order's own), the second listed twice (a
/// -9999 copy, then the order as it is). A reader that keeps the last of each would see
/// two orders ready to confirm.
struct AmbiguousReads {
    sim: SimHandler,
    twice_a_key: String,
    twice_listed: String,
    /// Left out of `OrderModelList`, with no message about it.
    left_out: String,
    /// Listed as it is, with an ERROR message about it whose code is a number: the typed
    /// reader refuses the whole answer for it.
    reported: String,
}

impl Handler for AmbiguousReads {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if !request.path.contains("/getOrder") {
            return self.sim.handle(request).await;
        }
        let answer = self.sim.handle(request).await;
        let answer: Value = serde_json::from_slice(&answer.body).unwrap();
        let mut orders = Vec::new();
        for order in answer["OrderModelList"].as_array().unwrap() {
            let text = serde_json::to_string(order).unwrap();
            let number = order["orderNumber"].as_str().unwrap();
            if number == self.left_out {
                continue;
            }
            if number == self.twice_a_key {
                orders.push(format!(r#"{{"postagePrice":-9999,{}"#, &text[1..]));
            } else if number == self.twice_listed {
                let mut unset = order.clone();
                unset["postagePrice"] = json!(-9999);
                orders.push(serde_json::to_string(&unset).unwrap());
                orders.push(text);
            } else {
                orders.push(text);
            }
        }
        let mut messages = answer["MessageModelList"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if orders.iter().any(|o| o.contains(&self.reported)) {
            messages.push(json!({
                "messageType": "ERROR",
                "messageCode": 101,
                "message": "注文情報の取得に失敗しました",
                "orderNumber": self.reported,
            }));
        }
        let body = format!(
            r#"{{"MessageModelList":{},"OrderModelList":[{}]}}"#,
            Value::Array(messages),
            orders.join(",")
        );
        HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }
}

/// An order RMS's `getOrder` answer writes ambiguously — a key given twice, or the order
/// listed twice — is neither cached from a relayed read nor checked from the proxy's own:
/// it is answered as unreadable and never sent, whichever copy a reader would keep; the
/// orders beside it are confirmed as usual. So is an order the answer lists but also
/// reports an ERROR about, in a message the typed reader refuses (which once made the
/// proxy's own read refuse every order of the answer, while a relayed read held back only
/// that one). An order the answer leaves out without a word is answered with an error and
/// never sent either.
#[test]
fn an_order_read_ambiguously_is_never_sent() {
    let scratch = Scratch::new("proxy-ambiguous-reads");
    let rt = rt();
    rt.block_on(async {
        let (sim, _) = sim_rms(32, SimConfig::default()).await;
        let good: Vec<String> = (0..32)
            .filter(|&i| kind(i) == Kind::Good)
            .map(number)
            .collect();
        assert!(good.len() >= 8, "{good:?}");
        let (_upstream, proxy) = proxy_before(
            AmbiguousReads {
                sim: SimHandler { sim: sim.clone() },
                twice_a_key: good[0].clone(),
                twice_listed: good[1].clone(),
                left_out: good[6].clone(),
                reported: good[7].clone(),
            },
            &scratch,
            &[],
        )
        .await;
        let client = reqwest::Client::new();
        // Once read by the proxy itself, once after the OMS read the orders through it.
        for (round, numbers) in [&good[..3], &good[3..6]].into_iter().enumerate() {
            let mut numbers = numbers.to_vec();
            numbers.push(good[6].clone());
            numbers.push(good[7].clone());
            if round == 1 {
                numbers[0] = good[0].clone();
                numbers[1] = good[1].clone();
                let read = json!({"orderNumberList": numbers, "version": 7}).to_string();
                let r = client
                    .post(format!("{}/es/2.0/order/getOrder/", proxy.url))
                    .header("Authorization", authorization())
                    .body(read)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let text = r.text().await.unwrap();
                assert!(
                    text.contains(r#"{"postagePrice":-9999,"#),
                    "relayed as it came"
                );
            }
            let (status, body) = confirm(&client, &proxy.url, &numbers).await;
            assert_eq!(status, 200, "{body}");
            let list = body["MessageModelList"].as_array().unwrap();
            for (entry, n) in list.iter().zip(&numbers[..2]) {
                assert_eq!(entry["orderNumber"], n.as_str(), "{body}");
                assert_eq!(entry["messageType"], "ERROR", "{body}");
                let message = entry.to_string();
                assert!(message.contains("could not be read"), "{body}");
            }
            assert!(
                message_of(list, &numbers[0]).contains("duplicate field `postagePrice`"),
                "{body}"
            );
            assert!(
                message_of(list, &numbers[1]).contains("lists the order twice"),
                "{body}"
            );
            let left_out = list
                .iter()
                .find(|e| e["orderNumber"] == good[6].as_str())
                .unwrap_or_else(|| panic!("no entry for the order left out: {body}"));
            assert_eq!(left_out["messageType"], "ERROR", "{body}");
            assert!(
                left_out.to_string().contains("getOrder did not return"),
                "{body}"
            );
            assert!(
                message_of(list, &good[7]).contains("could not be read")
                    && message_of(list, &good[7]).contains("101"),
                "{body}"
            );
            let received = confirms_received(&sim);
            assert_eq!(received.get(&good[6]), None, "sent although never read");
            assert_eq!(received.get(&good[7]), None, "sent despite RMS's error");
            assert_eq!(
                received.get(&good[0]),
                None,
                "sent despite a key given twice"
            );
            assert_eq!(
                received.get(&good[1]),
                None,
                "sent despite being listed twice"
            );
            assert_eq!(received.get(&numbers[2]), Some(&1), "{body}");
        }
    });
}

/// Every text of the entry about `number` in a merged answer.
fn message_of(list: &[Value], number: &str) -> String {
    list.iter()
        .filter(|m| m["orderNumber"] == number)
        .map(Value::to_string)
        .collect()
}

/// A ledger this process may only read (here `mode=ro`; a read-only file or directory
/// alike) is read by `ledger list`, but the proxy, which writes every claim to it, refuses
/// to start on it and says which file and why, rather than fail every confirmation.
#[test]
fn a_proxy_refuses_a_ledger_it_may_only_read() {
    let scratch = Scratch::new("proxy-read-only-ledger");
    let url = scratch.ledger_url();
    rt().block_on(async {
        let ledger = rms_preflight::ledger::SqliteLedger::open(&url)
            .await
            .expect("ledger");
        ledger.close().await;
    });
    let read_only = format!("{url}?mode=ro");
    let (code, out, err) = ledger_cli(&["list", "--ledger", &read_only]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    // A file no process writes is read as it is: nothing is created beside it (another
    // user's `-wal`/`-shm` would keep the proxy's user from opening it).
    let file = url.trim_start_matches("sqlite:");
    for beside in ["-wal", "-shm"] {
        let path = format!("{file}{beside}");
        assert!(
            !std::path::Path::new(&path).exists(),
            "`ledger list` left {path}"
        );
    }
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
            "--ledger",
            &read_only,
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = url.trim_start_matches("sqlite:");
    assert!(
        err.contains(&format!(
            "error: cannot open the ledger: cannot open the SQLite ledger `{file}`: this process may only read it"
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused at once"
    );
}
