//! The command line as other tools use it: exit codes, stdin, streams, bad input.

use super::{corpus, root, run, stderr, stdout};

fn check_stdin(doc: &str) -> (Option<i32>, String, String) {
    let out = run(&["check", "-"], Some(doc.as_bytes()));
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn readme_example_denies_with_exit_1() {
    let out = run(
        &["check", "fixtures/requests/confirm-unset-shipping-fee.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("[S13] confirm-shipping-fee-unset"));
    assert!(stdout(&out).contains("[S15]"));
    assert!(stdout(&out).contains("[S16]"));
}

#[test]
fn bad_input_exits_2_and_names_where() {
    let cases = [
        (
            "action: confirm\norder: {orderProgress: 100\n",
            "error: `-`: at `order`: did not find expected ',' or '}' (line 3, column 1)",
        ),
        (
            "action: confrm\norder: {orderProgress: 100}\n",
            "error: `-`: at `action`: unknown variant `confrm`, expected one of `confirm`, `fetch_status`, `modify`, `reflect`, `bundle`, `unbundle`, `ship`, `send_mail`, `print_slip`, `cancel`, `import` (line 1, column 9)",
        ),
        (
            "action: confirm\norder:\n  orderProgress: \"abc\"\n",
            "error: `-`: at `order.orderProgress`: invalid type: string \"abc\", expected i64 (line 3, column 18)",
        ),
        (
            "action: confirm\n",
            "error: `-`: missing field `order`: action `confirm` is about one order and needs it (line 1, column 1)",
        ),
        (
            "action: confirm\norder: {orderProgress: 100}\noms: {confirm_sen: true}\n",
            "error: `-`: at `oms.confirm_sen`: unknown field `confirm_sen`, expected one of `confirm_sent`, `label`, `bundle_id`, `modified_after_processed`, `confirmed_in_rms`, `unreflected_changes`, `last_error` (line 3, column 7)",
        ),
        (
            "action: fetch_status\norder: {orderProgress: 100}\noms: {last_error: nope}\n",
            "error: `-`: at `oms.last_error`: unknown error id `nope`: expected one of `license_expired`, `not_confirmable`, `api_error`, `qps_limit`, `maintenance`, `order_cancelled`, `shipping_fee_not_set`, `api_not_enabled`, `unrecognised`",
        ),
        (
            "{\"action\":\"confirm\",\"order\":{\"orderProgress\": 1e400}}",
            "error: `-`: at `order.orderProgress`: number out of range (line 1, column 52)",
        ),
        (
            "now: yesterday\naction: import\n",
            "error: `-`: at `now`: invalid timestamp `yesterday`: expected RFC 3339 (`2026-11-30T12:00:00+09:00`) or RMS form (`2026-11-30T12:00:00+0900`) (line 1, column 1)",
        ),
        ("", "error: `-`: missing field `action` (or `requests` for a batch) (line 1, column 1)"),
        (
            "requests:\n  - action: confirm\n    order: {orderProgress: 100}\n    oms: {label: done}\n",
            "error: `-`: at `requests[0].oms.label`: unknown variant `done`, expected one of `none`, `processing`, `processed` (line 4, column 18)",
        ),
        (
            "action: confirm\norder: {orderProgress: 100}\nrequests: []\n",
            "error: `-`: a batch takes `action`, `order` and `oms` inside each `requests` entry, not at the top (line 1, column 1)",
        ),
    ];
    for (doc, want) in cases {
        let (code, out, err) = check_stdin(doc);
        assert_eq!(code, Some(2), "{doc:?}: {err}");
        assert_eq!(err.trim_end(), want, "{doc:?}");
        assert_eq!(out, "", "{doc:?}: nothing was checked, nothing is reported");
    }
}

/// A key that differs from a known field only by case, `_` or `-` would hide its value
/// (and a -9999 in it): refused with a "did you mean", the path and the position, in both
/// syntaxes and inside packages. Other unknown keys stay accepted (a real getOrder has
/// dozens).
#[test]
fn keys_one_typo_away_are_refused() {
    let cases = [
        (
            "action: confirm\norder:\n  orderProgress: 100\n  postage_price: -9999\n",
            "error: `-`: at `order.postage_price`: unknown field `postage_price`: did you mean `postagePrice`? (a key spelled like a known field would hide its value) (line 4, column 18)",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"packageModelList":[{"postagePrice":-9999}]}}"#,
            "error: `-`: at `order.packageModelList`: unknown field `packageModelList`: did you mean `PackageModelList`? (a key spelled like a known field would hide its value) (line 1, column 70)",
        ),
        (
            r#"{"now":"2026-11-30T12:00:00+09:00","requests":[{"action":"confirm","order":{"orderProgress":100,"PackageModelList":[{"POSTAGE-PRICE":-9999}]}}]}"#,
            "error: `-`: at `requests[0].order.PackageModelList[0].POSTAGE-PRICE`: unknown field `POSTAGE-PRICE`: did you mean `postagePrice`? (a key spelled like a known field would hide its value) (line 1, column 139)",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"OrderNumber":"A"}}"#,
            "error: `-`: at `order.OrderNumber`: unknown field `OrderNumber`: did you mean `orderNumber`? (a key spelled like a known field would hide its value) (line 1, column 66)",
        ),
    ];
    for (doc, want) in cases {
        let (code, _, err) = check_stdin(doc);
        assert_eq!(code, Some(2), "{doc}: {err}");
        assert_eq!(err.trim_end(), want, "{doc}");
    }
    // Unknown keys that are not near a known one are accepted.
    let (code, _, err) = check_stdin(
        r#"{"action":"confirm","order":{"orderProgress":100,"remarks":"x","OrdererModel":{"zipCode1":"100"},"giftCheckFlag":0}}"#,
    );
    assert_eq!(code, Some(0), "{err}");
}

