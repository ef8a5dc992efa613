//! Bad input gets a clear error, fast, in bounded memory (issue 8, points 8–10): every
//! reader refuses oversized and over-nested documents with exit 2, numeric arguments and
//! scenario durations are bounded, and a byte-order mark, a second YAML document, bad
//! base64 and a bad upstream are named at once.

use std::path::PathBuf;

use super::{run, stderr};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rp-bounded-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// 200 KB of `[` and 500 KB of nested `{b: ` took 36–124 s to refuse; now every YAML
/// reader refuses them at once, naming the nesting.
#[test]
fn deep_yaml_is_refused_by_every_reader() {
    let dir = TempDir::new("deep");
    let brackets = dir.file("brackets.yaml", "[".repeat(200_000).as_bytes());
    let maps = dir.file("maps.yaml", "{b: ".repeat(125_000).as_bytes());
    for file in [&brackets, &maps] {
        for args in [
            vec!["check", "--input-format", "yaml", file.as_str()],
            vec!["lint", "--rules", file.as_str()],
            vec!["simulate", file.as_str()],
            vec!["fixtures", "lint", file.as_str()],
            vec!["fixtures", "import", file.as_str(), "--out", "/dev/null"],
            vec![
                "replay",
                "--cassette",
                file.as_str(),
                "--listen",
                "127.0.0.1:0",
            ],
        ] {
            let started = std::time::Instant::now();
            let out = run(&args, None);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("nests deeper than 128 levels"),
                "{args:?}: {}",
                stderr(&out)
            );
            // Not a timing assertion of performance: a hang guard (it took minutes).
            assert!(started.elapsed().as_secs() < 30, "{args:?}");
        }
    }
}

