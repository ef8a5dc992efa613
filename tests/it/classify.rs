//! Error classification: every shape RMS (or an OMS screen) reports S17–S21 in.

use rms_preflight::engine::{severity, MatchedBy, ResponseOutcome};
use rms_preflight::{Engine, RuleSet};

use super::{run, stdout};

fn engine() -> Engine {
    Engine::new(RuleSet::embedded().unwrap())
}

fn id(status: Option<u16>, body: &str) -> (String, String) {
    let e = engine();
    let c = e.classify(status, body);
    (c.entry.id.clone(), c.entry.source.clone())
}

#[test]
fn s17_authentication() {
    let gateway = r#"{"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}"#;
    assert_eq!(
        id(Some(401), gateway),
        ("license_expired".into(), "S17".into())
    );
    // The code alone wins, whatever the status.
    assert_eq!(id(None, gateway).0, "license_expired");
    // As an OMS shows it.
    assert_eq!(
        id(None, "認証エラー(licenseKey有効期限切れの可能性があります)").0,
        "license_expired"
    );
    // A bare 401.
    assert_eq!(id(Some(401), "").0, "license_expired");
}

#[test]
fn s18_not_confirmable() {
    let per_order = r#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","message":"注文確認できないステータスです。","orderNumber":"375055-20261130-00000001"}]}"#;
    let e = engine();
    let c = e.classify(Some(200), per_order);
    assert_eq!(c.entry.id, "not_confirmable");
    assert_eq!(
        c.matched_by,
        MatchedBy::Code("ORDER_EXT_API_CONFIRM_ORDER_ERROR_103".into())
    );
    assert_eq!(
        id(None, "該当の注文は注文確認ができる状態ではありませんでした").0,
        "not_confirmable"
    );
}

#[test]
fn s19_api_error() {
    assert_eq!(id(None, "APIエラー"), ("api_error".into(), "S19".into()));
    assert_eq!(
        id(Some(500), "<html>Internal Server Error</html>").0,
        "api_error"
    );
    assert_eq!(id(Some(502), "").0, "api_error");
}

#[test]
fn s20_qps_both_spellings_and_statuses() {
    let other_api =
        r#"{"errors":[{"code":"GA0003","message":"Forbidden- Exceeded QPS Limitation"}]}"#;
    assert_eq!(id(Some(403), other_api), ("qps_limit".into(), "S20".into()));
    assert_eq!(
        id(Some(429), "Forbidden-Exceeded QPS Limitation").0,
        "qps_limit"
    );
    assert_eq!(id(None, "forbidden-exceeded qps limitation").0, "qps_limit");
}

#[test]
fn s21_maintenance() {
    assert_eq!(id(Some(503), ""), ("maintenance".into(), "S21".into()));
    assert_eq!(id(None, "API In Maintenance").0, "maintenance");
}

#[test]
fn info_messages_are_not_evidence_and_unknown_errors_fall_back() {
    // A success body has no error in it: the error view (`classify`) gets the fallback,
    // `classify_response` says it is a success.
    let ok = r#"{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認に成功しました。"}]}"#;
    assert_eq!(id(Some(200), ok).0, "unrecognised");
    assert!(engine()
        .classify_response(Some(200), ok)
        .outcome
        .is_success());
    assert_eq!(id(Some(418), "I'm a teapot").0, "unrecognised");
    assert_eq!(id(None, "").0, "unrecognised");
}

