//! `conformance` and `drift`: the simulator against recordings, and a live upstream (here
//! the replay server on loopback) against a recording.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use rms_preflight::fixture::{Cassette, ReplayHandler, Replayer, Server};
use serde_json::Value;

use super::{root, run, stderr, stdout, Scratch};

const SECRET: &str = "SP375055_conformance-canary-secret";
const KEY: &str = "SL375055_conformance-canary-key";

fn project_cassettes() -> Vec<String> {
    ["happy-path.yaml", "confirm-errors.yaml"]
        .iter()
        .map(|f| format!("fixtures/cassettes/{f}"))
        .collect()
}

/// The real 2020 recordings, read where they are (never copied into the repository).
fn shared_cassettes() -> Option<Vec<PathBuf>> {
    let dir = root().join("../shared/external/rakuten-ws");
    let files: Vec<PathBuf> = ["confirm_order.yaml", "get_order.yaml", "search_order.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    if files.iter().all(|f| f.is_file()) {
        Some(files)
    } else {
        println!(
            "skipped: the shared recordings are not at {} (../shared is absent)",
            dir.display()
        );
        None
    }
}

fn conformance(files: &[&str]) -> Output {
    let mut args = vec!["conformance", "--format", "json", "--cassette"];
    args.extend_from_slice(files);
    run(&args, None)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

/// Every difference of a report: `(path, kind)`.
fn differences(report: &Value) -> Vec<(String, String)> {
    report["cassettes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["interactions"].as_array().unwrap().clone())
        .flat_map(|i| i["differences"].as_array().unwrap().clone())
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_project_cassettes_conform() {
    let files = project_cassettes();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = conformance(&refs);
    let report = json(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert_eq!(report["mode"], "conformance");
    assert_eq!(report["summary"]["differing"], 0);
    assert!(report["summary"]["interactions"].as_u64().unwrap() >= 20);
    // The conditions a recorded status shows were given to the simulator.
    let conditions: Vec<&str> = report["cassettes"][1]["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["condition"].as_str())
        .collect();
    for c in ["licence_expired", "api_error", "qps", "maintenance"] {
        assert!(conditions.contains(&c), "{c} in {conditions:?}");
    }
    // The text report says the same.
    let mut args = vec!["conformance", "--cassette"];
    args.extend_from_slice(&refs);
    let text = run(&args, None);
    assert_eq!(text.status.code(), Some(0), "{}", stdout(&text));
    assert!(stdout(&text).contains("✓ fixtures/cassettes/happy-path.yaml"));
}

#[test]
fn the_real_2020_recordings_conform() {
    let Some(files) = shared_cassettes() else {
        return;
    };
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = conformance(&refs);
    let report = json(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert_eq!(report["summary"]["interactions"], 3);
    assert_eq!(report["summary"]["ignored"], 0);
}

/// A copy of a project cassette with one recorded answer changed by `alter`.
fn altered(
    dir: &Path,
    name: &str,
    from: &str,
    function: &str,
    alter: impl Fn(&mut Value),
) -> PathBuf {
    let mut c = Cassette::load(&root().join(from)).unwrap();
    let it = c
        .interactions
        .iter_mut()
        .find(|i| i.function.as_deref() == Some(function))
        .unwrap();
    let mut body = it.response.json.take().unwrap();
    alter(&mut body);
    it.response.json = Some(body);
    let path = dir.join(name);
    c.save(&path).unwrap();
    path
}

#[test]
fn an_altered_cassette_does_not_conform_and_the_diff_names_the_field() {
    let dir = Scratch::new("conformance-altered");
    let renamed = altered(
        dir.path(),
        "renamed.yaml",
        "fixtures/cassettes/happy-path.yaml",
        "searchOrder",
        |b| {
            let p = b["PaginationResponseModel"].as_object_mut().unwrap();
            let v = p.shift_remove("totalPages").unwrap();
            p.insert("totalPage".into(), v);
        },
    );
    let retyped = altered(
        dir.path(),
        "retyped.yaml",
        "fixtures/cassettes/happy-path.yaml",
        "searchOrder",
        |b| b["PaginationResponseModel"]["totalRecordsAmount"] = Value::from("2"),
    );
    let recoded = altered(
        dir.path(),
        "recoded.yaml",
        "fixtures/cassettes/confirm-errors.yaml",
        "confirmOrder",
        |b| b["Results"]["errorCode"] = Value::from("ES01-02"),
    );
    for (path, want) in [
        (
            &renamed,
            vec![
                ("$.PaginationResponseModel.totalPage", "missing_field"),
                ("$.PaginationResponseModel.totalPages", "extra_field"),
            ],
        ),
        (
            &retyped,
            vec![(
                "$.PaginationResponseModel.totalRecordsAmount",
                "type_mismatch",
            )],
        ),
        (&recoded, vec![("$.Results.errorCode", "code_differs")]),
    ] {
        let out = conformance(&[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let got = differences(&json(&out));
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(p, k)| (p.to_owned(), k.to_owned()))
            .collect();
        assert_eq!(got, want, "{}", path.display());
        let text = run(&["conformance", "--cassette", path.to_str().unwrap()], None);
        assert_eq!(text.status.code(), Some(1));
        assert!(stdout(&text).contains(&want[0].0), "{}", stdout(&text));
    }
}

/// An ignore rule of a rules file given with `--conformance-rules` covers a difference; the
/// report keeps it under `ignored` with the rule's reason.
#[test]
fn a_rules_file_ignores_what_it_says_with_its_reason() {
    let dir = Scratch::new("conformance-ignore");
    let renamed = altered(
        dir.path(),
        "renamed.yaml",
        "fixtures/cassettes/happy-path.yaml",
        "searchOrder",
        |b| {
            let p = b["PaginationResponseModel"].as_object_mut().unwrap();
            let v = p.shift_remove("totalPages").unwrap();
            p.insert("totalPage".into(), v);
        },
    );
    let shipped = std::fs::read_to_string(root().join("rules/conformance.yaml")).unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        shipped.replacen(
            "\nignore:\n",
            "\nignore:\n  - path: $.PaginationResponseModel.totalPage*\n    kinds: [missing_field, extra_field]\n    functions: [searchOrder]\n    reason: renamed on purpose\n",
            1,
        ),
    )
    .unwrap();
    let out = run(
        &[
            "conformance",
            "--format",
            "json",
            "--conformance-rules",
            rules.to_str().unwrap(),
            "--cassette",
            renamed.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = json(&out);
    assert_eq!(report["summary"]["ignored"], 2);
    let ignored = &report["cassettes"][0]["interactions"][2]["ignored"];
    assert_eq!(ignored[0]["reason"], "renamed on purpose");
}

#[test]
fn an_altered_real_recording_does_not_conform() {
    let Some(files) = shared_cassettes() else {
        return;
    };
    // Copied into the test's own temp dir only, and changed there.
    let dir = Scratch::new("conformance-real-altered");
    let text = std::fs::read_to_string(&files[2]).unwrap();
    let changed = text.replace("\\\"totalPages\\\":1", "\\\"totalPages\\\":\\\"1\\\"");
    assert_ne!(text, changed);
    let path = dir.path().join("search_order.yaml");
    std::fs::write(&path, changed).unwrap();
    let out = conformance(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        differences(&json(&out)),
        vec![(
            "$.PaginationResponseModel.totalPages".to_owned(),
            "type_mismatch".to_owned()
        )]
    );
}

#[test]
fn bad_input_is_named_with_its_location() {
    let dir = Scratch::new("conformance-bad");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "version: 1\nmeta: {}\ninteractions:\n  - request: [\n",
    )
    .unwrap();
    let out = conformance(&[broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("broken.yaml"), "{}", stderr(&out));
    assert!(stderr(&out).contains("line "), "{}", stderr(&out));
    let missing = conformance(&["no/such/cassette.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/cassette.yaml"));
    // An order the simulator cannot hold: the path of the recorded value.
    let unreadable = altered(
        dir.path(),
        "unreadable.yaml",
        "fixtures/cassettes/happy-path.yaml",
        "getOrder",
        |b| b["OrderModelList"][0]["orderProgress"] = Value::from("three hundred"),
    );
    let out = conformance(&[unreadable.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("interactions[1].response.json.OrderModelList[0]"),
        "{}",
        stderr(&out)
    );
    // A bad rules file.
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nvalues: {codes: [], texts: []}\nignore:\n  - {path: '$.a', kinds: [renamed], reason: x}\n",
    )
    .unwrap();
    let out = run(
        &[
            "conformance",
            "--conformance-rules",
            rules.to_str().unwrap(),
            "--cassette",
            "fixtures/cassettes/happy-path.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
}

/// The getOrder and searchOrder interactions of the happy path: a read-only cassette.
fn reads(dir: &Path, name: &str, alter: impl Fn(&mut Value)) -> PathBuf {
    let mut c = Cassette::load(&root().join("fixtures/cassettes/happy-path.yaml")).unwrap();
    c.interactions
        .retain(|i| matches!(i.function.as_deref(), Some("getOrder" | "searchOrder")));
    assert_eq!(c.interactions.len(), 2);
    let mut body = c.interactions[0].response.json.take().unwrap();
    alter(&mut body);
    c.interactions[0].response.json = Some(body);
    let path = dir.join(name);
    c.save(&path).unwrap();
    path
}

async fn replay(path: &Path) -> (Server, Arc<Replayer>) {
    let c = Cassette::load(path).unwrap();
    let replayer = Arc::new(Replayer::new(vec![("upstream".into(), c)], Vec::new()));
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(ReplayHandler {
            replayer: replayer.clone(),
        }),
    )
    .await
    .unwrap();
    (server, replayer)
}

async fn drift(cassette: &Path, upstream: &str, credentials: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rms-preflight"));
    cmd.args(["drift", "--format", "json", "--cassette"])
        .arg(cassette)
        .args(["--upstream", upstream])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("RMS_SERVICE_SECRET")
        .env_remove("RMS_LICENSE_KEY")
        .stdin(Stdio::null());
    if credentials {
        cmd.env("RMS_SERVICE_SECRET", SECRET)
            .env("RMS_LICENSE_KEY", KEY);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reports_what_the_upstream_answers_differently() {
    let dir = Scratch::new("drift");
    let recorded = reads(dir.path(), "recorded.yaml", |_| {});
    let changed = reads(dir.path(), "upstream.yaml", |b| {
        let order = b["OrderModelList"][0].as_object_mut().unwrap();
        let v = order.shift_remove("subStatusId").unwrap();
        order.insert("subStatusID".into(), v);
        b["OrderModelList"][0]["goodsPrice"] = Value::from("3980");
        // A date RMS has not filled in (yet): ignored by a drift rule, with its reason.
        b["OrderModelList"][0]["orderDatetime"] = Value::Null;
    });

    // The same answers: no drift.
    let (server, replayer) = replay(&recorded).await;
    let out = drift(&recorded, &server.url(), true).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(json(&out)["mode"], "drift");
    assert_eq!(replayer.requests(), 2);
    server.shutdown().await;

    // An upstream that answers with a field renamed and a type changed.
    let (server, _) = replay(&changed).await;
    let out = drift(&recorded, &server.url(), true).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = json(&out);
    assert_eq!(
        differences(&report),
        vec![
            (
                "$.OrderModelList[0].subStatusId".to_owned(),
                "missing_field".to_owned()
            ),
            (
                "$.OrderModelList[0].goodsPrice".to_owned(),
                "type_mismatch".to_owned()
            ),
            (
                "$.OrderModelList[0].subStatusID".to_owned(),
                "extra_field".to_owned()
            ),
        ]
    );
    let ignored = &report["cassettes"][0]["interactions"][0]["ignored"];
    assert_eq!(ignored[0]["path"], "$.OrderModelList[0].orderDatetime");
    assert_eq!(ignored[0]["kind"], "null_vs_value");
    assert!(ignored[0]["reason"]
        .as_str()
        .unwrap()
        .contains("dates fill in"));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains(SECRET) && !all.contains(KEY), "{all}");
    server.shutdown().await;
}

/// A real VCR.py recording (read-only) sent again to a replay of itself: the path prefix
/// and the body as RMS got them, no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reads_a_real_recording() {
    let Some(files) = shared_cassettes() else {
        return;
    };
    for file in &files[1..] {
        let (server, replayer) = replay(file).await;
        let out = drift(file, &server.url(), true).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(replayer.requests(), 1);
        assert_eq!(replayer.unmatched(), 0);
        server.shutdown().await;
    }
    // The real confirmOrder recording is refused: drift never confirms a real order.
    let (server, replayer) = replay(&files[0]).await;
    let out = drift(&files[0], &server.url(), true).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(replayer.requests(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_refuses_a_state_changing_cassette_and_sends_nothing() {
    let (server, replayer) = replay(&root().join("fixtures/cassettes/happy-path.yaml")).await;
    let out = drift(
        &root().join("fixtures/cassettes/happy-path.yaml"),
        &server.url(),
        true,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`confirmOrder` changes orders"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("interactions[0]"), "{}", stderr(&out));
    assert_eq!(replayer.requests(), 0);

    // Without credentials: refused before anything is sent, naming what is missing.
    let dir = Scratch::new("drift-nocred");
    let recorded = reads(dir.path(), "recorded.yaml", |_| {});
    let out = drift(&recorded, &server.url(), false).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("RMS_SERVICE_SECRET"),
        "{}",
        stderr(&out)
    );
    assert_eq!(replayer.requests(), 0);
    server.shutdown().await;
}
