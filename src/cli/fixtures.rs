//! `record`, `replay` and `fixtures lint|import`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{RecordArgs, ReplayArgs};
use super::{EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use crate::fixture::{
    lint as lint_cassette, Cassette, Recorder, Redactor, ReplayHandler, Replayer, Server,
};

fn runtime(err: &mut dyn Write) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn record(args: &RecordArgs, err: &mut dyn Write) -> u8 {
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    let recorder = match Recorder::create(&args.upstream, &args.out, Redactor::from_env()) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            let _ = writeln!(err, "error: cannot write `{}`: {e}", args.out.display());
            return EXIT_BAD_INPUT;
        }
    };
    rt.block_on(async {
        let server = match Server::start(args.listen, recorder.clone()).await {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen on `{}`: {e}", args.listen);
                return EXIT_BAD_INPUT;
            }
        };
        let _ = writeln!(
            err,
            "recording {} → {} on {} (Ctrl-C to stop)",
            args.upstream,
            args.out.display(),
            server.url()
        );
        let _ = err.flush();
        stop_signal().await;
        server.shutdown().await;
        let _ = writeln!(
            err,
            "recorded {} interactions to {}",
            recorder.recorded(),
            args.out.display()
        );
        EXIT_OK
    })
}

fn load_all(paths: &[PathBuf], err: &mut dyn Write) -> Option<Vec<(String, Cassette)>> {
    let mut cassettes = Vec::new();
    let mut ok = true;
    for p in paths {
        match Cassette::load(p) {
            Ok(c) => cassettes.push((p.display().to_string(), c)),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                ok = false;
            }
        }
    }
    ok.then_some(cassettes)
}

pub fn replay(args: &ReplayArgs, err: &mut dyn Write) -> u8 {
    let Some(cassettes) = load_all(&args.cassettes, err) else {
        return EXIT_BAD_INPUT;
    };
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    let count: usize = cassettes.iter().map(|(_, c)| c.interactions.len()).sum();
    let replayer = Arc::new(Replayer::new(cassettes, args.ignore_fields.clone()));
    rt.block_on(async {
        let handler = Arc::new(ReplayHandler {
            replayer: replayer.clone(),
        });
        let server = match Server::start(args.listen, handler).await {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen on `{}`: {e}", args.listen);
                return EXIT_BAD_INPUT;
            }
        };
        let _ = writeln!(
            err,
            "replaying {count} interactions from {} cassettes on {} (Ctrl-C to stop)",
            args.cassettes.len(),
            server.url()
        );
        let _ = err.flush();
        stop_signal().await;
        server.shutdown().await;
        let unused = replayer.unused();
        let _ = writeln!(
            err,
            "replay: {} requests, {} unmatched, {} interactions unused",
            replayer.requests(),
            replayer.unmatched(),
            unused.len()
        );
        for u in &unused {
            let _ = writeln!(
                err,
                "  unused: {} interactions[{}] {} {}",
                u.cassette, u.index, u.method, u.path
            );
        }
        if args.strict && (replayer.unmatched() > 0 || !unused.is_empty()) {
            EXIT_DENIED
        } else {
            EXIT_OK
        }
    })
}

pub fn lint(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut bad_input = false;
    let mut problems = 0;
    for path in files {
        match Cassette::load(path) {
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                bad_input = true;
            }
            Ok(c) => {
                let found = lint_cassette::lint(&c);
                problems += found.len();
                for p in &found {
                    let _ = writeln!(out, "{}: {}: {}", path.display(), p.at, p.message);
                }
                if found.is_empty() {
                    let _ = writeln!(
                        out,
                        "{}: ok ({} interactions)",
                        path.display(),
                        c.interactions.len()
                    );
                }
            }
        }
    }
    if bad_input {
        EXIT_BAD_INPUT
    } else if problems > 0 {
        EXIT_DENIED
    } else {
        EXIT_OK
    }
}

pub fn import(file: &Path, to: &Path, err: &mut dyn Write) -> u8 {
    let mut cassette = match Cassette::load(file) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let redactor = Redactor::from_env();
    for it in &mut cassette.interactions {
        it.request
            .headers
            .retain(|k, _| k.eq_ignore_ascii_case("content-type"));
        for body in [&mut it.request.json, &mut it.response.json]
            .into_iter()
            .flatten()
        {
            redactor.redact_json(body);
        }
        for text in [&mut it.request.text, &mut it.response.text]
            .into_iter()
            .flatten()
        {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) {
                let before = v.clone();
                redactor.redact_json(&mut v);
                if v != before {
                    *text = v.to_string();
                }
            } else {
                *text = redactor.redact_free_text(text);
            }
        }
    }
    cassette.meta.redacted = true;
    if cassette.meta.tool.is_none() {
        cassette.meta.tool = Some(concat!("rms-preflight ", env!("CARGO_PKG_VERSION")).to_owned());
    }
    match cassette.save(to) {
        Ok(()) => {
            let _ = writeln!(
                err,
                "imported {} interactions to {}",
                cassette.interactions.len(),
                to.display()
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: cannot write `{}`: {e}", to.display());
            EXIT_BAD_INPUT
        }
    }
}
