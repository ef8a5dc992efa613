//! Does the simulator answer like the real RMS? Does RMS still answer like its recordings?
//!
//! - [`conform`] (`rms-preflight conformance`): for each recorded interaction of a
//!   cassette, a fresh [`SimRms`] is seeded with what the cassette shows (`seed.rs`: the
//!   facts of the orders its `getOrder` answers show — only what the simulator's typed
//!   model reads, never a recorded answer to echo —, the state RMS's own answer proves,
//!   the conditions a status shows — an expired licence, a QPS limit, maintenance), the
//!   recorded request is sent to it, and its answer (rendered by the simulator from its
//!   own template of RMS's shapes) is compared with the recorded one by shape
//!   (`shape.rs`).
//! - [`drift`] (`rms-preflight drift`): the cassette's read-only requests are sent again to
//!   a live upstream through any [`RmsApi`] (the CLI uses [`HttpRms`](crate::rms::HttpRms):
//!   only `rms` touches the network) and RMS's answer now is compared with the recording
//!   the same way. A cassette holding a state-changing function is refused whole, before
//!   anything is sent.
//!
//! What is compared, what is ignored and why, and what the simulator is told, is data:
//! `rules/conformance.yaml` (`ignore.rs`).

mod ignore;
mod seed;
mod shape;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use ignore::{Condition, ConformanceRules, Ignore, Mode, Seed, Simulate, EMBEDDED};
pub use shape::{diff, key_step, type_name, Body, Difference, Kind, ValueKeys};

use crate::engine::Engine;
use crate::fixture::{Cassette, Interaction, Redactor};
use crate::model::{FileError, Timestamp};
use crate::rms::{function, RmsApi, RmsCall};
use crate::sim::{FaultKind, FaultRule, SimClock, SimConfig, SimRms};

/// Why a cassette could not be checked (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The cassette (or the rules file) cannot be read: the file, the message, the line
    /// and column.
    #[error(transparent)]
    File(#[from] FileError),
    /// One interaction cannot be used: the file, the JSON path of the offending value in
    /// the cassette, and why.
    #[error("cassette `{file}`: at `{path}`: {message}")]
    Interaction {
        file: String,
        /// `interactions[3].response.json.OrderModelList[0]`.
        path: String,
        message: String,
    },
    /// `drift` sends only reads: the cassette holds a function that changes orders.
    #[error("cassette `{file}`: at `interactions[{index}]`: `{function}` changes orders; drift sends only read-only requests ({}), so nothing was sent", function::READ_ONLY.join(", "))]
    NotReadOnly {
        file: String,
        index: usize,
        function: String,
    },
    /// `drift`: the upstream did not answer.
    #[error("cassette `{file}`: at `interactions[{index}]` ({function}): {message}")]
    NoAnswer {
        file: String,
        index: usize,
        function: String,
        message: String,
    },
}

/// The whole report: `conformance --format json` and `drift --format json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// `conformance` (recording vs the simulator) or `drift` (recording vs RMS now).
    pub mode: ReportMode,
    pub cassettes: Vec<CassetteReport>,
    pub summary: Summary,
}

/// Which comparison a report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    Conformance,
    Drift,
}

/// One cassette.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CassetteReport {
    pub file: String,
    /// Every interaction conforms (no difference left after the ignore rules).
    pub conforms: bool,
    pub interactions: Vec<InteractionReport>,
}

/// One recorded interaction.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InteractionReport {
    /// Position in the cassette's `interactions`, from 0.
    pub index: usize,
    pub function: String,
    pub conforms: bool,
    /// What the simulator was told that the cassette shows (`conformance` only): the
    /// condition the recorded status shows (`licence_expired`, `qps`, `maintenance`,
    /// `api_error`, `no_api_option`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The orders the simulator held (`conformance` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeded: Option<Vec<String>>,
    pub differences: Vec<Difference>,
    /// Differences an ignore rule of the rules file covers, with its reason.
    pub ignored: Vec<Ignored>,
}

impl InteractionReport {
    fn redact(&mut self, redactor: &Redactor) {
        for d in &mut self.differences {
            d.path = redactor.redact_text(&d.path);
            redactor.redact_json(&mut d.expected);
            redactor.redact_json(&mut d.got);
        }
        for i in &mut self.ignored {
            i.path = redactor.redact_text(&i.path);
        }
        if let Some(seeded) = &mut self.seeded {
            for n in seeded {
                *n = redactor.redact_text(n);
            }
        }
    }
}

