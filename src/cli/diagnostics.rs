//! Rendering rules-file diagnostics the way cedar and rustc do: the message, the file
//! and line, the offending text underlined, and a help line.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity,
};

use rms_preflight::rules::{Diagnostic, Level, RulesError};

/// Longest source line shown under a diagnostic, in bytes.
const MAX_SHOWN_LINE: usize = 400;

/// Renders every diagnostic against `text`.
pub fn render_all(path: &str, text: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diagnostics {
        let mut md = MietteDiagnostic::new(d.message.clone()).with_severity(match d.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        });
        if let Some(help) = &d.help {
            md = md.with_help(help.clone());
        }
        // A line too long to show (a hostile or minified file) is named, not printed.
        let long_line = d.span.is_some_and(|(start, _)| {
            let start = start.min(text.len());
            let from = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let to = text[start..].find('\n').map_or(text.len(), |i| start + i);
            to - from > MAX_SHOWN_LINE
        });
        if long_line {
            let at = match (d.line, d.column) {
                (Some(l), Some(c)) => format!(" ({path}:{l}:{c})"),
                _ => String::new(),
            };
            let kind = match d.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            out.push_str(&format!("  × {kind}: {}{at}\n", d.message));
            if let Some(help) = &d.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            out.push('\n');
            continue;
        }
        if let Some((start, end)) = d.span {
            md = md.with_label(LabeledSpan::new(
                d.label.clone(),
                start,
                end.saturating_sub(start),
            ));
        }
        let report =
            miette::Report::new(md).with_source_code(NamedSource::new(path, text.to_owned()));
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out.push_str(&format!("{d}\n"));
        }
        out.push('\n');
    }
    out
}

/// Renders a rules file that failed to load.
pub fn render_rules_error(e: &RulesError, color: bool) -> String {
    match e {
        RulesError::Io { .. } => format!("error: {e}\n"),
        RulesError::Invalid {
            path,
            text,
            diagnostics,
        } => {
            let mut out = render_all(path, text, diagnostics, color);
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            out.push_str(&format!(
                "error: rules file `{path}` is invalid: {errors} error{}\n",
                if errors == 1 { "" } else { "s" }
            ));
            out
        }
    }
}
