//! The `rms-preflight` binary: the command-line edge over the `rms_preflight` library —
//! arguments (clap), output formats, rendered diagnostics (miette) and exit codes. The
//! library holds everything else; it prints nothing.

mod cli;

/// jemalloc instead of the system allocator: the proxy and the service allocate and free
/// many small JSON values per request from several threads, where glibc's malloc spent a
/// quarter of the proxy's CPU (consolidating and trimming its arenas) and drew long tails
/// (ARCHITECTURE.md, "Choices"). The library leaves the choice to its user.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
