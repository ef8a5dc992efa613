//! One integration-test binary (ripgrep style): one module per area.

mod bounded_input;
mod cassette_safety;
mod classify;
mod cli;
mod conformance;
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
mod report;
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

/// Writes `text` (a whole request, or only its head) on a fresh connection to `addr`
/// and reads the whole answer, until the server closes.
pub async fn exchange(addr: std::net::SocketAddr, text: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(text.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
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

/// A fresh directory under the system temp dir for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rms-preflight-it-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A SQLite ledger file in the directory.
    pub fn ledger_url(&self) -> String {
        format!("sqlite:{}", self.0.join("ledger.db").display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The PostgreSQL URL to test against (`RMS_PREFLIGHT_TEST_POSTGRES`), or a note that the
/// test is skipped.
pub fn postgres_url() -> Option<String> {
    match std::env::var("RMS_PREFLIGHT_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped: RMS_PREFLIGHT_TEST_POSTGRES not set");
            None
        }
    }
}
