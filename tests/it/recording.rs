//! Issue 8, points 3–6: a recording loses nothing that reached RMS — a stop drains the
//! request in flight, a client that gives up is still recorded, a torn append costs only
//! the interaction being written, and a cassette that cannot be written never turns
//! RMS's real answer into a 500.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use rms_preflight::fixture::{
    Cassette, Handler, HttpRequest, HttpResponse, Recorder, Redactor, Server,
};

use super::{run, stderr, stdout, terminate};

/// RMS's answer in these tests: Japanese text, so a cut can fall inside a character.
const ANSWER: &str = r#"{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_GET_ORDER_INFO_101","message":"受注情報取得に成功しました。(取得件数1件)"}],"OrderModelList":[]}"#;

/// A fake upstream RMS that answers only when the test opens its gate, and reports every
/// request the moment it arrives (upstream "ran the call").
struct GatedUpstream {
    gate: tokio::sync::Semaphore,
    seen: tokio::sync::mpsc::UnboundedSender<String>,
}

impl GatedUpstream {
    fn new(open: usize) -> (Arc<Self>, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (seen, rx) = tokio::sync::mpsc::unbounded_channel();
        let upstream = Arc::new(GatedUpstream {
            gate: tokio::sync::Semaphore::new(open),
            seen,
        });
        (upstream, rx)
    }
}

impl Handler for GatedUpstream {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let _ = self.seen.send(request.path.clone());
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        HttpResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body: Bytes::from_static(ANSWER.as_bytes()),
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rms-preflight-it-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn get_order(n: u32) -> String {
    format!(r#"{{"orderNumberList":["375055-20261130-{n:08}"],"version":7}}"#)
}

fn http_post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One request over a fresh connection; the whole response as text.
async fn post(addr: SocketAddr, body: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(http_post("/es/2.0/order/getOrder/", body).as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// A recording proxy in this process, in front of `upstream`.
async fn proxy(upstream: &Server, out: &Path) -> (Server, Arc<Recorder>) {
    let recorder =
        Arc::new(Recorder::create(&upstream.url(), out, Redactor::with_salt("test-salt")).unwrap());
    let server = Server::start("127.0.0.1:0".parse().unwrap(), recorder.clone())
        .await
        .unwrap();
    (server, recorder)
}

/// The `record` command in front of `upstream`; its address and its log.
fn spawn_recorder(upstream: &str, out: &Path) -> (Child, String, BufReader<ChildStderr>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "record",
            "--upstream",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--out",
            &out.to_string_lossy(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    err.read_line(&mut banner).unwrap();
    let addr = banner
        .rsplit(" on http://")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (child, addr, err, banner)
}

fn blocking_post(addr: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(http_post("/es/2.0/order/getOrder/", body).as_bytes())
        .unwrap();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Point 3: SIGTERM while upstream is still working on a request. The stop waits for the
/// answer, relays it, records it, and only then exits.
#[test]
fn a_stop_drains_the_request_in_flight() {
    let rt = runtime();
    let (upstream, mut seen) = GatedUpstream::new(0);
    let server = rt
        .block_on(Server::start(
            "127.0.0.1:0".parse().unwrap(),
            upstream.clone(),
        ))
        .unwrap();
    let out = tmp("drained.yaml");
    let (mut child, addr, mut err, banner) = spawn_recorder(&server.url(), &out);
    let client = std::thread::spawn(move || blocking_post(&addr, &get_order(1)));
    assert!(seen.blocking_recv().is_some(), "upstream got the call");
    terminate(&child);
    // The stop is under way while upstream still works on the call.
    std::thread::sleep(Duration::from_millis(200));
    upstream.gate.add_permits(1);
    let response = client.join().unwrap();
    let code = child.wait().unwrap().code();
    let mut log = banner;
    err.read_to_string(&mut log).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}\n{log}");
    assert!(response.ends_with(ANSWER), "{response}");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("recorded 1 interactions"), "{log}");
    let c = Cassette::load(&out).unwrap();
    assert_eq!(c.interactions.len(), 1);
    assert_eq!(c.interactions[0].response.status, 200);
    rt.block_on(server.shutdown());
}

/// Point 4: the client hangs up before upstream answers. Upstream ran the call, so the
/// interaction is recorded when the answer comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_is_still_recorded() {
    let (upstream, mut seen) = GatedUpstream::new(0);
    let upstream_server = Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone())
        .await
        .unwrap();
    let out = tmp("gave-up.yaml");
    let (proxy, recorder) = proxy(&upstream_server, &out).await;
    let mut client = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    client
        .write_all(http_post("/es/2.0/order/getOrder/", &get_order(1)).as_bytes())
        .await
        .unwrap();
    assert!(seen.recv().await.is_some(), "upstream got the call");
    drop(client);
    // Let the proxy notice the client is gone before upstream answers.
    tokio::time::sleep(Duration::from_millis(100)).await;
    upstream.gate.add_permits(1);
    for _ in 0..200 {
        if recorder.recorded() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(recorder.recorded(), 1, "the call upstream ran is recorded");
    let c = Cassette::load(&out).unwrap();
    assert_eq!(c.interactions.len(), 1);
    assert_eq!(
        c.interactions[0].request.json.as_ref().unwrap()["orderNumberList"][0],
        "375055-20261130-00000001"
    );
    proxy.shutdown().await;
    upstream_server.shutdown().await;
}

/// Point 5: a recording killed mid-append leaves a torn last interaction. Wherever the
/// cut falls — between lines, inside a line, inside a UTF-8 character — loading keeps
/// every complete interaction before it, and `fixtures lint` and `replay` read them with
/// a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_append_loses_only_the_interaction_being_written() {
    let (upstream, _seen) = GatedUpstream::new(100);
    let upstream_server = Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone())
        .await
        .unwrap();
    let out = tmp("torn-source.yaml");
    let (proxy, recorder) = proxy(&upstream_server, &out).await;
    for n in 1..=3 {
        let response = post(proxy.addr(), &get_order(n)).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    proxy.shutdown().await;
    upstream_server.shutdown().await;
    assert_eq!(recorder.recorded(), 3);
    let full = std::fs::read(&out).unwrap();
    assert_eq!(Cassette::load(&out).unwrap().interactions.len(), 3);

    // The third interaction starts at the third top-level item.
    let third = full
        .windows(12)
        .enumerate()
        .filter(|(_, w)| *w == b"\n- function:")
        .map(|(i, _)| i + 1)
        .nth(2)
        .expect("three items");
    let cut_path = tmp("torn.yaml");
    let mut cuts: Vec<usize> = (third..full.len() - 1).step_by(5).collect();
    // Inside the last multi-byte character written.
    let last_char = full.windows(3).rposition(|w| w == "受".as_bytes()).unwrap();
    cuts.push(last_char + 1);
    // Just before the last line (the append's own end, if it has one).
    let last_line = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    cuts.push(last_line + 1);
    for cut in cuts {
        std::fs::write(&cut_path, &full[..cut]).unwrap();
        let c = Cassette::load(&cut_path)
            .unwrap_or_else(|e| panic!("cut at byte {cut} of {}: {e}", full.len()));
        assert_eq!(
            c.interactions.len(),
            2,
            "cut at byte {cut} of {}",
            full.len()
        );
        assert_eq!(
            c.interactions[1].request.json.as_ref().unwrap()["orderNumberList"][0],
            "375055-20261130-00000002"
        );
    }

    // The commands: a cut inside a character, as a SIGKILL mid-write leaves it.
    std::fs::write(&cut_path, &full[..last_char + 1]).unwrap();
    let lint = run(&["fixtures", "lint", &cut_path.to_string_lossy()], None);
    assert_eq!(
        lint.status.code(),
        Some(0),
        "{}{}",
        stdout(&lint),
        stderr(&lint)
    );
    assert!(
        stdout(&lint).contains("ok (2 interactions)"),
        "{}",
        stdout(&lint)
    );
    assert!(stderr(&lint).contains("warning: "), "{}", stderr(&lint));
    assert!(stderr(&lint).contains("torn"), "{}", stderr(&lint));

    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "replay",
            "--cassette",
            &cut_path.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("replaying") {
        if err.read_line(&mut log).unwrap() == 0 {
            break;
        }
    }
    terminate(&child);
    let code = child.wait().unwrap().code();
    err.read_to_string(&mut log).unwrap();
    assert!(log.contains("replaying 2 interactions"), "{log}");
    assert!(log.contains("torn"), "{log}");
    assert_eq!(code, Some(0), "{log}");
}

/// Point 6: the cassette cannot be written (deleted; the disk full). RMS ran the call, so
/// the client gets RMS's real answer — never a 500 that invites a resend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_cassette_still_relays_the_real_answer() {
    let (upstream, _seen) = GatedUpstream::new(100);
    let upstream_server = Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone())
        .await
        .unwrap();
    // Deleted under the recorder.
    let deleted = tmp("deleted.yaml");
    let (proxy_a, recorder_a) = proxy(&upstream_server, &deleted).await;
    std::fs::remove_file(&deleted).unwrap();
    let response = post(proxy_a.addr(), &get_order(1)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(ANSWER), "{response}");
    assert_eq!(recorder_a.recorded(), 0);
    assert!(
        !deleted.exists(),
        "the recorder does not quietly start a new file"
    );
    proxy_a.shutdown().await;

