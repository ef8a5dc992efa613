//! Issue 8, points 11–12: the servers (`replay`, `record`, `sim-server`) stay up and
//! bounded — counters and a bounded log instead of every request, a header timeout, a
//! connection limit, back-off at the file-descriptor limit, a bounded drain, and a
//! `sim-server` that answers only what RMS answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use rms_preflight::fixture::{
    Cassette, Handler, HttpRequest, HttpResponse, Limits, ReplayHandler, Replayer, Server,
};
use rms_preflight::sim::{SimClock, SimConfig, SimHandler, SimRms};

use super::rms_client::engine;
use super::{exchange, root, terminate};

const A: &str = "375055-20261130-00000001";
const HALF_SENT: &[u8] = b"POST /es/2.0/order/getOrder/ HTTP/1.1\r\nHost: x\r\nContent-Le";

fn happy_path() -> Replayer {
    let c = Cassette::load(&root().join("fixtures/cassettes/happy-path.yaml")).unwrap();
    Replayer::new(vec![("happy-path.yaml".into(), c)], vec![])
}

fn request(method: &str, path: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        headers: vec![],
        body: Bytes::from(body.to_owned()),
    }
}

fn http(method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Point 11: 5,000 requests to `replay` leave counters, not 5,000 log lines; the report
/// at stop (requests, unmatched, unused) stays exact.
#[test]
fn replay_keeps_counters_and_a_bounded_log() {
    let r = happy_path();
    let get = format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#);
    for i in 0..5_000 {
        if i % 10 == 0 {
            let miss = r.answer(
                "POST",
                "/es/2.0/order/getOrder/",
                br#"{"orderNumberList":["x"]}"#,
            );
            assert_eq!(miss.status, 404);
        } else {
            assert!(
                r.answer("POST", "/es/2.0/order/getOrder/", get.as_bytes())
                    .matched
            );
        }
    }
    assert_eq!(r.requests(), 5_000);
    assert_eq!(r.unmatched(), 500);
    assert_eq!(r.calls_to("getOrder"), 5_000);
    assert_eq!(r.calls_to("confirmOrder"), 0);
    assert_eq!(r.unused().len(), 4, "all but getOrder unused");
    let log = r.log();
    assert!(log.len() <= 1_000, "{} request lines kept", log.len());
    assert_eq!(log.last().unwrap(), "POST /es/2.0/order/getOrder");
    // Requests to ever new paths do not grow the counters without bound either.
    for i in 0..2_000 {
        r.answer("POST", &format!("/es/2.0/order/f{i}"), b"{}");
    }
    assert_eq!(r.requests(), 7_000);
    assert_eq!(r.calls_to("getOrder"), 5_000);
    assert!(r.log().len() <= 1_000);
}

/// Point 11: `sim-server` keeps the last call records and counts every call.
#[tokio::test]
async fn sim_server_keeps_counters_and_a_bounded_log() {
    let clock = SimClock::new("2026-11-30T09:00:00+09:00".parse().unwrap());
    let sim = Arc::new(SimRms::new(engine(), clock, SimConfig::default()));
    let order = serde_json::json!({"orderNumber": A, "orderProgress": 100, "postagePrice": 660});
    sim.add_order(order.as_object().unwrap().clone()).unwrap();
    let handler = SimHandler::new(sim.clone());
    let body = format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#);
    for _ in 0..3_000 {
        let r = handler
            .handle(request("POST", "/es/2.0/order/getOrder/", &body))
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(sim.call_count(), 3_000);
    let kept = sim.calls();
    assert!(kept.len() <= 1_000, "{} call records kept", kept.len());
    assert!(kept.iter().all(|c| c.function == "getOrder"));
    // Counting from a point still works for what is kept.
    let before = sim.call_count();
    handler
        .handle(request(
            "POST",
            "/es/2.0/order/confirmOrder",
            &format!(r#"{{"orderNumberList":["{A}"]}}"#),
        ))
        .await;
    let since = sim.calls_since(before);
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].confirmed, [A]);
}

/// Point 12: `sim-server` answers only POST on RMS's paths, like RMS; anything else is
/// refused in RMS's gateway shape and changes nothing.
#[tokio::test]
async fn sim_server_answers_only_post_on_rms_paths() {
    let clock = SimClock::new("2026-11-30T09:00:00+09:00".parse().unwrap());
    let sim = Arc::new(SimRms::new(engine(), clock, SimConfig::default()));
    let order = serde_json::json!({"orderNumber": A, "orderProgress": 100, "postagePrice": 660});
    sim.add_order(order.as_object().unwrap().clone()).unwrap();
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SimHandler::new(sim.clone())),
    )
    .await
    .unwrap();
    let confirm = format!(r#"{{"orderNumberList":["{A}"]}}"#);
    for (method, path, status) in [
        ("GET", "/es/2.0/order/confirmOrder/", 405),
        ("PUT", "/es/2.0/order/confirmOrder", 405),
        ("DELETE", "/es/2.0/order/confirmOrder/", 405),
        ("POST", "/anything/confirmOrder/", 404),
        ("POST", "/confirmOrder", 404),
        ("POST", "/es/1.0/order/confirmOrder/", 404),
        ("POST", "/es/2.0/order/", 404),
        ("POST", "/es/2.0/order/confirmOrder/extra", 404),
        ("GET", "/", 404),
    ] {
        let response = exchange(server.addr(), &http(method, path, &confirm)).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{method} {path}: {response}"
        );
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            v["Results"]["errorCode"], "ES04-01",
            "{method} {path}: {body}"
        );
        if status == 405 {
            assert!(
                response
                    .to_ascii_lowercase()
                    .contains("\r\nallow: post\r\n"),
                "{response}"
            );
        }
    }
    assert_eq!(sim.call_count(), 0, "nothing reached the simulator");
    assert_eq!(sim.accepted_confirms(A), 0);
    // RMS's own paths, with or without the trailing slash.
    let r = exchange(
        server.addr(),
        &http(
            "POST",
            "/es/2.0/order/getOrder",
            &format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#),
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    let r = exchange(
        server.addr(),
        &http("POST", "/es/2.0/order/confirmOrder/", &confirm),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert_eq!(sim.accepted_confirms(A), 1);
    let _ = server.shutdown().await;
}

/// Point 12: half-sent requests and silent connections are closed after the header
/// timeout (10 s by default; virtual time here), instead of being held forever.
#[tokio::test(start_paused = true)]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(ReplayHandler {
            replayer: Arc::new(happy_path()),
        }),
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut held = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        if i % 2 == 0 {
            s.write_all(HALF_SENT).await.unwrap();
        }
        held.push(s);
    }
    for mut s in held {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a half-sent request was held for 60 s");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let _ = server.shutdown().await;
}

