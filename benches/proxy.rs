//! The proxy's added latency (issue 10): a 100-order `confirmOrder` whose orders are in the
//! snapshot cache, sent through `rms-preflight proxy` (in process, SQLite ledger in a
//! temporary file, no rate limit) versus the same call sent straight to the simulated RMS
//! over loopback, interleaved in one run. Every iteration confirms 100 fresh orders (a
//! confirmed order is refused the second time, which would measure the wrong path).
//!
//! `cargo bench --bench proxy` prints p50/p99 of both and the difference. Set
//! `PROXY_BENCH_ITERATIONS` (default 1,000: the p99 is then the tenth slowest, not the second).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rms_preflight::engine::Engine;
use rms_preflight::fixture::Server;
use rms_preflight::model::Timestamp;
use rms_preflight::proxy::{Config, Proxy};
use rms_preflight::rms::{Credentials, Upstream};
use rms_preflight::sim::{SimClock, SimConfig, SimHandler, SimRms};
use rms_preflight::RuleSet;

fn number(i: usize) -> String {
    format!("375055-20261130-{:08}", i + 1)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let iterations: usize = std::env::var("PROXY_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let engine = Arc::new(Engine::new(RuleSet::embedded().expect("rules")));
        let now = Timestamp::now_jst();
        let placed = Timestamp::from_unix(now.unix_seconds() - 3600, 9 * 3600).to_string();
        let sim = Arc::new(SimRms::new(engine.clone(), SimClock::new(now), SimConfig::default()));
        let orders = iterations * 300;
        for i in 0..orders {
            let order = serde_json::json!({
                "orderNumber": number(i), "orderProgress": 100, "orderDatetime": placed,
                "postagePrice": 660, "deliveryPrice": 0, "goodsPrice": 3000,
                "totalPrice": 3660, "requestPrice": 3660,
            });
            sim.add_order(order.as_object().expect("object").clone()).expect("order");
        }
        let rms = Server::start("127.0.0.1:0".parse().expect("addr"), Arc::new(SimHandler { sim }))
            .await
            .expect("sim");
        let dir = std::env::temp_dir().join(format!("rms-preflight-bench-proxy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let url = std::env::var("PROXY_BENCH_LEDGER")
            .unwrap_or_else(|_| format!("sqlite:{}", dir.join("ledger.db").display()));
        println!("ledger: {}", url.split(':').next().unwrap_or_default());
        let ledger = rms_preflight::ledger::open(&url)
            .await
            .expect("ledger");
        let start_proxy = |ledger: std::sync::Arc<dyn rms_preflight::ledger::Ledger>| {
            let engine = engine.clone();
            let rms_url = rms.url();
            async move {
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
            }
        };
        let (proxy, server) = start_proxy(ledger).await;
        // The same proxy with the in-memory ledger: what the proxy adds without a database.
        let (_memory_proxy, memory_server) =
            start_proxy(std::sync::Arc::new(rms_preflight::ledger::MemoryLedger::new())).await;
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
        let (mut direct, mut proxied, mut memory) = (Vec::new(), Vec::new(), Vec::new());
        let chunk = |k: usize| -> Vec<String> { (k * 100..k * 100 + 100).map(number).collect() };
        for it in 0..iterations {
            // Straight to RMS.
            let list = serde_json::json!({"orderNumberList": chunk(3 * it)}).to_string();
            let t = Instant::now();
            post(rms.url(), "confirmOrder", list).await;
            direct.push(t.elapsed());
            // Through each proxy, after the OMS read the orders through it (untimed).
            for (k, base, times) in [
                (3 * it + 1, server.url(), &mut proxied),
                (3 * it + 2, memory_server.url(), &mut memory),
            ] {
                let numbers = chunk(k);
                let read = serde_json::json!({"orderNumberList": numbers, "version": 7}).to_string();
                post(base.clone(), "getOrder", read).await;
                let list = serde_json::json!({"orderNumberList": numbers}).to_string();
                let t = Instant::now();
                post(base, "confirmOrder", list).await;
                times.push(t.elapsed());
            }
        }
        direct.sort();
        proxied.sort();
        memory.sort();
        let (m50, m99) = (percentile(&memory, 0.5), percentile(&memory, 0.99));
        let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
        println!("confirmOrder of 100 cached orders, {iterations} iterations each");
        println!("  straight to RMS (sim): p50 {d50:?}  p99 {d99:?}");
        println!("  through the proxy:     p50 {p50:?}  p99 {p99:?}");
        println!("  (in-memory ledger):    p50 {m50:?}  p99 {m99:?}");
        println!(
            "  added by the proxy:    p50 {:?}  p99 {:?}",
            p50.saturating_sub(d50),
            p99.saturating_sub(d99)
        );
        let metrics = proxy.metrics().upstream_calls();
        println!("  upstream calls made by the proxy: {metrics} (one getOrder relay + one confirmOrder an iteration)");
        server.shutdown().await;
        memory_server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