    // A full disk: the cassette now leads to /dev/full (every write fails with ENOSPC).
    if Path::new("/dev/full").exists() {
        let full = tmp("disk-full.yaml");
        let (proxy_b, recorder_b) = proxy(&upstream_server, &full).await;
        std::fs::remove_file(&full).unwrap();
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
        let response = post(proxy_b.addr(), &get_order(2)).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(ANSWER), "{response}");
        assert_eq!(recorder_b.recorded(), 0);
        proxy_b.shutdown().await;
    }
    upstream_server.shutdown().await;
}

/// Point 6, the command: the failure is logged when it happens and the recorder exits
/// non-zero at stop, naming what is missing.
#[test]
fn record_fails_loudly_when_the_cassette_cannot_be_written() {
    let rt = runtime();
    let (upstream, _seen) = GatedUpstream::new(100);
    let server = rt
        .block_on(Server::start("127.0.0.1:0".parse().unwrap(), upstream))
        .unwrap();
    let out = tmp("deleted-by-cli.yaml");
    let (mut child, addr, mut err, banner) = spawn_recorder(&server.url(), &out);
    std::fs::remove_file(&out).unwrap();
    let response = blocking_post(&addr, &get_order(1));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(ANSWER), "{response}");
    // Logged as it happens, before any stop.
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("getOrder"), "{line}");
    assert!(line.contains("not in the cassette"), "{line}");
    terminate(&child);
    let code = child.wait().unwrap().code();
    let mut log = banner + &line;
    err.read_to_string(&mut log).unwrap();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("1 interactions RMS answered are not in"),
        "{log}"
    );
    rt.block_on(server.shutdown());
}
