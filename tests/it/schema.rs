//! The JSON Schemas under `rules/` are generated from the Rust types; they must not drift.
//! Set `UPDATE_SCHEMAS=1` to rewrite them after changing a type.

use super::{root, run};

fn check(kind: &str, file: &str) {
    let out = run(&["rules", "schema", kind], None);
    assert_eq!(out.status.code(), Some(0));
    let path = root().join(file);
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    let shipped = std::fs::read(&path).unwrap_or_default();
    assert!(
        shipped == out.stdout,
        "{file} is stale: run `UPDATE_SCHEMAS=1 cargo test --test it schema`"
    );
}

#[test]
fn rules_schema_is_current() {
    check("rules", "rules/rakuten_pay.schema.json");
}

#[test]
fn request_schema_is_current() {
    check("request", "rules/check-request.schema.json");
}

#[test]
fn check_output_schema_is_current() {
    check("check-output", "rules/check-output.schema.json");
}

#[test]
fn explain_error_output_schema_is_current() {
    check(
        "explain-error-output",
        "rules/explain-error-output.schema.json",
    );
}

#[test]
fn coverage_output_schema_is_current() {
    check("coverage-output", "rules/coverage-output.schema.json");
}

#[test]
fn coverage_gaps_schema_is_current() {
    check("coverage-gaps", "rules/coverage-gaps.schema.json");
}

/// The shipped outputs fit their schemas' shape: every key the schema requires is there.
#[test]
fn outputs_carry_the_schema_keys() {
    let schema: serde_json::Value =
        serde_json::from_slice(&run(&["rules", "schema", "explain-error-output"], None).stdout)
            .unwrap();
    let body = br#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","orderNumber":"1"}]}"#;
    let out: serde_json::Value = serde_json::from_slice(
        &run(&["explain-error", "--format", "json", "-"], Some(body)).stdout,
    )
    .unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(
            out.get(key.as_str().unwrap()).is_some(),
            "{key} missing in {out}"
        );
    }
}

#[test]
fn conformance_output_schema_is_current() {
    check("conformance-output", "rules/conformance-output.schema.json");
}

/// `conformance --format json` carries every key its schema requires.
#[test]
fn conformance_output_carries_the_schema_keys() {
    let schema: serde_json::Value =
        serde_json::from_slice(&run(&["rules", "schema", "conformance-output"], None).stdout)
            .unwrap();
    let out = run(
        &[
            "conformance",
            "--format",
            "json",
            "--cassette",
            "fixtures/cassettes/happy-path.yaml",
        ],
        None,
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(
            out.get(key.as_str().unwrap()).is_some(),
            "{key} missing in {out}"
        );
    }
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&out), "{out}");
}
