//! The request corpus: every rule of the issue, allowed and denied, in both languages.
//!
//! Each file under `tests/corpus/check/` is a check document named
//! `<tag>-<what>.<decision>.yaml`. The decision in the name is asserted (so a snapshot
//! cannot be accepted into a wrong answer), the tag must appear among the findings'
//! sources for non-allow cases, and the full text reports in Japanese and English are
//! snapshots.

use super::{run, stdout};

fn expected(name: &str) -> (&str, &str) {
    let stem = name.trim_end_matches(".yaml");
    let (base, decision) = stem
        .rsplit_once('.')
        .expect("name ends in .<decision>.yaml");
    let tag = if base.starts_with("rms-api") {
        "rms-api"
    } else {
        base.split('-').next().unwrap_or_default()
    };
    (tag, decision)
}

#[test]
fn corpus_requests() {
    insta::glob!("../corpus/check", "*.yaml", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = path.to_string_lossy().into_owned();
        let (tag, decision) = expected(&name);

        let json = run(&["check", "--format", "json", "--lang", "en", &file], None);
        let doc: serde_json::Value =
            serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let results = doc["results"].as_array().expect("results");
        let worst = results
            .iter()
            .map(|r| r["decision"].as_str().unwrap_or_default())
            .max_by_key(|d| ["allow", "warn", "deny"].iter().position(|x| x == d))
            .expect("at least one result");
        assert_eq!(worst, decision, "{name}: decision");
        let want_code = if decision == "deny" { 1 } else { 0 };
        assert_eq!(json.status.code(), Some(want_code), "{name}: exit code");
        // A batch (S3) is about its shape, not one rule: its tag is not a finding source.
        if decision != "allow" && results.len() == 1 {
            let tag = tag.to_uppercase().replace("RMS-API", "rms-api");
            let sources: Vec<&str> = results
                .iter()
                .flat_map(|r| r["findings"].as_array().into_iter().flatten())
                .flat_map(|f| {
                    let mut s = vec![f["source"].as_str().unwrap_or_default()];
                    for r in f["remedies"].as_array().into_iter().flatten() {
                        s.push(r["source"].as_str().unwrap_or_default());
                    }
                    s
                })
                .collect();
            assert!(
                sources.iter().any(|s| s.eq_ignore_ascii_case(&tag)),
                "{name}: `{tag}` not among {sources:?}"
            );
        } else if decision == "allow" {
            assert!(results
                .iter()
                .all(|r| r["findings"].as_array().is_some_and(Vec::is_empty)));
        }

        // Optional header lines pin more than the worst decision: `# decisions: allow deny`
        // (one per result, in order) and `# rules: id id` (each must be among the findings).
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            if let Some(list) = line.strip_prefix("# decisions:") {
                let got: Vec<&str> = results
                    .iter()
                    .map(|r| r["decision"].as_str().unwrap_or_default())
                    .collect();
                let want: Vec<&str> = list.split_whitespace().collect();
                assert_eq!(got, want, "{name}: decisions");
            }
            if let Some(list) = line.strip_prefix("# rules:") {
                let fired: Vec<&str> = results
                    .iter()
                    .flat_map(|r| r["findings"].as_array().into_iter().flatten())
                    .map(|f| f["rule"].as_str().unwrap_or_default())
                    .collect();
                for rule in list.split_whitespace() {
                    assert!(
                        fired.contains(&rule),
                        "{name}: `{rule}` not among {fired:?}"
                    );
                }
            }
        }

        let ja = stdout(&run(&["check", "--lang", "ja", &file], None));
        let en = stdout(&run(&["check", "--lang", "en", &file], None));
        insta::assert_snapshot!(format!("--- ja ---\n{ja}\n--- en ---\n{en}"));
    });
}

