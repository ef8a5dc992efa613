//! `conformance` and `drift`: the simulator against recordings, and a live upstream (here
//! the replay server on loopback) against a recording.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use rms_preflight::fixture::{Cassette, ReplayHandler, Replayer, Server};
use serde_json::Value;

use super::{root, run, stderr, stdout, Scratch};

// Credentials of no shape the detector knows: only what drift learned can hide them.
const SECRET: &str = "canary-secret-7f3a9q";
const KEY: &str = "canary-licence-51xz2w";

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

// --- the orders of a getOrder answer: the simulator's shape, not the recording's echo ---

/// The recorded getOrder interaction of `from` (this format or VCR), with its first order.
fn get_order_cassette(from: &Path) -> (Cassette, usize) {
    let c = Cassette::load(from).unwrap();
    let i = c
        .interactions
        .iter()
        .position(|i| {
            i.function.as_deref() == Some("getOrder") || i.request.path.contains("/getOrder")
        })
        .unwrap();
    (c, i)
}

/// Every path of `order` (objects and the first element of lists) below `at`: the fields
/// a test removes or retypes one at a time.
fn paths_of(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}.{k}");
                out.push(p.clone());
                paths_of(child, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                paths_of(first, &format!("{at}[0]"), out);
            }
        }
        _ => {}
    }
}

/// The value at a path made by [`paths_of`] (`$.OrderModelList[0].a.b[0].c`), and its
/// parent object with the last key.
fn parent_of<'v>(
    body: &'v mut Value,
    path: &str,
) -> (&'v mut serde_json::Map<String, Value>, String) {
    let rest = path.strip_prefix("$.").unwrap();
    let mut steps: Vec<&str> = rest.split('.').collect();
    let last = steps.pop().unwrap().to_owned();
    let mut v = body;
    for s in steps {
        let (key, index) = match s.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (s, None),
        };
        v = v.get_mut(key).unwrap();
        if let Some(i) = index {
            v = v.get_mut(i).unwrap();
        }
    }
    (v.as_object_mut().unwrap(), last)
}

/// A changed copy of the recorded getOrder answer in `from`, saved (in this project's
/// format) as `dir/name`.
fn with_order_changed(dir: &Path, name: &str, from: &Path, alter: impl Fn(&mut Value)) -> PathBuf {
    let (mut c, i) = get_order_cassette(from);
    let mut body = c.interactions[i].response.body().as_json().unwrap();
    alter(&mut body);
    c.interactions[i].response.json = Some(body);
    c.interactions[i].response.text = None;
    let path = dir.join(name);
    c.save(&path).unwrap();
    path
}

/// Another JSON type (or nullability) for a value.
fn retyped(v: &Value) -> Value {
    match v {
        Value::Null => Value::from("x"),
        Value::String(_) => Value::from(1),
        _ => Value::from("x"),
    }
}