/// Point 12: beyond the connection limit, connections wait to be accepted: with both
/// slots held by half-sent requests, a good request is answered only once the header
/// timeout frees a slot.
#[tokio::test(start_paused = true)]
async fn connections_beyond_the_limit_wait_for_a_slot() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = Server::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(ReplayHandler {
            replayer: Arc::new(happy_path()),
        }),
        limits,
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(HALF_SENT).await.unwrap();
        held.push(s);
    }
    // Let the server take both before the third arrives.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let body = format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#);
    let answered = exchange(
        server.addr(),
        &http("POST", "/es/2.0/order/getOrder/", &body),
    )
    .await;
    assert!(answered.starts_with("HTTP/1.1 200 "), "{answered}");
    assert!(
        started.elapsed() >= limits.header_timeout,
        "answered at {:?}, before a slot was free",
        started.elapsed()
    );
    drop(held);
    let _ = server.shutdown().await;
}

/// A client that sends whole headers and then stalls mid-body held its connection slot
/// for ever (the header timeout ends with the headers): with both slots held by stalled
/// bodies, a good request is answered once the body timeout has answered them 408.
#[tokio::test(start_paused = true)]
async fn stalled_bodies_are_answered_408_and_free_their_slots() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = Server::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(ReplayHandler {
            replayer: Arc::new(happy_path()),
        }),
        limits,
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(
            b"POST /es/2.0/order/getOrder/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
        held.push(s);
    }
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let body = format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#);
    let answered = tokio::time::timeout(
        Duration::from_secs(120),
        exchange(
            server.addr(),
            &http("POST", "/es/2.0/order/getOrder/", &body),
        ),
    )
    .await
    .expect("stalled bodies held every slot for 120 s");
    assert!(answered.starts_with("HTTP/1.1 200 "), "{answered}");
    assert!(started.elapsed() >= limits.body_timeout);
    for mut s in held {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.starts_with("HTTP/1.1 408 "), "{rest}");
    }
    let _ = server.shutdown().await;
}

/// A handler that never finishes (an upstream that never answers).
struct Stuck;

impl Handler for Stuck {
    const FINISH_WITHOUT_CLIENT: bool = true;

    async fn handle(&self, _: HttpRequest) -> HttpResponse {
        std::future::pending().await
    }
}

/// Point 3's bound: a stop waits for requests in flight at most the drain timeout, then
/// says how many it abandoned.
#[tokio::test(start_paused = true)]
async fn a_stop_waits_at_most_the_drain_timeout() {
    let server = Server::start("127.0.0.1:0".parse().unwrap(), Arc::new(Stuck))
        .await
        .unwrap();
    let mut client = TcpStream::connect(server.addr()).await.unwrap();
    client
        .write_all(http("POST", "/es/2.0/order/getOrder/", "{}").as_bytes())
        .await
        .unwrap();
    while server.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = tokio::time::Instant::now();
    let stopped = server.shutdown().await;
    assert_eq!(stopped.abandoned, 1);
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(11),
        "{:?}",
        started.elapsed()
    );
}

/// Point 12, the command at the file-descriptor limit: with every descriptor taken by
/// half-sent requests, `replay` neither dies nor stays stuck — once the header timeout
/// closes them, a good request is answered.
#[test]
fn replay_recovers_at_the_file_descriptor_limit() {
    use std::os::unix::process::CommandExt;
    let cassette = root().join("fixtures/cassettes/happy-path.yaml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rms-preflight"));
    command
        .args([
            "replay",
            "--cassette",
            &cassette.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "1s",
            "--max-connections",
            "1000",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    // SAFETY: setrlimit(2) between fork and exec touches only the child's limits.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // More half-sent requests than the server has descriptors.
    let held: Vec<std::net::TcpStream> = (0..64)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(HALF_SENT).unwrap();
            s
        })
        .collect();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let body = format!(r#"{{"orderNumberList":["{A}"],"version":7}}"#);
    s.write_all(http("POST", "/es/2.0/order/getOrder/", &body).as_bytes())
        .unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    drop(held);
    terminate(&child);
    let code = child.wait().unwrap().code();
    let mut log = line;
    let _ = err.read_to_string(&mut log);
    assert!(response.starts_with("HTTP/1.1 200 "), "{response:?}\n{log}");
    assert_eq!(code, Some(0), "{log}");
}
