//! Error classification: every shape RMS (or an OMS screen) reports S17–S21 in.

use rms_preflight::engine::MatchedBy;
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
    // A success body mentions nothing the table knows.
    let ok = r#"{"MessageModelList":[{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認に成功しました。"}]}"#;
    assert_eq!(id(Some(200), ok).0, "unrecognised");
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
    assert_eq!(v["error"], "qps_limit");
    assert_eq!(v["source"], "S20");
    assert_eq!(v["retryable"], true);
    assert_eq!(v["retry"], "after_reconcile");
    assert_eq!(v["next"], serde_json::json!(["confirm", "fetch_status"]));
    assert_eq!(v["matched_by"], serde_json::json!({"code": "GA0003"}));
    assert_eq!(v["remedy"].as_array().unwrap().len(), 2);
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
