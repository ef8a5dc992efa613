//! One integration-test binary (ripgrep style): one module per area.

mod bounded_input;
mod cassette_safety;
mod classify;
mod cli;
mod corpus;
mod explain_error;
mod fixtures;
mod fuzz;
mod guard;
mod invariants;
mod ledger;
mod properties;
mod proxy;
mod recording;
mod rms_client;
mod rules_errors;
mod schema;
mod servers;
mod service;
mod simulate;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus(rel: &str) -> PathBuf {
    root().join("tests/corpus").join(rel)
}

/// Runs the real binary with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.map(<[u8]>::to_vec);
    let feeder = std::thread::spawn(move || {
        if let Some(bytes) = input {
            let _ = pipe.write_all(&bytes);
        }
    });
    let out = child.wait_with_output().expect("the binary runs");
    feeder.join().expect("stdin feeder");
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sends SIGTERM to a child process (what `kill -TERM` does), without needing `kill`.
pub fn terminate(child: &std::process::Child) {
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM delivered");
}
