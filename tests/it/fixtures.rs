//! Cassettes: recording through the proxy (redaction canaries), byte-for-byte replay,
//! `fixtures lint`, VCR import, bad cassettes, and the `replay` command.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use rms_preflight::fixture::{
    Cassette, Handler, HttpRequest, HttpResponse, Recorder, Redactor, ReplayHandler, ReplayRms,
    Replayer, Server,
};
use rms_preflight::rms::wire::GetOrderRequest;
use rms_preflight::rms::{Credentials, HttpRms, HttpRmsConfig, RmsApi, RmsCall};

use super::rms_client::{engine, CANARY_KEY, CANARY_SECRET};
use super::{root, run, stderr, stdout};

/// A fake upstream RMS that always gives the same answer, and remembers what it was sent.
struct Upstream {
    status: u16,
    body: Bytes,
    seen: std::sync::Mutex<Vec<HttpRequest>>,
}

impl Handler for Upstream {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        self.seen.lock().unwrap().push(request);
        HttpResponse {
            status: self.status,
            headers: vec![
                (
                    "content-type".into(),
                    "application/json;charset=UTF-8".into(),
                ),
                ("requestid".into(), "0e3f-test".into()),
                ("set-cookie".into(), "WMONID=abc".into()),
            ],
            body: self.body.clone(),
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rms-preflight-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Upstream → recording proxy → HttpRms. Returns the cassette path.
async fn record_through_proxy(
    status: u16,
    body: &[u8],
    out: &str,
) -> (PathBuf, Vec<HttpRequest>, Bytes) {
    let upstream = Arc::new(Upstream {
        status,
        body: Bytes::copy_from_slice(body),
        seen: Default::default(),
    });
    let upstream_server = Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone())
        .await
        .unwrap();
    let path = tmp(out);
    let recorder = Arc::new(
        Recorder::create(
            &upstream_server.url(),
            &path,
            Redactor::with_salt("test-salt"),
        )
        .unwrap(),
    );
    let proxy = Server::start("127.0.0.1:0".parse().unwrap(), recorder.clone())
        .await
        .unwrap();
    let engine = engine();
    let mut config = HttpRmsConfig::for_rules(&engine);
    config.base = format!("{}/es/2.0", proxy.url());
    config.request_interval = std::time::Duration::ZERO;
    config.read_attempts = 1;
    let rms = HttpRms::new(config, &Credentials::new(CANARY_SECRET, CANARY_KEY), engine).unwrap();
    let reply = rms
        .send(RmsCall {
            function: "getOrder".into(),
            body: serde_json::json!({"orderNumberList": ["375055-20261130-00000001"], "version": 7}),
        })
        .await
        .unwrap();
    proxy.shutdown().await;
    upstream_server.shutdown().await;
    assert_eq!(recorder.recorded(), 1);
    let seen = upstream.seen.lock().unwrap().clone();
    (path, seen, reply.body)
}

const PII_ORDER: &str = r#"{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_GET_ORDER_INFO_101","message":"受注情報取得に成功しました。(取得件数1件)"}],"OrderModelList":[{"orderNumber":"375055-20261130-00000001","orderProgress":100,"remarks":"連絡先 taro.canary@example.com / 090-1234-5678","OrdererModel":{"zipCode1":"158","zipCode2":"0094","prefecture":"東京都","city":"世田谷区","subAddress":"玉川1-14-1","familyName":"楽天","firstName":"太郎","familyNameKana":"ラクテン","firstNameKana":"タロウ","phoneNumber1":"090","phoneNumber2":"1234","phoneNumber3":"5678","emailAddress":"taro.canary@example.com","birthYear":1980,"birthMonth":1,"birthDay":2},"SettlementModel":{"cardName":"VISA","cardNumber":"XXXX-XXXX-XXXX-1234","cardOwner":"TARO RAKUTEN","cardYm":"2030-01"},"PackageModelList":[{"basketId":1,"SenderModel":{"familyName":"楽天","firstName":"太郎","phoneNumber1":"090"}}],"echo":"SL375055_canary-license-key"}]}"#;

#[tokio::test]
async fn recording_redacts_credentials_and_pii() {
    let (path, seen, replied) = record_through_proxy(200, PII_ORDER.as_bytes(), "pii.yaml").await;
    // The proxy is transparent: upstream got the credentials, the client the real body.
    assert!(seen[0].header("authorization").unwrap().starts_with("ESA "));
    assert_eq!(seen[0].path, "/es/2.0/order/getOrder/");
    assert_eq!(&replied[..], PII_ORDER.as_bytes());

    let text = std::fs::read_to_string(&path).unwrap();
    for canary in [
        "canary",
        "ESA ",
        "楽天",
        "太郎",
        "ラクテン",
        "タロウ",
        "世田谷",
        "玉川",
        "0094",
        "1234-5678",
        "1980",
        "TARO RAKUTEN",
        "set-cookie",
        "WMONID",
    ] {
        assert!(
            !text.contains(canary),
            "`{canary}` leaked into the cassette:\n{text}"
        );
    }
    // Cross-references survive: the orderer and the sender are still the same person.
    let c = Cassette::load(&path).unwrap();
    let body = c.interactions[0].response.json.as_ref().unwrap();
    let order = &body["OrderModelList"][0];
    assert_eq!(
        order["OrdererModel"]["familyName"],
        order["PackageModelList"][0]["SenderModel"]["familyName"]
    );
    assert_eq!(order["orderNumber"], "375055-20261130-00000001");
    assert_eq!(c.interactions[0].function.as_deref(), Some("getOrder"));
    assert_eq!(
        c.interactions[0]
            .response
            .headers
            .get("requestid")
            .map(String::as_str),
        Some("0e3f-test")
    );
    assert!(c.meta.redacted);

    let lint = run(&["fixtures", "lint", &path.to_string_lossy()], None);
    assert_eq!(lint.status.code(), Some(0), "{}", stdout(&lint));
}

#[test]
fn lint_fails_on_credentials_and_pii() {
    let path = tmp("leaky.yaml");
    std::fs::write(
        &path,
        r#"version: 1
meta: {redacted: false}
interactions:
  - request:
      method: POST
      path: /es/2.0/order/getOrder/
      headers: {authorization: "ESA U1AzNzUwNTVfc2VjcmV0OlNMMzc1MDU1X2tleQ=="}
      json: {orderNumberList: ["375055-20261130-00000001"], version: 7}
    response:
      status: 200
      json:
        OrderModelList:
          - OrdererModel: {familyName: 楽天, emailAddress: taro@example.com, birthYear: 1980}
            remarks: "key SL375055_abcdef"
"#,
    )
    .unwrap();
    let out = run(&["fixtures", "lint", &path.to_string_lossy()], None);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    for expected in [
        "interactions[0].request.headers.authorization: holds a `authorization` header",
        "interactions[0].response.json.OrderModelList[0].OrdererModel.familyName: holds unredacted personal data (name)",
        "interactions[0].response.json.OrderModelList[0].OrdererModel.emailAddress: holds unredacted personal data (email)",
        "interactions[0].response.json.OrderModelList[0].OrdererModel.birthYear: holds personal data (not written through redaction)",
        "interactions[0].response.json.OrderModelList[0].remarks: holds what looks like an RMS service secret or licence key",
    ] {
        assert!(report.contains(expected), "missing `{expected}` in:\n{report}");
    }
}

#[test]
fn shipped_cassettes_are_clean() {
    let dir = root().join("fixtures/cassettes");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["fixtures", "lint"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn bad_cassettes_exit_2_with_where() {
    let cases = [
        ("broken.yaml", "version: 1\nmeta: {\n", "cassette `"),
        ("missing.yaml", "version: 1\nmeta: {}\ninteractions:\n  - request: {method: POST}\n    response: {status: 200}\n", "missing field `path`"),
        ("future.yaml", "version: 7\nmeta: {}\ninteractions: []\n", "unknown cassette version `7`: this rms-preflight reads version 1"),
        ("status.yaml", "version: 1\nmeta: {}\ninteractions:\n  - request: {method: POST, path: /x}\n    response: {status: 42}\n", "`42` is not an HTTP status"),
        ("two-bodies.yaml", "version: 1\nmeta: {}\ninteractions:\n  - request: {method: POST, path: /x}\n    response: {status: 200, json: {}, text: x}\n", "give one of `json`, `text` or `base64`"),
    ];
    for (name, text, expected) in cases {
        let path = tmp(name);
        std::fs::write(&path, text).unwrap();
        for args in [
            vec![
                "replay",
                "--cassette",
                path.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            vec!["fixtures", "lint", path.to_str().unwrap()],
        ] {
            let out = run(&args, None);
            assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
            assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        }
    }
    let out = run(
        &["fixtures", "lint", &tmp("missing.yaml").to_string_lossy()],
        None,
    );
    assert!(stderr(&out).contains("(line 4, column"), "{}", stderr(&out));
}

#[tokio::test]
async fn matching_is_semantic_and_misses_name_the_closest() {
    let replay =
        ReplayRms::from_files(&[root().join("fixtures/cassettes/happy-path.yaml")]).unwrap();
    // Key order and whitespace do not matter; the path matches without its trailing slash.
    let a = replay.replayer().answer(
        "POST",
        "/es/2.0/order/getOrder",
        br#"{ "version": 7, "orderNumberList": [ "375055-20261130-00000001" ] }"#,
    );
    assert_eq!(a.status, 200);
    assert!(a.matched);
    let miss = replay.replayer().answer(
        "POST",
        "/es/2.0/order/getOrder/",
        br#"{"orderNumberList":["375055-20261130-00000002"],"version":7}"#,
    );
    assert_eq!(miss.status, 404);
    let v: serde_json::Value = serde_json::from_slice(&miss.body).unwrap();
    assert_eq!(v["rmsPreflightReplay"]["differs_at"], "orderNumberList[0]");
    assert_eq!(
        v["rmsPreflightReplay"]["recorded"],
        "375055-20261130-00000001"
    );
    assert_eq!(v["rmsPreflightReplay"]["got"], "375055-20261130-00000002");
    assert_eq!(v["rmsPreflightReplay"]["closest"]["interaction"], 1);
    // In-process replay serves the typed API too.
    let got = replay
        .get_order(&GetOrderRequest {
            order_number_list: vec!["375055-20261130-00000001".into()],
            version: 7,
        })
        .await
        .unwrap();
    assert_eq!(got.orders().unwrap()[0].order_progress, 300);
    assert_eq!(replay.replayer().unmatched(), 1);
}

#[test]
fn ignored_fields_and_recorded_order() {
    let c = Cassette::parse(
        "inline",
        r#"version: 1
meta: {}
interactions:
  - request: {method: POST, path: /es/2.0/order/searchOrder/, json: {dateType: 1, startDatetime: a}}
    response: {status: 200, text: first}
  - request: {method: POST, path: /es/2.0/order/searchOrder/, json: {dateType: 1, startDatetime: b}}
    response: {status: 200, text: second}
"#,
    )
    .unwrap();
    let r = Replayer::new(vec![("inline".into(), c)], vec!["startDatetime".into()]);
    let body = br#"{"dateType":1,"startDatetime":"zzz"}"#;
    let answers: Vec<Bytes> = (0..3)
        .map(|_| r.answer("POST", "/es/2.0/order/searchOrder", body).body)
        .collect();
    assert_eq!(
        answers,
        [
            Bytes::from("first"),
            Bytes::from("second"),
            Bytes::from("second")
        ]
    );
    assert!(r.unused().is_empty());
}

/// The real VCR.py cassettes (2020) replay as they are, through the real client.
#[tokio::test]
async fn vcr_cassettes_replay_as_they_are() {
    let dir = root().join("../shared/external/rakuten-ws");
    if !dir.exists() {
        eprintln!(
            "skipped: {} is absent (a fresh clone has no ../shared)",
            dir.display()
        );
        return;
    }
    let files: Vec<PathBuf> = ["confirm_order.yaml", "get_order.yaml", "search_order.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let replay = ReplayRms::from_files(&files).unwrap();
    let replayer = Arc::new(Replayer::new(
        files
            .iter()
            .map(|f| (f.display().to_string(), Cassette::load(f).unwrap()))
            .collect(),
        vec![],
    ));
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(ReplayHandler {
            replayer: replayer.clone(),
        }),
    )
    .await
    .unwrap();
    let engine = engine();
    let mut config = HttpRmsConfig::for_rules(&engine);
    config.base = format!("{}/es/2.0", server.url());
    config.request_interval = std::time::Duration::ZERO;
    let rms = HttpRms::new(config, &Credentials::new(CANARY_SECRET, CANARY_KEY), engine).unwrap();
    // The recording asked for version 1; the request must match it.
    let got = rms
        .get_order(&GetOrderRequest {
            order_number_list: vec!["375055-20200802-00000845".into()],
            version: 1,
        })
        .await
        .unwrap();
    assert_eq!(got.orders().unwrap()[0].order_progress, 500);
    let confirmed = rms
        .confirm_order(&rms_preflight::rms::wire::ConfirmOrderRequest {
            order_number_list: vec!["375055-20200821-00002833".into()],
        })
        .await
        .unwrap();
    assert_eq!(confirmed.message_model_list.len(), 1);
    assert_eq!(replayer.unmatched(), 0);
    assert_eq!(replay.replayer().requests(), 0);
    server.shutdown().await;

    // And they convert to this format, redacted, and still replay.
    let out = tmp("imported.yaml");
    let import = run(
        &[
            "fixtures",
            "import",
            &dir.join("get_order.yaml").to_string_lossy(),
            "--out",
            &out.to_string_lossy(),
        ],
        None,
    );
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    let lint = run(&["fixtures", "lint", &out.to_string_lossy()], None);
    assert_eq!(lint.status.code(), Some(0), "{}", stdout(&lint));
}

#[test]
fn replay_command_reports_and_strict_fails() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let cassette = root().join("fixtures/cassettes/happy-path.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "replay",
            "--strict",
            "--cassette",
            &cassette.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
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
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let body = r#"{"orderNumberList":["375055-20261130-00000001"]}"#;
    write!(
        stream,
        "POST /es/2.0/order/confirmOrder HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("ORDER_EXT_API_CONFIRM_ORDER_INFO_101"));
    super::terminate(&child);
    let code = child.wait().unwrap().code();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(
        rest.contains("replay: 1 requests, 0 unmatched, 4 interactions unused"),
        "{rest}"
    );
    assert!(rest.contains("unused: "), "{rest}");
    assert_eq!(code, Some(1), "--strict with unused interactions fails");
}

/// Text the recorder's detector finds nothing in (what it finds is pseudonymised on
/// purpose, so the bytes would differ by design).
fn nothing_to_redact(s: &str) -> bool {
    rms_preflight::fixture::scan(s).is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever RMS answers (compact JSON, spaced JSON, escaped unicode, plain text,
    /// any status), replaying the recording gives back the same status and bytes —
    /// provided there is nothing to redact (an e-mail-like or phone-like word is
    /// pseudonymised on purpose: see `recording_redacts_credentials_and_pii`).
    #[test]
    fn a_recorded_interaction_replays_byte_for_byte(
        // Statuses that carry a body (204, 205 and 304 never do in HTTP).
        status in prop_oneof![Just(200u16), Just(401), Just(403), Just(500), Just(503), 200u16..600]
            .prop_filter("a status with a body", |s| !matches!(s, 204 | 205 | 304)),
        body in prop_oneof![
            "[a-zA-Z0-9 ]{0,40}".prop_map(|s| serde_json::json!({"MessageModelList": [{"messageType": "INFO", "message": s}]}).to_string()),
            "\\PC{0,40}".prop_filter("nothing PII-like", |s: &String| nothing_to_redact(s)).prop_map(|s| format!("{{\"message\": \"{}\", \"n\": 1}}", s.replace(['"', '\\'], ""))),
            "\\PC{0,60}".prop_filter("nothing PII-like", |s: &String| nothing_to_redact(s)),
            Just(String::from(r#"{"message":"\u6CE8\u6587"}"#)),
        ],
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let name = format!("bytes-{status}-{}.yaml", body.len());
            let (path, _, replied) = record_through_proxy(status, body.as_bytes(), &name).await;
            prop_assert_eq!(&replied[..], body.as_bytes());
            let replay = ReplayRms::from_files(&[path]).unwrap();
            let again = replay
                .send(RmsCall {
                    function: "getOrder".into(),
                    body: serde_json::json!({"orderNumberList": ["375055-20261130-00000001"], "version": 7}),
                })
                .await
                .unwrap();
            prop_assert_eq!(again.status, status);
            prop_assert_eq!(&again.body[..], body.as_bytes());
            Ok(())
        })?;
    }
}

#[test]
fn ruby_vcr_cassettes_replay_too() {
    let path = tmp("ruby.yml");
    std::fs::write(
        &path,
        r#"---
http_interactions:
- request:
    method: post
    uri: https://api.rms.rakuten.co.jp/es/2.0/order/confirmOrder/
    body:
      encoding: UTF-8
      string: '{"orderNumberList":["375055-20261130-00000001"]}'
    headers:
      Authorization:
      - ESA XXXXXX
  response:
    status:
      code: 200
      message: OK
    headers:
      Content-Type:
      - application/json;charset=UTF-8
    body:
      encoding: UTF-8
      string: '{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"ok","orderNumber":"375055-20261130-00000001"}]}'
  recorded_at: Mon, 30 Nov 2026 03:00:00 GMT
recorded_with: VCR 6.2.0
"#,
    )
    .unwrap();
    let c = Cassette::load(&path).unwrap();
    assert_eq!(
        c.meta.origin.as_deref(),
        Some("https://api.rms.rakuten.co.jp")
    );
    assert_eq!(c.interactions[0].request.method, "POST");
    let r = Replayer::new(vec![("ruby".into(), c)], vec![]);
    let a = r.answer(
        "POST",
        "/es/2.0/order/confirmOrder",
        br#"{"orderNumberList":["375055-20261130-00000001"]}"#,
    );
    assert_eq!(a.status, 200);
    assert!(std::str::from_utf8(&a.body)
        .unwrap()
        .starts_with(r#"{"MessageModelList":[{"messageType":"INFO""#));
}

/// The `record` command: an OMS-like client talks through it; SIGTERM stops it; the
/// cassette holds the interaction, and neither the cassette nor the log holds a secret.
#[test]
fn record_command_stops_cleanly_and_leaks_nothing() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let upstream = rt.block_on(async {
        Server::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Upstream {
                status: 200,
                body: Bytes::from_static(PII_ORDER.as_bytes()),
                seen: Default::default(),
            }),
        )
        .await
        .unwrap()
    });
    let out = tmp("recorded-by-cli.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "record",
            "--upstream",
            &upstream.url(),
            "--listen",
            "127.0.0.1:0",
            "--out",
            &out.to_string_lossy(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(2)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let creds = Credentials::new(CANARY_SECRET, CANARY_KEY);
    let body = r#"{"orderNumberList":["375055-20261130-00000001"],"version":7}"#;
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /es/2.0/order/getOrder/ HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        creds.authorization(),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    super::terminate(&child);
    let code = child.wait().unwrap().code();
    let mut log = line.clone();
    err.read_to_string(&mut log).unwrap();
    let mut stdout_text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout_text)
        .unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("recorded 1 interactions"), "{log}");
    let cassette = std::fs::read_to_string(&out).unwrap();
    for text in [&cassette, &log, &stdout_text] {
        assert!(!text.contains("canary"), "a credential leaked:\n{text}");
        assert!(
            !text.contains(&creds.authorization()["ESA ".len()..]),
            "the ESA token leaked:\n{text}"
        );
    }
    let c = Cassette::load(&out).unwrap();
    assert_eq!(c.interactions.len(), 1);
    assert_eq!(c.interactions[0].request.path, "/es/2.0/order/getOrder/");
    rt.block_on(upstream.shutdown());
}
