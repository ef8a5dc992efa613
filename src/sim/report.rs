//! Scenario reports: a readable text report, JSON, and JUnit XML for CI.

use std::fmt::Write;

use super::runner::ScenarioReport;

/// The text report: one line per scenario; for a failed one, which step failed,
/// expected vs got, and the rules' explanation. Ends with `N passed, N failed`.
pub fn text(reports: &[ScenarioReport]) -> String {
    text_with(reports, true)
}

/// The text report; `timing: false` leaves out wall-clock times (for snapshots).
pub fn text_with(reports: &[ScenarioReport], timing: bool) -> String {
    let mut out = String::new();
    for r in reports {
        let mark = if r.passed() { "✓" } else { "✗" };
        let tags = if r.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", r.tags.join(" "))
        };
        let wall = if timing {
            format!(", {:.1} ms", r.wall_ms)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{mark} {} — {}{tags} ({} steps, {} virtual, {} RMS calls{wall})",
            r.file,
            r.name,
            r.steps.len(),
            human(r.virtual_seconds),
            r.calls,
        );
        for s in r.steps.iter().filter(|s| !s.passed()) {
            let _ = writeln!(out, "    step {} ({}) at {}:", s.index + 1, s.what, s.at);
            if let Some(e) = &s.error {
                let _ = writeln!(out, "      error: {e}");
            }
            for m in &s.mismatches {
                let _ = writeln!(
                    out,
                    "      {}: expected {}, got {}",
                    m.what, m.expected, m.got
                );
            }
            for line in &s.explanation {
                let _ = writeln!(out, "      why: {line}");
            }
        }
    }
    let passed = reports.iter().filter(|r| r.passed()).count();
    let _ = writeln!(out, "{} passed, {} failed", passed, reports.len() - passed);
    out
}

/// `3h05m`, `12d04h`, `45s`.
pub fn human(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The JSON report.
pub fn json(reports: &[ScenarioReport]) -> String {
    let passed = reports.iter().filter(|r| r.passed()).count();
    let scenarios: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["passed"] = serde_json::Value::Bool(r.passed());
            v
        })
        .collect();
    let doc = serde_json::json!({
        "scenarios": scenarios,
        "summary": {"passed": passed, "failed": reports.len() - passed},
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The JSON report with the coverage under `coverage` (`--coverage --format json`); the
/// other keys are those of [`json`].
pub fn json_with_coverage(
    reports: &[ScenarioReport],
    coverage: &super::coverage::Coverage,
) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&json(reports)).unwrap_or_default();
    doc["coverage"] = serde_json::to_value(coverage).unwrap_or_default();
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per scenario.
pub fn junit(reports: &[ScenarioReport]) -> String {
    let failures = reports.iter().filter(|r| !r.passed()).count();
    let total_ms: f64 = reports.iter().map(|r| r.wall_ms).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"rms-preflight simulate\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        reports.len(),
        total_ms / 1000.0
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        reports.len(),
        total_ms / 1000.0
    );
    for r in reports {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&r.file),
            xml(&r.name),
            r.wall_ms / 1000.0
        );
        if r.passed() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        let first = r.steps.iter().find(|s| !s.passed());
        let message = first.map_or_else(String::new, |s| match (&s.error, s.mismatches.first()) {
            (Some(e), _) => format!("step {} ({}): {e}", s.index + 1, s.what),
            (None, Some(m)) => format!(
                "step {} ({}): {}: expected {}, got {}",
                s.index + 1,
                s.what,
                m.what,
                m.expected,
                m.got
            ),
            _ => String::new(),
        });
        let details = text_with(std::slice::from_ref(r), false);
        let _ = writeln!(
            out,
            "      <failure message=\"{}\">{}</failure>",
            xml(&message),
            xml(&details)
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
