//! The `explain-error` corpus: every file of `tests/corpus/explain-error/` through the real
//! binary. A file is named `NAME[@STATUS].EXPECT.{json,txt}`: the HTTP status passed with
//! `--status`, and the expected answer, `success`, `denied` (an order the rms-preflight
//! proxy held back, in its own namespace) or an error id. The JSON (English) and text
//! (Japanese) answers are insta snapshots.

use super::{run, stdout};

#[test]
fn explain_error_corpus() {
    insta::glob!("../corpus/explain-error", "*.*", |path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        let mut parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "{name}: expected NAME[@STATUS].EXPECT.EXT");
        parts.pop();
        let expect = parts.pop().expect("an expectation");
        let status = parts[0].split_once('@').map(|(_, s)| s);
        let file = path.to_str().expect("a UTF-8 path");
        let mut args = vec!["explain-error"];
        if let Some(s) = status {
            args.extend(["--status", s]);
        }
        let with = |extra: &[&'static str]| {
            let mut a = args.clone();
            a.extend_from_slice(extra);
            a.push(file);
            let out = run(&a, None);
            assert_eq!(out.status.code(), Some(0), "{name}");
            stdout(&out)
        };
        let json = with(&["--format", "json", "--lang", "en"]);
        let ja = with(&["--lang", "ja"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON output");
        match expect {
            "success" => {
                assert_eq!(v["outcome"], "success", "{name}");
                assert_eq!(v["error"], serde_json::Value::Null, "{name}");
            }
            "denied" => {
                assert_eq!(v["outcome"], "denied", "{name}");
                assert_eq!(v["error"], serde_json::Value::Null, "{name}");
                assert!(v["rule"].is_string(), "{name}");
            }
            id => {
                assert_eq!(v["outcome"], "error", "{name}");
                assert_eq!(v["error"], id, "{name}");
            }
        }
        insta::assert_snapshot!(format!("--- json (en) ---\n{json}--- text (ja) ---\n{ja}"));
    });
}
