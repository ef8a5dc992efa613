//! Replay server throughput over loopback (target in README: ≥ 10,000 requests/s on
//! 2 cores). Bounded: a fixed number of requests, then it stops by itself.
//!
//! `cargo bench --bench replay_server` (`REQUESTS=200000 CONNECTIONS=32` to change the load)

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use rms_preflight::fixture::{Cassette, ReplayHandler, Replayer, Server};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let requests = if quick {
        2_000
    } else {
        env("REQUESTS", 100_000)
    };
    let connections = env("CONNECTIONS", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cassettes/happy-path.yaml");
        let cassette = Cassette::load(&path).expect("the cassette loads");
        let replayer = Arc::new(Replayer::new(vec![("happy-path".into(), cassette)], vec![]));
        let server = Server::start("127.0.0.1:0".parse().expect("addr"), Arc::new(ReplayHandler { replayer: replayer.clone() }))
            .await
            .expect("the server starts");
        let addr = server.addr();
        let body = Bytes::from_static(br#"{"orderNumberList":["375055-20261130-00000001"],"version":7}"#);
        let per_connection = requests / connections;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
                tokio::spawn(conn);
                let mut bytes = 0usize;
                for _ in 0..per_connection {
                    let req = hyper::Request::post("/es/2.0/order/getOrder/")
                        .header("host", "127.0.0.1")
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    let res = sender.send_request(req).await.expect("response");
                    assert_eq!(res.status(), 200);
                    bytes += res.into_body().collect().await.expect("body").to_bytes().len();
                }
                bytes
            }));
        }
        let mut total_bytes = 0;
        for t in tasks {
            total_bytes += t.await.expect("client task");
        }
        let elapsed = start.elapsed();
        let done = per_connection * connections;
        println!(
            "replay server: {done} requests over {connections} keep-alive connections in {:.3} s = {:.0} requests/s ({} response bytes)",
            elapsed.as_secs_f64(),
            done as f64 / elapsed.as_secs_f64(),
            total_bytes
        );
        assert_eq!(replayer.unmatched(), 0);
        server.shutdown().await;
    });
}
