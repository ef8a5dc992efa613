//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Pre-flight checks for Rakuten Pay order actions against RMS's rules.
#[derive(Debug, Parser)]
#[command(name = "rms-preflight", version, about, long_about = None)]
pub struct Cli {
    /// Largest input document (a file, stdin, a body; each entry of a JSON batch), e.g.
    /// `16MiB`, `512KiB`, `1GiB`
    #[arg(long, global = true, value_name = "SIZE", default_value = "16MiB", value_parser = rms_preflight::model::limits::parse_bytes)]
    pub max_input_size: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check order actions: may the OMS do this now? (exit 1 when anything is denied)
    Check(CheckArgs),
    /// Classify an RMS error response or message and show its remedy
    ExplainError(ExplainErrorArgs),
    /// Validate a rules file (exit 2 on errors)
    Lint(LintArgs),
    /// Inspect the rule set
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Record RMS traffic through a local proxy into a (redacted) cassette
    Record(RecordArgs),
    /// Serve cassettes as a fake RMS on a local port
    Replay(ReplayArgs),
    /// Work with cassettes
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Run scenario files against the simulated RMS (exit 1 when a scenario fails)
    Simulate(SimulateArgs),
    /// Serve the simulated RMS over HTTP, for an OMS in any language
    SimServer(SimServerArgs),
    /// Drive random actions, events and faults and check the invariants
    Explore(ExploreArgs),
    /// Guarding RMS proxy: checks every state-changing call, claims confirmations in a
    /// ledger, relays the rest (the OMS changes only its RMS base URL)
    Proxy(ProxyArgs),
    /// See what the once-only ledger holds
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Serve the checks over HTTP ("may I?" for any tool); SIGHUP reloads the rules
    Serve(ServeArgs),
    /// Send each recorded request to the simulated RMS and compare its answer with the
    /// recording by shape (exit 1 on a difference, 2 on a bad cassette)
    Conformance(ConformanceArgs),
    /// Send a cassette's read-only requests to a live RMS again and compare its answers
    /// now with the recording by shape (exit 1 on drift, 2 on a bad or state-changing
    /// cassette)
    Drift(DriftArgs),
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// What is compared and ignored, and what the simulator is told, instead of the
    /// embedded `rules/conformance.yaml`
    #[arg(long, value_name = "FILE")]
    pub conformance_rules: Option<PathBuf>,
    /// Cassettes to check (this format, VCR.py or Ruby VCR)
    #[arg(long = "cassette", value_name = "FILE", required = true, num_args = 1..)]
    pub cassettes: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// What is compared and ignored instead of the embedded `rules/conformance.yaml`
    #[arg(long, value_name = "FILE")]
    pub conformance_rules: Option<PathBuf>,
    /// The cassette whose requests are sent again; only getOrder and searchOrder (a
    /// cassette holding anything else is refused whole, nothing sent)
    #[arg(long, value_name = "FILE")]
    pub cassette: PathBuf,
    /// RMS's origin, e.g. `https://api.rms.rakuten.co.jp` (the cassette's path prefix,
    /// `/es/2.0`, is kept)
    #[arg(long, value_name = "ORIGIN")]
    pub upstream: String,
    /// A credentials file (`service_secret`, `license_key`); without it
    /// `RMS_SERVICE_SECRET` and `RMS_LICENSE_KEY` are read from the environment
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Time RMS has to answer one call
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub timeout: std::time::Duration,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Where allowed calls go: RMS's origin, e.g. `https://api.rms.rakuten.co.jp` (the
    /// request's path is kept)
    #[arg(long, value_name = "ORIGIN")]
    pub upstream: String,
    /// Address to listen on (`127.0.0.1:0` picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// The ledger: `sqlite:PATH` (one file, the default) or `postgres://…` (several
    /// proxies on several machines)
    #[arg(long, value_name = "URL", default_value = rms_preflight::ledger::DEFAULT_URL)]
    pub ledger: String,
    /// A shop file (`id` and `settings`): one shop, named and configured; without it each
    /// caller's shop is a salted hash of its service secret, with default settings
    #[arg(long, value_name = "FILE")]
    pub shop: Option<PathBuf>,
    /// Report only: relay everything, log and count what would have been denied
    #[arg(long)]
    pub dry_run: bool,
    /// Upstream calls per second per shop, e.g. `1` or `0.5` (default: the rules'
    /// `timing.request_interval`); `0` means no limit
    #[arg(long, value_name = "PER_SECOND", value_parser = rate)]
    pub rate: Option<f64>,
    /// How long an order read through the proxy counts as fresh (`0s`: always read again)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = any_duration)]
    pub snapshot_window: std::time::Duration,
    /// How long a claim may sit `sending` before its sender is taken for dead and the
    /// order is read back (`0s`: as soon as no call of it can still be at RMS, i.e.
    /// --upstream-timeout after a start when no other proxy serves the same SQLite ledger
    /// file; otherwise, and while running, never less than --request-timeout plus
    /// --upstream-timeout plus a minute)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = any_duration)]
    pub stale_after: std::time::Duration,
    /// Time RMS has to answer one call
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub upstream_timeout: std::time::Duration,
    /// Time the proxy has to answer one request (408 after it)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    pub request_timeout: std::time::Duration,
    /// Log lines as JSON (default) or text
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Calls per second: a finite number from 0 (no limit) to 10,000.
fn rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=10_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate from 0 to 10000 calls per second"
        )),
    }
}

