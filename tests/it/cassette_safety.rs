//! Issue 8, points 1 and 2: a cassette never holds a credential or buyer data.
//!
//! `fixtures lint` reads files as written (VCR request headers, `Set-Cookie`, `base64:`
//! and `!binary` bodies, phone numbers and e-mail in free text, names in `noshi` /
//! `selectedChoice`, numeric personal fields); the recorder stores nothing lint would
//! refuse (compressed and Shift_JIS bodies, credentials wherever they appear, upstream
//! user-info); and both use one detector, so a corpus of hostile and benign strings gets
//! the same answer from each.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use rms_preflight::fixture::{
    lint, Cassette, Handler, HttpRequest, HttpResponse, Recorder, Redactor, Server,
};
use rms_preflight::fixture::{Interaction, RecordedRequest, RecordedResponse};

use super::{corpus, run, stdout};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rms-preflight-it-safety-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Point 1: every hand-written bad cassette fails lint with each line it expects; the
/// good ones pass.
#[test]
fn lint_fails_every_bad_cassette_as_written() {
    let mut failures = Vec::new();
    for file in yaml_files(&corpus("fixtures-lint/bad")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: no `# expect:` line",
            file.display()
        );
        let out = run(&["fixtures", "lint", &file.to_string_lossy()], None);
        let report = stdout(&out);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, want 1\n{report}",
                file.display(),
                out.status.code()
            ));
        }
        for line in expected {
            if !report.contains(line) {
                failures.push(format!(
                    "{}: missing `{line}` in:\n{report}",
                    file.display()
                ));
            }
        }
    }
    for file in yaml_files(&corpus("fixtures-lint/good")) {
        let out = run(&["fixtures", "lint", &file.to_string_lossy()], None);
        if out.status.code() != Some(0) {
            failures.push(format!(
                "{}: want exit 0:\n{}",
                file.display(),
                stdout(&out)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A fake upstream RMS with one canned answer.
struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Handler for Canned {
    async fn handle(&self, _request: HttpRequest) -> HttpResponse {
        HttpResponse {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }
}

fn canned(content_type: &str, extra: &[(&str, &str)], body: impl Into<Bytes>) -> Arc<Canned> {
    let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
    headers.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Arc::new(Canned {
        status: 200,
        headers,
        body: body.into(),
    })
}

/// An upstream that echoes, without their names, every header value, query value and
/// JSON string value it was sent (the worst an upstream can do with credentials).
struct Echo;

impl Handler for Echo {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let mut echo: Vec<String> = request.headers.iter().map(|(_, v)| v.clone()).collect();
        if let Some((_, query)) = request.path.split_once('?') {
            echo.extend(
                query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(_, v)| v.to_owned()),
            );
        }
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&request.body) {
            echo.extend(map.values().filter_map(Value::as_str).map(str::to_owned));
        }
        HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(json!({"echo": echo}).to_string()),
        }
    }
}

/// Starts `upstream` (at `upstream_url(addr)`) and a recorder in front of it, sends one
/// request built by `send`, stops both. Returns the cassette, the reply and the recorder.
async fn record_one<H: Handler>(
    upstream: Arc<H>,
    upstream_url: impl FnOnce(&str) -> String,
    name: &str,
    send: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> (PathBuf, Bytes, Arc<Recorder>) {
    let upstream_server = Server::start("127.0.0.1:0".parse().unwrap(), upstream)
        .await
        .unwrap();
    let path = tmp(name);
    let recorder = Arc::new(
        Recorder::create(
            &upstream_url(&upstream_server.url()),
            &path,
            Redactor::with_salt("safety-salt"),
        )
        .unwrap(),
    );
    let proxy = Server::start("127.0.0.1:0".parse().unwrap(), recorder.clone())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let reply = send(&client, &proxy.url()).send().await.unwrap();
    let reply = reply.bytes().await.unwrap();
    proxy.shutdown().await;
    upstream_server.shutdown().await;
    (path, reply, recorder)
}

fn get_order(client: &reqwest::Client, proxy: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{proxy}/es/2.0/order/getOrder/"))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"orderNumberList":["375055-20261130-00000001"],"version":7}"#)
}

fn lint_file(path: &Path) -> (Option<i32>, String) {
    let out = run(&["fixtures", "lint", &path.to_string_lossy()], None);
    (out.status.code(), stdout(&out))
}

fn order_with(remarks: &str) -> Value {
    json!({"OrderModelList": [{"orderNumber": "375055-20261130-00000001", "remarks": remarks}]})
}

fn cassette_with(response: RecordedResponse) -> Cassette {
    let mut c = Cassette::new(None);
    c.interactions.push(Interaction {
        function: Some("getOrder".into()),
        request: RecordedRequest {
            method: "POST".into(),
            path: "/es/2.0/order/getOrder/".into(),
            headers: BTreeMap::new(),
            json: Some(json!({"orderNumberList": ["375055-20261130-00000001"], "version": 7})),
            text: None,
            base64: None,
        },
        response,
        delay: None,
    });
    c
}

fn response(json: Option<Value>, text: Option<&str>) -> RecordedResponse {
    RecordedResponse {
        status: 200,
        headers: BTreeMap::new(),
        json,
        text: text.map(str::to_owned),
        base64: None,
    }
}

/// Points 1 and 2 together: lint and the recorder share one detector. Every string of
/// the corpus goes (a) into a cassette given to lint and (b) through the recorder, as a
/// JSON `remarks` and as a plain-text body. Hostile strings must be found by lint and
/// changed by the recorder; benign ones must pass lint and be stored byte for byte; and
/// whatever the recorder stored must pass lint.
#[tokio::test]
async fn lint_and_recorder_agree_on_hostile_strings() {
    let corpus_text = std::fs::read_to_string(corpus("fixtures-lint/strings.yaml")).unwrap();
    let strings: BTreeMap<String, Vec<String>> = serde_yaml::from_str(&corpus_text).unwrap();
    let mut disagreements = Vec::new();
    let mut n = 0;
    for (class, list) in &strings {
        let hostile = class == "hostile";
        for s in list {
            for as_text in [false, true] {
                n += 1;
                let place = if as_text { "text body" } else { "remarks" };
                let written = if as_text {
                    cassette_with(response(None, Some(s)))
                } else {
                    cassette_with(response(Some(order_with(s)), None))
                };
                let flagged = !lint(&written).is_empty();

                let upstream = if as_text {
                    canned("text/plain; charset=utf-8", &[], s.clone())
                } else {
                    canned("application/json", &[], order_with(s).to_string())
                };
                let (path, _, _) = record_one(
                    upstream,
                    str::to_owned,
                    &format!("agree-{n}.yaml"),
                    get_order,
                )
                .await;
                let recorded = Cassette::load(&path).unwrap();
                let body = recorded.interactions[0].response.body();
                let kept = if as_text {
                    body.text.as_deref() == Some(s.as_str())
                } else {
                    body.as_json()
                        .is_some_and(|v| v["OrderModelList"][0]["remarks"] == s.as_str())
                };
                let after = lint(&recorded);
                if flagged != hostile || kept == hostile || !after.is_empty() {
                    disagreements.push(format!(
                        "{class} {s:?} as {place}: lint flags it: {flagged}, recorder keeps it: {kept}, \
                         lint of the recording: {after:?}"
                    ));
                }
            }
        }
    }
    assert!(n > 60, "the corpus is loaded ({n} cases)");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

const PII_ORDER: &str = r#"{"OrderModelList":[{"orderNumber":"375055-20261130-00000001","remarks":"連絡先090-1234-5678まで","OrdererModel":{"familyName":"山田","firstName":"花子","emailAddress":"hanako@example.com","phoneNumber1":"090","birthYear":1980}}]}"#;

fn assert_clean(path: &Path, leaks: &[&str]) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    for leak in leaks {
        assert!(
            !text.contains(leak),
            "`{leak}` leaked into the cassette:\n{text}"
        );
    }
    assert!(!text.contains("base64:"), "raw bytes were stored:\n{text}");
    let (code, report) = lint_file(path);
    assert_eq!(code, Some(0), "the recording fails lint:\n{report}\n{text}");
    text
}

/// Point 2: compressed and Shift_JIS bodies are decoded, redacted and stored redacted.
#[tokio::test]
async fn recorder_decodes_compressed_and_shift_jis_bodies() {
    let leaks = ["山田", "花子", "hanako", "1234-5678", "1980"];
    let gzip = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(PII_ORDER.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let deflate = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(PII_ORDER.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(PII_ORDER);
    assert!(!unmappable);
    // A name in free text is beyond any detector (README); the phone number is not.
    let (sjis_text, _, _) = encoding_rs::SHIFT_JIS
        .encode("お届けは午前中、不在時は連絡先０９０－１２３４－５６７８まで");
    let cases: Vec<(&str, Arc<Canned>, Vec<u8>)> = vec![
        (
            "gzip",
            canned(
                "application/json;charset=UTF-8",
                &[("content-encoding", "gzip")],
                gzip.clone(),
            ),
            gzip,
        ),
        (
            "deflate",
            canned(
                "application/json;charset=UTF-8",
                &[("content-encoding", "deflate")],
                deflate.clone(),
            ),
            deflate,
        ),
        (
            "sjis-json",
            canned("application/json; charset=Shift_JIS", &[], sjis.to_vec()),
            sjis.to_vec(),
        ),
        (
            "sjis-text",
            canned("text/plain; charset=Shift_JIS", &[], sjis_text.to_vec()),
            sjis_text.to_vec(),
        ),
    ];
    for (name, upstream, sent) in cases {
        let (path, reply, _) =
            record_one(upstream, str::to_owned, &format!("{name}.yaml"), get_order).await;
        // The client gets RMS's bytes untouched; the cassette gets the redacted text.
        assert_eq!(&reply[..], &sent[..], "{name}");
        let leaks: &[&str] = if name == "sjis-text" {
            &["１２３４", "1234"]
        } else {
            &leaks
        };
        assert_clean(&path, leaks);
        let c = Cassette::load(&path).unwrap();
        let body = c.interactions[0].response.body();
        if name == "sjis-text" {
            let text = body.text.unwrap_or_default();
            assert!(text.starts_with("お届けは午前中"), "{name}: {text}");
        } else {
            let v = body.as_json().unwrap_or_default();
            assert_eq!(
                v["OrderModelList"][0]["orderNumber"], "375055-20261130-00000001",
                "{name}: the decoded JSON is stored"
            );
        }
    }
}

/// Point 2: credentials in a lower-case `esa` header, a custom header, the query string
/// and the JSON body never reach the cassette, even where the upstream echoes them.
#[tokio::test]
async fn recorder_scrubs_credentials_wherever_they_appear() {
    let secret = "SP375055_rec-secret-7a1";
    let key = "SL375055_rec-key-7a1";
    let esa = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{secret}:{key}"),
    );
    let custom = "shop-token-5f3e9a2c";
    let query_key = "qk-4242-zeta";
    let body_key = "jb-9191-eta";
    let body_secret = "jb-7171-theta";
    let (path, reply, _) = record_one(Arc::new(Echo), str::to_owned, "echo.yaml", |c, proxy| {
        c.post(format!(
            "{proxy}/es/2.0/order/getOrder/?licenseKey={query_key}&version=7"
        ))
        .header("authorization", format!("esa {esa}"))
        .header("x-shop-token", custom)
        .header("content-type", "application/json")
        .body(
            json!({"licenseKey": body_key, "serviceSecret": body_secret, "orderNumberList": ["375055-20261130-00000001"]})
                .to_string(),
        )
    })
    .await;
    // The upstream really got (and echoed) them: the proxy is transparent.
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        reply.contains(custom) && reply.contains(body_key),
        "{reply}"
    );
    assert_clean(
        &path,
        &[
            secret,
            key,
            &esa,
            custom,
            query_key,
            body_key,
            body_secret,
            "rec-",
        ],
    );
}

/// Point 2: credentials in `--upstream` user-info are used, never written or printed.
#[tokio::test]
async fn upstream_userinfo_is_never_written_or_printed() {
    let password = "Pa55word-userinfo-81";
    let (path, reply, _) = record_one(
        Arc::new(Echo),
        |url| url.replacen("http://", &format!("http://shop:{password}@"), 1),
        "userinfo.yaml",
        get_order,
    )
    .await;
    // The upstream was authenticated with it (basic auth) and echoed it.
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.contains("Basic "), "{reply}");
    let text = assert_clean(&path, &[password, "shop:"]);
    let c = Cassette::load(&path).unwrap();
    let origin = c.meta.origin.unwrap_or_default();
    assert!(origin.starts_with("http://127.0.0.1:"), "{origin}\n{text}");

    // The `record` command's banner and log do not print it either.
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let out = tmp("userinfo-cli.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args([
            "record",
            "--upstream",
            &format!("http://shop:{password}@127.0.0.1:9"),
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
    let mut log = String::new();
    err.read_line(&mut log).unwrap();
    super::terminate(&child);
    child.wait().unwrap();
    err.read_to_string(&mut log).unwrap();
    assert!(log.contains("recording"), "{log}");
    assert!(!log.contains(password), "the password was printed:\n{log}");
    let cassette = std::fs::read_to_string(&out).unwrap();
    assert!(!cassette.contains(password), "{cassette}");
}

/// Point 2: names in `noshi` / `selectedChoice` and numeric personal fields are
/// redacted so that lint accepts them.
#[tokio::test]
async fn recorder_redacts_names_in_noshi_and_numeric_personal_fields() {
    let body = r#"{"OrderModelList":[{"orderNumber":"375055-20261130-00000001","OrdererModel":{"phoneNumber1":90,"birthYear":1980,"birthMonth":7},"PackageModelList":[{"noshi":"御祝 山田花子","ItemModelList":[{"itemName":"名入れタンブラー","selectedChoice":"名入れ:山田花子"}]}]}]}"#;
    let (path, _, _) = record_one(
        canned("application/json", &[], body),
        str::to_owned,
        "noshi.yaml",
        get_order,
    )
    .await;
    assert_clean(&path, &["山田", "花子", "1980"]);
    let c = Cassette::load(&path).unwrap();
    let v = c.interactions[0].response.body().as_json().unwrap();
    assert_eq!(
        v["OrderModelList"][0]["PackageModelList"][0]["ItemModelList"][0]["itemName"],
        "名入れタンブラー"
    );
}

/// Point 2: a body the recorder cannot redact with certainty is replaced by a
/// placeholder, and the recorder warns.
#[tokio::test]
async fn what_the_recorder_cannot_redact_is_not_written() {
    let binary: Vec<u8> = (0u8..=255).rev().cycle().take(600).collect();
    let cases: Vec<(&str, Arc<Canned>)> = vec![
        (
            "brotli",
            canned(
                "application/json",
                &[("content-encoding", "br")],
                b"\x1b\x03\x00\xf8\xa5\x01\x00".to_vec(),
            ),
        ),
        ("binary", canned("application/octet-stream", &[], binary)),
        (
            "xml",
            canned(
                "text/xml",
                &[],
                "<order><familyName>山田</familyName><firstName>花子</firstName></order>",
            ),
        ),
    ];
    for (name, upstream) in cases {
        let (path, _, recorder) = record_one(
            upstream,
            str::to_owned,
            &format!("unsure-{name}.yaml"),
            get_order,
        )
        .await;
        let text = assert_clean(&path, &["山田", "花子"]);
        assert!(
            text.contains("not recorded"),
            "{name}: no placeholder:\n{text}"
        );
        let warnings = recorder.warnings();
        assert!(
            warnings.iter().any(|w| w.contains("not recorded")),
            "{name}: no warning: {warnings:?}"
        );
    }
}

/// The `record` command in front of `upstream`: its banner (first line) and the rest of
/// its log once stopped, after `use_proxy` was called with the proxy's URL.
fn record_cli(upstream: &str, out: &Path, use_proxy: impl FnOnce(&str)) -> (String, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
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
    if let Some(proxy) = banner
        .split(" on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
    {
        use_proxy(proxy);
    }
    super::terminate(&child);
    child.wait().unwrap();
    let mut log = String::new();
    err.read_to_string(&mut log).unwrap();
    (banner, log)
}

/// Defect: `--upstream 'http:///u:PW@host'` (and `http:/`, `http:\\`, `http:` without
/// slashes) authenticated upstream but printed the password in the banner and wrote it
/// into `meta.origin`. The upstream is read as the forwarding client reads it (WHATWG):
/// the credentials still authenticate upstream, and only the origin is shown or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_user_info_in_any_slash_form_is_used_never_shown() {
    let password = "Secr3tPW-slashes-44";
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("shop:{password}"),
    );
    let upstream = Server::start("127.0.0.1:0".parse().unwrap(), Arc::new(Echo))
        .await
        .unwrap();
    let host = upstream.url().replacen("http://", "", 1);
    let forms = [
        format!("http:///shop:{password}@{host}"),
        format!("http:/shop:{password}@{host}"),
        format!("http:\\\\shop:{password}@{host}"),
        format!("http:shop:{password}@{host}"),
        format!("HTTP://shop:{password}@{host}/"),
    ];
    for (n, form) in forms.iter().enumerate() {
        let out = tmp(&format!("slashes-{n}.yaml"));
        let (value, out2) = (form.clone(), out.clone());
        let (banner, log, reply) = tokio::task::spawn_blocking(move || {
            let mut reply = String::new();
            let (banner, log) = record_cli(&value, &out2, |proxy| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                reply = rt.block_on(async {
                    let r = get_order(&reqwest::Client::new(), proxy)
                        .send()
                        .await
                        .unwrap();
                    r.text().await.unwrap()
                });
            });
            (banner, log, reply)
        })
        .await
        .unwrap();
        assert!(
            banner.starts_with(&format!("recording http://{host} → ")),
            "{form}: {banner}"
        );
        // Upstream was authenticated with the user-info (basic auth).
        assert!(reply.contains(&format!("Basic {basic}")), "{form}: {reply}");
        let text = std::fs::read_to_string(&out).unwrap();
        for leak in [password, basic.as_str(), "shop:"] {
            assert!(!banner.contains(leak), "{form}: printed:\n{banner}");
            assert!(!log.contains(leak), "{form}: printed:\n{log}");
            assert!(!text.contains(leak), "{form}: written:\n{text}");
        }
        let c = Cassette::load(&out).unwrap();
        assert_eq!(
            c.meta.origin.as_deref(),
            Some(format!("http://{host}").as_str()),
            "{form}"
        );
        assert_eq!(c.interactions.len(), 1, "{form}: {log}");
        let (code, report) = lint_file(&out);
        assert_eq!(code, Some(0), "{form}: {report}\n{text}");
    }
    upstream.shutdown().await;
}

