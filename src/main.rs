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

/// jemalloc's options, read at its start: blocks of 1 MiB and more (a batch's growing
/// tables, large bodies) are returned to the system as soon as they are freed. By default
/// freed memory stays for ten seconds, and a million-order batch peaked 5 MB higher with
/// every superseded copy of its S1 table still resident (25 MB with this, 30 without).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"oversize_threshold:1048576\0";

fn main() -> std::process::ExitCode {
    cli::main()
}
