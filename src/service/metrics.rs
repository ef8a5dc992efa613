//! The counters behind `GET /metrics` (Prometheus text format 0.0.4): answers by route and
//! status, time to the answer's head by route (a histogram), decisions by action, findings
//! by rule and action, rule reloads, and the rules version answering now.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::Verdict;
use crate::model::Request;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The service's counters: one set per worker thread (`thread_local`), summed when
/// rendered. Every request counts itself; with one shared lock, the workers queued on it.
#[derive(Debug, Default)]
pub struct Metrics {
    shards: thread_local::ThreadLocal<Mutex<Counters>>,
}

/// Findings of one rule: (seed tag, action, severity, count); a handful a rule.
type RuleFindings = Vec<(String, &'static str, &'static str, u64)>;

#[derive(Debug, Default, Clone)]
struct Counters {
    /// By route: answers by status, and the latency histogram.
    routes: BTreeMap<String, (BTreeMap<u16, u64>, Histogram)>,
    decisions: BTreeMap<(&'static str, &'static str), u64>,
    /// By rule id, looked up by `&str`: counting allocates only for a new combination.
    findings: BTreeMap<String, RuleFindings>,
    reloads_ok: u64,
    reloads_failed: u64,
}

impl Counters {
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &Counters) {
        for (route, (statuses, h)) in &other.routes {
            let (mine, hist) = self.routes.entry(route.clone()).or_default();
            for (status, n) in statuses {
                *mine.entry(*status).or_default() += n;
            }
            for (b, n) in hist.buckets.iter_mut().zip(h.buckets) {
                *b += n;
            }
            hist.count += h.count;
            hist.sum += h.sum;
        }
        for (k, n) in &other.decisions {
            *self.decisions.entry(*k).or_default() += n;
        }
        for (rule, found) in &other.findings {
            let mine = self.findings.entry(rule.clone()).or_default();
            for (source, action, severity, n) in found {
                match mine
                    .iter_mut()
                    .find(|(s, a, v, _)| s == source && a == action && v == severity)
                {
                    Some((_, _, _, m)) => *m += n,
                    None => mine.push((source.clone(), action, severity, *n)),
                }
            }
        }
        self.reloads_ok += other.reloads_ok;
        self.reloads_failed += other.reloads_failed;
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counters starting at zero.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// This thread's counters (its own lock: taken by another thread only to render).
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        match self.shards.get_or_default().lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Every thread's counters, summed.
    fn total(&self) -> Counters {
        let mut total = Counters::default();
        for shard in self.shards.iter() {
            let c = match shard.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            total.add(&c);
        }
        total
    }

    /// Counts one answer.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        let mut c = self.lock();
        // Looked up by `&str`: no allocation but for a route's first answer.
        let (statuses, h) = match c.routes.get_mut(route) {
            Some(r) => r,
            None => c.routes.entry(route.to_owned()).or_default(),
        };
        *statuses.entry(status).or_default() += 1;
        let secs = took.as_secs_f64();
        h.count += 1;
        h.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            h.buckets[i] += 1;
        }
    }

    /// Counts one verdict: its decision and its findings (one lock; no allocation but
    /// for a combination seen the first time).
    pub fn count(&self, request: &Request, verdict: &Verdict<'_>) {
        let action = request.action.name();
        let mut c = self.lock();
        *c.decisions
            .entry((action, verdict.decision.name()))
            .or_default() += 1;
        for f in &verdict.findings {
            let severity = f.severity.name();
            let rule = match c.findings.get_mut(f.rule.as_ref()) {
                Some(r) => r,
                None => c.findings.entry(f.rule.to_string()).or_default(),
            };
            match rule.iter_mut().find(|(source, a, s, _)| {
                source == f.source.as_ref() && *a == action && *s == severity
            }) {
                Some((_, _, _, n)) => *n += 1,
                None => rule.push((f.source.to_string(), action, severity, 1)),
            }
        }
    }

    /// Counts a reload: `Some(version)` loaded, `None` refused.
    pub fn reloaded(&self, version: Option<&str>) {
        let mut c = self.lock();
        match version {
            Some(_) => c.reloads_ok += 1,
            None => c.reloads_failed += 1,
        }
    }

    /// The Prometheus text, with `version` as the rules answering now.
    pub fn render(&self, version: &str) -> String {
        let c = self.total();
        let mut s = String::new();
        s += "# HELP rms_preflight_http_requests_total Answers, by route and status.\n";
        s += "# TYPE rms_preflight_http_requests_total counter\n";
        for (route, (statuses, _)) in &c.routes {
            for (status, n) in statuses {
                let _ = writeln!(
                    s,
                    "rms_preflight_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        s += "# HELP rms_preflight_http_request_duration_seconds Time from a request to its answer's head, by route.\n";
        s += "# TYPE rms_preflight_http_request_duration_seconds histogram\n";
        for (route, (_, h)) in &c.routes {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    s,
                    "rms_preflight_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                s,
                "rms_preflight_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "rms_preflight_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "rms_preflight_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        s += "# HELP rms_preflight_decisions_total Checked requests, by action and decision.\n";
        s += "# TYPE rms_preflight_decisions_total counter\n";
        for ((action, decision), n) in &c.decisions {
            let _ = writeln!(
                s,
                "rms_preflight_decisions_total{{action=\"{action}\",decision=\"{decision}\"}} {n}"
            );
        }
        s += "# HELP rms_preflight_findings_total Findings, by rule (and its seed tag), action and severity.\n";
        s += "# TYPE rms_preflight_findings_total counter\n";
        for (rule, found) in &c.findings {
            let mut found = found.clone();
            found.sort();
            for (source, action, severity, n) in &found {
                let _ = writeln!(
                s,
                "rms_preflight_findings_total{{rule=\"{}\",source=\"{}\",action=\"{action}\",severity=\"{severity}\"}} {n}",
                escape(rule),
                escape(source)
            );
            }
        }
        s += "# HELP rms_preflight_rules_reloads_total Rule reloads, by result (a refused file leaves the old rules serving).\n";
        s += "# TYPE rms_preflight_rules_reloads_total counter\n";
        let _ = writeln!(
            s,
            "rms_preflight_rules_reloads_total{{result=\"ok\"}} {}",
            c.reloads_ok
        );
        let _ = writeln!(
            s,
            "rms_preflight_rules_reloads_total{{result=\"refused\"}} {}",
            c.reloads_failed
        );
        s += "# HELP rms_preflight_rules_info The rules answering now (version: a hash of the rules text).\n";
        s += "# TYPE rms_preflight_rules_info gauge\n";
        let _ = writeln!(
            s,
            "rms_preflight_rules_info{{version=\"{}\"}} 1",
            escape(version)
        );
        s
    }
}

/// A label value: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each thread counts into its own set; the rendered text is the sum of all.
    #[test]
    fn counts_from_every_thread_are_summed() {
        let metrics = Metrics::new();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..5 {
                        metrics.request("/v1/check", 200, Duration::from_micros(80));
                    }
                    metrics.request("/v1/check", 400, Duration::from_millis(2));
                });
            }
        });
        metrics.reloaded(None);
        let text = metrics.render("v1");
        assert!(
            text.contains(
                r#"rms_preflight_http_requests_total{route="/v1/check",status="200"} 15"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"rms_preflight_http_requests_total{route="/v1/check",status="400"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rms_preflight_http_request_duration_seconds_bucket{route="/v1/check",le="0.0001"} 15"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rms_preflight_http_request_duration_seconds_count{route="/v1/check"} 18"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"rms_preflight_rules_reloads_total{result="refused"} 1"#),
            "{text}"
        );
    }
}
