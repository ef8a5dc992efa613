//! `simulate`, `sim-server` and `explore`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{ExploreArgs, ReportFormat, SimServerArgs, SimulateArgs};
use super::{load_rules, EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::engine::Engine;
use rms_preflight::sim::coverage::{self, Gaps};
use rms_preflight::sim::scenario::Scenario;
use rms_preflight::sim::{html, report};
use rms_preflight::sim::{run_scenario, RunOptions};

/// Scenario files under `paths` (folders searched recursively for `*.yaml`/`*.yml`), sorted.
fn collect(paths: &[PathBuf], err: &mut dyn Write) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut ok = true;
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files);
        } else if p.is_file() {
            files.push(p.clone());
        } else if p.exists() {
            let _ = writeln!(
                err,
                "error: `{}`: not a scenario file or a folder of them (a device or a pipe?)",
                p.display()
            );
            ok = false;
        } else {
            let _ = writeln!(err, "error: `{}`: no such file or folder", p.display());
            ok = false;
        }
    }
    files.sort();
    files.dedup();
    ok.then_some(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            files.push(p);
        }
    }
}

pub fn simulate(args: &SimulateArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Arc::new(Engine::new(rules));
    let Some(files) = collect(&args.paths, err) else {
        return EXIT_BAD_INPUT;
    };
    // Every file is checked before anything runs: a malformed one stops the run.
    let mut scenarios = Vec::new();
    let mut malformed = false;
    for f in &files {
        match Scenario::load(f) {
            Ok(s) => scenarios.push((f.display().to_string(), s)),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                malformed = true;
            }
        }
    }
    if malformed {
        return EXIT_BAD_INPUT;
    }
    if scenarios.is_empty() {
        let _ = writeln!(err, "error: no scenario files found");
        return EXIT_BAD_INPUT;
    }
    if args.coverage && args.format == ReportFormat::Junit {
        let _ = writeln!(
            err,
            "error: --coverage prints with --format text or json (JUnit has no place for it); use --html for both"
        );
        return EXIT_BAD_INPUT;
    }
    let gaps = match &args.coverage_gaps {
        None => Gaps::default(),
        Some(p) => match Gaps::load(p) {
            Ok(g) => g,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        },
    };
    if let Some(p) = &args.html {
        // The report must not replace what it reports on: a scenario, the gaps file or the
        // rules — by any name, hard links included (one file is one device and inode).
        let inputs = files
            .iter()
            .map(|f| f.as_path())
            .chain(args.coverage_gaps.as_deref())
            .chain(args.rules.rules.as_deref());
        if let Some(input) = inputs.into_iter().find(|f| same_file(f, p)) {
            let _ = writeln!(
                err,
                "error: --html `{}` is an input of this run (`{}`); give another file name",
                p.display(),
                input.display()
            );
            return EXIT_BAD_INPUT;
        }
        if p.as_os_str() == "-" {
            let _ = writeln!(
                err,
                "error: --html `-`: the HTML report goes to a file (standard output carries the --format report)"
            );
            return EXIT_BAD_INPUT;
        }
        if p.is_dir() {
            let _ = writeln!(
                err,
                "error: --html `{}` is a folder; give a file name",
                p.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    let options = RunOptions { seed: args.seed };
    let progress = std::io::stderr().is_terminal() && scenarios.len() > 1;
    let mut reports = Vec::with_capacity(scenarios.len());
    for (i, (file, scenario)) in scenarios.iter().enumerate() {
        if progress {
            let _ = write!(
                err,
                "\r\x1b[2K[{}/{}] {}",
                i + 1,
                scenarios.len(),
                scenario.name
            );
            let _ = err.flush();
        }
        reports.push(run_scenario(engine.clone(), scenario, file, &options));
    }
    if progress {
        let _ = write!(err, "\r\x1b[2K");
    }
    let wants_coverage = args.coverage || args.min_coverage.is_some() || args.html.is_some();
    let coverage =
        wants_coverage.then(|| coverage::coverage(engine.rules().file(), &reports, &gaps));
    let mut text = match args.format {
        ReportFormat::Text => report::text(&reports),
        ReportFormat::Json => report::json(&reports),
        ReportFormat::Junit => report::junit(&reports),
    };
    if let (true, Some(c)) = (args.coverage, &coverage) {
        match args.format {
            ReportFormat::Text => text.push_str(&c.text()),
            ReportFormat::Json => text = report::json_with_coverage(&reports, c),
            ReportFormat::Junit => {}
        }
    }
    if args.format == ReportFormat::Text {
        // Scenario names and notes are outside text: a terminal must not run their
        // escape sequences (a title change, a cleared screen).
        text = without_controls(&text);
    }
    // The --format report first: a CI job gets it even when the HTML cannot be written.
    if let Err(e) = out.write_all(text.as_bytes()) {
        let _ = writeln!(err, "error: cannot write the report: {e}");
        return EXIT_BAD_INPUT;
    }
    if let (Some(path), Some(c)) = (&args.html, &coverage) {
        let page = html::html(&reports, engine.rules().file(), c, args.lang.into());
        if let Err(e) = write_replacing(path, page.as_bytes()) {
            let _ = writeln!(
                err,
                "error: cannot write the HTML report `{}`: {e}",
                path.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    let mut code = if reports.iter().all(|r| r.passed()) {
        EXIT_OK
    } else {
        EXIT_DENIED
    };
    if let (Some(min), Some(c)) = (args.min_coverage, &coverage) {
        if c.required.percent < min {
            let _ = writeln!(
                err,
                "coverage: rules, remedy variants and error entries exercised {} % ({} of {}), below --min-coverage {min}",
                shown_below(c.required.percent, min), c.required.exercised, c.required.total
            );
            code = EXIT_DENIED;
        }
    }
    code
}

/// Whether two paths name one file (same device and inode), however they are spelled.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`: a file `path`
/// named before (another hard link to it) keeps its content, and a reader never sees
/// half a report.
fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    // A device or a pipe (`/dev/null`, a FIFO) is written to, never replaced.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::write(path, bytes);
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// `text` with every control character but newline and tab shown as an escape (`\u{1b}`).
fn without_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `percent` with as many decimals as it takes to show it below `min` (95.37, not 95.4
/// beside a threshold of 95.4).
fn shown_below(percent: f64, min: f64) -> String {
    for decimals in 1..=6 {
        let shown = format!("{percent:.decimals$}");
        if shown.parse::<f64>().is_ok_and(|v| v < min) {
            return shown;
        }
    }
    format!("{percent}")
}

pub fn sim_server(args: &SimServerArgs, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Arc::new(Engine::new(rules));
    let scenario = match &args.state {
        Some(p) => match Scenario::load(p) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => Scenario {
            name: "empty".into(),
            description: None,
            tags: vec![],
            start: rms_preflight::model::Timestamp::now_jst(),
            shop: None,
            sim: None,
            ledger: None,
            orders: vec![],
            oms: Default::default(),
            steps: vec![],
        },
    };
    let Some(rt) = super::fixtures::runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    rt.block_on(async {
        let oms = match rms_preflight::sim::build_oms(engine, &scenario, None) {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let sim = oms.sim().clone();
        let handler = Arc::new(rms_preflight::sim::SimHandler::new(sim.clone()));
        let orders = scenario.orders.len();
        let banner = |url: &str| {
            format!(
                "simulated RMS with {orders} orders on {url} (base {url}/es/2.0; Ctrl-C to stop)"
            )
        };
        if super::fixtures::serve_until_stopped(
            args.listen,
            handler,
            args.server.limits(),
            banner,
            err,
        )
        .await
        .is_none()
        {
            return EXIT_BAD_INPUT;
        }
        let _ = writeln!(err, "sim-server: {} calls", sim.call_count());
        EXIT_OK
    })
}

pub fn explore(args: &ExploreArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Arc::new(Engine::new(rules));
    let config = rms_preflight::sim::ExploreConfig {
        orders: usize::try_from(args.orders).unwrap_or(usize::MAX),
        steps: usize::try_from(args.steps).unwrap_or(usize::MAX),
        seed: args.seed,
    };
    let result = rms_preflight::sim::explore(engine.clone(), &config);
    match result.violation {
        None => {
            let _ = writeln!(
                out,
                "explore: {} steps on {} orders (seed {}), {} RMS calls, {} virtual: no invariant violated",
                result.steps, config.orders, config.seed, result.calls, result.virtual_time
            );
            EXIT_OK
        }
        Some(v) => {
            let shrunk = rms_preflight::sim::shrink(engine, &v);
            let _ = std::fs::write(&args.out, shrunk.scenario.to_yaml());
            let _ = writeln!(
                out,
                "explore: invariant violated after {} steps: {}\n  shrunk to {} steps: {}",
                v.scenario.steps.len(),
                v.message,
                shrunk.scenario.steps.len(),
                args.out.display()
            );
            EXIT_DENIED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shown_below;

    #[test]
    fn a_percentage_below_the_threshold_never_reads_as_equal() {
        assert_eq!(shown_below(95.370_37, 95.4), "95.37");
        assert_eq!(shown_below(95.0, 96.0), "95.0");
        assert_eq!(shown_below(99.999_9, 100.0), "99.9999");
    }

    #[test]
    fn control_characters_in_a_text_report_are_shown_not_run() {
        assert_eq!(
            super::without_controls("a\u{1b}]0;title\u{7}\nb\tc\r"),
            "a\\u{1b}]0;title\\u{7}\nb\tc\\u{d}"
        );
    }
}
