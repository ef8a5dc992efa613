//! `record`, `replay` and `fixtures lint|import`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{RecordArgs, ReplayArgs};
use super::{EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::fixture::{
    lint_file, Cassette, Limits, Recorder, Redactor, ReplayHandler, Replayer, Server, Stopped,
    TornTail, Upstream,
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

/// Serves `handler` on `addr` within `limits` until Ctrl-C or SIGTERM, after printing
/// `banner(url)`; then drains (see [`Server::shutdown`]) and says what the stop left
/// undone. `None` when the address cannot be bound (the error is printed).
pub(crate) async fn serve_until_stopped<H: rms_preflight::fixture::Handler>(
    addr: std::net::SocketAddr,
    handler: Arc<H>,
    limits: Limits,
    banner: impl FnOnce(&str) -> String,
    err: &mut dyn Write,
) -> Option<Stopped> {
    serve_logging(
        addr,
        handler,
        limits,
        banner,
        err,
        None::<tokio::sync::mpsc::Receiver<String>>,
    )
    .await
}

/// [`serve_until_stopped`], printing each line of `log` as an error as it comes.
async fn serve_logging<H: rms_preflight::fixture::Handler, L: std::fmt::Display>(
    addr: std::net::SocketAddr,
    handler: Arc<H>,
    limits: Limits,
    banner: impl FnOnce(&str) -> String,
    err: &mut dyn Write,
    mut log: Option<tokio::sync::mpsc::Receiver<L>>,
) -> Option<Stopped> {
    // Listen for the stop before anyone can learn the address and send it.
    let stopped = stop_signal();
    let server = match Server::start_with(addr, handler, limits).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: cannot listen on `{addr}`: {e}");
            return None;
        }
    };
    let _ = writeln!(err, "{}", banner(&server.url()));
    let _ = err.flush();
    tokio::pin!(stopped);
    loop {
        let line = match log.as_mut() {
            Some(rx) => tokio::select! {
                _ = &mut stopped => break,
                line = rx.recv() => line,
            },
            None => {
                stopped.as_mut().await;
                break;
            }
        };
        match line {
            Some(line) => {
                let _ = writeln!(err, "error: {line}");
                let _ = err.flush();
            }
            None => log = None,
        }
    }
    let _ = writeln!(
        err,
        "stopping: finishing requests in flight (at most {}s)",
        limits.drain_timeout.as_secs()
    );
    let _ = err.flush();
    let report = server.shutdown().await;
    if let Some(rx) = log.as_mut() {
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(err, "error: {line}");
        }
    }
    if report.abandoned > 0 {
        let _ = writeln!(
            err,
            "warning: {} requests were still in flight after {}s and got no answer",
            report.abandoned,
            limits.drain_timeout.as_secs()
        );
    }
    Some(report)
}

/// A recording cut short mid-append: say what was dropped.
fn warn_torn(path: &Path, torn: Option<&TornTail>, err: &mut dyn Write) {
    if let Some(torn) = torn {
        let _ = writeln!(err, "warning: cassette `{}`: {torn}", path.display());
    }
}

pub fn record(args: &RecordArgs, err: &mut dyn Write) -> u8 {
    let upstream = match check_upstream(&args.upstream) {
        Ok(upstream) => upstream,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    // Only the origin, without user-info, is printed (the banner) and written (`meta.origin`).
    let origin = upstream.origin().to_owned();
    let recorder = match Recorder::with_upstream(upstream, &args.out, Redactor::from_env()) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            let _ = writeln!(err, "error: cannot write `{}`: {e}", args.out.display());
            return EXIT_BAD_INPUT;
        }
    };
    let failures = recorder.failures();
    rt.block_on(async {
        let banner = |url: &str| {
            format!(
                "recording {origin} → {} on {url} (Ctrl-C to stop)",
                args.out.display()
            )
        };
        let limits = args.server.limits();
        let Some(stopped) = serve_logging(
            args.listen,
            recorder.clone(),
            limits,
            banner,
            err,
            Some(failures),
        )
        .await
        else {
            return EXIT_BAD_INPUT;
        };
        let _ = writeln!(
            err,
            "recorded {} interactions to {}",
            recorder.recorded(),
            args.out.display()
        );
        for w in recorder.warnings() {
            let _ = writeln!(err, "warning: {w} (a placeholder is in the cassette)");
        }
        let mut code = EXIT_OK;
        if recorder.unrecorded() > 0 {
            let _ = writeln!(
                err,
                "error: {} interactions RMS answered are not in `{}` (see above): the recording is incomplete",
                recorder.unrecorded(),
                args.out.display()
            );
            code = EXIT_DENIED;
        }
        if stopped.abandoned > 0 {
            let _ = writeln!(
                err,
                "error: {} requests were still waiting for RMS when the stop gave up: they may have run on RMS and are not in `{}`",
                stopped.abandoned,
                args.out.display()
            );
            code = EXIT_DENIED;
        }
        code
    })
}

fn load_all(paths: &[PathBuf], err: &mut dyn Write) -> Option<Vec<(String, Cassette)>> {
    let mut cassettes = Vec::new();
    let mut ok = true;
    for p in paths {
        match Cassette::open(p) {
            Ok((c, torn)) => {
                warn_torn(p, torn.as_ref(), err);
                cassettes.push((p.display().to_string(), c));
            }
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
        if serve_until_stopped(args.listen, handler, args.server.limits(), banner, err)
            .await
            .is_none()
        {
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
        match Cassette::open(path) {
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                bad_input = true;
            }
            Ok((c, torn)) => {
                warn_torn(path, torn.as_ref(), err);
                let found = lint_file(path, &c);
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
    let mut cassette = match Cassette::open(file) {
        Ok((c, torn)) => {
            warn_torn(file, torn.as_ref(), err);
            c
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // Every string written goes through redaction: meta, function names, paths, headers
    // and bodies (the origin loses its user-info).
    let mut redactor = Redactor::from_env();
    redactor.redact_cassette(&mut cassette);
    for w in redactor.warnings() {
        let _ = writeln!(err, "warning: {w} (a placeholder is in the cassette)");
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

/// An upstream must be an `http`/`https` origin with a host, checked before anything
/// listens (a recorder that starts and then answers 502 to everything records nothing),
/// and read as the forwarding client reads it (WHATWG URL parsing, [`Upstream::parse`]):
/// its user-info is taken apart, so only the origin is ever printed or written. A
/// refusal repeats the value only when it holds nothing but an origin's characters:
/// anything else (`user:secret@`, `?licenseKey=…`) may carry a secret.
fn check_upstream(upstream: &str) -> Result<Upstream, String> {
    let origin_like = !upstream.is_empty()
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']'));
    let shown = if origin_like {
        format!("`{upstream}`")
    } else {
        "(the value is not shown: it holds more than an origin's characters, so it may carry a credential)"
            .to_owned()
    };
    Upstream::parse(upstream).map_err(|e| {
        format!(
            "invalid `--upstream` {shown}: {e}: expected an origin such as `https://api.rms.rakuten.co.jp`"
        )
    })
}
