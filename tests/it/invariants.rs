//! ARCHITECTURE.md's invariants, enforced by reading `src/`: a change that breaks one
//! fails here, with the file and line, instead of waiting for a reviewer to notice.
//!
//! Each check scans the non-test code of the source files (everything before a
//! `#[cfg(test)]` line) for the tokens that would break it. Comments are skipped.

use std::path::{Path, PathBuf};

use super::root;

/// Every `.rs` file under `src/`, with its non-test, non-comment lines (number, text).
fn sources() -> Vec<(String, Vec<(usize, String)>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            let lines = text
                .lines()
                .enumerate()
                .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_owned()))
                .collect();
            (rel, lines)
        })
        .collect()
}

/// Lines of files outside `allowed` (path prefixes) that contain any of `tokens`.
fn offenders(tokens: &[&str], allowed: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(file, _)| !allowed.iter().any(|a| file.starts_with(a)))
        .flat_map(|(file, lines)| {
            lines
                .into_iter()
                .filter(|(_, l)| tokens.iter().any(|t| l.contains(t)))
                .map(move |(n, l)| format!("{file}:{n}: {}", l.trim()))
        })
        .collect()
}

/// "Only the CLI writes to stdout/stderr; the library returns values and errors."
#[test]
fn only_the_cli_prints() {
    let found = offenders(
        &[
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
            "dbg!(",
            "io::stdout()",
            "io::stderr()",
        ],
        &["src/cli/", "src/main.rs"],
    );
    assert!(
        found.is_empty(),
        "output outside the CLI:\n{}",
        found.join("\n")
    );
}

/// "`expr` and `engine` do no IO and read no clock: time is `request.now`."
#[test]
fn the_engine_reads_no_clock_and_does_no_io() {
    let clock = [
        "::now()",
        "now_jst",
        "SystemTime",
        "Instant",
        "std::fs",
        "std::net",
        "tokio",
        "reqwest",
        "std::io::stdin",
    ];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(f, _)| f.starts_with("src/expr/") || f.starts_with("src/engine/"))
        .flat_map(|(file, lines)| {
            lines
                .into_iter()
                .filter(|(_, l)| clock.iter().any(|t| l.contains(t)))
                .map(move |(n, l)| format!("{file}:{n}: {}", l.trim()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "clock or IO in expr/engine:\n{}",
        found.join("\n")
    );
}

/// "Only `rms` (the client), the servers in `fixture` and the server stack in `http` open
/// sockets."
#[test]
fn only_the_client_and_the_servers_open_sockets() {
    let found = offenders(
        &[
            "TcpListener",
            "TcpStream",
            "UdpSocket",
            "reqwest::Client",
            "Client::builder",
            "hyper::server",
            "hyper_util::server",
        ],
        &["src/rms/", "src/fixture/", "src/http/"],
    );
    assert!(
        found.is_empty(),
        "sockets outside rms/fixture/http:\n{}",
        found.join("\n")
    );
}

/// "Every state-changing call of the product path goes through `Guard`": the typed
/// state-changing calls are made only by the guard (and defined by the client trait).
#[test]
fn state_changing_calls_are_sent_only_by_the_guard() {
    let found = offenders(
        &[
            ".confirm_order(",
            ".cancel_order(",
            ".update_order_shipping(",
            ".update_order_delivery(",
        ],
        &["src/guard/", "src/rms/"],
    );
    assert!(
        found.is_empty(),
        "a state-changing call outside the guard:\n{}",
        found.join("\n")
    );
    // Nor around the typed calls: an `RmsCall` naming a state-changing function is built
    // only by the client trait (the simulated OMS once sent `updateOrderDelivery` so).
    let changing = [
        "CONFIRM_ORDER",
        "CANCEL_ORDER",
        "UPDATE_ORDER",
        "\"confirmOrder\"",
        "\"cancelOrder\"",
        "\"updateOrder",
    ];
    let raw: Vec<String> = sources()
        .into_iter()
        .filter(|(f, _)| !f.starts_with("src/rms/"))
        .flat_map(|(file, lines)| {
            let mut found = Vec::new();
            for (k, (n, l)) in lines.iter().enumerate() {
                if l.contains("RmsCall {") {
                    let window = lines[k..(k + 4).min(lines.len())]
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    if changing.iter().any(|c| window.contains(c)) {
                        found.push(format!("{file}:{n}: {}", l.trim()));
                    }
                }
            }
            found
        })
        .collect();
    assert!(
        raw.is_empty(),
        "a raw state-changing RmsCall:\n{}",
        raw.join("\n")
    );
}

/// The docs name what exists: every module of `lib.rs` is in its Layout section, and
/// every test module of `tests/it` is in ARCHITECTURE.md's test map.
#[test]
fn the_docs_list_every_module() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let layout = lib
        .split("//! ## Layout")
        .nth(1)
        .map(|rest| rest.split("\n\n").take(3).collect::<Vec<_>>().join("\n\n"))
        .unwrap_or_default();
    for line in lib
        .lines()
        .filter(|l| l.starts_with("pub mod ") || l.starts_with("mod "))
    {
        let name = line
            .trim_start_matches("pub ")
            .trim_start_matches("mod ")
            .trim_end_matches(';');
        assert!(
            layout.contains(&format!("`{name}`")) || layout.contains(&format!("[`{name}`]")),
            "src/lib.rs: module `{name}` is not in the Layout section"
        );
    }
    let main = std::fs::read_to_string(root().join("tests/it/main.rs")).unwrap();
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for line in main.lines().filter(|l| l.starts_with("mod ")) {
        let name = line.trim_start_matches("mod ").trim_end_matches(';');
        assert!(
            arch.contains(&format!("`{name}.rs`")),
            "ARCHITECTURE.md: tests/it/{name}.rs is not in the test map"
        );
    }
}