/// Defect: a refused `--upstream` repeated the value (`http://host?licenseKey=…`). It is
/// shown only when it holds nothing but an origin's characters; port 0 and user-info
/// that is not valid percent-encoding are refused at start.
#[test]
fn refused_upstreams_never_echo_what_may_be_a_secret() {
    let out = tmp("refused.yaml");
    for (upstream, shown) in [
        ("http://host?licenseKey=Secr3tPW", false),
        ("http://host/#Secr3tPW", false),
        ("http://u:Secr3tPW@host:0", false),
        ("http:///u:Secr3tPW@host:0", false),
        ("http://u:Secr3tPW%ZZ@host", false),
        ("http://u%ZZ:Secr3tPW@host", false),
        ("http://u:Secr3tPW%FF@host", false),
        ("http://host/licenseKey=Secr3tPW", false),
        ("Secr3tPW token", false),
        ("ftp://Secr3tPW.example", true),
        ("http://host:0", true),
    ] {
        let out = run(
            &[
                "record",
                "--upstream",
                upstream,
                "--listen",
                "127.0.0.1:0",
                "--out",
                &out.to_string_lossy(),
            ],
            None,
        );
        let err = super::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{upstream}: {err}");
        if shown {
            assert!(err.contains(&format!("`{upstream}`")), "{upstream}: {err}");
        } else {
            assert!(!err.contains("Secr3tPW"), "{upstream}: {err}");
            assert!(err.contains("not shown"), "{upstream}: {err}");
        }
    }
}