/// A difference an ignore rule covers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Ignored {
    pub path: String,
    pub kind: Kind,
    /// The rule's `reason`.
    pub reason: String,
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub cassettes: usize,
    pub interactions: usize,
    pub conforming: usize,
    pub differing: usize,
    /// Differences in all (not counting the ignored ones).
    pub differences: usize,
    pub ignored: usize,
}

impl Report {
    /// A report of `cassettes`, with its totals. Every value it shows (paths, expected
    /// and got, in text and JSON) has been through `redactor`: the project's detector
    /// (credentials of any known shape — `ESA …`, `SP…_`/`SL…_`, `licenseKey=…`, base64
    /// of them —, e-mail addresses, phone numbers) and the credentials it was taught
    /// ([`Redactor::learn_authorization`]: the ones `drift` sends). An upstream that
    /// echoes the request's `Authorization` into its answer shows `[redacted]`.
    pub fn new(
        mode: ReportMode,
        mut cassettes: Vec<CassetteReport>,
        redactor: &Redactor,
    ) -> Report {
        for it in cassettes.iter_mut().flat_map(|c| c.interactions.iter_mut()) {
            it.redact(redactor);
        }
        let mut s = Summary {
            cassettes: cassettes.len(),
            ..Summary::default()
        };
        for it in cassettes.iter().flat_map(|c| &c.interactions) {
            s.interactions += 1;
            if it.conforms {
                s.conforming += 1;
            } else {
                s.differing += 1;
            }
            s.differences += it.differences.len();
            s.ignored += it.ignored.len();
        }
        Report {
            mode,
            cassettes,
            summary: s,
        }
    }

    /// Every interaction of every cassette conforms.
    pub fn conforms(&self) -> bool {
        self.cassettes.iter().all(|c| c.conforms)
    }
}

/// The JSON Schema of the report (`conformance-output`).
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or_default()
}

/// Splits differences into those that stand and those a rule ignores.
fn judge(
    rules: &ConformanceRules,
    function: &str,
    mode: Mode,
    all: Vec<Difference>,
) -> (Vec<Difference>, Vec<Ignored>) {
    let mut kept = Vec::new();
    let mut ignored = Vec::new();
    for d in all {
        match rules.ignoring(&d, function, mode) {
            Some(r) => ignored.push(Ignored {
                path: d.path,
                kind: d.kind,
                reason: r.reason.trim().to_owned(),
            }),
            None => kept.push(d),
        }
    }
    (kept, ignored)
}

fn recorded(it: &Interaction) -> (u16, Body) {
    (
        it.response.status,
        Body::from_bytes(&it.response.body().to_bytes()),
    )
}

/// The request body as JSON (`null` when it is not JSON: RMS reads it as naming nothing).
fn request_json(it: &Interaction) -> Value {
    it.request.body().as_json().unwrap_or(Value::Null)
}

/// Loads a cassette for these commands (the file, and the line and column of a problem).
/// A cassette without interactions is refused: there is nothing to compare, and "alike"
/// would be a claim about nothing.
pub fn load(path: &Path) -> Result<Cassette, ConformanceError> {
    let cassette = Cassette::load(path)?;
    if cassette.interactions.is_empty() {
        return Err(ConformanceError::Interaction {
            file: path.display().to_string(),
            path: "interactions".to_owned(),
            message: "the cassette holds no interaction: nothing to compare".to_owned(),
        });
    }
    Ok(cassette)
}