/// `0s` to `1d`.
fn any_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: rms_preflight::model::Duration = s.parse().map_err(|e| format!("{e}"))?;
    match u64::try_from(d.as_secs()) {
        Ok(secs @ 0..=86_400) => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!("`{s}` is out of range: from `0s` to `1d`")),
    }
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Every row of one order (all shops and actions, unless narrowed)
    Show {
        #[command(flatten)]
        at: LedgerAt,
        /// The order number
        #[arg(value_name = "ORDER")]
        order: String,
    },
    /// Rows, in key order
    List {
        #[command(flatten)]
        at: LedgerAt,
        /// Only rows in these states (`sending`, `confirmed`, `failed`, `unknown`)
        #[arg(long, value_name = "STATE", value_parser = clap::builder::PossibleValuesParser::new(["sending", "confirmed", "failed", "unknown"]))]
        state: Vec<String>,
        /// At most this many rows
        #[arg(long, value_name = "N", default_value_t = 1000)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Every row as JSON lines
    Export {
        #[command(flatten)]
        at: LedgerAt,
        /// Write here instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Which ledger, and which part of it.
#[derive(Debug, Args)]
pub struct LedgerAt {
    /// The ledger: `sqlite:PATH` or `postgres://…`
    #[arg(long, value_name = "URL", default_value = rms_preflight::ledger::DEFAULT_URL)]
    pub ledger: String,
    /// Only this shop key (`--shop`'s `id`, or `esa-…` as the proxy logs it)
    #[arg(long, value_name = "KEY")]
    pub shop: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Address to listen on (`127.0.0.1:0` picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Time a client has to send a request's headers, from connecting or from the
    /// previous answer on a kept-alive connection (e.g. `10s`)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: std::time::Duration,
    /// Time to answer a request (408 after it); also the longest pause between two
    /// pieces of a streamed batch (e.g. `60s`)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub request_timeout: std::time::Duration,
    /// Requests handled at once (1 to 65,536); more wait their turn
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_in_flight: u32,
    /// Connections open at once (1 to 65,536); more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// How long a stop (Ctrl-C, SIGTERM) waits for requests in flight (e.g. `10s`)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub drain_timeout: std::time::Duration,
}

impl ServeArgs {
    /// The server's limits; bodies read whole are bounded by `--max-input-size`.
    pub fn limits(&self) -> rms_preflight::http::Limits {
        let max_input = rms_preflight::model::limits::max_input_bytes();
        rms_preflight::http::Limits {
            header_timeout: self.header_timeout,
            request_timeout: self.request_timeout,
            body_timeout: rms_preflight::http::Limits::default().body_timeout,
            max_body: usize::try_from(max_input).unwrap_or(usize::MAX),
            max_in_flight: usize::try_from(self.max_in_flight).unwrap_or(usize::MAX),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            drain_timeout: self.drain_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Seed of random faults (overrides the scenarios' own)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write a self-contained HTML report (timelines, sequence diagrams, coverage)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Language of the HTML report's messages and remedies
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
    /// Print the rule coverage after the report (text), or under `coverage` (JSON)
    #[arg(long)]
    pub coverage: bool,
    /// Exit 1 when rules, remedy variants and error entries together are exercised below
    /// PCT percent (0–100)
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub min_coverage: Option<f64>,
    /// Reasons why items cannot be exercised (YAML; see fixtures/coverage-gaps.yaml)
    #[arg(long, value_name = "FILE")]
    pub coverage_gaps: Option<PathBuf>,
    /// Scenario files or folders (searched for *.yaml)
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// A percentage, 0 to 100 (`--min-coverage`).
fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a number (a percentage, 0 to 100)"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{s} is outside 0 to 100"));
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct SimServerArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Address to listen on (`127.0.0.1:0` picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// A scenario file whose `shop`, `orders` and `sim` set the starting state
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How `record`, `replay` and `sim-server` bound their clients.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Time a client has to send a request's headers, from connecting or from the
    /// previous answer on a kept-alive connection (e.g. `10s`)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a request's body once its headers are in (e.g. `10s`)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub body_timeout: std::time::Duration,
    /// Connections served at once (1 to 65,536); more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// How long a stop (Ctrl-C, SIGTERM) waits for requests in flight (e.g. `10s`)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub drain_timeout: std::time::Duration,
}

impl ServerArgs {
    pub fn limits(&self) -> rms_preflight::fixture::Limits {
        rms_preflight::fixture::Limits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            drain_timeout: self.drain_timeout,
        }
    }
}

/// `1s` to `1d`, written like the rules file's durations.
fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: rms_preflight::model::Duration = s.parse().map_err(|e| format!("{e}"))?;
    match u64::try_from(d.as_secs()) {
        Ok(secs @ 1..=86_400) => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!("`{s}` is out of range: from `1s` to `1d`")),
    }
}

/// Most orders `explore` generates (each holds an order, its OMS state and its history).
pub const MAX_EXPLORE_ORDERS: u64 = 10_000;
/// Most steps of one `explore` run.
pub const MAX_EXPLORE_STEPS: u64 = 100_000_000;

#[derive(Debug, Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// How many orders (1 to 10,000)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_EXPLORE_ORDERS))]
    pub orders: u64,
    /// How many random steps (1 to 100,000,000)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_EXPLORE_STEPS))]
    pub steps: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the shortest scenario that reproduces a violation
    #[arg(long, value_name = "FILE", default_value = "explore-violation.yaml")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Scheme and host requests are forwarded to; the path is kept
    #[arg(
        long,
        value_name = "ORIGIN",
        default_value = "https://api.rms.rakuten.co.jp"
    )]
    pub upstream: String,
    /// Address to listen on (`127.0.0.1:0` picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Cassette to write (replaced)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Cassettes to serve (this format, VCR.py or Ruby VCR)
    #[arg(long = "cassette", value_name = "FILE", required = true, num_args = 1..)]
    pub cassettes: Vec<PathBuf>,
    /// Address to listen on (`127.0.0.1:0` picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Body fields left out of matching (dotted paths allowed); repeatable
    #[arg(long = "ignore-field", value_name = "FIELD")]
    pub ignore_fields: Vec<String>,
    /// Exit 1 when a request matched nothing or an interaction went unused
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Fail on cassettes that hold a credential or unredacted personal data
    Lint {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Convert a VCR.py / Ruby VCR cassette to this format, redacting it
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RulesArg {
    /// Rules file to use instead of the embedded `rules/rakuten_pay.yaml`
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `check`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// JSON Lines: each result on its own line, then `{"summary": …}`.
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    Ja,
    En,
}

impl From<LangArg> for rms_preflight::Lang {
    fn from(l: LangArg) -> Self {
        match l {
            LangArg::Ja => rms_preflight::Lang::Ja,
            LangArg::En => rms_preflight::Lang::En,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// JSON when the document starts with `{`, YAML otherwise
    Auto,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Output format (`jsonl`: one result a line as it is judged, then a summary line)
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Language of messages and remedies
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
    /// Show every rule that applies to the action, whether it fired, and the values read
    #[arg(long)]
    pub explain: bool,
    /// Syntax of the request document
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Request document (one request or a batch); `-` reads standard input
    #[arg(value_name = "FILE")]
    pub input: String,
}

#[derive(Debug, Args)]
pub struct ExplainErrorArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// HTTP status of the response, if known
    #[arg(long, value_name = "N")]
    pub status: Option<u16>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
    /// The response body or the message an OMS showed; `-` or nothing reads standard input
    #[arg(value_name = "FILE")]
    pub input: Option<String>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub rules: RulesArg,
    /// Exit 1 when there are warnings
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormatArg {
    Mermaid,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The rules file
    Rules,
    /// The `check` request document
    Request,
    /// Scenario files of `simulate`
    Scenario,
    /// The answer of `check --format json`
    CheckOutput,
    /// The answer of `explain-error --format json`
    ExplainErrorOutput,
    /// `simulate --coverage --format json`: the document under `coverage`
    CoverageOutput,
    /// The coverage gaps file (`simulate --coverage-gaps`)
    CoverageGaps,
    /// The OpenAPI 3.1 document of `serve`
    Openapi,
    /// The answer of `conformance --format json` and `drift --format json`
    ConformanceOutput,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Draw the order status state machine
    Graph {
        #[command(flatten)]
        rules: RulesArg,
        #[arg(long, value_enum, default_value_t = GraphFormatArg::Mermaid)]
        format: GraphFormatArg,
    },
    /// Print a JSON Schema
    Schema {
        #[arg(value_enum, default_value_t = SchemaKind::Rules)]
        kind: SchemaKind,
    },
}