/// Appends `tail` to the recording at `path` (as a crash or a hand edit leaves it).
fn append(path: &Path, tail: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(tail.as_bytes()).unwrap();
}

/// Defect: `fixtures lint` passed a credential in a torn tail: loading drops it (with a
/// warning), but its bytes are still in the file that gets shared. Lint checks the torn
/// tail — as YAML where it is, line by line where it is cut short — and names it; a torn
/// tail the recorder wrote (redacted) still passes, wherever it was cut.
#[tokio::test]
async fn lint_checks_a_torn_tail() {
    let esa = "ESA U1AzNzUwNTVfY29ycHVzLXNlY3JldDpTTDM3NTA1NV9jb3JwdXMta2V5";
    let tails = [
        // An unterminated entry, well-formed.
        format!(
            "- function: getOrder\n  request:\n    method: POST\n    path: /es/2.0/order/getOrder/\n    headers:\n      authorization: \"{esa}\"\n  response:\n    status: 200\n    text: 連絡先090-1234-5678まで\n"
        ),
        // Cut short inside a flow mapping, then broken indentation: not YAML at all.
        format!(
            "- function: getOrder\n  request:\n    headers: {{x-forwarded: \"{esa}\n   memo: 連絡先090-1234-5678まで\n  bad: [\n"
        ),
        // A header alone, in the middle of a line.
        format!("    headers:\n      authorization: \"{esa}"),
        // Buyer data under its key, the line cut.
        "      OrdererModel:\n        familyName: 山田\n        emailAddress: hanako@exam".to_owned(),
    ];
    for (n, tail) in tails.iter().enumerate() {
        let (path, _, _) = record_one(
            canned("application/json", &[], PII_ORDER),
            str::to_owned,
            &format!("torn-{n}.yaml"),
            get_order,
        )
        .await;
        append(&path, tail);
        let out = run(&["fixtures", "lint", &path.to_string_lossy()], None);
        let (report, err) = (stdout(&out), super::stderr(&out));
        assert_eq!(out.status.code(), Some(1), "tail {n}: {report}{err}");
        assert!(err.contains("dropped a torn last interaction"), "{err}");
        assert!(report.contains(": torn tail ("), "tail {n}: {report}");
        assert!(
            report.contains("is dropped when the cassette loads"),
            "tail {n}: {report}"
        );
        for line in report.lines().filter(|l| l.contains("torn tail")) {
            assert!(!line.contains("U1Az") && !line.contains("山田"), "{line}");
        }
        if n < 3 {
            assert!(
                report.contains("holds an ESA credential")
                    || report.contains("authorization: holds a"),
                "tail {n}: {report}"
            );
        }
        if n < 2 {
            assert!(
                report.contains("holds a phone number"),
                "tail {n}: {report}"
            );
        } else if n == 3 {
            assert!(
                report.contains("familyName: holds unredacted personal data (name)"),
                "tail {n}: {report}"
            );
        }
    }

    // Comment lines are not a torn tail (loading keeps the file whole), but they are in
    // the file too.
    let (path, _, _) = record_one(
        canned("application/json", &[], PII_ORDER),
        str::to_owned,
        "torn-comments.yaml",
        get_order,
    )
    .await;
    append(
        &path,
        &format!("# authorization: {esa}\n  # 連絡先090-1234-5678\n"),
    );
    let out = run(&["fixtures", "lint", &path.to_string_lossy()], None);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("(a comment): holds"), "{report}");
    assert!(report.contains("holds a phone number"), "{report}");

    // What the recorder wrote, cut anywhere, is a torn tail with nothing to report.
    let (path, _, _) = record_one(
        canned("application/json", &[], PII_ORDER),
        str::to_owned,
        "torn-benign-source.yaml",
        get_order,
    )
    .await;
    let recorded = std::fs::read(&path).unwrap();
    let entry_start = recorded
        .windows(12)
        .position(|w| w == b"\n- function:")
        .unwrap()
        + 1;
    let entry = &recorded[entry_start..];
    let cut_path = tmp("torn-benign.yaml");
    for cut in (1..entry.len() - 1).step_by(3) {
        let mut bytes = recorded.clone();
        bytes.extend_from_slice(&entry[..cut]);
        std::fs::write(&cut_path, &bytes).unwrap();
        let (cassette, torn) = Cassette::open(&cut_path).unwrap();
        assert!(torn.is_some(), "cut {cut}");
        let problems = rms_preflight::fixture::lint_file(&cut_path, &cassette);
        assert!(
            problems.is_empty(),
            "cut {cut}: {problems:?}\n{}",
            String::from_utf8_lossy(&entry[..cut])
        );
    }
}

