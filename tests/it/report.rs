//! `simulate --html` and `--coverage`: the page's structure and escaping, coverage numbers
//! on a small scenario set, `--min-coverage` exit codes, bad arguments (exit 2), the
//! shipped library's coverage against its gaps file, and the page in a real headless
//! browser (Debian's chromium; skipped with a message when there is none).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run, stderr, stdout, Scratch};

/// A passing scenario, a failing one, and one whose name and note try to inject markup.
fn small_set(dir: &Path) -> Vec<PathBuf> {
    let pass = dir.join("a-pass.yaml");
    std::fs::write(
        &pass,
        r#"name: bulk confirmation, one denied
tags: [S3, S13]
start: 2026-11-30T09:00:00+09:00
orders:
  - {orderNumber: "375055-20261130-00000001", orderProgress: 100, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: 660}
  - {orderNumber: "375055-20261130-00000002", orderProgress: 100, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: -9999}
steps:
  - fault: {kind: lost_response, functions: [confirmOrder], calls: 1}
  - confirm: ["375055-20261130-00000001", "375055-20261130-00000002"]
    expect:
      outcomes: {"375055-20261130-00000001": done, "375055-20261130-00000002": denied}
  - advance: 15m
    expect: {order: "375055-20261130-00000001", orderProgress: 300, label: processed}
"#,
    )
    .unwrap();
    let fail = dir.join("b-fail.yaml");
    std::fs::write(
        &fail,
        r#"name: only status 100 can be confirmed
tags: [S2]
start: 2026-11-30T09:00:00+09:00
orders:
  - {orderNumber: "375055-20261130-00000003", orderProgress: 300, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: 660}
steps:
  - confirm: "375055-20261130-00000003"
    expect: {decision: allow}
"#,
    )
    .unwrap();
    let hostile = dir.join("c-hostile.yaml");
    std::fs::write(
        &hostile,
        r#"name: "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
tags: ["<b>S1</b>"]
start: 2026-11-30T09:00:00+09:00
orders:
  - {orderNumber: "<i>375055</i>", orderProgress: 100, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: 660}
steps:
  - confirm: "<i>375055</i>"
"#,
    )
    .unwrap();
    vec![pass, fail, hostile]
}

fn simulate(extra: &[&str], files: &[PathBuf]) -> std::process::Output {
    let mut args: Vec<String> = vec!["simulate".into()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs, None)
}

