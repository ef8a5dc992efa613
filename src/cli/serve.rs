//! `rms-preflight serve`: the engine as an HTTP service (`rms_preflight::service`), its
//! rules reloaded on SIGHUP, stopped (after a drain) by Ctrl-C or SIGTERM.

use std::io::Write;

use super::args::ServeArgs;
use super::fixtures::{runtime, stop_signal};
use super::{diagnostics, use_color, EXIT_BAD_INPUT, EXIT_OK};
use rms_preflight::service::{RulesSource, Service};

pub fn serve(args: &ServeArgs, err: &mut dyn Write) -> u8 {
    let limits = args.limits();
    let source = match &args.rules.rules {
        Some(path) => RulesSource::File(path.clone()),
        None => RulesSource::Embedded,
    };
    let service = match Service::new(source, &limits) {
        Ok(s) => s,
        Err(e) => {
            let _ = err.write_all(diagnostics::render_rules_error(&e, use_color()).as_bytes());
            return EXIT_BAD_INPUT;
        }
    };
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    rt.block_on(async {
        // Listen for the signals before anyone can learn the address and send one.
        let stopped = stop_signal();
        let mut reload = reload_signal();
        let server = match service.start(args.listen, limits).await {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen on `{}`: {e}", args.listen);
                return EXIT_BAD_INPUT;
            }
        };
        let _ = writeln!(
            err,
            "serving rms-preflight on {} (rules {}; SIGHUP reloads them; Ctrl-C to stop)",
            server.url(),
            service.version()
        );
        let _ = err.flush();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                Some(()) = reload.recv() => {
                    match service.reload() {
                        Ok(version) => {
                            let _ = writeln!(err, "rules reloaded: version {version}");
                        }
                        Err(e) => {
                            let _ = err.write_all(
                                diagnostics::render_rules_error(&e, use_color()).as_bytes(),
                            );
                            let _ = writeln!(
                                err,
                                "error: rules reload refused: still serving version {}",
                                service.version()
                            );
                        }
                    }
                    let _ = err.flush();
                }
            }
        }
        let _ = writeln!(
            err,
            "stopping: finishing requests in flight (at most {}s)",
            limits.drain_timeout.as_secs()
        );
        let _ = err.flush();
        let report = server.shutdown().await;
        if report.abandoned > 0 {
            let _ = writeln!(
                err,
                "warning: {} connections were still busy after {}s and were closed",
                report.abandoned,
                limits.drain_timeout.as_secs()
            );
        }
        EXIT_OK
    })
}

/// SIGHUP, as a stream of reload requests (installed when called; never fires where
/// there is no SIGHUP).
fn reload_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // A reload already asked for covers this one too.
                    let _ = tx.try_send(());
                }
            });
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}
