//! The HTML scenario report: one self-contained page (CSS and script inline, diagrams as
//! inline SVG drawn here, nothing fetched) for a person who must understand a run.
//!
//! The page holds a summary (passed/failed, times, seed tags covered, a "failing only"
//! filter), then per scenario, per order, a timeline on the virtual clock — each step with
//! the guard's verdict (rule, seed tag, message, remedy), the RMS calls (function, HTTP
//! status, injected fault, lost answer, reconciliation read), the moves of the order
//! (screening, a buyer's cancellation, auto-cancel…), its `orderProgress` and OMS label
//! after the step — a sequence diagram OMS → guard → RMS for each bulk call, and each
//! failing expectation with expected vs got and the step's whole context. The page opens
//! scrolled to the first failure. Then the rule coverage.
//!
//! Every text that comes from a scenario, a rules file or RMS goes through [`esc`]; the
//! script is a constant and reads nothing but the DOM.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::coverage::{plural, Coverage, ItemKind};
use super::rms::FaultKind;
use super::runner::{CallTrace, ScenarioReport, StepKind, StepReport};
use crate::engine::Decision;
use crate::guard::{Outcome, Report};
use crate::model::Label;
use crate::rules::{Lang, RulesFile};

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The page's own words, in both languages.
struct Words {
    title: &'static str,
    passed: &'static str,
    failed: &'static str,
    scenarios: &'static str,
    wall: &'static str,
    virtual_time: &'static str,
    calls: &'static str,
    tags_covered: &'static str,
    failing_only: &'static str,
    step: &'static str,
    steps: &'static str,
    expected: &'static str,
    got: &'static str,
    error: &'static str,
    context: &'static str,
    remedy: &'static str,
    outcome: &'static str,
    after: &'static str,
    label: &'static str,
    no_answer: &'static str,
    lost_answer: &'static str,
    reconciliation: &'static str,
    fault: &'static str,
    call_note: &'static str,
    moves: &'static str,
    coverage: &'static str,
    not_exercised: &'static str,
    exercised_by: &'static str,
    reason: &'static str,
    no_reason: &'static str,
    bulk_call: &'static str,
    scenario_wide: &'static str,
    order: &'static str,
    reconciled: &'static str,
    why: &'static str,
}

const EN: Words = Words {
    title: "rms-preflight scenario report",
    passed: "passed",
    failed: "failed",
    scenarios: "scenarios",
    wall: "wall-clock time",
    virtual_time: "virtual time",
    calls: "RMS calls",
    tags_covered: "seed tags exercised",
    failing_only: "failing only",
    step: "step",
    steps: "steps",
    expected: "expected",
    got: "got",
    error: "error",
    context: "context of the step",
    remedy: "remedy",
    outcome: "outcome",
    after: "after the step",
    label: "OMS label",
    no_answer: "no answer (timeout)",
    lost_answer: "answer lost (RMS acted)",
    reconciliation: "reconciliation read",
    fault: "injected fault",
    call_note: "note",
    moves: "moves",
    coverage: "Rule coverage",
    not_exercised: "not exercised",
    exercised_by: "exercised by",
    reason: "reason",
    no_reason: "no reason given",
    bulk_call: "bulk call",
    scenario_wide: "scenario (no order)",
    order: "order",
    reconciled: "reconciled by reading the order back",
    why: "explanation",
};

const JA: Words = Words {
    title: "rms-preflight シナリオレポート",
    passed: "成功",
    failed: "失敗",
    scenarios: "シナリオ",
    wall: "実時間",
    virtual_time: "仮想時間",
    calls: "RMS呼び出し",
    tags_covered: "実行されたシードタグ",
    failing_only: "失敗のみ表示",
    step: "ステップ",
    steps: "ステップ",
    expected: "期待",
    got: "実際",
    error: "エラー",
    context: "ステップの状況",
    remedy: "対処",
    outcome: "結果",
    after: "ステップ後",
    label: "OMSラベル",
    no_answer: "応答なし（タイムアウト）",
    lost_answer: "応答消失（RMSは処理済み）",
    reconciliation: "照合のための読み戻し",
    fault: "注入した障害",
    call_note: "備考",
    moves: "状態遷移",
    coverage: "ルールカバレッジ",
    not_exercised: "未実行",
    exercised_by: "実行したステップ",
    reason: "理由",
    no_reason: "理由なし",
    bulk_call: "一括呼び出し",
    scenario_wide: "シナリオ全体（注文なし）",
    order: "注文",
    reconciled: "注文を読み戻して照合済み",
    why: "説明",
};