/// `--explain` names the values that decided: the S13 case must show both -9999 fields.
#[test]
fn explain_reports_the_deciding_values() {
    let file = super::corpus("check/s13-confirm-unset-fee-no-api-option.deny.yaml");
    let out = run(
        &[
            "check",
            "--explain",
            "--format",
            "json",
            &file.to_string_lossy(),
        ],
        None,
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let traces = doc["results"][0]["explain"].as_array().unwrap();
    let s13 = traces
        .iter()
        .find(|t| t["rule"] == "confirm-shipping-fee-unset")
        .unwrap();
    assert_eq!(s13["fired"], true);
    assert_eq!(s13["values"]["order.postagePrice"], -9999);
    assert_eq!(
        s13["values"]["order.PackageModelList[0].postagePrice"],
        -9999
    );
    let s1 = traces.iter().find(|t| t["rule"] == "confirm-once").unwrap();
    assert_eq!(s1["fired"], false);
    assert_eq!(s1["values"]["oms.confirm_sent"], false);
    // Every confirm rule is listed, fired or not.
    assert!(traces.len() >= 10, "{traces:?}");
}

/// The JSON writer copies each rule's text as JSON rendered once at start
/// ([`JsonFragments`]); what it writes must be byte for byte what serde writes for the same
/// finding, in both languages, with and without `--explain`, for every corpus document —
/// and an owned finding whose text differs from the rules (as a caller may build) must be
/// written from its own text, not the fragments'.
#[test]
fn pre_rendered_rule_text_writes_the_same_bytes() {
    use rms_preflight::render::{check_document, CheckOptions, JsonFragments, JsonWriter};
    use rms_preflight::{Engine, Lang, RuleSet, Timestamp};

    let engine = Engine::new(RuleSet::embedded().unwrap());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/check");
    let mut documents: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    documents.sort();
    let mut findings = 0;
    for lang in [Lang::Ja, Lang::En] {
        let fragments = JsonFragments::new(engine.rules(), lang);
        for explain in [false, true] {
            let options = CheckOptions {
                format: None,
                explain,
                now: Timestamp::from_unix(1_796_000_000, 9 * 3600),
                stop_on_write_error: false,
            };
            for path in &documents {
                let text = std::fs::read(path).unwrap();
                let (mut plain, mut copied) = (Vec::new(), Vec::new());
                check_document(
                    &engine,
                    &text[..],
                    &options,
                    &mut JsonWriter::new(lang),
                    &mut plain,
                    &mut |_, v| findings += v.findings.len(),
                );
                check_document(
                    &engine,
                    &text[..],
                    &options,
                    &mut JsonWriter::with_fragments(&fragments),
                    &mut copied,
                    &mut |_, _| {},
                );
                assert_eq!(
                    String::from_utf8_lossy(&plain),
                    String::from_utf8_lossy(&copied),
                    "{}",
                    path.display()
                );
            }
        }
    }
    assert!(
        findings > 100,
        "the corpus has findings to copy: {findings}"
    );

    // A finding edited after the check: its own text is written.
    use rms_preflight::render::ResultWriter;
    let doc = std::fs::read(dir.join("s13-confirm-unset-fee-and-tax.deny.yaml")).unwrap();
    let mut request = None;
    rms_preflight::model::read_document(&doc[..], None, &mut |_, r| {
        request.get_or_insert(r);
        Ok(())
    })
    .unwrap();
    let mut request = request.unwrap();
    request
        .now
        .get_or_insert(Timestamp::from_unix(1_796_000_000, 9 * 3600));
    let mut verdict = engine.check(&request).into_owned();
    let finding = verdict
        .findings
        .first_mut()
        .expect("a denial has a finding");
    finding.message.to_mut().ja = "書き換えた<文>".into();
    if let Some(r) = finding.remedies.first_mut() {
        r.steps.to_mut()[0].ja = "別の手順".into();
    }
    let fragments = JsonFragments::new(engine.rules(), Lang::Ja);
    let (mut plain, mut copied) = (Vec::new(), Vec::new());
    JsonWriter::new(Lang::Ja)
        .result(&mut plain, None, &request, &verdict, None)
        .unwrap();
    JsonWriter::with_fragments(&fragments)
        .result(&mut copied, None, &request, &verdict, None)
        .unwrap();
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        String::from_utf8(copied.clone()).unwrap()
    );
    let copied = String::from_utf8(copied).unwrap();
    assert!(
        copied.contains("書き換えた<文>") && copied.contains("別の手順"),
        "{copied}"
    );
}