/// `conformance`: the simulator's answer to each recorded request, against the recording.
///
/// Runs on the caller's tokio runtime (the simulator's clock is tokio's; a paused
/// runtime is fine, nothing waits).
pub async fn conform(
    engine: &Arc<Engine>,
    rules: &ConformanceRules,
    file: &str,
    cassette: &Cassette,
) -> Result<CassetteReport, ConformanceError> {
    let initial = engine
        .rules()
        .file()
        .statuses
        .iter()
        .find(|s| s.initial)
        .map_or(100, |s| s.code);
    let views =
        seed::Views::of(cassette).map_err(|(i, k, message)| ConformanceError::Interaction {
            file: file.to_owned(),
            path: format!("{}.OrderModelList[{k}]", body_path(cassette, i)),
            message: format!("cannot seed the simulator: {message}"),
        })?;
    let start = seed::start_time(cassette).unwrap_or_else(Timestamp::now_jst);
    let mut interactions = Vec::new();
    for (i, it) in cassette.interactions.iter().enumerate() {
        let function = seed::function_name(it);
        let plan = seed::plan(rules, &views, i, it, start, initial);
        let simulate = plan.condition.map(|c| c.simulate);
        let config = SimConfig {
            api_option: simulate != Some(Simulate::NoApiOption),
            ..SimConfig::default()
        };
        let clock = SimClock::new(start);
        let sim = SimRms::new(engine.clone(), clock, config);
        let seeded: Vec<String> = plan.orders.keys().cloned().collect();
        for (n, order) in plan.orders {
            let refused = |message: String| ConformanceError::Interaction {
                file: file.to_owned(),
                path: view_path(cassette, i, &n),
                message: format!("cannot seed the simulator with order `{n}`: {message}"),
            };
            // Only the facts: the simulator renders its answer itself (`seed::facts`).
            let facts = seed::facts(&order).map_err(refused)?;
            sim.add_order(facts).map_err(refused)?;
        }
        let fault = |kind| FaultRule {
            kind,
            functions: Vec::new(),
            remaining: Some(1),
            until: None,
        };
        match simulate {
            Some(Simulate::LicenceExpired) => sim.set_license_expiry(Some(Timestamp::from_unix(
                start.unix_seconds().saturating_sub(86_400),
                start.offset_seconds(),
            ))),
            Some(Simulate::Qps) => sim.inject(fault(FaultKind::Qps)),
            Some(Simulate::Maintenance) => sim.inject(fault(FaultKind::Maintenance)),
            Some(Simulate::ApiError) => sim.inject(fault(FaultKind::ApiError)),
            Some(Simulate::NoApiOption) | None => {}
        }
        let call = RmsCall {
            function: function.clone(),
            body: request_json(it),
        };
        let (got_status, got) = match sim.send(call).await {
            Ok(r) => (r.status, Body::from_bytes(&r.body)),
            Err(e) => (0, Body::Text(e.to_string())),
        };
        let (status, body) = recorded(it);
        let all = diff(&rules.values, status, &body, got_status, &got);
        let (differences, ignored) = judge(rules, &function, Mode::Conformance, all);
        interactions.push(InteractionReport {
            index: i,
            function,
            conforms: differences.is_empty(),
            condition: plan.condition.map(|c| simulate_name(c.simulate).to_owned()),
            seeded: Some(seeded),
            differences,
            ignored,
        });
    }
    Ok(CassetteReport {
        file: file.to_owned(),
        conforms: interactions.iter().all(|i| i.conforms),
        interactions,
    })
}

/// Where an order the simulator could not take was recorded.
fn view_path(cassette: &Cassette, i: usize, number: &str) -> String {
    for (j, it) in cassette.interactions.iter().enumerate() {
        if let Some(list) = it
            .response
            .body()
            .as_json()
            .and_then(|b| b.get("OrderModelList").cloned())
            .and_then(|l| l.as_array().cloned())
        {
            if let Some(k) = list
                .iter()
                .position(|o| o.get("orderNumber").and_then(Value::as_str) == Some(number))
            {
                return format!("{}.OrderModelList[{k}]", body_path(cassette, j));
            }
        }
    }
    format!("interactions[{i}]")
}

/// Where interaction `j`'s answer body is, as the file holds it: `response.json` in this
/// project's format, `response.body.string` (JSON inside a string) in a VCR cassette.
fn body_path(cassette: &Cassette, j: usize) -> String {
    match cassette.meta.note.as_deref() {
        Some(n) if n.contains("Ruby VCR") => {
            format!("http_interactions[{j}].response.body.string, its JSON at $")
        }
        Some(n) if n.contains("VCR.py") => {
            format!("interactions[{j}].response.body.string, its JSON at $")
        }
        _ => format!("interactions[{j}].response.json"),
    }
}

fn simulate_name(s: Simulate) -> &'static str {
    match s {
        Simulate::LicenceExpired => "licence_expired",
        Simulate::Qps => "qps",
        Simulate::Maintenance => "maintenance",
        Simulate::ApiError => "api_error",
        Simulate::NoApiOption => "no_api_option",
    }
}