const STYLE: &str = r#"
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mute:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:0;color:#1f2328;background:#fff}
header{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:10px 20px}
h1{font-size:20px;margin:0 0 6px}
h2{font-size:17px;margin:0}
h3{font-size:14px;margin:12px 0 4px}
main{padding:10px 20px 40px}
.summary{display:flex;flex-wrap:wrap;gap:14px;align-items:center}
.count-ok{color:var(--ok);font-weight:600}.count-bad{color:var(--bad);font-weight:600}
.chips{display:flex;flex-wrap:wrap;gap:3px}
.chip{font-size:11px;padding:1px 5px;border-radius:8px;border:1px solid var(--line);color:var(--mute)}
.chip.on{background:#dafbe1;border-color:#4ac26b;color:#116329}
nav ul{list-style:none;padding:0;margin:6px 0;columns:2}
nav a{text-decoration:none}
section.scenario{border:1px solid var(--line);border-radius:6px;margin:14px 0;padding:10px 14px}
section.scenario.failed{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad) inset}
body.failing-only section.scenario.passed, body.failing-only nav li.passed{display:none}
.mark-ok{color:var(--ok)}.mark-bad{color:var(--bad)}
.meta{color:var(--mute);font-size:12px}
ol.timeline{list-style:none;margin:0;padding:0 0 0 14px;border-left:3px solid var(--line)}
ol.timeline>li{position:relative;margin:6px 0;padding:4px 8px;border-radius:4px}
ol.timeline>li::before{content:"";position:absolute;left:-22px;top:9px;width:11px;height:11px;border-radius:50%;background:var(--line)}
ol.timeline>li.oms-action::before{background:#0969da}
ol.timeline>li.event::before{background:#8250df}
ol.timeline>li.step-failed{background:#ffebe9;border:1px solid var(--bad)}
ol.timeline>li.step-failed::before{background:var(--bad)}
ol.timeline>li.compact{color:var(--mute);font-size:12px;padding:1px 8px}
.at{font-family:ui-monospace,monospace;font-size:12px;color:var(--mute);margin-right:6px}
.what{font-weight:600}
.decision{font-size:11px;font-weight:700;padding:0 5px;border-radius:3px;margin-left:6px;text-transform:uppercase}
.decision.allow{background:#dafbe1;color:#116329}.decision.warn{background:#fff8c5;color:var(--warn)}.decision.deny{background:#ffebe9;color:var(--bad)}
.finding{margin:3px 0 3px 8px}
.tag{font-family:ui-monospace,monospace;font-size:12px;background:var(--bg);border:1px solid var(--line);border-radius:3px;padding:0 3px}
.rule{font-family:ui-monospace,monospace;font-size:12px}
ol.remedy{margin:2px 0 2px 18px;padding-left:14px;font-size:13px}
table{border-collapse:collapse;margin:4px 0}
td,th{border:1px solid var(--line);padding:2px 6px;font-size:12px;text-align:left;vertical-align:top}
th{background:var(--bg)}
.calls td.bad{color:var(--bad);font-weight:600}
.state{font-size:12px;color:var(--mute)}
.mismatch{margin:6px 0;padding:6px 8px;background:#fff;border:1px dashed var(--bad);border-radius:4px}
.mismatch .exp{color:var(--ok)}.mismatch .got{color:var(--bad);font-weight:600}
details.lane{margin:6px 0}
details.lane>summary{cursor:pointer;font-weight:600}
svg.seq{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;background:#fff;margin:6px 0}
.cov-missing{color:var(--bad)}
.cov-gap{color:var(--warn)}
"#;

const SCRIPT: &str = r#"
(function(){
  var box=document.getElementById('failing-only');
  if(box){box.addEventListener('change',function(){document.body.classList.toggle('failing-only',box.checked);});}
  var first=document.getElementById('first-failure');
  if(first){
    var d=first.closest('details');
    while(d){d.open=true;d=d.parentElement?d.parentElement.closest('details'):null;}
    var go=function(){first.scrollIntoView({block:'center'});document.body.setAttribute('data-scrolled-to','first-failure');};
    go();
    window.addEventListener('load',go);
  }
})();
"#;

/// Renders the report of `reports` (run with `rules`), with `coverage`, in `lang`.
pub fn html(
    reports: &[ScenarioReport],
    rules: &RulesFile,
    coverage: &Coverage,
    lang: Lang,
) -> String {
    let w = match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    };
    let mut page = Page {
        out: String::with_capacity(64 * 1024),
        rules,
        lang,
        w,
        first_failure_placed: false,
        // The earliest failing step: the first scenario with a failure, its lowest step
        // (timelines are grouped by order, so page order is not step order).
        first_failure: reports.iter().enumerate().find_map(|(i, r)| {
            r.steps
                .iter()
                .filter(|s| !s.passed())
                .map(|s| s.index)
                .min()
                .map(|step| (i, step))
        }),
        ids: BTreeSet::new(),
    };
    page.document(reports, coverage);
    page.out
}

struct Page<'a> {
    out: String,
    rules: &'a RulesFile,
    lang: Lang,
    w: &'static Words,
    first_failure_placed: bool,
    /// (scenario, step index) the page opens at.
    first_failure: Option<(usize, usize)>,
    ids: BTreeSet<String>,
}

fn step_id(scenario: usize, step: usize) -> String {
    format!("sc{scenario}-st{}", step + 1)
}

/// Orders a step involved: those it names, those its verdicts, calls and moves name.
fn involved(step: &StepReport) -> BTreeSet<String> {
    let t = &step.trace;
    let mut set: BTreeSet<String> = t.orders.iter().cloned().collect();
    if let Some(r) = &t.result {
        set.extend(r.reports.iter().map(|(n, _)| n.clone()));
        set.extend(r.outcomes.iter().map(|(n, _)| n.clone()));
    }
    for c in &t.calls {
        set.extend(c.call.orders.iter().cloned());
    }
    set.extend(t.moves.iter().map(|m| m.order.clone()));
    set
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Warn => "warn",
        Decision::Deny => "deny",
    }
}

fn label_name(l: Label) -> &'static str {
    match l {
        Label::None => "—",
        Label::Processing => "【楽天処理中】",
        Label::Processed => "【楽天処理済】",
    }
}

impl Page<'_> {
    fn status_name(&self, code: i64) -> String {
        self.rules
            .statuses
            .iter()
            .find(|s| s.code == code)
            .map_or_else(String::new, |s| s.name.get(self.lang).to_owned())
    }

    fn document(&mut self, reports: &[ScenarioReport], coverage: &Coverage) {
        let w = self.w;
        let passed = reports.iter().filter(|r| r.passed()).count();
        let failed = reports.len() - passed;
        let wall: f64 = reports.iter().map(|r| r.wall_ms).sum();
        let virt: u64 = reports.iter().map(|r| r.virtual_seconds).sum();
        let calls: usize = reports.iter().map(|r| r.calls).sum();
        let lang = match self.lang {
            Lang::Ja => "ja",
            Lang::En => "en",
        };
        let o = &mut self.out;
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n",
            esc(w.title)
        );
        let _ = write!(
            o,
            "<body data-passed=\"{passed}\" data-failed=\"{failed}\">\n<header>\n<h1>{}</h1>\n<div class=\"summary\">\
             <span class=\"count-ok\" id=\"count-passed\">{passed} {}</span>\
             <span class=\"count-bad\" id=\"count-failed\">{failed} {}</span>\
             <span>{} {}</span><span>{}: {:.1} ms</span><span>{}: {}</span><span>{}: {calls}</span>\
             <label><input type=\"checkbox\" id=\"failing-only\"> {}</label></div>\n",
            esc(w.title),
            esc(w.passed),
            esc(w.failed),
            reports.len(),
            esc(w.scenarios),
            esc(w.wall),
            wall,
            esc(w.virtual_time),
            super::report::human(virt),
            esc(w.calls),
            esc(w.failing_only),
        );
        let tags = coverage.items.iter().filter(|i| i.kind == ItemKind::Tag);
        let on = tags.clone().filter(|i| i.exercised).count();
        let total = tags.clone().count();
        let _ = write!(
            o,
            "<div class=\"summary\"><span>{} {on}/{total}</span><span class=\"chips\">",
            esc(w.tags_covered)
        );
        for t in tags {
            let _ = write!(
                o,
                "<span class=\"chip{}\" title=\"{}\">{}</span>",
                if t.exercised { " on" } else { "" },
                esc(&coverage_by(t)),
                esc(&t.id)
            );
        }
        o.push_str("</span></div>\n</header>\n<main>\n<nav><ul>\n");
        for (i, r) in reports.iter().enumerate() {
            let (cls, mark, m) = if r.passed() {
                ("passed", "mark-ok", "✓")
            } else {
                ("failed", "mark-bad", "✗")
            };
            let _ = writeln!(
                o,
                "<li class=\"{cls}\"><a href=\"#sc{i}\"><span class=\"{mark}\">{m}</span> {}</a></li>",
                esc(&r.name)
            );
        }
        o.push_str("</ul></nav>\n");
        for (i, r) in reports.iter().enumerate() {
            self.scenario(i, r);
        }
        self.coverage(coverage, reports);
        let _ = write!(
            self.out,
            "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
        );
    }

    fn scenario(&mut self, i: usize, r: &ScenarioReport) {
        let w = self.w;
        let (cls, mark, m) = if r.passed() {
            ("passed", "mark-ok", "✓")
        } else {
            ("failed", "mark-bad", "✗")
        };
        let tags: String = r
            .tags
            .iter()
            .map(|t| format!(" <span class=\"tag\">{}</span>", esc(t)))
            .collect();
        let _ = write!(
            self.out,
            "<section class=\"scenario {cls}\" id=\"sc{i}\" data-file=\"{}\" data-name=\"{}\" data-status=\"{cls}\">\n\
             <h2><span class=\"{mark}\">{m}</span> {}{tags}</h2>\n\
             <p class=\"meta\">{} · {} {} · {} {} · {} {} · {:.1} ms</p>\n",
            esc(&r.file),
            esc(&r.name),
            esc(&r.name),
            esc(&r.file),
            r.steps.len(),
            esc(w.steps),
            esc(w.virtual_time),
            super::report::human(r.virtual_seconds),
            r.calls,
            esc(w.calls),
            r.wall_ms,
        );
        // Bulk calls: a sequence diagram each.
        for (k, s) in r.steps.iter().enumerate() {
            if s.trace.bulk {
                let _ = writeln!(
                    self.out,
                    "<h3>{} — {} {} ({})</h3>",
                    esc(w.bulk_call),
                    esc(w.step),
                    s.index + 1,
                    esc(&s.what)
                );
                self.out
                    .push_str(&sequence_diagram(s, w, &format!("arrow-{i}-{k}")));
            }
        }
        // Lanes: one per order; steps that involve no order in a lane of their own.
        let mut orders: BTreeSet<String> = BTreeSet::new();
        let mut global_any = false;
        for s in &r.steps {
            let inv = involved(s);
            global_any |= inv.is_empty() && !s.passed();
            orders.extend(inv);
        }
        if let Some(last) = r.steps.last() {
            orders.extend(last.trace.after.iter().map(|a| a.order.clone()));
        }
        if orders.is_empty() || global_any {
            let _ = write!(
                self.out,
                "<details class=\"lane\" open><summary>{}</summary>\n<ol class=\"timeline\">\n",
                esc(w.scenario_wide)
            );
            for s in &r.steps {
                if involved(s).is_empty() {
                    self.step(i, s, None);
                }
            }
            self.out.push_str("</ol></details>\n");
        }
        for n in &orders {
            let failing = r
                .steps
                .iter()
                .any(|s| !s.passed() && involved(s).contains(n));
            let _ = write!(
                self.out,
                "<details class=\"lane\" data-order=\"{}\"{}><summary>{} {}{}</summary>\n<ol class=\"timeline\">\n",
                esc(n),
                if failing || r.steps.len() <= 12 || !r.passed() { " open" } else { "" },
                esc(w.order),
                esc(n),
                if failing { " <span class=\"mark-bad\">✗</span>" } else { "" },
            );
            for s in &r.steps {
                let inv = involved(s);
                if inv.contains(n) {
                    self.step(i, s, Some(n));
                } else if inv.is_empty() {
                    self.compact(i, s);
                }
            }
            self.out.push_str("</ol></details>\n");
        }
        self.out.push_str("</section>\n");
    }

    fn anchor(&mut self, scenario: usize, s: &StepReport) -> String {
        let mut attrs = String::new();
        let id = step_id(scenario, s.index);
        if self.first_failure == Some((scenario, s.index)) && !self.first_failure_placed {
            self.first_failure_placed = true;
            let _ = write!(attrs, " id=\"first-failure\" data-step-id=\"{id}\"");
            self.ids.insert(id);
        } else if self.ids.insert(id.clone()) {
            let _ = write!(attrs, " id=\"{id}\"");
        }
        attrs
    }

    fn step_head(&mut self, s: &StepReport) {
        let at = s.at.replace('T', " ");
        let short = at.get(..19).unwrap_or(&at).to_owned();
        let _ = write!(
            self.out,
            "<span class=\"at\" title=\"{}\">{}</span><span class=\"num\">#{}</span> <span class=\"what\">{}</span>",
            esc(&s.at),
            esc(&short),
            s.index + 1,
            esc(&s.what)
        );
    }

    fn compact(&mut self, scenario: usize, s: &StepReport) {
        if !s.passed() {
            self.step(scenario, s, None);
            return;
        }
        let attrs = self.anchor(scenario, s);
        let _ = write!(self.out, "<li class=\"compact\"{attrs}>");
        self.step_head(s);
        self.out.push_str("</li>\n");
    }

    /// A step in a lane: all of it for `order` (or the whole step for none).
    fn step(&mut self, scenario: usize, s: &StepReport, order: Option<&str>) {
        let w = self.w;
        let kind = match s.trace.kind {
            StepKind::OmsAction => "oms-action",
            StepKind::Event => "event",
            StepKind::Advance => "advance",
            StepKind::Setup => "setup",
            StepKind::Expect => "expect",
        };
        let failed = if s.passed() { "" } else { " step-failed" };
        let attrs = self.anchor(scenario, s);
        let _ = write!(
            self.out,
            "<li class=\"step {kind}{failed}\" data-step=\"{}\"{attrs}>",
            s.index + 1
        );
        self.step_head(s);
        let t = &s.trace;
        let mine = |n: &str| order.is_none_or(|o| o == n);
        if let Some(result) = &t.result {
            for (n, report) in result.reports.iter().filter(|(n, _)| mine(n)) {
                if order.is_none() || result.reports.len() > 1 {
                    let _ = write!(self.out, " <span class=\"rule\">{}</span>", esc(n));
                }
                self.verdict(report);
            }
            for (n, outcome) in result.outcomes.iter().filter(|(n, _)| mine(n)) {
                self.outcome(n, outcome);
            }
        }
        let calls: Vec<&CallTrace> = t
            .calls
            .iter()
            .filter(|c| order.is_none_or(|o| c.call.orders.iter().any(|n| n == o)))
            .collect();
        if !calls.is_empty() {
            self.calls(&calls);
        }
        let moves: Vec<_> = t.moves.iter().filter(|m| mine(&m.order)).collect();
        if !moves.is_empty() {
            let _ = write!(self.out, "<div class=\"moves\">{}: ", esc(w.moves));
            for (k, m) in moves.iter().enumerate() {
                if k > 0 {
                    self.out.push_str(", ");
                }
                let _ = write!(
                    self.out,
                    "<span class=\"move\" data-via=\"{}\">{} {} → {} {} <em>{}</em>{}</span>",
                    esc(&m.via),
                    m.from,
                    esc(&self.status_name(m.from)),
                    m.to,
                    esc(&self.status_name(m.to)),
                    esc(&m.via),
                    if order.is_none() {
                        format!(" ({})", esc(&m.order))
                    } else {
                        String::new()
                    }
                );
            }
            self.out.push_str("</div>\n");
        }
        if let Some(n) = order {
            self.state_after(s, n, false);
        }
        if !s.passed() {
            self.failure(s);
        }
        self.out.push_str("</li>\n");
    }

    fn verdict(&mut self, report: &Report) {
        let d = decision_name(report.decision);
        let _ = writeln!(self.out, "<span class=\"decision {d}\">{d}</span>");
        for f in &report.findings {
            let _ = write!(
                self.out,
                "<div class=\"finding\" data-rule=\"{}\"><span class=\"tag\">{}</span> <span class=\"rule\">{}</span> ({}) {}",
                esc(&f.rule),
                esc(&f.source),
                esc(&f.rule),
                f.severity.name(),
                esc(f.message.get(self.lang))
            );
            for r in &f.remedies {
                let _ = write!(
                    self.out,
                    "<div>{} <span class=\"tag\">{}</span><ol class=\"remedy\">",
                    esc(self.w.remedy),
                    esc(&r.source)
                );
                for step in r.steps.iter() {
                    let _ = write!(self.out, "<li>{}</li>", esc(step.get(self.lang)));
                }
                self.out.push_str("</ol></div>");
            }
            self.out.push_str("</div>\n");
        }
    }

    fn outcome(&mut self, _n: &str, outcome: &Outcome) {
        let w = self.w;
        match outcome {
            Outcome::Denied(_) => {}
            Outcome::Done(d) => {
                let _ = writeln!(
                    self.out,
                    "<div class=\"outcome done\">{}: done{}</div>",
                    esc(w.outcome),
                    if d.reconciled {
                        format!(" — {}", esc(w.reconciled))
                    } else {
                        String::new()
                    }
                );
            }
            Outcome::Failed(f) => {
                let _ = write!(
                    self.out,
                    "<div class=\"outcome failed finding\" data-error=\"{}\">{}: <span class=\"decision deny\">failed</span> <span class=\"tag\">{}</span> <span class=\"rule\">{}</span> {}<div class=\"meta\">{}</div><div>{}<ol class=\"remedy\">",
                    esc(&f.error),
                    esc(w.outcome),
                    esc(&f.source),
                    esc(&f.error),
                    esc(f.message.get(self.lang)),
                    esc(&f.detail),
                    esc(w.remedy),
                );
                for r in &f.remedy {
                    let _ = write!(self.out, "<li>{}</li>", esc(r.get(self.lang)));
                }
                self.out.push_str("</ol></div></div>\n");
            }
        }
    }

    fn calls(&mut self, calls: &[&CallTrace]) {
        let w = self.w;
        let _ = writeln!(
            self.out,
            "<table class=\"calls\"><tr><th>{}</th><th>{}</th><th>HTTP</th><th>{}</th><th>{}</th></tr>",
            esc(w.calls),
            esc(w.order),
            esc(w.fault),
            esc(w.call_note)
        );
        for c in calls {
            let status = if c.call.status == 0 {
                esc(w.no_answer)
            } else {
                c.call.status.to_string()
            };
            let bad = if c.call.status == 0 || c.call.status >= 400 || c.lost_answer {
                " class=\"bad\""
            } else {
                ""
            };
            let fault = c.call.fault.map_or_else(String::new, fault_name);
            let mut note = Vec::new();
            if c.lost_answer {
                note.push(w.lost_answer);
            }
            if c.reconciliation {
                note.push(w.reconciliation);
            }
            let orders = if c.call.orders.len() > 3 {
                format!("{} ×{}", c.call.orders[0], c.call.orders.len())
            } else {
                c.call.orders.join(", ")
            };
            let _ = writeln!(
                self.out,
                "<tr data-function=\"{}\"><td>{}</td><td>{}</td><td{bad}>{status}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.call.function),
                esc(&c.call.function),
                esc(&orders),
                esc(&fault),
                esc(&note.join(", ")),
            );
        }
        self.out.push_str("</table>\n");
    }

    fn state_after(&mut self, s: &StepReport, n: &str, named: bool) {
        let w = self.w;
        let who = if named {
            format!("{} ", esc(n))
        } else {
            String::new()
        };
        if let Some(a) = s.trace.after.iter().find(|a| a.order == n) {
            let progress = a.progress.map_or_else(
                || "—".to_owned(),
                |p| format!("{p} {}", self.status_name(p)),
            );
            let _ = writeln!(
                self.out,
                "<div class=\"state\" data-progress=\"{}\" data-label=\"{}\">{who}{}: orderProgress {} · {} {}{}</div>",
                a.progress.map_or_else(String::new, |p| p.to_string()),
                a.label.name(),
                esc(w.after),
                esc(&progress),
                esc(w.label),
                label_name(a.label),
                a.last_error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(" · last error {}", esc(e)))
            );
        }
    }

    fn failure(&mut self, s: &StepReport) {
        let w = self.w;
        self.out.push_str("<div class=\"mismatch\">");
        if let Some(e) = &s.error {
            let _ = write!(
                self.out,
                "<div><b>{}</b>: <span class=\"got\">{}</span></div>",
                esc(w.error),
                esc(e)
            );
        }
        if !s.mismatches.is_empty() {
            let _ = write!(
                self.out,
                "<table><tr><th></th><th>{}</th><th>{}</th></tr>",
                esc(w.expected),
                esc(w.got)
            );
            for m in &s.mismatches {
                let _ = write!(
                    self.out,
                    "<tr class=\"expectation\"><td>{}</td><td class=\"exp\">{}</td><td class=\"got\">{}</td></tr>",
                    esc(&m.what),
                    esc(&m.expected),
                    esc(&m.got)
                );
            }
            self.out.push_str("</table>");
        }
        let _ = write!(
            self.out,
            "<details open><summary>{} ({} {}, {})</summary>",
            esc(w.context),
            esc(w.step),
            s.index + 1,
            esc(&s.at)
        );
        if !s.explanation.is_empty() {
            let _ = write!(self.out, "<div>{}:</div><ul>", esc(w.why));
            for line in &s.explanation {
                let _ = write!(self.out, "<li>{}</li>", esc(line));
            }
            self.out.push_str("</ul>");
        }
        let calls: Vec<&CallTrace> = s.trace.calls.iter().collect();
        if !calls.is_empty() {
            self.calls(&calls);
        }
        for a in &s.trace.after {
            self.state_after(s, &a.order, true);
        }
        self.out.push_str("</details></div>\n");
    }

    fn coverage(&mut self, c: &Coverage, reports: &[ScenarioReport]) {
        let w = self.w;
        let _ = write!(
            self.out,
            "<section id=\"coverage\"><h2>{}</h2>\n<table class=\"coverage-summary\"><tr><th></th><th>exercised</th><th>total</th><th>%</th><th>explained</th></tr>\n",
            esc(w.coverage)
        );
        for k in ItemKind::ALL {
            if let Some(t) = c.summary.get(k.name()) {
                let _ = writeln!(
                    self.out,
                    "<tr data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
                    k.name(),
                    plural(k),
                    t.exercised,
                    t.total,
                    t.percent,
                    t.explained
                );
            }
        }
        // What --min-coverage compares.
        let t = &c.required;
        let _ = writeln!(
            self.out,
            "<tr data-kind=\"required\" class=\"required\"><td>required (r+v+e)</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            t.exercised, t.total, t.percent, t.explained
        );
        self.out.push_str("</table>\n");
        let file_index = |file: &str| reports.iter().position(|r| r.file == file);
        for k in ItemKind::ALL {
            let _ = writeln!(
                self.out,
                "<details><summary>{}</summary><table class=\"coverage-items\"><tr><th></th><th>id</th><th>source</th><th>{}</th></tr>",
                plural(k),
                esc(w.exercised_by)
            );
            for it in c.items.iter().filter(|i| i.kind == k) {
                let (mark, cls) = if it.exercised {
                    ("✓", "mark-ok")
                } else if it.gap.is_some() {
                    ("–", "cov-gap")
                } else {
                    ("✗", "cov-missing")
                };
                let mut by = String::new();
                if it.exercised {
                    for (j, r) in it.by.iter().take(8).enumerate() {
                        if j > 0 {
                            by.push_str(", ");
                        }
                        match file_index(&r.file) {
                            Some(i) => {
                                let _ = write!(
                                    by,
                                    "<a href=\"#{}\">{}</a>",
                                    step_id(i, r.step - 1),
                                    esc(&r.to_string())
                                );
                            }
                            None => by.push_str(&esc(&r.to_string())),
                        }
                    }
                    if it.by.len() > 8 {
                        let _ = write!(by, ", … {}", it.by.len() - 8);
                    }
                } else {
                    let _ = write!(
                        by,
                        "{} — {}: {}",
                        esc(w.not_exercised),
                        esc(w.reason),
                        esc(it.gap.as_deref().unwrap_or(w.no_reason))
                    );
                }
                let _ = writeln!(
                    self.out,
                    "<tr data-exercised=\"{}\"><td class=\"{cls}\">{mark}</td><td class=\"rule\">{}</td><td>{}</td><td>{by}</td></tr>",
                    it.exercised,
                    esc(&it.id),
                    esc(it.source.as_deref().unwrap_or("")),
                );
            }
            self.out.push_str("</table></details>\n");
        }
        self.out.push_str("</section>\n");
    }
}