/// The class of problem: a recorded order whose field is removed, renamed, invented,
/// retyped, made null or not null, or whose list is emptied, at any depth, is a
/// difference that names the field (exit 1) — for the project's cassette and the real
/// 2020 recording alike. Only the number and the status, which the simulator is seeded
/// with, are refused (exit 2), and the message says they are needed to seed.
#[test]
fn every_field_of_a_recorded_order_is_compared_with_the_simulators_own_shape() {
    let mut sources = vec![root().join("fixtures/cassettes/happy-path.yaml")];
    if let Some(files) = shared_cassettes() {
        sources.push(files[1].clone());
    }
    let dir = Scratch::new("conformance-orders");
    for (s, source) in sources.iter().enumerate() {
        let (c, i) = get_order_cassette(source);
        let body = c.interactions[i].response.body().as_json().unwrap();
        let mut paths = Vec::new();
        paths_of(
            &body["OrderModelList"][0],
            "$.OrderModelList[0]",
            &mut paths,
        );
        assert!(paths.len() > 40, "{paths:?}");
        // (file, the path the difference must name)
        let mut cases: Vec<(PathBuf, String)> = Vec::new();
        let mut needed: Vec<PathBuf> = Vec::new();
        for (n, p) in paths.iter().enumerate() {
            let seed_key =
                p == "$.OrderModelList[0].orderNumber" || p == "$.OrderModelList[0].orderProgress";
            for (what, f) in [("removed", 0), ("retyped", 1), ("renamed", 2)] {
                let file =
                    with_order_changed(dir.path(), &format!("{s}-{n}-{what}.yaml"), source, |b| {
                        let (parent, key) = parent_of(b, p);
                        match f {
                            0 => {
                                parent.shift_remove(&key);
                            }
                            1 => {
                                let v = retyped(&parent[&key]);
                                parent.insert(key, v);
                            }
                            _ => {
                                let v = parent.shift_remove(&key).unwrap();
                                parent.insert(format!("{key}X"), v);
                            }
                        }
                    });
                if seed_key {
                    needed.push(file);
                } else {
                    cases.push((file, p.clone()));
                }
            }
        }
        // Invented fields, at the top, in a package and in an item; an emptied list.
        let order = "$.OrderModelList[0]";
        for (n, (parent, key)) in [
            (order.to_owned(), "newField"),
            (format!("{order}.PackageModelList[0]"), "newField"),
            (
                format!("{order}.PackageModelList[0].ItemModelList[0]"),
                "newField",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let p = format!("{parent}.{key}");
            let file = with_order_changed(dir.path(), &format!("{s}-new-{n}.yaml"), source, |b| {
                let (m, k) = parent_of(b, &p);
                m.insert(k, Value::from(0));
            });
            cases.push((file, p));
        }
        // A value made null where the simulator has one (amounts, flags, models).
        for (n, key) in [
            "goodsPrice",
            "shippingTerm",
            "OrdererModel",
            "PackageModelList[0].postagePrice",
            "PackageModelList[0].ItemModelList[0].price",
        ]
        .into_iter()
        .enumerate()
        {
            let p = format!("{order}.{key}");
            let file = with_order_changed(dir.path(), &format!("{s}-null-{n}.yaml"), source, |b| {
                let (m, k) = parent_of(b, &p);
                m.insert(k, Value::Null);
            });
            cases.push((file, p));
        }
        for list in ["PackageModelList[0].ItemModelList", "PackageModelList"] {
            let p = format!("{order}.{list}");
            let file = with_order_changed(
                dir.path(),
                &format!("{s}-empty-{}.yaml", list.len()),
                source,
                |b| {
                    let (m, k) = parent_of(b, &p);
                    m.insert(k, Value::Array(Vec::new()));
                },
            );
            cases.push((file, p));
        }

        let names: Vec<String> = cases.iter().map(|(f, _)| f.display().to_string()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = conformance(&refs);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let report = json(&out);
        for (k, (file, path)) in cases.iter().enumerate() {
            let cassette = &report["cassettes"][k];
            let found: Vec<String> = cassette["interactions"][i]["differences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["path"].as_str().unwrap().to_owned())
                .collect();
            let renamed = format!("{path}X");
            assert!(
                found.iter().any(|f| f == path || f == &renamed),
                "{}: no difference at {path}: {found:?}",
                file.display()
            );
            assert_eq!(cassette["conforms"], false, "{}", file.display());
        }
        for file in &needed {
            let out = conformance(&[file.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{}: {}",
                file.display(),
                stdout(&out)
            );
            assert!(
                stderr(&out).contains("needed to seed the simulator"),
                "{}",
                stderr(&out)
            );
        }
    }
}

// --- drift against hostile upstreams ---------------------------------------------------

/// A loopback HTTP upstream that answers every request with what `answer` writes, given
/// the request's `Authorization` header. Runs until the test ends (its thread is
/// detached); returns the origin.
fn raw_upstream(answer: impl Fn(&str, &mut std::net::TcpStream) + Send + Sync + 'static) -> String {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut auth, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "authorization" => auth = v.trim().to_owned(),
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                answer(&auth, &mut stream);
            });
        }
    });
    origin
}

