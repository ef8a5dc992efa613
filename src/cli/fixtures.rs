//! `record`, `replay` and `fixtures lint|import`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{RecordArgs, ReplayArgs};
use super::{EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use crate::fixture::{
    lint as lint_cassette, Cassette, Recorder, Redactor, ReplayHandler, Replayer, Server,
};

pub(crate) fn runtime(err: &mut dyn Write) -> Option<tokio::runtime::Runtime> {
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

/// Listens for Ctrl-C and SIGTERM from the moment it is called (so a signal that
/// arrives before the returned future is awaited is not lost); the future resolves on
/// either.
pub(crate) fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Serves `handler` on `addr` until Ctrl-C or SIGTERM, after printing `banner(url)`;
/// `false` when the address cannot be bound (the error is printed).
pub(crate) async fn serve_until_stopped<H: crate::fixture::Handler>(
    addr: std::net::SocketAddr,
    handler: Arc<H>,
    banner: impl FnOnce(&str) -> String,
    err: &mut dyn Write,
) -> bool {
    // Listen for the stop before anyone can learn the address and send it.
    let stopped = stop_signal();
    let server = match Server::start(addr, handler).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: cannot listen on `{addr}`: {e}");
            return false;
        }
    };
    let _ = writeln!(err, "{}", banner(&server.url()));
    let _ = err.flush();
    stopped.await;
    server.shutdown().await;
    true
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
        let banner = |url: &str| {
            format!(
                "recording {} → {} on {url} (Ctrl-C to stop)",
                args.upstream,
                args.out.display()
            )
        };
        if !serve_until_stopped(args.listen, recorder.clone(), banner, err).await {
            return EXIT_BAD_INPUT;
        }
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
        let banner = |url: &str| {
            format!(
                "replaying {count} interactions from {} cassettes on {url} (Ctrl-C to stop)",
                args.cassettes.len()
            )
        };
        if !serve_until_stopped(args.listen, handler, banner, err).await {
            return EXIT_BAD_INPUT;
        }
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
