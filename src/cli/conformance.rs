//! `conformance` and `drift`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{ConformanceArgs, DriftArgs, Format};
use super::{load_rules, EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::conformance::{self, ConformanceRules, Report, ReportMode};
use rms_preflight::fixture::Redactor;
use rms_preflight::rms::{Credentials, HttpRms, HttpRmsConfig};
use rms_preflight::Engine;

fn conformance_rules(path: Option<&PathBuf>, err: &mut dyn Write) -> Option<ConformanceRules> {
    let loaded = match path {
        Some(p) => ConformanceRules::from_path(p),
        None => ConformanceRules::embedded(),
    };
    match loaded {
        Ok(r) => Some(r),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            None
        }
    }
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Prints the report; 0 when everything conforms, 1 otherwise.
fn finish(report: &Report, format: Format, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let text = match format {
        Format::Text => conformance::render_text(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
    };
    if let Err(e) = out.write_all(text.as_bytes()) {
        let _ = writeln!(err, "error: cannot write output: {e}");
        return EXIT_BAD_INPUT;
    }
    if report.conforms() {
        EXIT_OK
    } else {
        EXIT_DENIED
    }
}

pub fn conformance(args: &ConformanceArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let Some(compare) = conformance_rules(args.conformance_rules.as_ref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Arc::new(Engine::new(rules));
    // Every cassette is read before any is run: a bad one is named at once (exit 2).
    let mut cassettes = Vec::new();
    for path in &args.cassettes {
        match conformance::load(path) {
            Ok(c) => cassettes.push((name(path), c)),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let runtime = match rms_preflight::sim::paused_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut reports = Vec::new();
    for (file, cassette) in &cassettes {
        match runtime.block_on(conformance::conform(&engine, &compare, file, cassette)) {
            Ok(r) => reports.push(r),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    finish(
        &Report::new(ReportMode::Conformance, reports, &Redactor::from_env()),
        args.format,
        out,
        err,
    )
}

pub fn drift(args: &DriftArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let Some(compare) = conformance_rules(args.conformance_rules.as_ref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let file = name(&args.cassette);
    let cassette = match conformance::load(&args.cassette) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // Refused before anything else: no credential is read, nothing is sent.
    if let Err(e) = conformance::refuse_state_changing(&file, &cassette) {
        let _ = writeln!(err, "error: {e}");
        return EXIT_BAD_INPUT;
    }
    // The origin is read as the recorder reads it; credentials come from the environment
    // or a file, never from the URL (it would be printed in messages).
    let origin = match rms_preflight::fixture::Upstream::parse(&args.upstream) {
        Ok(u) if u.has_credentials() => {
            let _ = writeln!(
                err,
                "error: `--upstream` must not carry user-info: give RMS's credentials in RMS_SERVICE_SECRET and RMS_LICENSE_KEY or with --credentials"
            );
            return EXIT_BAD_INPUT;
        }
        Ok(u) => u.origin().to_owned(),
        Err(e) => {
            let _ = writeln!(err, "error: `--upstream`: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let credentials = match &args.credentials {
        Some(path) => Credentials::from_file(path),
        None => Credentials::from_env(),
    };
    let credentials = match credentials {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: RMS credentials: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // What the upstream answers is shown through the detector, and the credentials in
    // use are scrubbed wherever they appear (an upstream may echo them).
    let mut redactor = Redactor::from_env();
    redactor.learn_authorization(&credentials.authorization());
    let engine = Arc::new(Engine::new(rules));
    let mut config = HttpRmsConfig::for_rules(&engine);
    config.base = format!(
        "{}{}",
        origin.trim_end_matches('/'),
        conformance::api_prefix(&cassette)
    );
    config.timeout = args.timeout;
    // One attempt per request: drift reports what RMS answers now, a passing failure
    // included, rather than waiting out the error table's back-off (minutes for
    // maintenance) to retry it.
    config.read_attempts = 1;
    let client = match HttpRms::new(config, &credentials, engine) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(runtime) = super::fixtures::runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    let report = match runtime.block_on(conformance::drift(&client, &compare, &file, &cassette)) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    finish(
        &Report::new(ReportMode::Drift, vec![report], &redactor),
        args.format,
        out,
        err,
    )
}
