//! The command-line edge: arguments, reading files, output formats, exit codes.
//!
//! Exit codes: 0 ok; 1 a check denied (or `lint --deny-warnings` found warnings);
//! 2 bad input, a bad rules file or bad usage.

mod args;
mod check;
mod conformance;
mod diagnostics;
mod explain_error;
mod fixtures;
mod output;
mod proxy;
mod serve;
mod simulate;

use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use args::{Command, FixturesCommand, GraphFormatArg, RulesArg, RulesCommand, SchemaKind};

use rms_preflight::rules::{GraphFormat, RuleSet};

/// Exit code: nothing denied.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check denied.
pub const EXIT_DENIED: u8 = 1;
/// Exit code: bad input, rules file or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs the command line; what `main` calls.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // Not locked for the whole run: the servers' log lines (tracing, from worker threads)
    // write to stderr too, and would wait for ever on a lock the main thread holds.
    let mut err = io::stderr();
    let code = run(cli, &mut out, &mut err);
    if let Err(e) = out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "error: cannot write output: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    ExitCode::from(code)
}

/// Runs a parsed command, writing to `out` and `err`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    rms_preflight::model::limits::set_max_input_bytes(cli.max_input_size);
    match cli.command {
        Command::Check(args) => check::run(&args, out, err),
        Command::ExplainError(args) => explain_error::run(&args, out, err),
        Command::Lint(args) => lint(&args.rules, args.deny_warnings, out, err),
        Command::Rules(RulesCommand::Graph { rules, format }) => {
            let Some(rules) = load_rules(&rules, err) else {
                return EXIT_BAD_INPUT;
            };
            let format = match format {
                GraphFormatArg::Mermaid => GraphFormat::Mermaid,
                GraphFormatArg::Dot => GraphFormat::Dot,
            };
            write_or_fail(
                out,
                err,
                rms_preflight::rules::render_graph(rules.file(), format).as_bytes(),
            )
        }
        Command::Record(args) => fixtures::record(&args, err),
        Command::Replay(args) => fixtures::replay(&args, err),
        Command::Fixtures(FixturesCommand::Lint { files }) => fixtures::lint(&files, out, err),
        Command::Simulate(args) => simulate::simulate(&args, out, err),
        Command::SimServer(args) => simulate::sim_server(&args, err),
        Command::Explore(args) => simulate::explore(&args, out, err),
        Command::Proxy(args) => proxy::proxy(&args, err),
        Command::Ledger(command) => proxy::ledger(&command, out, err),
        Command::Serve(args) => serve::serve(&args, err),
        Command::Conformance(args) => conformance::conformance(&args, out, err),
        Command::Drift(args) => conformance::drift(&args, out, err),
        Command::Fixtures(FixturesCommand::Import { file, out: to }) => {
            fixtures::import(&file, &to, err)
        }
        Command::Rules(RulesCommand::Schema { kind }) => {
            let schema = match kind {
                SchemaKind::Rules => RuleSet::json_schema(),
                SchemaKind::Request => rms_preflight::model::request_json_schema(),
                SchemaKind::Scenario => rms_preflight::sim::scenario::Scenario::json_schema(),
                SchemaKind::CheckOutput => rms_preflight::render::check_output_schema(),
                SchemaKind::ExplainErrorOutput => rms_preflight::render::explain_error_schema(),
                SchemaKind::CoverageOutput => rms_preflight::sim::coverage::Coverage::json_schema(),
                SchemaKind::CoverageGaps => rms_preflight::sim::coverage::Gaps::json_schema(),
                SchemaKind::Openapi => rms_preflight::service::openapi(),
                SchemaKind::ConformanceOutput => rms_preflight::conformance::report_schema(),
            };
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
            write_or_fail(out, err, text.as_bytes())
        }
    }
}

fn write_or_fail(out: &mut dyn Write, err: &mut dyn Write, bytes: &[u8]) -> u8 {
    match out.write_all(bytes) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// Loads `--rules` or the embedded rule set; reports problems on `err`.
pub(crate) fn load_rules(arg: &RulesArg, err: &mut dyn Write) -> Option<RuleSet> {
    let loaded = match &arg.rules {
        Some(path) => RuleSet::from_path(path),
        None => RuleSet::embedded(),
    };
    match loaded {
        Ok(rules) => Some(rules),
        Err(e) => {
            let _ = err.write_all(diagnostics::render_rules_error(&e, use_color()).as_bytes());
            None
        }
    }
}

fn lint(arg: &RulesArg, deny_warnings: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(arg, err) else {
        return EXIT_BAD_INPUT;
    };
    let warnings = rules.warnings();
    let rendered = diagnostics::render_all(rules.path(), &rules_text(arg), warnings, use_color());
    let _ = err.write_all(rendered.as_bytes());
    let file = rules.file();
    let summary = format!(
        "{}: ok: {} statuses, {} transitions, {} rules, {} error entries, {} warning{}\n",
        rules.path(),
        file.statuses.len(),
        file.transitions.len(),
        file.rules.len(),
        file.errors.len(),
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" }
    );
    let code = write_or_fail(out, err, summary.as_bytes());
    if code != EXIT_OK {
        return code;
    }
    if deny_warnings && !warnings.is_empty() {
        EXIT_DENIED
    } else {
        EXIT_OK
    }
}

fn rules_text(arg: &RulesArg) -> String {
    match &arg.rules {
        Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
        None => rms_preflight::rules::EMBEDDED_RULES.to_owned(),
    }
}

/// Colour only on a terminal, and never with `NO_COLOR`.
fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && io::stderr().is_terminal()
}

/// Opens `path` (`-` is standard input) for buffered reading.
fn open_input(path: &str) -> io::Result<Box<dyn BufRead>> {
    if path == "-" {
        Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin())))
    } else {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        )))
    }
}