/// `drift` refuses a cassette holding a function that changes orders: the first one, if
/// any. Checked before anything is sent.
pub fn refuse_state_changing(file: &str, cassette: &Cassette) -> Result<(), ConformanceError> {
    for (index, it) in cassette.interactions.iter().enumerate() {
        let function = seed::function_name(it);
        if !function::READ_ONLY.contains(&function.as_str()) {
            return Err(ConformanceError::NotReadOnly {
                file: file.to_owned(),
                index,
                function,
            });
        }
    }
    Ok(())
}

/// The path before `/order/` of the cassette's first request (`/es/2.0`): where the
/// upstream's API lives.
pub fn api_prefix(cassette: &Cassette) -> String {
    cassette
        .interactions
        .first()
        .and_then(|it| {
            let path = it.request.path.split('?').next().unwrap_or_default();
            path.find("/order/").map(|i| path[..i].to_owned())
        })
        .unwrap_or_else(|| "/es/2.0".to_owned())
}

/// `drift`: each recorded (read-only) request sent again through `api`, RMS's answer now
/// against the recording. Refuses a cassette holding a state-changing function before
/// sending anything.
pub async fn drift<C: RmsApi>(
    api: &C,
    rules: &ConformanceRules,
    file: &str,
    cassette: &Cassette,
) -> Result<CassetteReport, ConformanceError> {
    refuse_state_changing(file, cassette)?;
    let mut interactions = Vec::new();
    for (i, it) in cassette.interactions.iter().enumerate() {
        let function = seed::function_name(it);
        let call = RmsCall {
            function: function.clone(),
            body: request_json(it),
        };
        let reply = api
            .send(call)
            .await
            .map_err(|e| ConformanceError::NoAnswer {
                file: file.to_owned(),
                index: i,
                function: function.clone(),
                message: e.to_string(),
            })?;
        let (status, body) = recorded(it);
        let all = diff(
            &rules.values,
            status,
            &body,
            reply.status,
            &Body::from_bytes(&reply.body),
        );
        let (differences, ignored) = judge(rules, &function, Mode::Drift, all);
        interactions.push(InteractionReport {
            index: i,
            function,
            conforms: differences.is_empty(),
            condition: None,
            seeded: None,
            differences,
            ignored,
        });
    }
    Ok(CassetteReport {
        file: file.to_owned(),
        conforms: interactions.iter().all(|i| i.conforms),
        interactions,
    })
}

/// The text report.
pub fn render_text(report: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let against = match report.mode {
        ReportMode::Conformance => "the simulator",
        ReportMode::Drift => "the upstream",
    };
    for c in &report.cassettes {
        let n = c.interactions.len();
        let ignored: usize = c.interactions.iter().map(|i| i.ignored.len()).sum();
        let ignored = match ignored {
            0 => String::new(),
            1 => " (1 difference ignored by rule)".to_owned(),
            k => format!(" ({k} differences ignored by rule)"),
        };
        if c.conforms {
            let _ = writeln!(
                s,
                "✓ {} — {n} interaction{} answered alike by {against}{ignored}",
                c.file,
                plural(n)
            );
            continue;
        }
        let bad = c.interactions.iter().filter(|i| !i.conforms).count();
        let _ = writeln!(
            s,
            "✗ {} — {bad} of {n} interaction{} answered differently by {against}{ignored}",
            c.file,
            plural(n)
        );
        for it in c.interactions.iter().filter(|i| !i.conforms) {
            let _ = writeln!(s, "    interaction {} ({}):", it.index, it.function);
            for d in &it.differences {
                let _ = writeln!(
                    s,
                    "      {}: {}: expected {}, got {}",
                    d.path,
                    d.kind.words(),
                    d.expected,
                    d.got
                );
            }
        }
    }
    let m = &report.summary;
    let _ = writeln!(
        s,
        "{} cassette{}, {} interaction{}: {} alike, {} different ({} difference{}, {} ignored)",
        m.cassettes,
        plural(m.cassettes),
        m.interactions,
        plural(m.interactions),
        m.conforming,
        m.differing,
        m.differences,
        plural(m.differences),
        m.ignored
    );
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