/// Defect: `fixtures import` copied `meta` (origin with user-info, note, tool), function
/// names and header names verbatim. Every string it writes goes through redaction, so
/// whatever lint refuses in a file, the import of that file passes lint.
#[test]
fn import_of_every_bad_cassette_passes_lint() {
    let leaks = [
        "Pa55word",
        "corpusKey9876",
        "U1AzNzUwNTVf",
        "SL375055_corpus",
        "SP375055_corpus",
        "1234-5678",
        "09012345678",
        "hanako",
        "山田",
        "WMONID",
    ];
    let mut failures = Vec::new();
    for file in yaml_files(&corpus("fixtures-lint/bad")) {
        let out = tmp(&format!(
            "imported-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        let import = run(
            &[
                "fixtures",
                "import",
                &file.to_string_lossy(),
                "--out",
                &out.to_string_lossy(),
            ],
            None,
        );
        if import.status.code() != Some(0) {
            failures.push(format!(
                "{}: import exit {:?}: {}",
                file.display(),
                import.status.code(),
                super::stderr(&import)
            ));
            continue;
        }
        let text = std::fs::read_to_string(&out).unwrap();
        for leak in leaks {
            if text.contains(leak) {
                failures.push(format!("{}: `{leak}` imported:\n{text}", file.display()));
            }
        }
        let (code, report) = lint_file(&out);
        if code != Some(0) {
            failures.push(format!(
                "{}: the import fails lint:\n{report}\n{text}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
