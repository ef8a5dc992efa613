//! The proxy's counters, rendered as Prometheus text at `GET /-/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::ledger::LedgerState;

/// Upper bounds (seconds) of the upstream latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters by label, and the upstream latency histogram.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests by function (`other` for paths that name none).
    calls: Mutex<BTreeMap<String, u64>>,
    /// Orders (or calls, for reads) sent upstream, by function.
    forwarded: Mutex<BTreeMap<String, u64>>,
    /// Orders denied, by rule (in `--dry-run`: would have been denied).
    denied: Mutex<BTreeMap<String, u64>>,
    /// Requests refused before any check (bad path, bad body, no shop).
    refused: AtomicU64,
    upstream_calls: AtomicU64,
    upstream_errors: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, label: &str, by: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(label.to_owned()).or_default() += by;
    }
}

fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    map.lock().map(|m| m.clone()).unwrap_or_default()
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn call(&self, function: &str) {
        bump(&self.calls, function, 1);
    }

    pub fn forwarded(&self, function: &str, orders: u64) {
        bump(&self.forwarded, function, orders);
    }

    pub fn denied(&self, rule: &str) {
        bump(&self.denied, rule, 1);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// One upstream call, how long it took and whether it got an answer.
    pub fn upstream(&self, elapsed: Duration, answered: bool) {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        if !answered {
            self.upstream_errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Upstream calls so far.
    pub fn upstream_calls(&self) -> u64 {
        self.upstream_calls.load(Ordering::Relaxed)
    }

    /// Prometheus text; `ledger` is the row count per state, `dry_run` marks the mode.
    pub fn render(&self, ledger: Option<&[(LedgerState, u64)]>, dry_run: bool) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let by = |key: &str, m: BTreeMap<String, u64>| -> Vec<(String, u64)> {
            m.into_iter()
                .map(|(k, v)| (format!("{{{key}=\"{}\"}}", label(&k)), v))
                .collect()
        };
        family(
            "rms_preflight_proxy_calls_total",
            "counter",
            "requests received, by RMS function",
            by("function", snapshot(&self.calls)),
        );
        family(
            "rms_preflight_proxy_forwarded_total",
            "counter",
            "orders (reads: calls) sent upstream, by RMS function",
            by("function", snapshot(&self.forwarded)),
        );
        family(
            if dry_run {
                "rms_preflight_proxy_would_deny_total"
            } else {
                "rms_preflight_proxy_denied_total"
            },
            "counter",
            "orders denied by the rules (dry run: that would have been), by rule",
            by("rule", snapshot(&self.denied)),
        );
        family(
            "rms_preflight_proxy_refused_total",
            "counter",
            "requests refused before any check (unknown path, unreadable body, no shop)",
            vec![(String::new(), self.refused.load(Ordering::Relaxed))],
        );
        family(
            "rms_preflight_proxy_upstream_errors_total",
            "counter",
            "upstream calls that got no answer",
            vec![(String::new(), self.upstream_errors.load(Ordering::Relaxed))],
        );
        if let Some(ledger) = ledger {
            family(
                "rms_preflight_ledger_rows",
                "gauge",
                "ledger rows by state",
                LedgerState::NAMES
                    .iter()
                    .map(|name| {
                        let n = ledger
                            .iter()
                            .find(|(s, _)| s.name() == *name)
                            .map_or(0, |(_, n)| *n);
                        (format!("{{state=\"{name}\"}}"), n)
                    })
                    .collect(),
            );
        }
        let _ = writeln!(
            out,
            "# HELP rms_preflight_proxy_upstream_seconds upstream call latency"
        );
        let _ = writeln!(out, "# TYPE rms_preflight_proxy_upstream_seconds histogram");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "rms_preflight_proxy_upstream_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "rms_preflight_proxy_upstream_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "rms_preflight_proxy_upstream_seconds_sum {sum}");
        let _ = writeln!(out, "rms_preflight_proxy_upstream_seconds_count {count}");
        out
    }
}
