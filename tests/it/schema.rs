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
