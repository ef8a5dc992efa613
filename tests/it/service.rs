//! `rms-preflight serve` over real loopback HTTP (reqwest): the answers equal the CLI's for
//! the whole request corpus in both languages, the OpenAPI document is current, valid and
//! answered as it documents, rules reload whole (SIGHUP on the real binary; concurrent
//! requests during reloads in process), bad input answers 400/413 and the service keeps
//! serving, a batch streams, and a stop drains requests in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rms_preflight::http::{Limits, Server};
use rms_preflight::service::{RulesSource, Service, RULES_VERSION_HEADER};
use serde_json::Value;

use super::{exchange, root, run, stdout};

async fn start() -> (Service, Server) {
    start_within(Limits::default()).await
}

/// The service over the embedded rules, bounded by `limits`, on a free loopback port.
async fn start_within(limits: Limits) -> (Service, Server) {
    let service = Service::new(RulesSource::Embedded, &limits).expect("the embedded rules load");
    let server = service
        .start("127.0.0.1:0".parse().unwrap(), limits)
        .await
        .expect("a free port on loopback");
    (service, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client")
}

/// POSTs `body` over a raw connection, ignoring a failed write (the server may answer and
/// close before the body is in), and returns the status line's code.
async fn oversized_status(addr: std::net::SocketAddr, path: &str, body: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("a connection");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("the head");
    // Read while writing: the answer comes as soon as the head is in.
    let (mut read, mut write) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&body).await;
    });
    let mut answer = Vec::new();
    let _ = read.read_to_end(&mut answer).await;
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"))
}

