//! Rendering rules-file diagnostics the way cedar and rustc do: the message, the file
//! and line, the offending text underlined, and a help line.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity,
};

use crate::rules::{Diagnostic, Level, RulesError};

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