/// A fault's name as scenarios write it (`lost_response`).
fn fault_name(f: FaultKind) -> String {
    match serde_json::to_value(f) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{f:?}"),
    }
}

fn coverage_by(item: &super::coverage::Item) -> String {
    item.by
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sequence diagram of one bulk step: OMS → guard → RMS and back.
fn sequence_diagram(s: &StepReport, w: &Words, marker: &str) -> String {
    let t = &s.trace;
    let Some(result) = &t.result else {
        return String::new();
    };
    let (mut allow, mut warn, mut deny) = (0, 0, 0);
    for (_, r) in &result.reports {
        match r.decision {
            Decision::Allow => allow += 1,
            Decision::Warn => warn += 1,
            Decision::Deny => deny += 1,
        }
    }
    let (mut done, mut denied, mut failed) = (0, 0, 0);
    for (_, o) in &result.outcomes {
        match o {
            Outcome::Done(_) => done += 1,
            Outcome::Denied(_) => denied += 1,
            Outcome::Failed(_) => failed += 1,
        }
    }
    // Rows: (from, to, text, bad)
    let mut rows: Vec<(usize, usize, String, bool)> = Vec::new();
    let what = s.what.split_whitespace().next().unwrap_or("").to_owned();
    rows.push((0, 1, format!("{what} ×{}", result.reports.len()), false));
    rows.push((
        1,
        1,
        format!("check: allow {allow}, warn {warn}, deny {deny}"),
        false,
    ));
    for c in &t.calls {
        let mut label = format!("{} ({})", c.call.function, c.call.orders.len());
        if c.reconciliation {
            let _ = write!(label, " — {}", w.reconciliation);
        }
        rows.push((1, 2, label, false));
        let (answer, bad) = if c.lost_answer {
            (w.lost_answer.to_owned(), true)
        } else if c.call.status == 0 {
            (w.no_answer.to_owned(), true)
        } else {
            let fault = c
                .call
                .fault
                .map_or_else(String::new, |f| format!(" ({})", fault_name(f)));
            (
                format!("HTTP {}{fault}", c.call.status),
                c.call.status >= 400,
            )
        };
        rows.push((2, 1, answer, bad));
    }
    rows.push((
        1,
        0,
        format!("done {done}, denied {denied}, failed {failed}"),
        failed > 0,
    ));
    let xs = [70.0_f64, 320.0, 570.0];
    let names = ["OMS", "guard", "RMS"];
    let top = 40.0;
    let step = 30.0;
    let height = top + step * (rows.len() as f64) + 20.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"seq\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 {height}\" width=\"640\" height=\"{height}\" role=\"img\" aria-label=\"sequence OMS guard RMS\">\
         <defs><marker id=\"{marker}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#57606a\"/></marker></defs>"
    );
    for (x, n) in xs.iter().zip(names) {
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"6\" width=\"90\" height=\"22\" rx=\"4\" fill=\"#f6f8fa\" stroke=\"#57606a\"/>\
             <text x=\"{x}\" y=\"21\" text-anchor=\"middle\" font-size=\"12\" font-family=\"sans-serif\">{n}</text>\
             <line x1=\"{x}\" y1=\"28\" x2=\"{x}\" y2=\"{}\" stroke=\"#d0d7de\" stroke-dasharray=\"4 3\"/>",
            x - 45.0,
            height - 6.0
        );
    }
    for (i, (from, to, text, bad)) in rows.iter().enumerate() {
        let y = top + step * (i as f64) + 12.0;
        let color = if *bad { "#cf222e" } else { "#1f2328" };
        if from == to {
            let x = xs[*from];
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"230\" height=\"20\" rx=\"3\" fill=\"#fff8c5\" stroke=\"#d4a72c\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"{color}\">{}</text>",
                x + 6.0,
                y - 14.0,
                x + 12.0,
                y,
                esc(text)
            );
            continue;
        }
        let (x1, x2) = (xs[*from], xs[*to]);
        let dash = if from > to {
            " stroke-dasharray=\"5 3\""
        } else {
            ""
        };
        let _ = write!(
            svg,
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{color}\"{dash} marker-end=\"url(#{marker})\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" font-family=\"sans-serif\" fill=\"{color}\">{}</text>",
            (x1 + x2) / 2.0,
            y - 4.0,
            esc(text)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