#[test]
fn explain_error_cli_json_contract() {
    let out = run(
        &[
            "explain-error",
            "--status",
            "403",
            "--format",
            "json",
            "--lang",
            "en",
            "-",
        ],
        Some(br#"{"errors":[{"code":"GA0003","message":"Forbidden- Exceeded QPS Limitation"}]}"#),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "error");
    assert_eq!(v["error"], "qps_limit");
    assert_eq!(v["source"], "S20");
    assert_eq!(v["retryable"], true);
    assert_eq!(v["retry"], "after_reconcile");
    assert_eq!(v["next"], serde_json::json!(["confirm", "fetch_status"]));
    assert_eq!(v["matched_by"], serde_json::json!({"code": "GA0003"}));
    assert_eq!(v["remedy"].as_array().unwrap().len(), 2);
    assert_eq!(v["orders"], serde_json::json!([]));
}

#[test]
fn explain_error_cli_text() {
    for (body, status) in [
        ("認証エラー(licenseKey有効期限切れの可能性があります)", None),
        ("該当の注文は注文確認ができる状態ではありませんでした", None),
        ("APIエラー", None),
        ("Forbidden-Exceeded QPS Limitation", Some("403")),
        ("API In Maintenance", Some("503")),
    ] {
        let mut args = vec!["explain-error"];
        if let Some(s) = status {
            args.extend(["--status", s]);
        }
        let out = run(&args, Some(body.as_bytes()));
        assert_eq!(out.status.code(), Some(0));
        insta::assert_snapshot!(stdout(&out));
    }
}

// --- success, per-order answers, width normalisation, the most specific match ---------

const CONFIRM_OK: &str = r#"{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認に成功しました。","orderNumber":"375055-20200821-00002833"}]}"#;

/// The whole answer: `("success", None)` or `("error", Some(id))`.
fn outcome(status: Option<u16>, body: &str) -> (&'static str, Option<String>) {
    let e = engine();
    let r = e.classify_response(status, body);
    describe(&r.outcome)
}

fn describe(o: &ResponseOutcome<'_>) -> (&'static str, Option<String>) {
    match o {
        ResponseOutcome::Success(_) => ("success", None),
        ResponseOutcome::Error(c) => ("error", Some(c.entry.id.clone())),
    }
}

/// Each order of the answer: `(orderNumber, outcome, error id)`.
fn orders(status: Option<u16>, body: &str) -> Vec<(String, &'static str, Option<String>)> {
    let e = engine();
    let r = e.classify_response(status, body);
    r.orders
        .iter()
        .map(|o| {
            let (out, id) = describe(&o.outcome);
            (o.order_number.clone(), out, id)
        })
        .collect()
}

fn msg(kind: &str, code: &str, order: Option<&str>) -> serde_json::Value {
    let mut m = serde_json::json!({"messageType": kind, "messageCode": code, "message": "…"});
    if let Some(n) = order {
        m["orderNumber"] = n.into();
    }
    m
}

fn list(messages: Vec<serde_json::Value>) -> String {
    serde_json::json!({ "MessageModelList": messages }).to_string()
}

#[test]
fn a_confirm_success_is_a_success() {
    let e = engine();
    let r = e.classify_response(Some(200), CONFIRM_OK);
    let s = r.outcome.success().expect("a success");
    assert_eq!(s.entry.source, "rms-api");
    assert!(
        s.entry.confidence.is_some(),
        "an RMS fact says how sure it is"
    );
    assert_eq!(s.message_code, "ORDER_EXT_API_CONFIRM_ORDER_INFO_101");
    assert_eq!(s.message_type, "INFO");
    assert_eq!(r.orders.len(), 1);
    assert_eq!(r.orders[0].order_number, "375055-20200821-00002833");
    assert!(r.orders[0].outcome.is_success());
    // Without a status too.
    assert_eq!(outcome(None, CONFIRM_OK), ("success", None));
}

#[test]
fn a_get_order_success_is_a_success_and_order_data_is_not_evidence() {
    // A whole getOrder answer: the call's INFO names no order; the orders' data holds
    // strings an error pattern would match (a remark mentioning メンテナンス / APIエラー).
    let body = r#"{
      "MessageModelList": [{"messageType":"INFO","messageCode":"ORDER_EXT_API_GET_ORDER_INFO_101","message":"受注情報取得に成功しました。(取得件数1件)"}],
      "OrderModelList": [{"orderNumber":"375055-20261130-00000001","orderProgress":100,
        "remarks":"メンテナンス中に注文。APIエラー？ Exceeded QPS Limitation","postagePrice":0}],
      "version": 7
    }"#;
    assert_eq!(outcome(Some(200), body), ("success", None));
    assert_eq!(orders(Some(200), body), []);
    // searchOrder with no hit is a success too.
    let none = list(vec![msg(
        "INFO",
        "ORDER_EXT_API_SEARCH_ORDER_INFO_102",
        None,
    )]);
    assert_eq!(outcome(Some(200), &none), ("success", None));
}

#[test]
fn an_info_that_is_not_a_listed_success_is_unrecognised() {
    // getOrder could not read this order: nothing says it went through.
    let body = list(vec![
        msg("INFO", "ORDER_EXT_API_GET_ORDER_INFO_101", None),
        msg(
            "INFO",
            "ORDER_EXT_API_GET_ORDER_INFO_102",
            Some("375055-20261130-00000009"),
        ),
    ]);
    assert_eq!(
        outcome(Some(200), &body),
        ("error", Some("unrecognised".into()))
    );
    assert_eq!(
        orders(Some(200), &body),
        [(
            "375055-20261130-00000009".into(),
            "error",
            Some("unrecognised".into())
        )]
    );
    // A WARNING is no success either, and neither is an answer without any message.
    let warning = list(vec![msg("WARNING", "SOMETHING_NEW", None)]);
    assert_eq!(
        outcome(Some(200), &warning).1.as_deref(),
        Some("unrecognised")
    );
    assert_eq!(
        outcome(Some(200), r#"{"MessageModelList":[]}"#),
        ("error", Some("unrecognised".into()))
    );
    assert_eq!(
        outcome(Some(200), ""),
        ("error", Some("unrecognised".into()))
    );
}

#[test]
fn a_success_message_under_an_error_status_is_no_success() {
    assert_eq!(
        outcome(Some(500), CONFIRM_OK),
        ("error", Some("api_error".into()))
    );
    assert_eq!(
        outcome(Some(503), CONFIRM_OK),
        ("error", Some("maintenance".into()))
    );
}

#[test]
fn several_orders_answer_one_outcome_each_in_order() {
    let body = list(vec![
        msg(
            "INFO",
            "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
            Some("375055-20261130-00000003"),
        ),
        msg(
            "ERROR",
            "ORDER_EXT_API_CONFIRM_ORDER_ERROR_105",
            Some("375055-20261130-00000001"),
        ),
        msg(
            "ERROR",
            "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103",
            Some(" 375055-20261130-00000002 "),
        ),
        msg(
            "INFO",
            "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
            Some("375055-20261130-00000004"),
        ),
        // A second message for an order already named: grouped with it, and one error
        // makes the order an error.
        msg(
            "ERROR",
            "ORDER_EXT_API_CONFIRM_ORDER_ERROR_102",
            Some("375055-20261130-00000004"),
        ),
    ]);
    assert_eq!(
        orders(Some(200), &body),
        [
            ("375055-20261130-00000003".into(), "success", None),
            (
                "375055-20261130-00000001".into(),
                "error",
                Some("shipping_fee_not_set".into())
            ),
            (
                "375055-20261130-00000002".into(),
                "error",
                Some("not_confirmable".into())
            ),
            (
                "375055-20261130-00000004".into(),
                "error",
                Some("order_cancelled".into())
            ),
        ]
    );
    // never (not_confirmable, order_cancelled) beats after_fix (shipping_fee_not_set);
    // between the two `never`, the earlier table entry.
    assert_eq!(
        outcome(Some(200), &body),
        ("error", Some("not_confirmable".into()))
    );
    // The error view agrees, from a string or from parsed JSON.
    let e = engine();
    assert_eq!(e.classify(Some(200), &body).entry.id, "not_confirmable");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        e.classify_value(Some(200), &value).entry.id,
        "not_confirmable"
    );
    assert_eq!(
        e.classify_response_value(Some(200), &value),
        e.classify_response(Some(200), &body)
    );
}

#[test]
fn most_severe_is_never_then_after_fix_then_after_reconcile_then_table_order() {
    use rms_preflight::rules::Retry;
    assert!(severity(Retry::Never, 9) > severity(Retry::AfterFix, 0));
    assert!(severity(Retry::AfterFix, 9) > severity(Retry::AfterReconcile, 0));
    assert!(severity(Retry::AfterReconcile, 2) > severity(Retry::AfterReconcile, 3));

    let text = |n: &str, t: &str| serde_json::json!({"messageType":"ERROR","messageCode":"X","message":t,"orderNumber":n});
    // after_fix (S13) beats after_reconcile (S19).
    let body = list(vec![
        text("1", "APIエラー"),
        msg("ERROR", "ORDER_EXT_API_CONFIRM_ORDER_ERROR_105", Some("2")),
    ]);
    assert_eq!(
        outcome(Some(200), &body).1.as_deref(),
        Some("shipping_fee_not_set")
    );
    // Two after_reconcile errors: the earlier entry (api_error before qps_limit), whatever
    // the order of the orders.
    let body = list(vec![
        text("1", "Forbidden-Exceeded QPS Limitation"),
        text("2", "APIエラー"),
    ]);
    assert_eq!(outcome(Some(200), &body).1.as_deref(), Some("api_error"));
    // An unknown error is an error too: it beats the successes around it.
    let body = list(vec![
        msg("INFO", "ORDER_EXT_API_CONFIRM_ORDER_INFO_101", Some("1")),
        text("2", "何か新しいエラー"),
    ]);
    assert_eq!(outcome(Some(200), &body).1.as_deref(), Some("unrecognised"));
}

#[test]
fn an_error_naming_no_order_beats_successful_orders() {
    let body = list(vec![
        msg("ERROR", "ES04-01", None),
        msg("INFO", "ORDER_EXT_API_CONFIRM_ORDER_INFO_101", Some("1")),
    ]);
    assert_eq!(
        outcome(Some(200), &body).1.as_deref(),
        Some("api_not_enabled")
    );
    assert_eq!(orders(Some(200), &body), [("1".into(), "success", None)]);
}

#[test]
fn text_is_width_normalised() {
    for (text, want) in [
        ("ＡＰＩエラー", "api_error"),
        ("APIｴﾗｰ", "api_error"),
        ("ＡＰＩ　Ｉｎ　Ｍａｉｎｔｅｎａｎｃｅ", "maintenance"),
        ("ﾒﾝﾃﾅﾝｽ中です", "maintenance"),
        (
            "Ｆｏｒｂｉｄｄｅｎ－Ｅｘｃｅｅｄｅｄ　ＱＰＳ　Ｌｉｍｉｔａｔｉｏｎ",
            "qps_limit",
        ),
        ("ＵＮ－ＡＵＴＨＯＲＩＳＥＤ", "license_expired"),
    ] {
        assert_eq!(id(None, text).0, want, "{text}");
        // Inside a JSON body too.
        let json = serde_json::json!({ "message": text }).to_string();
        assert_eq!(id(None, &json).0, want, "{json}");
    }
    // A full-width code is the code.
    assert_eq!(
        id(None, r#"{"Results":{"errorCode":"ＥＳ０１－０１"}}"#).0,
        "license_expired"
    );
    assert_eq!(id(None, "error ＥＳ０１－０１").0, "license_expired");
}

#[test]
fn patterns_are_width_normalised_too() {
    use rms_preflight::rules::EMBEDDED_RULES;
    let from = "text: [API In Maintenance, メンテナンス]";
    assert!(EMBEDDED_RULES.contains(from));
    let rules = EMBEDDED_RULES.replacen(
        from,
        "text: [ＡＰＩ　Ｉｎ　Ｍａｉｎｔｅｎａｎｃｅ, ﾒﾝﾃﾅﾝｽ]",
        1,
    );
    let e = Engine::new(RuleSet::from_yaml("rules.yaml", &rules).unwrap());
    let c = e.classify(None, "api in maintenance");
    assert_eq!(c.entry.id, "maintenance");
    assert_eq!(
        c.matched_by,
        MatchedBy::Text("ＡＰＩ　Ｉｎ　Ｍａｉｎｔｅｎａｎｃｅ".into())
    );
    assert_eq!(e.classify(None, "メンテナンス中").entry.id, "maintenance");
}

#[test]
fn the_most_specific_text_wins() {
    let e = engine();
    let c = e.classify(None, "APIエラー: Forbidden-Exceeded QPS Limitation");
    assert_eq!(c.entry.id, "qps_limit");
    assert_eq!(
        c.matched_by,
        MatchedBy::Text("Exceeded QPS Limitation".into())
    );
    let c = e.classify(
        Some(200),
        &list(vec![serde_json::json!({"messageType":"ERROR","messageCode":"X","message":"APIエラー: Forbidden-Exceeded QPS Limitation","orderNumber":"1"})]),
    );
    assert_eq!(c.entry.id, "qps_limit");
    // `APIエラー` is a generic wrapper (`generic_text`): any specific text beats it, so an
    // OMS's "APIエラー（認証エラー）" is the licence, not S19.
    let c = e.classify(None, "メンテナンス APIエラー");
    assert_eq!(c.matched_by, MatchedBy::Text("メンテナンス".into()));
    let c = e.classify(None, "APIエラー（認証エラー）");
    assert_eq!(c.entry.id, "license_expired");
    let c = e.classify(None, "APIエラー");
    assert_eq!(c.entry.id, "api_error");
    // A code still beats any text.
    let c = e.classify(
        None,
        r#"{"errors":[{"code":"ES04-01","message":"APIエラー: Forbidden-Exceeded QPS Limitation"}]}"#,
    );
    assert_eq!(c.entry.id, "api_not_enabled");
}

#[test]
fn a_bare_403_is_not_the_qps_limit() {
    assert_eq!(id(Some(403), "Forbidden").0, "unrecognised");
    assert_eq!(id(Some(403), "").0, "unrecognised");
    assert_eq!(
        id(Some(403), r#"{"message":"Forbidden"}"#).0,
        "unrecognised"
    );
    // With the QPS evidence it is.
    assert_eq!(
        id(Some(403), "Forbidden-Exceeded QPS Limitation").0,
        "qps_limit"
    );
    // 429 alone is.
    let e = engine();
    let c = e.classify(Some(429), "");
    assert_eq!(c.entry.id, "qps_limit");
    assert_eq!(c.matched_by, MatchedBy::Status(429));
}

/// The shipped rules with `from` replaced by `to`: the first error's message.
fn load_error(from: &str, to: &str) -> String {
    use rms_preflight::rules::{Level, EMBEDDED_RULES};
    assert!(
        EMBEDDED_RULES.contains(from),
        "`{from}` is not in the rules file"
    );
    let text = EMBEDDED_RULES.replacen(from, to, 1);
    match RuleSet::from_yaml("rules.yaml", &text) {
        Err(rms_preflight::RulesError::Invalid { diagnostics, .. }) => diagnostics
            .iter()
            .find(|d| d.level == Level::Error)
            .map(|d| d.message.clone())
            .expect("an error"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("`{to}` should not load"),
    }
}

#[test]
fn the_success_table_is_checked_when_loading() {
    let confirm =
        "      message_types: [INFO]\n      codes: [ORDER_EXT_API_CONFIRM_ORDER_INFO_101]";
    assert_eq!(
        load_error(confirm, "      message_types: []\n      codes: []"),
        "a success entry needs `message_types` or `codes`"
    );
    assert_eq!(
        load_error(
            confirm,
            "      message_types: [INFO]\n      codes: [ORDER_EXT_API_CONFIRM_ORDER_ERROR_103]"
        ),
        "code `ORDER_EXT_API_CONFIRM_ORDER_ERROR_103` is both a success and error `not_confirmable`"
    );
    assert_eq!(
        load_error("  - source: rms-api\n    confidence: sure\n    match:\n      http_status: [200]\n      message_types: [INFO]\n      codes: [ORDER_EXT_API_CONFIRM_ORDER_INFO_101]",
            "  - source: rms-api\n    match:\n      http_status: [200]\n      message_types: [INFO]\n      codes: [ORDER_EXT_API_CONFIRM_ORDER_INFO_101]"),
        "a success entry from `rms-api` needs `confidence`"
    );
    assert_eq!(
        load_error(
            "  - source: rms-api\n    confidence: sure\n    match:\n      http_status: [200]",
            "  - source: rms-ap\n    confidence: sure\n    match:\n      http_status: [200]"
        ),
        "unknown source `rms-ap`"
    );
}

#[test]
fn a_longer_text_is_not_shadowed_an_equal_one_is() {
    use rms_preflight::rules::EMBEDDED_RULES;
    let extra = |text: &str| {
        EMBEDDED_RULES.replacen(
            "  - id: unrecognised\n",
            &format!("  - id: extra\n    source: preflight\n    match:\n      text: [\"{text}\"]\n    retry: never\n    next: [fetch_status]\n    message: {{ ja: 追加, en: extra }}\n    remedy:\n      - {{ ja: なし, en: none }}\n\n  - id: unrecognised\n"),
            1,
        )
    };
    let warnings = |text: &str| -> Vec<String> {
        RuleSet::from_yaml("rules.yaml", &extra(text))
            .expect("warnings only")
            .warnings()
            .iter()
            .map(|d| d.message.clone())
            .collect()
    };
    assert_eq!(warnings("APIエラー (タイムアウト)"), Vec::<String>::new());
    assert_eq!(
        warnings("Ｕｎ-Ａｕｔｈｏｒｉｓｅｄ"),
        ["error `extra` is shadowed by `license_expired`"]
    );
}

#[test]
fn explain_error_cli_success_exits_0() {
    let out = run(
        &["explain-error", "--status", "200", "--format", "json", "-"],
        Some(CONFIRM_OK.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "success");
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["source"], "rms-api");
    assert_eq!(v["retryable"], false);
    assert_eq!(
        v["matched_by"],
        serde_json::json!({"code": "ORDER_EXT_API_CONFIRM_ORDER_INFO_101"})
    );
    assert_eq!(v["orders"][0]["orderNumber"], "375055-20200821-00002833");
    assert_eq!(v["orders"][0]["outcome"], "success");

    let out = run(
        &["explain-error", "--lang", "en", "-"],
        Some(CONFIRM_OK.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("[rms-api] success: the order was confirmed"),
        "{text}"
    );
    assert!(
        text.contains("375055-20200821-00002833: [rms-api] success"),
        "{text}"
    );
}

#[test]
fn explain_error_cli_orders_json() {
    let body = list(vec![
        msg(
            "INFO",
            "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
            Some("375055-20261130-00000001"),
        ),
        msg(
            "ERROR",
            "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103",
            Some("375055-20261130-00000002"),
        ),
    ]);
    let out = run(
        &["explain-error", "--format", "json", "--lang", "en", "-"],
        Some(body.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "error");
    assert_eq!(v["error"], "not_confirmable");
    assert_eq!(v["source"], "S18");
    assert_eq!(v["retry"], "never");
    let orders = v["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        orders[0],
        serde_json::json!({
            "orderNumber": "375055-20261130-00000001",
            "outcome": "success",
            "error": null,
            "source": "rms-api",
            "retry": null,
            "message": "the order was confirmed (RMS accepted the confirmation; do not send it again)",
            "remedy": [],
        })
    );
    assert_eq!(orders[1]["orderNumber"], "375055-20261130-00000002");
    assert_eq!(orders[1]["outcome"], "error");
    assert_eq!(orders[1]["error"], "not_confirmable");
    assert_eq!(orders[1]["source"], "S18");
    assert_eq!(orders[1]["retry"], "never");
    assert_eq!(orders[1]["remedy"].as_array().unwrap().len(), 2);
}