/// A key given twice would let one value hide the other (a -9999, a status, a
/// confirmation time): refused, with the path of the repeat, wherever it is.
#[test]
fn repeated_keys_are_refused() {
    let cases = [
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"postagePrice":-9999,"postagePrice":660}}"#,
            "at `order.postagePrice`: duplicate field `postagePrice`",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":200,"orderProgress":100}}"#,
            "at `order.orderProgress`: duplicate field `orderProgress`",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"PackageModelList":[{"postagePrice":-9999}],"PackageModelList":[]}}"#,
            "at `order.PackageModelList`: duplicate field `PackageModelList`",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"PackageModelList":[{"goodsTax":-9999,"goodsTax":0}]}}"#,
            "at `order.PackageModelList[0].goodsTax`: duplicate field `goodsTax`",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100,"X":-9999,"X":1}}"#,
            "at `order.X`: duplicate field `X`",
        ),
        (
            "action: confirm\norder:\n  orderProgress: 100\n  postagePrice: -9999\n  postagePrice: 660\n",
            "duplicate",
        ),
        (
            r#"{"action":"confirm","MessageModelList":[],"MessageModelList":[],"OrderModelList":[{"orderProgress":100}]}"#,
            "duplicate field `MessageModelList`",
        ),
    ];
    for (doc, want) in cases {
        let (code, _, err) = check_stdin(doc);
        assert_eq!(code, Some(2), "{doc}: {err}");
        assert!(err.contains(want), "{doc}: {err}");
    }
}

