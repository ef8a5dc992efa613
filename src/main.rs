//! The `rms-preflight` binary: everything is in the library; see `rms_preflight::cli`.

fn main() -> std::process::ExitCode {
    rms_preflight::cli::main()
}
