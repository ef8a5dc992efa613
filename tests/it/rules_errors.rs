//! Rules-file diagnostics: exact messages and the exact text they underline (cedar style),
//! plus rendered snapshots. Each case breaks the shipped rules file in one place, so the
//! diagnostics are what a user editing `rules/rakuten_pay.yaml` would see.

use rms_preflight::rules::{Diagnostic, Level, EMBEDDED_RULES};
use rms_preflight::{RuleSet, RulesError};

/// Loads the shipped rules with `from` replaced by `to` (which must occur).
fn broken(from: &str, to: &str) -> (String, Vec<Diagnostic>) {
    assert!(
        EMBEDDED_RULES.contains(from),
        "`{from}` is not in the rules file"
    );
    let text = EMBEDDED_RULES.replacen(from, to, 1);
    match RuleSet::from_yaml("rules.yaml", &text) {
        Err(RulesError::Invalid { diagnostics, .. }) => (text, diagnostics),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("`{to}` should not load"),
    }
}

/// The first error: its message, its line and column, and the text it underlines.
fn first_error(from: &str, to: &str) -> (String, usize, usize, String) {
    let (text, diagnostics) = broken(from, to);
    let d = diagnostics
        .iter()
        .find(|d| d.level == Level::Error)
        .expect("an error");
    let (s, e) = d.span.expect("a span");
    (
        d.message.clone(),
        d.line.unwrap(),
        d.column.unwrap(),
        text[s..e].to_owned(),
    )
}

fn line_of(needle: &str) -> usize {
    EMBEDDED_RULES[..EMBEDDED_RULES.find(needle).unwrap()]
        .matches('\n')
        .count()
        + 1
}

#[test]
fn unknown_field_underlines_the_path() {
    let (msg, line, col, under) = first_error(
        "when: order.orderProgress != 100",
        "when: order.orderProgres != 100",
    );
    assert_eq!(msg, "unknown field `order.orderProgres`");
    assert_eq!(
        (line, col),
        (line_of("when: order.orderProgress != 100"), 11)
    );
    assert_eq!(under, "order.orderProgres");
}

#[test]
fn unknown_label_underlines_the_literal() {
    let (msg, _, col, under) = first_error(
        "when: oms.label != \"processed\"",
        "when: oms.label != \"procesed\"",
    );
    assert_eq!(msg, "`procesed` is not a value of `oms.label`");
    assert_eq!(col, 24);
    assert_eq!(under, "\"procesed\"");
}

#[test]
fn type_mismatch_is_a_load_error() {
    let (msg, _, _, under) = first_error("when: oms.bundle_id != null", "when: oms.bundle_id != 3");
    assert_eq!(msg, "`!=` compares `string or null` with `int`");
    assert_eq!(under, "oms.bundle_id != 3");
}

#[test]
fn null_compared_with_a_field_that_is_never_null() {
    let (msg, _, _, under) = first_error(
        "when: order.orderProgress != 100",
        "when: order.orderProgress != null",
    );
    assert_eq!(msg, "`order.orderProgress` is never null");
    assert_eq!(under, "order.orderProgress");
}

#[test]
fn parse_error_points_into_a_folded_block() {
    // The guard spans several lines (`>-`); the caret lands on the bad token's own line.
    let (msg, line, col, under) = first_error(
        "           or oms.confirmed_in_rms\n",
        "           or oms.confirmed_in_rms ==\n",
    );
    assert_eq!(
        msg,
        "unexpected `or`: expected an expression after the comparison"
    );
    assert_eq!(line, line_of("           or oms.last_error in"));
    assert_eq!(col, 12);
    assert_eq!(under, "or");
}

#[test]
fn import_rules_cannot_read_the_order() {
    let (msg, _, _, under) = first_error(
        "when: shop.import_status != 100",
        "when: shop.import_status != order.orderProgress",
    );
    assert_eq!(
        msg,
        "`order.orderProgress` is not available: this rule applies to `import`, which has no order"
    );
    assert_eq!(under, "order.orderProgress");
}

#[test]
fn unknown_sentinel_timing_and_error_id() {
    let (msg, ..) = first_error(
        "sentinel(\"shipping_fee_unset\")",
        "sentinel(\"shipping_fee\")",
    );
    assert_eq!(msg, "unknown sentinel `shipping_fee`");
    let (msg, ..) = first_error("timing.auto_cancel_after\n", "timing.auto_cancel\n");
    assert_eq!(msg, "unknown timing fact `timing.auto_cancel`");
    let (msg, _, _, under) =
        first_error("\"qps_limit\", \"maintenance\"", "\"qps\", \"maintenance\"");
    assert_eq!(msg, "`qps` is not a value of `oms.last_error`");
    assert_eq!(under, "\"qps\"");
}