/// A pasted getOrder response whose messages name an order it does not hold (INFO_102
/// "受注情報が取得できませんでした") or report an error is refused: checking the rest as if
/// the list were whole would drop that order silently.
#[test]
fn a_get_order_response_missing_an_order_is_refused() {
    let doc = r#"{"action":"confirm","MessageModelList":[
        {"messageType":"INFO","messageCode":"ORDER_EXT_API_GET_ORDER_INFO_102","message":"受注情報が取得できませんでした。","orderNumber":"2"}],
        "OrderModelList":[{"orderNumber":"1","orderProgress":100}]}"#;
    let (code, _, err) = check_stdin(doc);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("reports `ORDER_EXT_API_GET_ORDER_INFO_102` about `2`"),
        "{err}"
    );
    let doc = r#"{"action":"confirm","order":{"MessageModelList":[
        {"messageType":"ERROR","messageCode":"X_ERROR","message":"e"}],
        "OrderModelList":[{"orderNumber":"1","orderProgress":100}]}}"#;
    let (code, _, err) = check_stdin(doc);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("reports `X_ERROR`"), "{err}");
}

/// Windows editors start files with a byte-order mark; it is not part of the document.
#[test]
fn a_byte_order_mark_is_skipped() {
    for doc in [
        "\u{feff}action: confirm\norder: {orderNumber: A, orderProgress: 100}\n",
        "\u{feff}{\"action\":\"confirm\",\"order\":{\"orderNumber\":\"A\",\"orderProgress\":100}}",
    ] {
        let (code, out, err) = check_stdin(doc);
        assert_eq!(code, Some(0), "{doc:?}: {err}");
        assert!(out.contains("ALLOW"), "{out}");
    }
    let body = "\u{feff}{\"MessageModelList\":[{\"messageType\":\"INFO\",\"messageCode\":\"ORDER_EXT_API_CONFIRM_ORDER_INFO_101\",\"orderNumber\":\"A\"}]}";
    let out = run(
        &["explain-error", "--format", "json", "-"],
        Some(body.as_bytes()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "success", "{v}");
}

/// explain-error: a key given twice is refused (exit 2), so an error answer cannot read as
/// a success; an error beside the messages makes the answer an error.
#[test]
fn explain_error_refuses_repeated_keys_and_sees_errors_beside_messages() {
    let body = r#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","orderNumber":"1"}],
        "MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","orderNumber":"1"}]}"#;
    let out = run(&["explain-error", "-"], Some(body.as_bytes()));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at `MessageModelList`: duplicate field"),
        "{}",
        stderr(&out)
    );
    let body = r#"{"Results":{"errorCode":"ES01-01","message":"Un-Authorised"},
        "MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","orderNumber":"1"}]}"#;
    let out = run(
        &["explain-error", "--format", "json", "-"],
        Some(body.as_bytes()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "error", "{v}");
    assert_eq!(v["error"], "license_expired", "{v}");
    let body = r#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","orderNumber":375055}]}"#;
    let out = run(
        &["explain-error", "--format", "json", "-"],
        Some(body.as_bytes()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["orders"][0]["orderNumber"], "375055", "{v}");
}

/// A pasted getOrder response that holds no order says so, instead of "missing field".
#[test]
fn a_get_order_response_without_orders_is_explained() {
    let cases = [
        (
            r#"{"action":"confirm","order":{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_GET_ORDER_ERROR_009"}]}}"#,
            "no `OrderModelList`",
        ),
        (
            r#"{"action":"confirm","order":{"MessageModelList":[],"OrderModelList":[]}}"#,
            "`OrderModelList` is empty",
        ),
        (
            r#"{"action":"confirm","MessageModelList":[],"OrderModelList":null}"#,
            "missing or empty",
        ),
        (
            r#"{"action":"confirm","order":{"orderProgress":100},"OrderModelList":[{"orderProgress":100}]}"#,
            "takes the place of `order`",
        ),
        (
            r#"{"requests":[{"action":"confirm","order":{"OrderModelList":[{"orderProgress":100}]}}]}"#,
            "not inside a batch entry",
        ),
    ];
    for (doc, want) in cases {
        let (code, _, err) = check_stdin(doc);
        assert_eq!(code, Some(2), "{doc}: {err}");
        assert!(err.contains(want), "{doc}: {err}");
    }
}

#[test]
fn absurd_amounts_are_refused_not_wrapped() {
    let (code, _, err) = check_stdin(
        "{\"action\":\"confirm\",\"order\":{\"orderProgress\":100,\"postagePrice\":99999999999999999999}}",
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("at `order.postagePrice`"), "{err}");
}

#[test]
fn a_batch_cut_short_keeps_what_was_checked() {
    let doc = r#"{"shop":{},"now":"2026-11-30T12:00:00+09:00","requests":[
        {"action":"confirm","order":{"orderNumber":"A","orderProgress":100}},
        {"action":"confirm","order":{"orderNumber":"B","orderProgress":200}},
        {"action":"ship","order":{"orderProgress":"x"}}]}"#;
    let out = run(&["check", "--format", "json", "-"], Some(doc.as_bytes()));
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("valid JSON even when cut short");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["summary"],
        serde_json::json!({"allow": 1, "warn": 0, "deny": 1})
    );
    assert_eq!(v["error"]["path"], "requests[2].order.orderProgress");
    assert_eq!(v["error"]["line"], 4);
}

