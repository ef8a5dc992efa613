//! `serve` over loopback (README "Performance"). Bounded: fixed counts, then it stops.
//!
//! 1. Single `POST /v1/check` requests over keep-alive connections, against a bare handler
//!    on the same server stack (`http::start`) answering a constant JSON, in the same run:
//!    target ≥ 0.7× its requests/s.
//! 2. p99 latency of `/v1/check` at half the measured rate (paced): target ≤ 1 ms.
//! 3. A 100,000-order batch over HTTP against the CLI on the same file: target ≤ 1.2×.
//!
//! `cargo bench --bench service` (`REQUESTS=100000 CONNECTIONS=8 ORDERS=100000`).

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use rms_preflight::http::Limits;
use rms_preflight::service::{RulesSource, Service};

// The allocator the binary runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const REQUEST: &[u8] = br#"{"now":"2026-11-30T12:00:00+09:00","shop":{"api_option":true},"action":"confirm","order":{"orderNumber":"375055-20261130-00000001","orderProgress":100,"orderDatetime":"2026-11-29T10:00:00+0900","goodsPrice":3980,"postagePrice":-9999,"totalPrice":-9999,"requestPrice":-9999},"oms":{"confirm_sent":false,"label":"none"}}"#;

const CONSTANT: &str = r#"{"results": [
{"orderNumber":"375055-20261130-00000001","action":"confirm","decision":"allow","findings":[]}
],
"summary": {"allow":1,"warn":0,"deny":0}}
"#;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn one(sender: &mut Sender, path: &str, body: Bytes) -> usize {
    let req = hyper::Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a request");
    sender.ready().await.expect("ready");
    let resp = sender.send_request(req).await.expect("an answer");
    assert_eq!(resp.status(), 200);
    resp.into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes()
        .len()
}

/// Requests/s of `connections` keep-alive connections sending `requests` in all.
async fn throughput(
    addr: std::net::SocketAddr,
    path: &'static str,
    requests: usize,
    connections: usize,
) -> f64 {
    let per = requests / connections;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            for _ in 0..per {
                one(&mut sender, path, Bytes::from_static(REQUEST)).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("a task");
    }
    (per * connections) as f64 / start.elapsed().as_secs_f64()
}

/// Latencies (sorted) of `requests` sent at `rate` per second over `connections`.
async fn paced(
    addr: std::net::SocketAddr,
    rate: f64,
    requests: usize,
    connections: usize,
) -> Vec<Duration> {
    let per = requests / connections;
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let mut tasks = Vec::new();
    for c in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            // Spread the connections over one interval.
            tokio::time::sleep(interval.mul_f64(c as f64 / connections as f64)).await;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut took = Vec::with_capacity(per);
            for _ in 0..per {
                tick.tick().await;
                let start = Instant::now();
                one(&mut sender, "/v1/check", Bytes::from_static(REQUEST)).await;
                took.push(start.elapsed());
            }
            took
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a task"));
    }
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let requests = if quick {
        2_000
    } else {
        env("REQUESTS", 60_000)
    };
    let connections = env("CONNECTIONS", 8);
    let orders = if quick { 2_000 } else { env("ORDERS", 100_000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let limits = Limits::default();
        let service = Service::new(RulesSource::Embedded, &limits).expect("the rules load");
        let served = service
            .start("127.0.0.1:0".parse().expect("addr"), limits)
            .await
            .expect("the service starts");
        // The bare handler answers the very bytes `/v1/check` answers (a constant), so the
        // difference is the engine, the reading and the rendering; a tiny constant too.
        let answer = {
            let mut sender = connect(served.addr()).await;
            let req = hyper::Request::post("/v1/check")
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(REQUEST)))
                .expect("a request");
            let resp = sender.send_request(req).await.expect("an answer");
            resp.into_body().collect().await.expect("a body").to_bytes()
        };
        let bare = Router::new()
            .route(
                "/v1/check",
                post(move || {
                    let answer = answer.clone();
                    async move { ([("content-type", "application/json")], answer) }
                }),
            )
            .route(
                "/tiny",
                post(|| async { ([("content-type", "application/json")], CONSTANT) }),
            );
        let bare = rms_preflight::http::start("127.0.0.1:0".parse().expect("addr"), bare, limits)
            .await
            .expect("the bare server starts");

        // Warm both, then alternate to even out noise.
        throughput(bare.addr(), "/v1/check", requests / 10, connections).await;
        throughput(served.addr(), "/v1/check", requests / 10, connections).await;
        let (mut b, mut s, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            b.push(throughput(bare.addr(), "/v1/check", requests / 3, connections).await);
            s.push(throughput(served.addr(), "/v1/check", requests / 3, connections).await);
            t.push(throughput(bare.addr(), "/tiny", requests / 3, connections).await);
        }
        b.sort_by(f64::total_cmp);
        s.sort_by(f64::total_cmp);
        t.sort_by(f64::total_cmp);
        let (bare_rate, check_rate, tiny_rate) = (b[1], s[1], t[1]);
        println!(
            "single /v1/check (a deny, 2.4 KB answer), {connections} keep-alive connections: {check_rate:.0} requests/s; bare handler answering the same bytes {bare_rate:.0} requests/s; ratio {:.2} (target ≥ 0.70); bare handler answering a 150-byte constant {tiny_rate:.0} requests/s (ratio {:.2})",
            check_rate / bare_rate,
            check_rate / tiny_rate
        );
        let half = check_rate / 2.0;
        let lat = paced(served.addr(), half, (half as usize * 3).min(requests), connections).await;
        println!(
            "at half load ({half:.0} requests/s): p50 {:?}, p99 {:?}, max {:?} (target p99 ≤ 1 ms)",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or_default()
        );

        // A batch over HTTP against the CLI on the same file.
        let dir = std::env::temp_dir().join(format!("rms-preflight-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join("batch.json");
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_batch.py");
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(orders.to_string())
            .output()
            .expect("python3 runs gen_batch.py");
        std::fs::write(&file, &out.stdout).expect("the batch is written");
        let batch = Bytes::from(out.stdout);
        let (mut cli, mut http) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let start = Instant::now();
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
                .args(["check", "--format", "json"])
                .arg(&file)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("the CLI runs");
            assert_eq!(status.code(), Some(1), "the batch has denials");
            cli.push(start.elapsed());
            let start = Instant::now();
            let mut sender = connect(served.addr()).await;
            let bytes = one(&mut sender, "/v1/check", batch.clone()).await;
            http.push(start.elapsed());
            assert!(bytes > orders * 50, "a whole answer");
        }
        cli.sort();
        http.sort();
        println!(
            "{orders}-order batch ({} MB): CLI {:?}, HTTP {:?}; ratio {:.2} (target ≤ 1.20)",
            batch.len() / 1_000_000,
            cli[1],
            http[1],
            http[1].as_secs_f64() / cli[1].as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
        served.shutdown().await;
        bare.shutdown().await;
    });
}