#[test]
fn schema_errors_name_the_yaml_path() {
    let (msg, line, ..) = first_error(
        "    severity: deny\n    actions: [confirm]\n    when: oms.confirm_sent",
        "    severity: block\n    actions: [confirm]\n    when: oms.confirm_sent",
    );
    assert_eq!(
        msg,
        "at `rules[0].severity`: unknown variant `block`, expected `warn` or `deny`"
    );
    assert_eq!(
        line,
        line_of("    severity: deny\n    actions: [confirm]\n    when: oms.confirm_sent")
    );
    let (msg, ..) = first_error(
        "    actions: [confirm]\n    when: oms.confirm_sent",
        "    actions: [confirm, teleport]\n    when: oms.confirm_sent",
    );
    assert!(
        msg.starts_with("at `rules[0].actions[1]`: unknown variant `teleport`"),
        "{msg}"
    );
    let (msg, ..) = first_error(
        "    remedy:\n      - steps:\n          - ja: 送信後",
        "    remedies:\n      - steps:\n          - ja: 送信後",
    );
    assert!(
        msg.starts_with("at `rules[0].remedies`: unknown field `remedies`"),
        "{msg}"
    );
}

#[test]
fn table_level_errors() {
    let (msg, ..) = first_error("  - id: modify-bundled", "  - id: confirm-once");
    assert_eq!(msg, "duplicate id `confirm-once` in `rules`");
    let (msg, ..) = first_error("    source: S17\n    match:", "    source: S22\n    match:");
    assert_eq!(msg, "unknown source `S22`");
    let (msg, ..) = first_error(
        "    next: [renew_license, confirm]",
        "    next: [renew_licence, confirm]",
    );
    assert_eq!(msg, "unknown next step `renew_licence`");
    let (_, diagnostics) = broken("      fallback: true", "      fallback: false");
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "no error entry has `match: {fallback: true}`",
            "error `unrecognised` matches nothing"
        ]
    );
    let (msg, ..) = first_error(
        "      - order.PackageModelList[].goodsPrice\n",
        "      - order.PackageModelList[].goodPrice\n",
    );
    assert_eq!(
        msg,
        "unknown package amount `order.PackageModelList[].goodPrice`"
    );
    let (msg, ..) = first_error("  - { from: 100, to: 200,", "  - { from: 100, to: 250,");
    assert_eq!(msg, "unknown status `250`");
}

#[test]
fn a_remedy_is_required() {
    let start = EMBEDDED_RULES
        .find("    remedy:\n      - ja: RMS WEB SERVICEのライセンスキーを更新してください")
        .unwrap();
    let end = EMBEDDED_RULES[start..].find("\n\n").unwrap() + start;
    let (_, diagnostics) = broken(&EMBEDDED_RULES[start..end], "    remedy: []");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message == "error `license_expired` has no remedy"),
        "{diagnostics:?}"
    );
}

/// Warnings do not stop a rules file from loading; `lint` shows them.
#[test]
fn lint_warnings_for_unreachable_statuses_and_shadowed_rules() {
    let text = EMBEDDED_RULES
        .replacen("  - { from: 500, to: 600, by: rakuten, via: payment, source: rms-api, confidence: likely }\n", "", 1)
        .replacen(
            "  # --- the licence key",
            "  - id: confirm-once-again\n    source: S1\n    severity: warn\n    actions: [confirm]\n    when: oms.confirm_sent and oms.label == \"processed\"\n    message: { ja: 再送, en: again }\n    remedy:\n      - steps: [{ ja: なし, en: none }]\n\n  # --- the licence key",
            1,
        );
    let messages = warnings_of(&text);
    assert_eq!(
        messages,
        [
            "status `600` is unreachable from `100` in `transitions`",
            "status `700` is unreachable from `100` in `transitions`",
            "rule `confirm-once-again` is shadowed by `confirm-once`",
        ]
    );
}

#[test]
fn shipped_rules_have_no_warnings() {
    assert_eq!(RuleSet::embedded().unwrap().warnings(), &[]);
}