#[test]
fn batch_results_in_order_with_summary() {
    let file = corpus("check/s3-bulk-confirm-mixed.deny.yaml");
    let out = run(
        &["check", "--format", "json", &file.to_string_lossy()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decisions: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny", "deny", "deny", "warn"]);
    assert_eq!(
        v["summary"],
        serde_json::json!({"allow": 1, "warn": 1, "deny": 3})
    );
    // The S1 + S2 order: denials in file order.
    let sources: Vec<&str> = v["results"][2]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["S1", "S2"]);
}

/// Keys in any order: `shop` after `requests` (sorted-key serialisers do that) still
/// applies to every entry.
#[test]
fn shop_after_requests_still_applies() {
    let doc = r#"{"now":"2026-11-30T12:00:00+09:00","requests":[{"action":"reflect","order":{"orderProgress":100}}],"shop":{"api_option":true}}"#;
    let out = run(&["check", "--format", "json", "-"], Some(doc.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn import_needs_no_order_and_json_input_is_sniffed() {
    let out = run(
        &["check", "--format", "json", "-"],
        Some(br#"  {"shop": {"import_status": 300, "import_days": 7}, "action": "import"}"#),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["orderNumber"], serde_json::Value::Null);
    assert_eq!(v["results"][0]["decision"], "warn");
}

#[test]
fn missing_now_uses_the_clock() {
    // An order from 2020 in 100 is far past the 14-day auto-cancel by the real clock.
    let out = run(
        &["check", "--format", "json", "-"],
        Some(b"action: confirm\norder: {orderProgress: 100, orderDatetime: 2020-08-02T21:13:56+0900}\n"),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["findings"][0]["rule"], "auto-cancel-passed");
}

#[test]
fn a_bad_rules_file_exits_2() {
    let dir = std::env::temp_dir().join(format!("rms-preflight-it-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "version: 1\nstatuses: [\n").unwrap();
    let out = run(&["lint", "--rules", &bad.to_string_lossy()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is invalid: 1 error"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[
            "check",
            "--rules",
            &bad.to_string_lossy(),
            "fixtures/requests/confirm-unset-shipping-fee.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["lint", "--rules", "no/such/file.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot read rules file `no/such/file.yaml`"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lint_the_shipped_rules() {
    let out = run(&["lint", "--deny-warnings"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The counts are the file's own (read here independently), so adding a rule does not
    // break this test, while a miscount by `lint` would.
    let text = std::fs::read_to_string(super::root().join("rules/rakuten_pay.yaml")).unwrap();
    let file: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let n = |k: &str| file[k].as_sequence().map_or(0, Vec::len);
    assert_eq!(
        stdout(&out),
        format!(
            "rules/rakuten_pay.yaml: ok: {} statuses, {} transitions, {} rules, {} error entries, 0 warnings\n",
            n("statuses"),
            n("transitions"),
            n("rules"),
            n("errors")
        )
    );
    assert_eq!((n("statuses"), n("transitions")), (9, 17));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["check"], None).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(
        run(&["check", "--lang", "fr", "x"], None).status.code(),
        Some(2)
    );
}

#[test]
fn rules_graph() {
    let out = run(&["rules", "graph"], None);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("graph-mermaid", stdout(&out));
    let out = run(&["rules", "graph", "--format", "dot"], None);
    assert!(stdout(&out).starts_with("digraph order_progress {"));
    assert!(stdout(&out).contains("s100 -> s200 [label=\"confirmOrder (shop)\"];"));
}

#[test]
fn the_fixture_examples_are_valid_requests() {
    for entry in std::fs::read_dir(root().join("fixtures/requests")).unwrap() {
        let path = entry.unwrap().path();
        let out = run(&["check", &path.to_string_lossy()], None);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
    }
}

/// `check --format jsonl` writes the JSON document's results one a line, in order, then
/// its summary (and error) on a last line: the same bytes of each result, for the whole
/// request corpus, a batch, a batch cut short by bad input, and `--explain`.
#[test]
fn jsonl_lines_are_the_json_documents_results_and_summary() {
    let mut inputs: Vec<String> = std::fs::read_dir(root().join("tests/corpus/check"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "json"))
        .map(|p| p.display().to_string())
        .collect();
    inputs.sort();
    assert!(inputs.len() > 50, "the corpus is there");
    let batch = r#"{"requests":[{"action":"confirm","order":{"orderNumber":"1","orderProgress":100}},
{"action":"confirm","order":{"orderNumber":"1","orderProgress":100}},
{"action":"ship","order":{"orderNumber":"2","orderProgress":300}}]}"#;
    let cut = r#"{"requests":[{"action":"confirm","order":{"orderProgress":100}},{"action":"conf"#;
    let mut cases: Vec<(Vec<String>, Option<&[u8]>)> = inputs
        .iter()
        .flat_map(|f| {
            [
                (vec!["--lang".to_owned(), "en".to_owned(), f.clone()], None),
                (vec!["--explain".to_owned(), f.clone()], None),
            ]
        })
        .collect();
    cases.push((vec!["-".to_owned()], Some(batch.as_bytes())));
    cases.push((vec!["-".to_owned()], Some(cut.as_bytes())));
    for (args, stdin) in cases {
        let with = |format: &str| {
            let mut all = vec!["check", "--format", format];
            all.extend(args.iter().map(String::as_str));
            run(&all, stdin)
        };
        let (document, lines) = (with("json"), with("jsonl"));
        assert_eq!(document.status.code(), lines.status.code(), "{args:?}");
        let document: serde_json::Value = serde_json::from_slice(&document.stdout).unwrap();
        let text = stdout(&lines);
        assert!(text.ends_with('\n'), "{args:?}: {text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
            .collect();
        let (last, results) = lines.split_last().unwrap();
        assert_eq!(
            &serde_json::Value::Array(results.to_vec()),
            &document["results"],
            "{args:?}"
        );
        assert_eq!(last["summary"], document["summary"], "{args:?}");
        assert_eq!(last.get("error"), document.get("error"), "{args:?}");
        assert_eq!(
            last.as_object().unwrap().len(),
            1 + usize::from(document.get("error").is_some()),
            "{args:?}"
        );
    }
}

/// A -9999 under a key that is not a plain name is named with the key in brackets, as
/// README documents (`order["a.b"]`), not `order.["a.b"]` — in the finding and in
/// `--explain` alike.
#[test]
fn a_sentinel_under_a_quoted_key_is_named_with_brackets() {
    let doc =
        br#"{"action":"confirm","order":{"orderNumber":"X","orderProgress":100,"a.b":-9999}}"#;
    let out = run(&["check", "--format", "json", "--explain", "-"], Some(doc));
    let text = stdout(&out);
    assert!(text.contains(r#""order[\"a.b\"]":-9999"#), "{text}");
    assert!(!text.contains(r#"order.["#), "{text}");
}