#[test]
fn the_html_report_holds_every_scenario_marks_failures_and_escapes_text() {
    let dir = Scratch::new("html");
    let files = small_set(dir.path());
    let page_path = dir.path().join("report.html");
    let out = simulate(
        &["--html", page_path.to_str().unwrap(), "--lang", "en"],
        &files,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 passed, 1 failed"),
        "{}",
        stdout(&out)
    );
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Self-contained: no address to fetch anything from.
    for needle in ["src=\"http", "href=\"http", "<link", "@import", "url(http"] {
        assert!(
            !page.contains(needle),
            "the page fetches something: {needle}"
        );
    }
    assert_eq!(page.matches("<section class=\"scenario ").count(), 3);
    assert_eq!(
        page.matches("<section class=\"scenario failed\"").count(),
        1
    );
    assert_eq!(page.matches("id=\"first-failure\"").count(), 1);
    // The failing expectation, expected vs got, and its context.
    assert!(page.contains("<td class=\"exp\">allow</td><td class=\"got\">deny</td>"));
    assert!(page.contains("confirm-status"));
    // The bulk call: a sequence diagram, the lost answer, the reconciliation read.
    assert!(page.contains("<svg class=\"seq\""));
    assert!(page.contains("answer lost (RMS acted)"));
    assert!(page.contains("reconciliation read"));
    assert!(page.contains("<td>lost_response</td>"));
    assert!(page.contains("data-via=\"screening\""));
    // Nothing from a scenario reaches the page as markup: exactly one script element.
    assert_eq!(
        page.matches("<script").count(),
        1,
        "one script: the page's own"
    );
    assert!(!page.contains("<img"));
    assert!(!page.contains("<i>375055"));
    assert!(page.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(page.contains("&lt;b&gt;S1&lt;/b&gt;"));
    // Japanese by default.
    let out = simulate(&["--html", page_path.to_str().unwrap()], &files[..1]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.contains("<html lang=\"ja\">") && page.contains("失敗のみ表示"));
}

#[test]
fn coverage_counts_what_a_small_set_exercised() {
    let dir = Scratch::new("coverage");
    let files = small_set(dir.path());
    let out = simulate(&["--coverage", "--format", "json"], &files[..2]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["summary"]["failed"], 1,
        "the report's own keys are kept"
    );
    let c = &doc["coverage"];
    assert_eq!(c["scenarios"], 2);
    let item = |kind: &str, id: &str| {
        c["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == kind && i["id"] == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
            .clone()
    };
    let fee = item("rule", "confirm-shipping-fee-unset");
    assert_eq!(fee["exercised"], true);
    assert_eq!(fee["by"][0]["step"], 2);
    assert!(fee["by"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("a-pass.yaml"));
    // Without the API option: S15's variant, not S14's.
    assert_eq!(
        item("remedy", "confirm-shipping-fee-unset#1")["exercised"],
        false
    );
    assert_eq!(
        item("remedy", "confirm-shipping-fee-unset#2")["exercised"],
        true
    );
    assert_eq!(item("rule", "confirm-status")["exercised"], true);
    assert_eq!(item("rule", "confirm-once")["exercised"], false);
    assert_eq!(
        item("transition", "100->200 via confirmOrder")["exercised"],
        true
    );
    assert_eq!(
        item("transition", "200->300 via screening")["exercised"],
        true
    );
    assert_eq!(item("error", "qps_limit")["exercised"], false);
    assert_eq!(item("tag", "S13")["exercised"], true);
    assert_eq!(item("tag", "S15")["exercised"], true);
    assert_eq!(item("tag", "S20")["exercised"], false);
    // The tallies agree with the items.
    let items = c["items"].as_array().unwrap();
    for kind in ["rule", "remedy", "error", "transition", "tag"] {
        let of: Vec<_> = items.iter().filter(|i| i["kind"] == kind).collect();
        let t = &c["summary"][kind];
        assert_eq!(t["total"], of.len(), "{kind}");
        assert_eq!(
            t["exercised"],
            of.iter().filter(|i| i["exercised"] == true).count(),
            "{kind}"
        );
    }
    assert_eq!(c["summary"]["tag"]["total"], 21);
    // The document fits its checked-in schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(super::root().join("rules/coverage-output.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(c).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The text form: a table, then what was not exercised.
    let out = simulate(&["--coverage"], &files[..1]);
    let text = stdout(&out);
    assert!(text.contains("coverage of 1 scenarios:"), "{text}");
    assert!(
        text.contains("  ✗ confirm-once [S1]: not exercised, no reason given"),
        "{text}"
    );
    assert!(
        text.contains("  ✓ confirm-shipping-fee-unset [S13]: a-pass.yaml#2"),
        "{text}"
    );
    assert!(text.contains("  ✓ S15: a-pass.yaml#2"), "{text}");
}

#[test]
fn min_coverage_sets_the_exit_code() {
    let dir = Scratch::new("min-coverage");
    let files = small_set(dir.path());
    let one = &files[..1];
    let out = simulate(&["--min-coverage", "2.5"], one);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = simulate(&["--min-coverage", "90"], one);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("below --min-coverage 90"),
        "{}",
        stderr(&out)
    );
    // A percentage that rounds to the threshold is shown with the decimals that put it
    // below: "2.08 … below 2.1", never "2.1 … below 2.1".
    let out = simulate(&["--coverage", "--format", "json"], one);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let percent = doc["coverage"]["required"]["percent"].as_f64().unwrap();
    let rounded = format!("{percent:.1}");
    if rounded.parse::<f64>().unwrap() > percent {
        let out = simulate(&["--min-coverage", &rounded], one);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            !stderr(&out).contains(&format!("exercised {rounded} %")),
            "{}",
            stderr(&out)
        );
    }
    let out = simulate(&["--min-coverage", "100%"], one);
    assert_eq!(out.status.code(), Some(1));
    for bad in ["101", "-1", "abc", "NaN", ""] {
        let out = simulate(&[&format!("--min-coverage={bad}")], one);
        assert_eq!(out.status.code(), Some(2), "--min-coverage {bad:?}");
        assert!(stderr(&out).contains("--min-coverage"), "{}", stderr(&out));
    }
}

#[test]
fn bad_report_arguments_exit_2() {
    let dir = Scratch::new("bad-args");
    let files = small_set(dir.path());
    let one = &files[..1];
    let out = simulate(&["--lang", "fr", "--html", "x.html"], one);
    assert_eq!(out.status.code(), Some(2));
    let out = simulate(&["--html", dir.path().to_str().unwrap()], one);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a folder"), "{}", stderr(&out));
    let out = simulate(&["--html", "/nonexistent-dir/x/report.html"], one);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot write the HTML report"));
    // The --format report still reaches standard output (a CI job reads it).
    assert!(
        stdout(&out).contains("bulk confirmation"),
        "{}",
        stdout(&out)
    );
    // The report never replaces an input of the run: a scenario (any spelling of its
    // path) or the gaps file; nor goes to a file named `-`.
    let before = std::fs::read(&files[0]).unwrap();
    let spelled = format!(
        "{}/./{}",
        dir.path().display(),
        files[0].file_name().unwrap().to_string_lossy()
    );
    for target in [files[0].to_str().unwrap(), spelled.as_str(), "-"] {
        let out = simulate(&["--html", target], one);
        assert_eq!(out.status.code(), Some(2), "--html {target}");
        assert!(stderr(&out).contains("--html"), "{}", stderr(&out));
    }
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        before,
        "the scenario is untouched"
    );
    let kept = dir.path().join("kept-gaps.yaml");
    std::fs::write(&kept, "gaps: []\n").unwrap();
    let out = simulate(
        &[
            "--coverage-gaps",
            kept.to_str().unwrap(),
            "--html",
            kept.to_str().unwrap(),
        ],
        one,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "gaps: []\n");
    // Nor the rules file; nor any input by another hard link.
    let rules = dir.path().join("rules.yaml");
    std::fs::copy(super::root().join("rules/rakuten_pay.yaml"), &rules).unwrap();
    let rules_before = std::fs::read(&rules).unwrap();
    let out = simulate(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--html",
            rules.to_str().unwrap(),
        ],
        one,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let linked = dir.path().join("linked.html");
    std::fs::hard_link(&files[0], &linked).unwrap();
    let out = simulate(&["--html", linked.to_str().unwrap()], one);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(&rules).unwrap(), rules_before);
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
    // A report over an existing file replaces that name only: a hard link elsewhere to
    // the old file keeps the old bytes. A device is written to, not replaced.
    let old = dir.path().join("old.html");
    std::fs::write(&old, "old").unwrap();
    let other = dir.path().join("other-name");
    std::fs::hard_link(&old, &other).unwrap();
    let out = simulate(&["--html", old.to_str().unwrap()], one);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&old)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "old");
    let out = simulate(&["--html", "/dev/null"], one);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = simulate(&["--coverage", "--format", "junit"], one);
    assert_eq!(out.status.code(), Some(2));
    let gaps = dir.path().join("gaps.yaml");
    std::fs::write(&gaps, "gaps:\n  - kind: rul\n    id: x\n    reason: y\n").unwrap();
    let out = simulate(
        &["--coverage", "--coverage-gaps", gaps.to_str().unwrap()],
        one,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("gaps.yaml"), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    let out = simulate(
        &["--coverage-gaps", "/nonexistent/gaps.yaml", "--coverage"],
        one,
    );
    assert_eq!(out.status.code(), Some(2));
    // A gap explains: an empty reason or a second entry for one item is refused.
    for (body, says) in [
        (
            "gaps:\n  - {kind: rule, id: x, reason: \"  \"}\n",
            "gaps[0].reason",
        ),
        (
            "gaps:\n  - {kind: rule, id: x, reason: \"\u{200B}\"}\n",
            "gaps[0].reason",
        ),
        ("gaps:\n  - {kind: rule, id: x, reason: ~}\n", "a text"),
        ("gaps:\n  - {kind: rule, id: x, reason: 5}\n", "a text"),
        (
            "gaps:\n  - {kind: rule, id: x, reason: a}\n  - {kind: rule, id: x, reason: b}\n",
            "already explained by `gaps[0]`",
        ),
    ] {
        std::fs::write(&gaps, body).unwrap();
        let out = simulate(
            &["--coverage", "--coverage-gaps", gaps.to_str().unwrap()],
            one,
        );
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
}

/// The shipped library exercises every rule, remedy variant and error entry, except the
/// gaps `fixtures/coverage-gaps.yaml` explains; and every gap listed there holds.
#[test]
fn the_shipped_library_covers_the_rules_or_explains_why_not() {
    let out = run(
        &[
            "simulate",
            "fixtures/scenarios",
            "--coverage",
            "--format",
            "json",
            "--coverage-gaps",
            "fixtures/coverage-gaps.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["coverage"];
    assert_eq!(c["stale_gaps"], serde_json::json!([]), "stale gaps");
    let unexplained: Vec<String> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["exercised"] == false && i["gap"].is_null())
        .map(|i| format!("{} {}", i["kind"], i["id"]))
        .collect();
    assert!(
        unexplained.is_empty(),
        "not exercised and no reason in fixtures/coverage-gaps.yaml: {unexplained:?}"
    );
}

/// The page in a real browser: Debian's chromium, headless. `RMS_PREFLIGHT_CHROMIUM`
/// names the binary (`.ci/run` sets it); without it `chromium` is looked up on `PATH`,
/// and the test reports itself skipped when there is none.
#[test]
fn the_report_in_a_headless_browser() {
    let Some(chromium) = find_chromium() else {
        println!(
            "SKIPPED the_report_in_a_headless_browser: no chromium (set RMS_PREFLIGHT_CHROMIUM \
             or install Debian's chromium)"
        );
        return;
    };
    let dir = Scratch::new("browser");
    let files = small_set(dir.path());
    let page_path = dir.path().join("report.html");
    let out = simulate(
        &["--html", page_path.to_str().unwrap(), "--lang", "en"],
        &files,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let url = format!("file://{}", page_path.display());
    let shot = dir.path().join("report.png");
    let browse = |profile: &str, mode: Vec<String>| {
        let chromium = chromium.clone();
        let url = url.clone();
        let profile = dir.path().join(profile);
        std::thread::spawn(move || {
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--enable-logging=stderr",
                    "--v=0",
                    "--window-size=1280,1400",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .args(mode)
                .arg(url)
                .output()
                .expect("chromium runs")
        })
    };
    let dom = browse(
        "profile-dom",
        vec!["--virtual-time-budget=2000".into(), "--dump-dom".into()],
    );
    let picture = browse(
        "profile-shot",
        vec![format!("--screenshot={}", shot.display())],
    );
    let dom = dom.join().unwrap();
    let picture = picture.join().unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&dom.stderr),
        String::from_utf8_lossy(&picture.stderr)
    );
    assert!(dom.status.success(), "chromium --dump-dom failed: {log}");
    // The console: the page's own script ran without an error, and nothing else ran.
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:#?}");
    for bad in ["Uncaught", "Refused to"] {
        assert!(!log.contains(bad), "{bad} in the browser's log:\n{log}");
    }
    // Every scenario is there, the failure is marked, the page scrolled to it.
    for f in &files {
        let shown = f.display().to_string();
        assert!(
            html.contains(&format!("data-file=\"{shown}\"")),
            "{shown} missing from the DOM"
        );
    }
    assert_eq!(html.matches("data-status=\"failed\"").count(), 1);
    assert_eq!(html.matches("data-status=\"passed\"").count(), 2);
    assert!(html.contains("class=\"step oms-action step-failed\""));
    assert!(
        html.contains("data-scrolled-to=\"first-failure\""),
        "the script ran"
    );
    // The hostile name stayed text: no injected element, the title untouched.
    assert!(!html.contains("pwned</title>"));
    assert!(html.contains("<title>rms-preflight scenario report</title>"));
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    // The screenshot.
    assert!(
        picture.status.success(),
        "chromium --screenshot failed: {log}"
    );
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "no screenshot"
    );
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RMS_PREFLIGHT_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// The page opens at the earliest failing step, not at the first failure in page order
/// (timelines are grouped by order number, so a later step of a lower-numbered order comes
/// first on the page); and the coverage table shows the row `--min-coverage` compares.
#[test]
fn the_page_opens_at_the_earliest_failure() {
    let dir = Scratch::new("earliest-failure");
    let file = dir.path().join("two-failures.yaml");
    std::fs::write(
        &file,
        r#"name: two failures, on two orders
start: 2026-11-30T09:00:00+09:00
orders:
  - {orderNumber: "375055-20261130-00000002", orderProgress: 100, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: -9999}
  - {orderNumber: "375055-20261130-00000001", orderProgress: 300, orderDatetime: "2026-11-30T08:00:00+0900", postagePrice: 660}
steps:
  - confirm: "375055-20261130-00000002"
    expect: {decision: allow}
  - confirm: "375055-20261130-00000001"
    expect: {decision: allow}
"#,
    )
    .unwrap();
    let html = dir.path().join("r.html");
    let out = simulate(&["--html", html.to_str().unwrap()], &[file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("id=\"first-failure\" data-step-id=\"sc0-st1\""),
        "the first failure is step 1"
    );
    assert!(page.contains("data-kind=\"required\""));
}