/// What `rms-preflight lint` prints, as a user sees it.
#[test]
fn rendered_diagnostics() {
    let cases = [
        (
            "unknown-field",
            "when: order.orderProgress != 100",
            "when: order.orderProgres != 100",
        ),
        (
            "bad-label",
            "when: oms.label != \"processed\"",
            "when: oms.label != \"procesed\"",
        ),
        (
            "dangling-and",
            "    when: not shop.api_option\n",
            "    when: not shop.api_option and\n",
        ),
        (
            "chained-comparison",
            "when: order.orderProgress != 100",
            "when: 100 < order.orderProgress < 900",
        ),
        (
            "bad-severity",
            "    severity: deny\n    actions: [confirm]\n    when: oms.confirm_sent",
            "    severity: block\n    actions: [confirm]\n    when: oms.confirm_sent",
        ),
        (
            "lambda-typo",
            "when: sentinel(\"shipping_fee_unset\")",
            "when: any(order.PackageModelList, p => p.postage == -9999)",
        ),
    ];
    // Rendered by the binary (the miette edge is the CLI's, not the library's), from a
    // scratch folder where the broken file is `rules/rakuten_pay.yaml`, as a user sees it.
    let dir = std::env::temp_dir().join(format!("rp-rendered-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for (name, from, to) in cases {
        assert!(EMBEDDED_RULES.contains(from), "{name}");
        let text = EMBEDDED_RULES.replacen(from, to, 1);
        assert!(
            RuleSet::from_yaml("rules/rakuten_pay.yaml", &text).is_err(),
            "{name}"
        );
        std::fs::write(dir.join("rules/rakuten_pay.yaml"), &text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rms-preflight"))
            .args(["lint", "--rules", "rules/rakuten_pay.yaml"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let rendered = String::from_utf8_lossy(&out.stderr).into_owned();
        insta::assert_snapshot!(name, rendered);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A guard nested thousands deep used to overflow the stack (exit 134). The size check
/// refuses it before any stage recurses, underlining the first bracket too deep.
#[test]
fn deep_nesting_is_refused_with_the_place() {
    let deep = format!("when: {}oms.confirm_sent{}", "(".repeat(40), ")".repeat(40));
    let (msg, line, col, under) = first_error("when: oms.confirm_sent\n", &format!("{deep}\n"));
    assert_eq!(
        msg,
        "the guard nests too deeply: more than 32 levels of brackets"
    );
    assert_eq!((line, col), (line_of("when: oms.confirm_sent\n"), 11 + 32));
    assert_eq!(under, "(");
}

/// A 6,000-term `and` chain (and anything past 4,096 bytes or 256 operators) is refused
/// with the operator or byte where it goes over, instead of overflowing the stack.
#[test]
fn long_guards_are_refused_with_the_place() {
    let chain = vec!["true"; 300].join(" and ");
    let (msg, _, _, under) = first_error("when: oms.confirm_sent\n", &format!("when: {chain}\n"));
    assert_eq!(msg, "the guard is too long: more than 256 operators");
    assert_eq!(under, "and");
    let chain = vec!["oms.confirm_sent"; 6000].join(" and ");
    let (msg, _, _, _) = first_error("when: oms.confirm_sent\n", &format!("when: {chain}\n"));
    assert_eq!(msg, "the guard is too long: more than 4096 bytes");
    // Through the CLI: exit 2, not a crash.
    let dir = std::env::temp_dir().join(format!("rp-long-guard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    let deep = format!(
        "when: \"{}oms.confirm_sent{}\"\n",
        "(".repeat(4000),
        ")".repeat(4000)
    );
    std::fs::write(
        &file,
        EMBEDDED_RULES.replacen("when: oms.confirm_sent\n", &deep, 1),
    )
    .unwrap();
    for args in [
        vec!["lint", "--rules", file.to_str().unwrap()],
        vec!["check", "--rules", file.to_str().unwrap(), "-"],
    ] {
        let out = super::run(&args, Some(b"action: import\n"));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            super::stderr(&out)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The code reads some timing facts itself (the client's rate limit, the simulated OMS's
/// poll, the licence): a rules file without one is refused, never silently defaulted.
#[test]
fn a_timing_fact_the_code_reads_is_required() {
    let (_, diagnostics) = broken("  request_interval:\n", "  request_interval_typo:\n");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message == "missing timing fact `request_interval`"),
        "{diagnostics:?}"
    );
}

/// An error entry matched only by a failure without an answer (`transport`) is shadowed
/// only by an earlier entry that names that failure too: not by every earlier entry, as
/// it was when the lint compared codes, texts and statuses alone (all empty here).
#[test]
fn an_entry_matched_by_transport_alone_is_shadowed_only_by_one_naming_it() {
    let entry = |id: &str| {
        format!(
            "  - id: {id}\n    source: S19\n    match:\n      transport: [timeout]\n    retry: after_reconcile\n    next: [confirm]\n    message: {{ ja: 停止, en: stalled }}\n    remedy:\n      - {{ ja: 待つ, en: wait }}\n\n"
        )
    };
    let text = EMBEDDED_RULES
        .replacen(
            "  - id: not_confirmable\n",
            &format!("{}  - id: not_confirmable\n", entry("stalled")),
            1,
        )
        .replacen(
            "  - id: qps_limit\n",
            &format!("{}  - id: qps_limit\n", entry("stalled-again")),
            1,
        );
    let messages = warnings_of(&text);
    assert_eq!(messages, ["error `stalled-again` is shadowed by `stalled`"]);
}

/// The messages of the warnings a rules text loads with (it must load).
fn warnings_of(text: &str) -> Vec<String> {
    let rules = RuleSet::from_yaml("rules.yaml", text).expect("warnings only");
    rules.warnings().iter().map(|d| d.message.clone()).collect()
}