fn respond(stream: &mut std::net::TcpStream, body: &str) {
    use std::io::Write;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

async fn drift_args(args: Vec<String>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rms-preflight"));
    cmd.args(&args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("RMS_SERVICE_SECRET", SECRET)
        .env("RMS_LICENSE_KEY", KEY)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// An upstream answer larger than the input limit is not read whole: reading stops at
/// the limit and drift stops with exit 2 naming the interaction — whether the upstream
/// announces the size (`content-length`) or streams without one. (The cap is in the
/// shared RMS client, so every caller of `HttpRms` and the proxy's upstream is bounded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_stops_reading_an_upstream_answer_at_the_input_limit() {
    let dir = Scratch::new("drift-huge");
    let recorded = reads(dir.path(), "recorded.yaml", |_| {});
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for announced in [true, false] {
        let sent2 = sent.clone();
        let origin = raw_upstream(move |_, stream| {
            use std::io::Write;
            let total = 64usize << 20;
            let head = if announced {
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(b"{\"MessageModelList\": [\"");
            let chunk = vec![b'a'; 64 << 10];
            let mut n = 0;
            while n < total && stream.write_all(&chunk).is_ok() {
                n += chunk.len();
                sent2.store(n, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let out = drift_args(
            [
                "--max-input-size",
                "1MiB",
                "drift",
                "--cassette",
                recorded.to_str().unwrap(),
                "--upstream",
                &origin,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("interactions[0]") && err.contains("getOrder"),
            "{err}"
        );
        assert!(err.contains("larger than 1 MiB"), "{err}");
        // The client hung up long before the 64 MiB were sent.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            sent.load(std::sync::atomic::Ordering::Relaxed) < 32 << 20,
            "announced: {announced}"
        );
    }
}

/// Whatever an upstream echoes — the `Authorization` header as sent, the secret and the
/// licence key decoded, a credential in a key, an e-mail address — drift shows it
/// redacted, in JSON and in text, on both sides of the diff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_never_shows_a_credential_an_upstream_echoes() {
    use base64::Engine as _;
    let dir = Scratch::new("drift-echo");
    let recorded = reads(dir.path(), "recorded.yaml", |_| {});
    let origin = raw_upstream(|auth, stream| {
        let decoded = auth
            .strip_prefix("ESA ")
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // Each half on its own, base64 in every alphabet, padded or not; the halves the
        // other way round; either case.
        let (a, b) = decoded.split_once(':').unwrap_or_default();
        let mut forms = Vec::new();
        for half in [a.to_owned(), b.to_owned(), format!("{b}:{a}")] {
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
            forms.push(STANDARD.encode(&half));
            forms.push(STANDARD_NO_PAD.encode(&half));
            forms.push(URL_SAFE_NO_PAD.encode(&half));
            forms.push(half.to_lowercase());
        }
        let body = serde_json::json!({
            "MessageModelList": [{
                "messageType": "ERROR",
                "messageCode": auth,
                "message": format!("bad key {auth} ({decoded}); write to buyer@example.com"),
            }, {
                "messageType": "ERROR",
                "messageCode": forms.join(" "),
                "message": forms.join("&token="),
            }],
            "OrderModelList": [{decoded.clone(): 1, forms[0].clone(): 2}],
        });
        respond(stream, &body.to_string());
    });
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:{KEY}"));
    for format in ["json", "text"] {
        let out = drift_args(
            [
                "drift",
                "--format",
                format,
                "--cassette",
                recorded.to_str().unwrap(),
                "--upstream",
                &origin,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        for secret in [SECRET, KEY, token.as_str(), "buyer@example.com"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        for half in [SECRET, KEY] {
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
            for form in [
                STANDARD.encode(half),
                STANDARD_NO_PAD.encode(half),
                half.to_lowercase(),
            ] {
                assert!(!all.contains(&form), "{form} in {all}");
            }
        }
        assert!(all.contains("[redacted]"), "{all}");
    }
}

/// A recorded text holding a credential is shown redacted by conformance too.
#[test]
fn conformance_never_shows_a_credential_a_recording_holds() {
    let dir = Scratch::new("conformance-echo");
    let file = altered(
        dir.path(),
        "echo.yaml",
        "fixtures/cassettes/happy-path.yaml",
        "searchOrder",
        |b| {
            b["MessageModelList"][0]["message"] =
                Value::from(format!("licenseKey={KEY} ESA U1AxMjM0NTY6U0wxMjM0NTY="))
        },
    );
    for format in ["json", "text"] {
        let out = run(
            &[
                "conformance",
                "--format",
                format,
                "--cassette",
                file.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains(KEY) && !all.contains("U1AxMjM0NTY6U0wxMjM0NTY="),
            "{all}"
        );
        assert!(all.contains("[redacted]"), "{all}");
    }
}

// --- nothing to compare, the credentials file, VCR paths -------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cassette_without_interactions_has_nothing_to_compare() {
    let dir = Scratch::new("conformance-empty");
    let origin = raw_upstream(|_, stream| respond(stream, "{}"));
    for (name, text) in [
        (
            "empty-list.yaml",
            "version: 1\nmeta: {}\ninteractions: []\n",
        ),
        ("no-key.yaml", "version: 1\nmeta: {}\n"),
        ("vcr.yaml", "interactions: []\nversion: 1\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = conformance(&[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("nothing to compare"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(name), "{}", stderr(&out));
        let out = drift_args(
            [
                "drift",
                "--cassette",
                path.to_str().unwrap(),
                "--upstream",
                &origin,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("nothing to compare"),
            "{}",
            stderr(&out)
        );
    }
}

/// A credentials file that is not `service_secret` and `license_key` is refused, the
/// message naming the keys expected (and never the value found).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_credentials_file_names_the_keys_it_needs() {
    let dir = Scratch::new("drift-credentials");
    let recorded = reads(dir.path(), "recorded.yaml", |_| {});
    let origin = raw_upstream(|_, stream| respond(stream, "{}"));
    for (n, text) in [
        "serviceSecret: SP_SECRET_XYZ\nlicenseKey: SL_LICENSE_XYZ\n",
        "service_secret: SP_SECRET_XYZ\nlicence_key: SL_LICENSE_XYZ\n",
        "service_secret: SP_SECRET_XYZ\n",
        "SP_SECRET_XYZ: SL_LICENSE_XYZ\n",
        "service_secret: SP_SECRET_XYZ\nlicense_key: [SL_LICENSE_XYZ]\n",
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("cred{n}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = drift_args(
            [
                "drift",
                "--cassette",
                recorded.to_str().unwrap(),
                "--upstream",
                &origin,
                "--credentials",
                file.to_str().unwrap(),
            ]
            .map(String::from)
            .to_vec(),
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("service_secret") && err.contains("license_key"),
            "{text}: {err}"
        );
        assert!(
            !err.contains("SP_SECRET_XYZ") && !err.contains("SL_LICENSE_XYZ"),
            "{err}"
        );
    }
}

/// An error about a VCR cassette's answer names where the file holds it
/// (`response.body.string`), not this project's converted `response.json`.
#[test]
fn an_error_in_a_vcr_cassette_names_the_body_string() {
    let dir = Scratch::new("conformance-vcr");
    let path = dir.path().join("vcr.yaml");
    std::fs::write(
        &path,
        r#"interactions:
- request:
    body: '{"orderNumberList": ["375055-20200802-00000845"], "version": 1}'
    headers: {}
    method: POST
    uri: https://api.rms.rakuten.co.jp/es/2.0/order/getOrder
  response:
    body:
      string: '{"MessageModelList": [], "OrderModelList": [{"orderNumber": "375055-20200802-00000845", "orderProgress": "x"}]}'
    headers: {}
    status: {code: 200, message: OK}
version: 1
"#,
    )
    .unwrap();
    let out = conformance(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interactions[0].response.body.string") && err.contains("OrderModelList[0]"),
        "{err}"
    );
    assert!(!err.contains("response.json"), "{err}");
    assert!(err.contains("needed to seed"), "{err}");
}