/// POSTs `body` and returns (status, x-rules-version, body).
async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let r = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = r.status().as_u16();
    let version = r
        .headers()
        .get(RULES_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = r.bytes().await.expect("a whole body").to_vec();
    (status, version, bytes)
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/corpus/check"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The CLI's `check --format json` for every (file, language), four processes at a time.
fn cli_answers(
    files: &[PathBuf],
    langs: &[&'static str],
) -> Vec<(PathBuf, &'static str, Vec<u8>, i32)> {
    let jobs: Vec<(PathBuf, &'static str)> = files
        .iter()
        .flat_map(|f| langs.iter().map(move |l| (f.clone(), *l)))
        .collect();
    let chunks: Vec<Vec<(PathBuf, &'static str)>> = jobs
        .chunks(jobs.len().div_ceil(4).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                chunk
                    .into_iter()
                    .map(|(file, lang)| {
                        let path = file.to_str().unwrap().to_owned();
                        let out = run(&["check", "--format", "json", "--lang", lang, &path], None);
                        (file, lang, out.stdout, out.status.code().unwrap_or(-1))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_the_cli_for_the_whole_corpus_in_both_languages() {
    let files = corpus_files();
    assert!(files.len() >= 90, "the corpus is there");
    let expected = tokio::task::spawn_blocking(move || cli_answers(&files, &["ja", "en"]))
        .await
        .unwrap();
    let (service, server) = start().await;
    let client = client();
    for (file, lang, cli, code) in expected {
        let body = std::fs::read(&file).unwrap();
        let url = format!("{}/v1/check?lang={lang}", server.url());
        let (status, version, answer) = post(&client, &url, "application/yaml", body).await;
        let name = file.file_name().unwrap().to_string_lossy();
        let want = if code == 2 { 400 } else { 200 };
        assert_eq!(status, want, "{name} ({lang}): CLI exit {code}");
        assert_eq!(version, service.version());
        // `now` is in every corpus file but one clock-free; compare the documents.
        assert_eq!(
            String::from_utf8_lossy(&answer),
            String::from_utf8_lossy(&cli),
            "{name} ({lang})"
        );
    }
    // The explain-error corpus, too (JSON, English, with its status).
    for entry in std::fs::read_dir(root().join("tests/corpus/explain-error")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let status = name
            .split('.')
            .next()
            .and_then(|n| n.split_once('@'))
            .map(|(_, s)| s.to_owned());
        let mut args = vec!["explain-error", "--format", "json", "--lang", "en"];
        let mut url = format!("{}/v1/explain-error?lang=en", server.url());
        if let Some(s) = &status {
            args.extend(["--status", s.as_str()]);
            url.push_str(&format!("&status={s}"));
        }
        let p = path.to_str().unwrap();
        args.push(p);
        let cli = run(&args, None);
        let (code, _, answer) =
            post(&client, &url, "text/plain", std::fs::read(&path).unwrap()).await;
        assert_eq!(code, 200, "{name}");
        assert_eq!(String::from_utf8_lossy(&answer), stdout(&cli), "{name}");
    }
    // A long answer (over 64 KiB: classified on a blocking thread) is answered as the CLI
    // answers it too: 2,000 orders the proxy denied, and one RMS confirmed.
    let entries: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                r#"{{"messageType":"ERROR","messageCode":"RMS_PREFLIGHT_S13","message":"x","orderNumber":"375055-20261130-{i:08}"}}"#
            )
        })
        .chain([r#"{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"x","orderNumber":"375055-20261130-99999999"}"#.to_owned()])
        .collect();
    let long = format!(r#"{{"MessageModelList":[{}]}}"#, entries.join(","));
    assert!(long.len() > 64 * 1024);
    let file = std::env::temp_dir().join(format!("rms-preflight-long-{}.json", std::process::id()));
    std::fs::write(&file, &long).unwrap();
    let cli = run(
        &[
            "explain-error",
            "--format",
            "json",
            "--lang",
            "en",
            file.to_str().unwrap(),
        ],
        None,
    );
    let _ = std::fs::remove_file(&file);
    let url = format!("{}/v1/explain-error?lang=en", server.url());
    let (code, _, answer) = post(&client, &url, "text/plain", long.into_bytes()).await;
    assert_eq!(code, 200);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(answer, stdout(&cli));
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["outcome"], "denied");
    assert_eq!(v["orders"].as_array().map(Vec::len), Some(2001));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_graph_errors_health_and_metrics() {
    let (service, server) = start().await;
    let client = client();
    let get = |path: &str| {
        let client = client.clone();
        let url = format!("{}{path}", server.url());
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    for format in ["mermaid", "dot"] {
        let (status, text) = get(&format!("/v1/rules/graph?format={format}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            text,
            stdout(&run(&["rules", "graph", "--format", format], None))
        );
    }
    let (status, text) = get("/v1/rules/graph?format=png").await;
    assert_eq!(status, 400);
    assert!(text.contains("unknown graph format `png`"), "{text}");
    let (_, rules) = get("/v1/rules").await;
    let rules: Value = serde_json::from_str(&rules).unwrap();
    let shipped = service.rules().engine.rules().file().rules.len();
    assert_eq!(rules["rules"].as_array().unwrap().len(), shipped);
    assert_eq!(rules["version"], service.version());
    let s13 = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "confirm-shipping-fee-unset")
        .unwrap();
    assert_eq!(s13["source"], "S13");
    assert!(
        s13["remedy"].as_array().unwrap().len() >= 2,
        "remedy variants"
    );
    let (_, errors) = get("/v1/errors").await;
    let errors: Value = serde_json::from_str(&errors).unwrap();
    assert!(errors["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "license_expired"));
    let (status, health) = get("/healthz").await;
    assert_eq!(status, 200);
    assert!(health.contains(&service.version()));

    // Decisions and findings are counted per action and rule.
    let deny = br#"{"now":"2026-11-30T12:00:00+09:00","action":"confirm","order":{"orderNumber":"1","orderProgress":100,"postagePrice":-9999}}"#;
    let url = format!("{}/v1/check", server.url());
    let (status, _, _) = post(&client, &url, "application/json", deny.to_vec()).await;
    assert_eq!(status, 200);
    let (_, metrics) = get("/metrics").await;
    for line in [
        "rms_preflight_http_requests_total{route=\"/v1/check\",status=\"200\"} 1".to_owned(),
        "rms_preflight_decisions_total{action=\"confirm\",decision=\"deny\"} 1".to_owned(),
        "rms_preflight_findings_total{rule=\"confirm-shipping-fee-unset\",source=\"S13\",action=\"confirm\",severity=\"deny\"} 1".to_owned(),
        "rms_preflight_http_request_duration_seconds_count{route=\"/v1/check\"} 1".to_owned(),
        format!("rms_preflight_rules_info{{version=\"{}\"}} 1", service.version()),
    ] {
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    server.shutdown().await;
}

#[test]
fn openapi_is_current() {
    let out = run(&["rules", "schema", "openapi"], None);
    assert_eq!(out.status.code(), Some(0));
    let path = root().join("rules/openapi.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    let shipped = std::fs::read(&path).unwrap_or_default();
    assert!(
        shipped == out.stdout,
        "rules/openapi.json is stale: run `UPDATE_SCHEMAS=1 cargo test --test it openapi`"
    );
}

/// A validator of `#/components/schemas/NAME` within the document.
fn validator(doc: &Value, schema_ref: &str) -> jsonschema::Validator {
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": schema_ref,
        "components": doc["components"],
    });
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{schema_ref}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_validates_and_every_example_is_answered_as_documented() {
    let (_service, server) = start().await;
    let client = client();
    let served = client
        .get(format!("{}/openapi.json", server.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&served).unwrap();
    let shipped: Value =
        serde_json::from_slice(&std::fs::read(root().join("rules/openapi.json")).unwrap()).unwrap();
    assert_eq!(
        served, shipped,
        "the service serves the checked-in document"
    );
    let doc = served;
    assert_eq!(doc["openapi"], "3.1.0");
    // utoipa's model of OpenAPI reads its paths and operations back unchanged (its schema
    // model is narrower than JSON Schema, so the schemas are validated below instead).
    let mut skeleton = doc.clone();
    skeleton.as_object_mut().unwrap().remove("components");
    let model: utoipa::openapi::OpenApi = serde_json::from_value(skeleton).expect("OpenAPI");
    assert_eq!(serde_json::to_value(&model.paths).unwrap(), doc["paths"]);
    // Every schema is a valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1), and every
    // `$ref` resolves.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        jsonschema::draft202012::meta::validate(schema)
            .unwrap_or_else(|e| panic!("components.schemas.{name}: {e}"));
        validator(&doc, &format!("#/components/schemas/{name}"));
    }
    let mut answered = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // Every documented answer fits its schema.
            for (status, response) in responses {
                for (_, content) in response["content"].as_object().into_iter().flatten() {
                    let Some(schema_ref) = content["schema"]["$ref"].as_str() else {
                        continue;
                    };
                    let v = validator(&doc, schema_ref);
                    for (name, example) in content["examples"].as_object().into_iter().flatten() {
                        if let Err(e) = v.validate(&example["value"]) {
                            panic!("{method} {path} {status} example {name}: {e}");
                        }
                    }
                }
            }
            let url = format!("{}{path}", server.url());
            let request = &op["requestBody"]["content"];
            let Some(contents) = request.as_object() else {
                // A GET: its examples are its answers.
                for (status, response) in responses {
                    let examples = &response["content"]["application/json"]["examples"];
                    for (name, example) in examples.as_object().into_iter().flatten() {
                        let r = client.get(&url).send().await.unwrap();
                        assert_eq!(r.status().as_str(), status, "{path} {name}");
                        let body: Value =
                            serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                        assert_eq!(body, example["value"], "{path} {name}");
                        answered += 1;
                    }
                }
                continue;
            };
            for (content_type, content) in contents {
                let schema = content["schema"]["$ref"]
                    .as_str()
                    .map(|r| validator(&doc, r));
                for (name, example) in content["examples"].as_object().into_iter().flatten() {
                    let value = &example["value"];
                    let body = match value {
                        Value::String(s) => s.clone().into_bytes(),
                        other => serde_json::to_vec(other).unwrap(),
                    };
                    if let Some(v) = &schema {
                        if name != "bad-input" {
                            assert!(v.is_valid(value), "{path} request example {name}");
                        }
                    }
                    let (status, _, answer) = post(&client, &url, content_type, body).await;
                    let (documented, response) = responses
                        .iter()
                        .find(|(_, r)| {
                            r["content"]["application/json"]["examples"][name].is_object()
                        })
                        .unwrap_or_else(|| panic!("{path} example {name}: no documented answer"));
                    assert_eq!(status.to_string(), *documented, "{path} example {name}");
                    let answer: Value = serde_json::from_slice(&answer).unwrap();
                    assert_eq!(
                        answer, response["content"]["application/json"]["examples"][name]["value"],
                        "{path} example {name}"
                    );
                    answered += 1;
                }
            }
        }
    }
    assert!(answered >= 9, "{answered} examples answered");
    server.shutdown().await;
}

/// The shipped rules with `confirm-shipping-fee-unset` (S13) turned into a warning.
fn s13_as_warning() -> String {
    let text = rms_preflight::rules::EMBEDDED_RULES;
    let at = text
        .find("- id: confirm-shipping-fee-unset")
        .expect("the S13 rule");
    let rest = &text[at..];
    let severity = rest.find("severity: deny").expect("its severity");
    format!(
        "{}severity: warn{}",
        &text[..at + severity],
        &rest[severity + "severity: deny".len()..]
    )
}

/// An order whose only problem is RMS's unset shipping fee (S13 alone fires).
const FEE_UNSET: &str = r#"{"now":"2026-11-30T12:00:00+09:00","shop":{"api_option":true},"action":"confirm","order":{"orderNumber":"375055-20261130-00000001","orderProgress":100,"orderDatetime":"2026-11-29T10:00:00+0900","postagePrice":-9999}}"#;

fn decision(answer: &[u8]) -> String {
    let v: Value = serde_json::from_slice(answer).unwrap();
    v["results"][0]["decision"].as_str().unwrap().to_owned()
}

struct Serving {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    fn start(rules: &Path) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
            .args(["serve", "--listen", "127.0.0.1:0", "--rules"])
            .arg(rules)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let banner = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the banner");
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_owned();
        Serving { child, url, lines }
    }

    fn hangup(&self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    }

    /// The stderr lines up to and including the first one containing `until`.
    fn lines_until(&self, until: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no `{until}` in {seen:#?}"));
            let done = line.contains(until);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_good_file_and_keeps_the_old_rules_for_a_broken_one() {
    let dir = std::env::temp_dir().join(format!("rms-preflight-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    std::fs::write(&file, rms_preflight::rules::EMBEDDED_RULES).unwrap();
    let serving = tokio::task::spawn_blocking({
        let file = file.clone();
        move || Serving::start(&file)
    })
    .await
    .unwrap();
    let client = client();
    let url = format!("{}/v1/check?lang=en", serving.url);
    let (status, v1, answer) = post(&client, &url, "application/json", FEE_UNSET.into()).await;
    assert_eq!((status, decision(&answer).as_str()), (200, "deny"));

    // A good file: the verdict changes, and so does the version.
    std::fs::write(&file, s13_as_warning()).unwrap();
    serving.hangup();
    let serving = tokio::task::spawn_blocking(move || {
        serving.lines_until("rules reloaded");
        serving
    })
    .await
    .unwrap();
    let (_, v2, answer) = post(&client, &url, "application/json", FEE_UNSET.into()).await;
    assert_eq!(decision(&answer), "warn");
    assert_ne!(v1, v2);
    assert_eq!(v2, rms_preflight::service::version_of(&s13_as_warning()));

    // A broken file: its located diagnostic is logged and the last good rules stay.
    let broken = s13_as_warning().replacen("severity: warn", "severity: maybe", 1);
    let line = broken[..broken.find("severity: maybe").unwrap()]
        .lines()
        .count()
        + 1;
    std::fs::write(&file, &broken).unwrap();
    serving.hangup();
    let (serving, log) = tokio::task::spawn_blocking(move || {
        let log = serving.lines_until("rules reload refused");
        (serving, log.join("\n"))
    })
    .await
    .unwrap();
    assert!(log.contains("rules.yaml"), "{log}");
    assert!(
        log.contains(&format!("{line}")),
        "line {line} named:\n{log}"
    );
    assert!(
        log.contains(&format!("still serving version {v2}")),
        "{log}"
    );
    let (status, v3, answer) = post(&client, &url, "application/json", FEE_UNSET.into()).await;
    assert_eq!(
        (status, decision(&answer).as_str(), v3.as_str()),
        (200, "warn", v2.as_str())
    );
    let metrics = client
        .get(format!("{}/metrics", serving.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rms_preflight_rules_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rms_preflight_rules_reloads_total{result=\"refused\"} 1"));
    assert!(metrics.contains(&format!("rms_preflight_rules_info{{version=\"{v2}\"}} 1")));
    super::terminate(&serving.child);
    drop(serving);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_during_reloads_each_get_one_whole_rule_set() {
    let (service, server) = start().await;
    let a = rms_preflight::rules::EMBEDDED_RULES.to_owned();
    let b = s13_as_warning();
    // A batch of 40 fee-unset orders: under A every entry is denied, under B warned.
    let entry = FEE_UNSET
        .trim_start_matches(r#"{"now":"2026-11-30T12:00:00+09:00","shop":{"api_option":true},"#)
        .trim_end_matches('}');
    let entries: Vec<String> = (0..40).map(|_| format!("{{{entry}}}}}")).collect();
    let batch = format!(
        r#"{{"now":"2026-11-30T12:00:00+09:00","shop":{{"api_option":true}},"requests":[{}]}}"#,
        entries.join(",")
    );
    let url = format!("{}/v1/check", server.url());
    let client = client();
    let mut expected = std::collections::HashMap::new();
    for text in [&b, &a] {
        let version = service.reload_text("rules.yaml", text).unwrap();
        let (_, v, answer) = post(&client, &url, "application/json", batch.clone().into()).await;
        assert_eq!(v, version);
        expected.insert(version, answer);
    }
    assert_eq!(expected.len(), 2);
    let reloader = {
        let service = service.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let text = if i % 2 == 0 { &b } else { &a };
                service.reload_text("rules.yaml", text).unwrap();
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (client, url, batch, expected) =
            (client.clone(), url.clone(), batch.clone(), expected.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..40 {
                let (status, version, answer) =
                    post(&client, &url, "application/json", batch.clone().into()).await;
                assert_eq!(status, 200);
                let want = expected.get(&version).expect("a known rules version");
                assert!(
                    answer == *want,
                    "an answer mixing rule sets (version {version})"
                );
                seen.insert(version);
            }
            seen
        }));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        seen.extend(t.await.unwrap());
    }
    reloader.await.unwrap();
    assert!(!seen.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_answers_400_or_413_and_the_service_keeps_serving() {
    let (_service, server) = start().await;
    let client = client();
    let check = format!("{}/v1/check", server.url());
    let limit = usize::try_from(rms_preflight::model::limits::max_input_bytes()).unwrap();
    let huge_json = {
        let mut s = String::with_capacity(limit + 64);
        s.push_str(r#"{"action":"confirm","order":{"orderNumber":""#);
        s.push_str(&"9".repeat(limit));
        s.push_str(r#""}}"#);
        s
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"action\": \"confirm\",\n \"order\": {]}".to_vec(),
            400,
        ),
        (
            "deep JSON",
            "application/json",
            "[".repeat(200_000).into_bytes(),
            400,
        ),
        (
            "deep JSON object",
            "application/json",
            "{\"a\":".repeat(100_000).into_bytes(),
            400,
        ),
        (
            "deep YAML",
            "application/yaml",
            "[".repeat(200_000).into_bytes(),
            400,
        ),
        (
            "not UTF-8",
            "application/yaml",
            vec![0xff, 0xfe, 0x00, 0x80],
            400,
        ),
        (
            "second YAML document",
            "application/yaml",
            b"action: import\n---\naction: import\n".to_vec(),
            400,
        ),
        (
            "unknown field",
            "application/json",
            br#"{"action":"confirm","order":{"postage_price":-9999}}"#.to_vec(),
            400,
        ),
        (
            "huge JSON",
            "application/json",
            huge_json.clone().into_bytes(),
            413,
        ),
        (
            "huge YAML",
            "application/yaml",
            format!("action: import\nx: {}\n", "9".repeat(limit)).into_bytes(),
            413,
        ),
        ("zeros", "application/json", vec![0; 1 << 20], 400),
    ];
    for (name, content_type, body, want) in cases {
        let (status, _, answer) = post(&client, &check, content_type, body).await;
        assert_eq!(
            status,
            want,
            "{name}: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(400)])
        );
        let v: Value =
            serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("{name}: a JSON answer"));
        assert!(v["error"]["message"].is_string(), "{name}: {v}");
        assert_eq!(v["summary"]["deny"], 0, "{name}");
    }
    // The located error is the CLI's.
    let (_, _, answer) = post(
        &client,
        &check,
        "application/json",
        b"{\"action\": \"confirm\",\n \"order\": {]}".to_vec(),
    )
    .await;
    let v: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        (v["error"]["line"].as_u64(), v["error"]["column"].as_u64()),
        (Some(2), Some(12)),
        "{v}"
    );
    let cli = run(
        &["check", "--format", "json", "-"],
        Some(b"{\"action\": \"confirm\",\n \"order\": {]}"),
    );
    assert_eq!(String::from_utf8_lossy(&answer), stdout(&cli));

    // Query and content type.
    for (url, content_type, want) in [
        (format!("{check}?lang=fr"), "application/json", 400),
        (format!("{check}?explain=maybe"), "application/json", 400),
        (format!("{check}?explian=true"), "application/json", 400),
        (check.clone(), "application/xml", 415),
    ] {
        let (status, _, answer) = post(&client, &url, content_type, FEE_UNSET.into()).await;
        assert_eq!(
            status,
            want,
            "{url} {content_type}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // explain-error: over the limit, a duplicate key, a bad status.
    let explain = format!("{}/v1/explain-error", server.url());
    // The service answers 413 from the Content-Length alone and closes, so a client still
    // writing the body may see a broken pipe first: send it raw and read what came back.
    let status = oversized_status(server.addr(), "/v1/explain-error", huge_json.into_bytes()).await;
    assert_eq!(status, 413);
    let (status, _, answer) = post(
        &client,
        &explain,
        "application/json",
        br#"{"a":1,"a":2}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&answer).contains("at `a`: duplicate field"));
    let (status, _, _) = post(
        &client,
        &format!("{explain}?status=abc"),
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 400);

    // Still serving.
    let (status, _, answer) = post(&client, &check, "application/json", FEE_UNSET.into()).await;
    assert_eq!((status, decision(&answer).as_str()), (200, "deny"));
    server.shutdown().await;
}

/// A JSON batch of `n` confirmations (`shop` and `now` first, so it streams).
fn batch(n: usize, tail: &str) -> String {
    let mut s = String::from(
        r#"{"shop":{"api_option":false},"now":"2026-11-30T12:00:00+09:00","requests":["#,
    );
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let fee = if i % 7 == 0 { -9999 } else { 660 };
        s.push_str(&format!(
            r#"{{"action":"confirm","order":{{"orderNumber":"375055-20261130-{i:08}","orderProgress":100,"orderDatetime":"2026-11-29T10:00:00+0900","postagePrice":{fee}}}}}"#
        ));
    }
    s.push_str(tail);
    s.push_str("]}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_streams_through_and_equals_the_cli() {
    let (_service, server) = start().await;
    let client = client();
    let url = format!("{}/v1/check?lang=en", server.url());
    let text = batch(5_000, "");
    let cli = run(
        &["check", "--format", "json", "--lang", "en", "-"],
        Some(text.as_bytes()),
    );
    let (status, _, answer) = post(&client, &url, "application/json", text.into_bytes()).await;
    assert_eq!(status, 200);
    assert!(answer.len() > 256 * 1024, "a streamed answer");
    assert!(answer == cli.stdout, "the streamed answer is the CLI's");

    // Cut short early: whole answer, status 400. Cut short after the answer began to
    // stream: status 200, the document closed with the CLI's `error`.
    for (n, want) in [(3, 400), (5_000, 200)] {
        let text = batch(n, r#",{"action":"confirm","order":{"postage_price":1}}"#);
        let cli = run(
            &["check", "--format", "json", "--lang", "en", "-"],
            Some(text.as_bytes()),
        );
        let (status, _, answer) = post(&client, &url, "application/json", text.into_bytes()).await;
        assert_eq!(status, want, "{n} entries");
        assert!(answer == cli.stdout, "{n} entries: the CLI's document");
        let v: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(
            v["error"]["path"],
            format!("requests[{n}].order.postage_price")
        );
    }
    server.shutdown().await;
}

/// Sends a request's head and part of its body over a raw connection.
fn half_sent(addr: SocketAddr, body: &[u8], sent: usize) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..sent]).unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_drains_requests_in_flight() {
    let (_service, server) = start().await;
    let addr = server.addr();
    let body = batch(2_000, "").into_bytes();
    let expected = run(&["check", "--format", "json", "-"], Some(&body)).stdout;
    let mut stream = tokio::task::spawn_blocking({
        let body = body.clone();
        move || half_sent(addr, &body, 1000)
    })
    .await
    .unwrap();
    // Give the server the request's head, then stop it while the body is still coming.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = tokio::task::spawn_blocking(move || {
        stream.write_all(&body[1000..]).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    let stopped = stopping.await.unwrap();
    assert_eq!(stopped.abandoned, 0);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(300)]
    );
    // The answer is chunked: its last result and the summary are there whole.
    assert!(answer
        .windows(expected.len().min(64))
        .any(|w| w == &expected[expected.len() - 64..]));
    // And nothing new is accepted.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// A single request whose body stops coming is answered 400 after the body timeout (the
/// stall timer is armed only when the body must be waited for), and the service serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_refused_after_the_body_timeout() {
    let (_service, server) = start_within(Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let addr = server.addr();
    let started = std::time::Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = half_sent(addr, br#"{"action":"confirm","order":{}}"#, 10);
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stalled"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let (status, _, _) = post(
        &client(),
        &format!("{}/v1/check", server.url()),
        "application/json",
        br#"{"action":"confirm","order":{"orderProgress":100}}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

/// A body announced over the limit is refused by the server's limit layer before any
/// handler runs; the refusal still reads like every other error of the service (JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_layers_refusal_is_in_the_services_shape() {
    let (_service, server) = start().await;
    let answer = exchange(
        server.addr(),
        "POST /v1/explain-error HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(
        v["error"]["message"],
        "the request body is over the size limit"
    );
    server.shutdown().await;
}

/// An answer the request timeout cut (408, given by a layer outside the counting one) is
/// counted under its route all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_timeout_cut_is_counted_as_408() {
    let (_service, server) = start_within(Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let addr = server.addr();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = half_sent(addr, br#"{"action":"confirm","order":{}}"#, 10);
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let metrics = client()
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"rms_preflight_http_requests_total{route="/v1/check",status="408"} 1"#),
        "{metrics}"
    );
    server.shutdown().await;
}
