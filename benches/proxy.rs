//! The proxy's added latency (issue 10): a 100-order `confirmOrder` whose orders are in the
//! snapshot cache, sent through the proxy (SQLite ledger in a temporary file, no rate
//! limit) versus the same call sent straight to the simulated RMS over loopback,
//! interleaved in one run. Every iteration confirms 100 fresh orders (a confirmed order is
//! refused the second time, which would measure the wrong path).
//!
//! Each party runs on a runtime of its own, as it would in its own process: the client,
//! the simulated RMS (`sim-server`), and each proxy (two worker threads, like
//! `rms-preflight proxy` on this 2-core machine). Sharing one runtime, a proxy's task
//! would wait in the queue behind the simulator's (a 100-order `getOrder` answer is
//! written in one go), which no deployment does. All of them still share the machine's
//! cores. The process runs with the binary's allocator (jemalloc, see `src/main.rs`).
//!
//! The proxy writes its `confirmed` marks 2 ms behind the answer (`WRITE_BEHIND`): the
//! SQLite proxy's land while the OMS reads the next orders through the in-memory proxy
//! (untimed), not in a measured call; the in-memory proxy's cost microseconds. (Waiting
//! for them instead, idle, made every call after the wait slower, the direct one most,
//! which flattered the difference.)
//!
//! The floor: the same confirmation through a relay that only forwards, on the same HTTP
//! stack (`http::start`'s server and layers, the proxy's `Upstream` client), in a runtime of
//! its own. What the proxy adds beyond it is the check, the claim and the merged answer.
//!
//! It also times each `getOrder` of 100 orders the OMS reads through a proxy (the relay
//! keeps their snapshots), and the same read sent straight after the direct confirmation.
//!
//! `cargo bench --bench proxy` prints the percentiles of each way and the differences.
//! Set `PROXY_BENCH_ITERATIONS` (default 1,000: the p99 is then the tenth slowest, not the
//! second), `PROXY_BENCH_LEDGER` for another ledger URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rms_preflight::engine::Engine;
use rms_preflight::fixture::Server;
use rms_preflight::model::Timestamp;
use rms_preflight::proxy::{Config, Proxy};
use rms_preflight::rms::{Credentials, Upstream};
use rms_preflight::sim::{SimClock, SimConfig, SimHandler, SimRms};
use rms_preflight::RuleSet;

// The allocator the binary runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn number(i: usize) -> String {
    format!("375055-20261130-{:08}", i + 1)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A runtime like the binary's on this machine: two workers, named after their party
/// (so that a profiler tells them apart).
fn runtime(party: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(party)
        .enable_all()
        .build()
        .expect("runtime")
}

const SHOWN: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("max", 1.0),
];

fn line(label: &str, sorted: &[Duration]) {
    let cells: Vec<String> = SHOWN
        .iter()
        .map(|(name, p)| {
            format!(
                "{name} {:>8.3} ms",
                percentile(sorted, *p).as_secs_f64() * 1e3
            )
        })
        .collect();
    println!("  {label:<24}{}", cells.join("  "));
}

fn added(label: &str, through: &[Duration], direct: &[Duration]) {
    let cells: Vec<String> = SHOWN[..4]
        .iter()
        .map(|(name, p)| {
            let d = percentile(through, *p).saturating_sub(percentile(direct, *p));
            format!("{name} {:>8.3} ms", d.as_secs_f64() * 1e3)
        })
        .collect();
    println!("  {label:<24}{}", cells.join("  "));
}

