//! Reads the embedded rules file (`rules/rakuten_pay.yaml`) once at build time and writes
//! it as JSON to `OUT_DIR`, so `RuleSet::embedded()` parses JSON (fast) instead of YAML at
//! every start-up. The YAML stays the one source of truth: this is a mechanical copy, and
//! a test checks that both readings give the same rule set. If the YAML cannot be read
//! here, an empty file is written and the embedded rules are read from the YAML at run
//! time, where their errors are located and reported.

fn main() {
    println!("cargo:rerun-if-changed=rules/rakuten_pay.yaml");
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default())
        .join("rakuten_pay.json");
    let json = std::fs::read_to_string("rules/rakuten_pay.yaml")
        .ok()
        .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(&text).ok())
        .and_then(|value| serde_json::to_string(&value).ok())
        .unwrap_or_default();
    if let Err(e) = std::fs::write(&out, json) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}