/// Under the size limit, a document of millions of tiny values (`[[],[],…]`) took 3.9 GB
/// in the YAML parser; the values are counted before parsing and refused at once.
#[test]
fn yaml_with_millions_of_values_is_refused_before_parsing() {
    let dir = TempDir::new("values");
    let many = dir.file(
        "many.yaml",
        format!("[{}]", "[],".repeat(3_000_000)).as_bytes(),
    );
    for args in [
        vec!["simulate", many.as_str()],
        vec!["fixtures", "lint", many.as_str()],
        vec!["lint", "--rules", many.as_str()],
        vec!["check", "--input-format", "yaml", many.as_str()],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("holds more than 2000000 values"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// `check /dev/zero` grew to 4 GB; every reader now stops at the input limit.
#[test]
fn oversized_input_is_refused_at_the_limit() {
    let out = run(&["--max-input-size", "1MiB", "check", "/dev/zero"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("the input is larger than 1 MiB (raise the limit with `--max-input-size`)"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &["--max-input-size", "1MiB", "explain-error", "/dev/zero"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let dir = TempDir::new("size");
    let big = dir.file(
        "big.yaml",
        format!("name: {}\n", "x".repeat(4096)).as_bytes(),
    );
    for args in [
        vec!["--max-input-size", "1KiB", "simulate", big.as_str()],
        vec!["--max-input-size", "1KiB", "lint", "--rules", big.as_str()],
        vec!["--max-input-size", "1KiB", "fixtures", "lint", big.as_str()],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("larger than 1 KiB"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The flag is checked: a size that means nothing is a usage error.
    let out = run(&["--max-input-size", "12 parsecs", "check", "-"], None);
    assert_eq!(out.status.code(), Some(2));
}

/// The limit is on one document, or one entry of a streamed JSON batch — not on a
/// batch's length: a long batch still streams under a small limit, while one entry over
/// it is refused with its path.
#[test]
fn a_json_batch_is_limited_per_entry_not_in_total() {
    let entry = r#"{"action":"confirm","order":{"orderNumber":"375055-20261130-00000001","orderProgress":200}}"#;
    let mut doc = String::from(r#"{"shop":{},"now":"2026-11-30T12:00:00+09:00","requests":["#);
    for i in 0..500 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&entry.replace("00000001", &format!("{i:08}")));
    }
    doc.push_str("]}");
    assert!(doc.len() > 40_000);
    let out = run(
        &["--max-input-size", "4KiB", "check", "--format", "json", "-"],
        Some(doc.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["deny"], 500);

    let huge = format!(
        r#"{{"shop":{{}},"now":"2026-11-30T12:00:00+09:00","requests":[{entry},{{"action":"confirm","order":{{"orderProgress":100,"remarks":"{}"}}}}]}}"#,
        "x".repeat(8192)
    );
    let out = run(
        &["--max-input-size", "4KiB", "check", "--format", "json", "-"],
        Some(huge.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["results"].as_array().unwrap().len(),
        1,
        "the first entry was checked"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 4 KiB"),
        "{v}"
    );
    assert!(
        v["error"]["path"]
            .as_str()
            .unwrap()
            .starts_with("requests[1]"),
        "{v}"
    );
}

/// `explore --orders 18446744073709551615` panicked (capacity overflow); numeric
/// arguments are bounded with the limit in the message.
#[test]
fn numeric_arguments_are_bounded() {
    for (args, want) in [
        (
            vec!["explore", "--orders", "18446744073709551615"],
            "not in 1..=10000",
        ),
        (vec!["explore", "--orders", "0"], "not in 1..=10000"),
        (vec!["explore", "--steps", "-1"], "-1"),
        (
            vec!["explore", "--steps", "100000000001"],
            "not in 1..=100000000",
        ),
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}

/// `advance: 100000000000000d` simulated for minutes; a scenario's durations are bounded.
#[test]
fn absurd_scenario_durations_are_refused() {
    let dir = TempDir::new("durations");
    for (step, at) in [
        ("- advance: 100000000000000d", "steps[0].advance"),
        ("- advance: 367d", "steps[0].advance"),
        (
            "- fault: {kind: maintenance, for: 5000d}",
            "steps[0].fault.for",
        ),
    ] {
        let file = dir.file(
            "s.yaml",
            format!(
                "name: absurd\nstart: 2026-11-30T09:00:00+09:00\norders: []\nsteps:\n  {step}\n"
            )
            .as_bytes(),
        );
        let out = run(&["simulate", &file], None);
        assert_eq!(out.status.code(), Some(2), "{step}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("at `{at}`: a duration over 366d is not simulated")),
            "{step}: {}",
            stderr(&out)
        );
    }
}

/// A scenario's whole virtual time and its number of steps are bounded too: 3,000 steps
/// of `advance: 366d` would run for minutes though each step is within its own limit.
#[test]
fn a_scenario_is_bounded_as_a_whole() {
    let dir = TempDir::new("whole");
    let head = "name: many\nstart: 2026-11-30T09:00:00+09:00\norders: []\nsteps:\n";
    let many = dir.file(
        "many.yaml",
        format!("{head}{}", "  - advance: 200d\n".repeat(3_000)).as_bytes(),
    );
    let out = run(&["simulate", &many], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "at `steps[1].advance`: the scenario's `advance` steps add up to more than 366d"
        ),
        "{}",
        stderr(&out)
    );
    let long = dir.file(
        "long.yaml",
        format!("{head}{}", "  - advance: 1s\n".repeat(100_001)).as_bytes(),
    );
    let out = run(&["simulate", &long], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a scenario runs at most 100000 steps"),
        "{}",
        stderr(&out)
    );
}

/// A byte-order mark was refused or misread; a second document had no position; bad
/// base64 replayed as an empty body; a bad upstream started and answered 502.
#[test]
fn malformed_files_are_named_at_start() {
    let dir = TempDir::new("malformed");
    // BOM: the shipped rules and a scenario with a BOM load as without.
    let rules = std::fs::read(super::root().join("rules/rakuten_pay.yaml")).unwrap();
    let bom_rules = dir.file("rules.yaml", &[b"\xEF\xBB\xBF".as_slice(), &rules].concat());
    let out = run(&["lint", "--rules", &bom_rules], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let scenario =
        std::fs::read(super::root().join("fixtures/scenarios/s01-confirm-once.yaml")).unwrap();
    let bom_scenario = dir.file("s.yaml", &[b"\xEF\xBB\xBF".as_slice(), &scenario].concat());
    let out = run(&["simulate", &bom_scenario], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A second document is named with its line.
    let two = dir.file(
        "two.yaml",
        [scenario.as_slice(), b"---\nname: second\n"]
            .concat()
            .as_slice(),
    );
    let out = run(&["simulate", &two], None);
    assert_eq!(out.status.code(), Some(2));
    let lines = scenario.iter().filter(|b| **b == b'\n').count() + 1;
    assert!(
        stderr(&out).contains(&format!(
            "a second YAML document (`---`): this file holds one document (line {lines}, column 1)"
        )),
        "{}",
        stderr(&out)
    );

    // Bad base64 is refused when the cassette loads, not replayed as an empty body.
    let cassette = "version: 1\nmeta: {recorded_at: '2026-11-30T09:00:00+09:00', tool: test, redacted: true}\ninteractions:\n- function: getOrder\n  request: {method: POST, path: /es/2.0/order/getOrder/}\n  response: {status: 200, base64: 'not base64!!'}\n";
    let bad = dir.file("bad.yaml", cassette.as_bytes());
    for args in [
        vec![
            "replay",
            "--cassette",
            bad.as_str(),
            "--listen",
            "127.0.0.1:0",
        ],
        vec!["fixtures", "lint", bad.as_str()],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("at `interactions[0].response.base64`: not valid base64"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // A bad upstream is refused before anything listens; credentials are not echoed.
    for (upstream, shown) in [
        // Spaces are not an origin's characters: the value is described, not repeated.
        ("not a url", "not shown"),
        ("ftp://x.example", "`ftp://x.example`"),
        ("https://SP1:secret@", "not shown"),
    ] {
        let out = run(
            &[
                "record",
                "--upstream",
                upstream,
                "--listen",
                "127.0.0.1:0",
                "--out",
                &dir.0.join("rec.yaml").to_string_lossy(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{upstream}");
        assert!(stderr(&out).contains(shown), "{upstream}: {}", stderr(&out));
        assert!(!stderr(&out).contains("secret"), "{}", stderr(&out));
    }
}
