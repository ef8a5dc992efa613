//! The `rms-preflight` binary: the command-line edge over the `rms_preflight` library —
//! arguments (clap), output formats, rendered diagnostics (miette) and exit codes. The
//! library holds everything else; it prints nothing.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