fn main() {
    let iterations: usize = std::env::var("PROXY_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let engine = Arc::new(Engine::new(RuleSet::embedded().expect("rules")));

    // The simulated RMS, on its own runtime.
    let sim_rt = runtime("sim");
    let now = Timestamp::now_jst();
    let placed = Timestamp::from_unix(now.unix_seconds() - 3600, 9 * 3600).to_string();
    let sim = Arc::new(SimRms::new(
        engine.clone(),
        SimClock::new(now),
        SimConfig::default(),
    ));
    for i in 0..iterations * 4 * 100 {
        let order = serde_json::json!({
            "orderNumber": number(i), "orderProgress": 100, "orderDatetime": placed,
            "postagePrice": 660, "deliveryPrice": 0, "goodsPrice": 3000,
            "totalPrice": 3660, "requestPrice": 3660,
        });
        sim.add_order(order.as_object().expect("object").clone())
            .expect("order");
    }
    let rms = sim_rt
        .block_on(Server::start(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(SimHandler { sim }),
        ))
        .expect("sim");

    // Each proxy on its own runtime: one with the SQLite ledger, one with the in-memory
    // ledger (what the proxy adds without a database).
    let dir =
        std::env::temp_dir().join(format!("rms-preflight-bench-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let url = std::env::var("PROXY_BENCH_LEDGER")
        .unwrap_or_else(|_| format!("sqlite:{}", dir.join("ledger.db").display()));
    println!("ledger: {}", url.split(':').next().unwrap_or_default());
    let start_proxy = |rt: &tokio::runtime::Runtime, ledger: Option<&str>| {
        let engine = engine.clone();
        let rms_url = rms.url();
        rt.block_on(async move {
            let ledger: Arc<dyn rms_preflight::ledger::Ledger> = match ledger {
                Some(url) => rms_preflight::ledger::open(url).await.expect("ledger"),
                None => Arc::new(rms_preflight::ledger::MemoryLedger::new()),
            };
            let upstream = Upstream::new(&rms_url, Duration::from_secs(30)).expect("upstream");
            let mut config = Config::new(upstream, engine, ledger);
            config.upstream_interval = Duration::ZERO;
            let proxy = Proxy::new(config);
            let server = rms_preflight::http::start(
                "127.0.0.1:0".parse().expect("addr"),
                proxy.router(),
                rms_preflight::http::Limits::default(),
            )
            .await
            .expect("proxy");
            (proxy, server)
        })
    };
    // The floor: a relay that only forwards, on the proxy's HTTP stack.
    let relay_rt = runtime("relay");
    let relay_server = {
        let rms_url = rms.url();
        relay_rt.block_on(async move {
            let upstream =
                Arc::new(Upstream::new(&rms_url, Duration::from_secs(30)).expect("upstream"));
            let forward = move |uri: axum::http::Uri,
                                headers: axum::http::HeaderMap,
                                body: axum::body::Bytes| {
                let upstream = upstream.clone();
                async move {
                    let headers: Vec<(String, String)> = headers
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
                        })
                        .collect();
                    let path = uri.path_and_query().map_or("/", |p| p.as_str());
                    let r = upstream
                        .relay(None, "POST", path, &headers, body)
                        .await
                        .expect("relayed");
                    let mut response =
                        axum::response::Response::new(axum::body::Body::from(r.body));
                    *response.status_mut() =
                        axum::http::StatusCode::from_u16(r.status).expect("status");
                    for (k, v) in &r.headers {
                        response.headers_mut().insert(
                            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                            axum::http::HeaderValue::from_str(v).expect("value"),
                        );
                    }
                    response
                }
            };
            rms_preflight::http::start(
                "127.0.0.1:0".parse().expect("addr"),
                axum::Router::new().fallback(forward),
                rms_preflight::http::Limits::default(),
            )
            .await
            .expect("relay")
        })
    };
    let proxy_rt = runtime("proxy");
    let (proxy, server) = start_proxy(&proxy_rt, Some(&url));
    let memory_rt = runtime("proxy-memory");
    let (_memory_proxy, memory_server) = start_proxy(&memory_rt, None);

    // The OMS: one client, one call at a time.
    let client_rt = runtime("client");
    let (direct, relayed, proxied, memory, reads) = client_rt.block_on(async {
        let auth = Credentials::new("SP375055_bench", "SL375055_bench").authorization();
        let client = reqwest::Client::new();
        let post = |base: String, function: &'static str, body: String| {
            let client = client.clone();
            let auth = auth.clone();
            async move {
                let r = client
                    .post(format!("{base}/es/2.0/order/{function}/"))
                    .header("Authorization", auth)
                    .body(body)
                    .send()
                    .await
                    .expect("answer");
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
            }
        };
        let (mut direct, mut relayed, mut proxied, mut memory) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut reads_direct, mut reads_proxied, mut reads_memory) =
            (Vec::new(), Vec::new(), Vec::new());
        let chunk = |k: usize| -> Vec<String> { (k * 100..k * 100 + 100).map(number).collect() };
        for it in 0..iterations {
            // Straight to RMS.
            let list = serde_json::json!({"orderNumberList": chunk(3 * it)}).to_string();
            let t = Instant::now();
            post(rms.url(), "confirmOrder", list).await;
            direct.push(t.elapsed());
            // The same orders read straight (timed apart, after the confirmation).
            let read =
                serde_json::json!({"orderNumberList": chunk(3 * it), "version": 7}).to_string();
            let t = Instant::now();
            post(rms.url(), "getOrder", read).await;
            reads_direct.push(t.elapsed());
            // Through the relay that only forwards (orders of the direct call's next
            // chunk: the relay confirms them, which the proxies never send).
            let list =
                serde_json::json!({"orderNumberList": chunk(3 * iterations + it)}).to_string();
            let t = Instant::now();
            post(relay_server.url(), "confirmOrder", list).await;
            relayed.push(t.elapsed());
            // Through each proxy, after the OMS read the orders through it (untimed).
            for (k, base, times, reads) in [
                (3 * it + 1, server.url(), &mut proxied, &mut reads_proxied),
                (
                    3 * it + 2,
                    memory_server.url(),
                    &mut memory,
                    &mut reads_memory,
                ),
            ] {
                let numbers = chunk(k);
                let read =
                    serde_json::json!({"orderNumberList": numbers, "version": 7}).to_string();
                let t = Instant::now();
                post(base.clone(), "getOrder", read).await;
                reads.push(t.elapsed());
                let list = serde_json::json!({"orderNumberList": numbers}).to_string();
                let t = Instant::now();
                post(base, "confirmOrder", list).await;
                times.push(t.elapsed());
            }
        }
        (
            direct,
            relayed,
            proxied,
            memory,
            [reads_direct, reads_proxied, reads_memory],
        )
    });
    let sorted = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let (direct, relayed, proxied, memory) = (
        sorted(direct),
        sorted(relayed),
        sorted(proxied),
        sorted(memory),
    );
    println!("confirmOrder of 100 cached orders, {iterations} iterations each");
    line("straight to RMS (sim):", &direct);
    line("through a bare relay:", &relayed);
    line("through the proxy:", &proxied);
    line("(in-memory ledger):", &memory);
    added("added by the proxy:", &proxied, &direct);
    added("(in-memory ledger):", &memory, &direct);
    added("(bare relay, the floor):", &relayed, &direct);
    let [reads_direct, reads_proxied, reads_memory] = reads.map(sorted);
    println!("getOrder of 100 orders (version 7), relayed; the proxy keeps their snapshots");
    line("straight to RMS (sim):", &reads_direct);
    line("through the proxy:", &reads_proxied);
    line("(in-memory ledger):", &reads_memory);
    added("added by the proxy:", &reads_proxied, &reads_direct);
    let calls = proxy.metrics().upstream_calls();
    println!("  upstream calls made by the proxy: {calls} (one getOrder relay + one confirmOrder an iteration)");
    proxy_rt.block_on(server.shutdown());
    memory_rt.block_on(memory_server.shutdown());
    relay_rt.block_on(relay_server.shutdown());
    sim_rt.block_on(rms.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}
