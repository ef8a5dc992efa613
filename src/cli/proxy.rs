//! `proxy` and `ledger show|list|export`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::args::{Format, LedgerAt, LedgerCommand, LogFormat, ProxyArgs};
use super::fixtures::{runtime, stop_signal};
use super::{load_rules, EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::engine::Engine;
use rms_preflight::ledger::{self, Key, Ledger, LedgerState, Query, Scope};
use rms_preflight::proxy::{Config, Proxy, ShopFile};

/// Structured logs on stderr (JSON lines by default); `RUST_LOG` narrows them.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

pub fn proxy(args: &ProxyArgs, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Arc::new(Engine::new(rules));
    // The origin is read as the recorder reads it; it must not carry credentials (the
    // proxy relays each caller's own).
    let origin = match rms_preflight::fixture::Upstream::parse(&args.upstream) {
        Ok(u) if u.has_credentials() => {
            let _ = writeln!(
                err,
                "error: `--upstream` must not carry user-info: the proxy relays each caller's own `Authorization`"
            );
            return EXIT_BAD_INPUT;
        }
        Ok(u) => u.origin().to_owned(),
        Err(e) => {
            let _ = writeln!(err, "error: `--upstream`: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let shop = match &args.shop {
        Some(path) => match ShopFile::load(path) {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => None,
    };
    let upstream = match rms_preflight::rms::Upstream::new(&origin, args.upstream_timeout) {
        Ok(u) => u,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    init_logs(args.log_format);
    rt.block_on(async {
        let ledger = match ledger::open(&args.ledger).await.and_then(|l| {
            l.writable()?;
            Ok(l)
        }) {
            Ok(l) => l,
            Err(e) => {
                // The URL is not repeated: it may carry a database password.
                let _ = writeln!(err, "error: cannot open the ledger: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let mut config = Config::new(upstream, engine, ledger);
        config.shop = shop;
        config.dry_run = args.dry_run;
        config.snapshot_window = args.snapshot_window;
        config.stale_after = args.stale_after;
        config.request_timeout = args.request_timeout;
        config.body_timeout = args.server.body_timeout;
        if let Some(rate) = args.rate {
            config.upstream_interval = if rate == 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(1.0 / rate)
            };
        }
        let proxy = Proxy::new(config);
        // A SQLite ledger file: the proxy holds its lock file while it runs, and settles
        // with `--stale-after` only when no other proxy serves the file. Elsewhere
        // (PostgreSQL) another proxy may be sending: the live stale time applies.
        let (serving, settled) = match ledger::SqliteLedger::file_of(&args.ledger) {
            Some(path) => {
                let settle = |alone: bool| {
                    let proxy = &proxy;
                    async move {
                        if !alone && args.stale_after < proxy.live_stale_after() {
                            tracing::warn!(
                                "another proxy serves this ledger file: claims left `sending` are abandoned after the live stale time, not `--stale-after`"
                            );
                        }
                        proxy.start_up(alone).await
                    }
                };
                match rms_preflight::proxy::serving::ServingLock::acquire(&path, settle).await {
                    Ok((lock, settled)) => (Some(lock), settled),
                    Err(e) => {
                        let _ = writeln!(
                            err,
                            "error: cannot lock the ledger file `{}`: {e}",
                            path.display()
                        );
                        return EXIT_BAD_INPUT;
                    }
                }
            }
            None => (None, proxy.start_up(false).await),
        };
        let start_up = match settled {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: cannot read the ledger: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        log_abandoned(start_up.abandoned);
        if start_up.leaves_some_behind() {
            tracing::info!(
                after_secs = args.upstream_timeout.as_secs_f64(),
                "claims left `sending` before this start wait out the upstream timeout (a call of theirs may still be at RMS) before they are read back"
            );
        }
        // Runs while the proxy serves; ends with it.
        let left_behind = {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                match proxy.settle_left_behind(&start_up).await {
                    Ok(n) => log_abandoned(n),
                    Err(e) => tracing::warn!(error = %e, "the ledger could not be settled"),
                }
            })
        };
        let limits = rms_preflight::http::Limits {
            header_timeout: args.server.header_timeout,
            request_timeout: args.request_timeout,
            body_timeout: args.server.body_timeout,
            max_body: usize::try_from(rms_preflight::model::limits::max_input_bytes())
                .unwrap_or(usize::MAX),
            max_in_flight: usize::try_from(args.server.max_connections).unwrap_or(256),
            max_connections: usize::try_from(args.server.max_connections).unwrap_or(256),
            drain_timeout: args.server.drain_timeout,
        };
        // Listen for the stop before anyone can learn the address and send it.
        let stopped = stop_signal();
        let server = match rms_preflight::http::start_with(
            args.listen,
            proxy.router(),
            limits,
            rms_preflight::proxy::layer_refusal,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen on `{}`: {e}", args.listen);
                return EXIT_BAD_INPUT;
            }
        };
        let mode = if args.dry_run {
            "dry run: relaying everything, counting what would be denied"
        } else {
            "enforcing"
        };
        let _ = writeln!(
            err,
            "rms-preflight proxy on {} ({mode}; RMS base {}/es/2.0; Ctrl-C to stop)",
            server.url(),
            server.url()
        );
        let _ = err.flush();
        stopped.await;
        let _ = writeln!(
            err,
            "stopping: finishing requests in flight (at most {}s)",
            limits.drain_timeout.as_secs()
        );
        let report = server.shutdown().await;
        left_behind.abort();
        proxy.finish().await;
        // Nothing of this proxy is in flight any more: a successor may settle alone.
        drop(serving);
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

/// Says that `n` claims of a stopped proxy are now `unknown` (nothing when none).
fn log_abandoned(n: usize) {
    if n > 0 {
        tracing::warn!(
            rows = n,
            "claims left `sending` by a stopped proxy are now `unknown`: each order is read back before it can be sent again"
        );
    }
}

pub fn ledger(command: &LedgerCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let at: &LedgerAt = match command {
        LedgerCommand::Show { at, .. }
        | LedgerCommand::List { at, .. }
        | LedgerCommand::Export { at, .. } => at,
    };
    let Some(rt) = runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    rt.block_on(async {
        // A ledger that is not there is not created by looking at it.
        // The file as the ledger reads its URL (options and `%` escapes included); a URL
        // it cannot read is reported by `ledger::open` below.
        if let Some(path) = ledger::SqliteLedger::file_of(&at.ledger) {
            if !path.exists() {
                let path = path.display().to_string();
                let shown = match path.char_indices().nth(256) {
                    Some((end, _)) => format!("{}…", &path[..end]),
                    None => path,
                };
                let _ = writeln!(err, "error: no ledger at `{shown}`");
                return EXIT_BAD_INPUT;
            }
        }
        let ledger = match ledger::open(&at.ledger).await {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(err, "error: cannot open the ledger: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let scope = Scope {
            shop: at.shop.clone(),
            action: None,
        };
        match command {
            LedgerCommand::Show { order, .. } => show(&*ledger, &scope, order, out, err).await,
            LedgerCommand::List {
                state,
                limit,
                format,
                ..
            } => {
                let query = Query {
                    scope,
                    states: state
                        .iter()
                        .filter_map(|s| LedgerState::from_name(s))
                        .collect(),
                    after: None,
                    limit: Some(*limit),
                };
                match ledger.list(&query).await {
                    Ok(rows) => print_rows(&rows, *format, out, err),
                    Err(e) => {
                        let _ = writeln!(err, "error: {e}");
                        EXIT_BAD_INPUT
                    }
                }
            }
            LedgerCommand::Export { out: to, .. } => {
                let written = match to {
                    Some(path) => match std::fs::File::create(path) {
                        Ok(f) => {
                            let mut w = std::io::BufWriter::new(f);
                            let r = ledger::export_jsonl(&*ledger, &scope, &mut w).await;
                            r.and_then(|n| w.flush().map(|()| n).map_err(Into::into))
                        }
                        Err(e) => {
                            let _ = writeln!(err, "error: cannot write `{}`: {e}", path.display());
                            return EXIT_BAD_INPUT;
                        }
                    },
                    None => ledger::export_jsonl(&*ledger, &scope, out).await,
                };
                match written {
                    // A reader that stopped early (`| head`) is not an error of ours.
                    Err(ledger::ExportError::Write(e))
                        if e.kind() == std::io::ErrorKind::BrokenPipe =>
                    {
                        EXIT_OK
                    }
                    Ok(n) => {
                        let _ = writeln!(err, "exported {n} rows");
                        EXIT_OK
                    }
                    Err(e) => {
                        let _ = writeln!(err, "error: {e}");
                        EXIT_BAD_INPUT
                    }
                }
            }
        }
    })
}

/// Every row of one order: one `get` per action when the shop is known, else a scan of
/// the order's rows.
async fn show(
    ledger: &dyn Ledger,
    scope: &Scope,
    order: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // As the proxy keys it: width-normalised, invisible characters dropped, trimmed.
    let canonical = rms_preflight::model::canonical_order_number(order);
    let number = canonical.as_str();
    let mut rows = Vec::new();
    if let Some(shop) = &scope.shop {
        for action in rms_preflight::model::Action::ALL {
            match ledger.get(&Key::new(shop.clone(), number, action)).await {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return EXIT_BAD_INPUT;
                }
            }
        }
    } else {
        let mut query = Query {
            scope: scope.clone(),
            limit: Some(1000),
            ..Query::default()
        };
        loop {
            let page = match ledger.list(&query).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return EXIT_BAD_INPUT;
                }
            };
            rows.extend(
                page.iter()
                    .filter(|r| r.key.order_number == number)
                    .cloned(),
            );
            match page.last() {
                Some(last) if page.len() == 1000 => query.after = Some(last.key.clone()),
                _ => break,
            }
        }
    }
    if rows.is_empty() {
        let _ = writeln!(err, "no ledger row for `{number}`");
        // As `grep` does: found nothing, which a script may want to tell from a find.
        return EXIT_DENIED;
    }
    print_rows(&rows, Format::Text, out, err)
}

fn print_rows(
    rows: &[ledger::Row],
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut text = String::new();
    match format {
        Format::Json => {
            text = serde_json::to_string_pretty(rows).unwrap_or_default();
            text.push('\n');
        }
        Format::Text => {
            for r in rows {
                text.push_str(&format!(
                    "{}  {}  {}  {}  attempts {}  updated {}\n",
                    r.key.shop,
                    r.key.order_number,
                    r.key.action.name(),
                    r.state,
                    r.attempts,
                    millis_text(r.updated_at_ms),
                ));
            }
        }
    }
    match out.write_all(text.as_bytes()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// Milliseconds since the epoch as a JST timestamp.
fn millis_text(ms: i64) -> String {
    rms_preflight::model::Timestamp::from_unix(ms.div_euclid(1000), 9 * 3600).to_string()
}
