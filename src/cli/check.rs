//! `rms-preflight check`: read a request document, check every request, stream results.

use std::io::Write;

use super::args::{CheckArgs, Format, InputFormat};
use super::output::{JsonWriter, ResultWriter, Summary, TextWriter};
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::engine::Engine;
use rms_preflight::model::{read_document, DocumentFormat, Timestamp};

pub fn run(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(rules) = load_rules(&args.rules, err) else {
        return EXIT_BAD_INPUT;
    };
    let engine = Engine::new(rules);
    let lang = args.lang.into();
    let reader = match open_input(&args.input) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: cannot read `{}`: {e}", args.input);
            return EXIT_BAD_INPUT;
        }
    };
    let format = match args.input_format {
        InputFormat::Auto => None,
        InputFormat::Json => Some(DocumentFormat::Json),
        InputFormat::Yaml => Some(DocumentFormat::Yaml),
    };
    let mut writer: Box<dyn ResultWriter> = match args.format {
        Format::Json => Box::new(JsonWriter { lang, first: true }),
        Format::Text => Box::new(TextWriter {
            lang,
            rules: engine.rules(),
        }),
    };
    // Time is an input of the engine; the clock is read here, once, at the edge.
    let clock = Timestamp::now_jst();
    let mut summary = Summary::default();
    let mut write_error = None;
    if let Err(e) = writer.begin(out) {
        write_error = Some(e);
    }
    let read = read_document(reader, format, &mut |index, mut request| {
        if request.now.is_none() {
            request.now = Some(clock);
        }
        engine.validate(&request).map_err(|e| (e.message, e.path))?;
        let index = (index != usize::MAX).then_some(index);
        let written = if args.explain {
            let explanation = engine.explain(&request);
            summary.add(explanation.verdict.decision);
            writer.result(
                out,
                index,
                &request,
                &explanation.verdict,
                Some(&explanation),
            )
        } else {
            let verdict = engine.check(&request);
            summary.add(verdict.decision);
            writer.result(out, index, &request, &verdict, None)
        };
        if let Err(e) = written {
            write_error.get_or_insert(e);
        }
        Ok(())
    });
    let error_json = read.as_ref().err().map(|e| {
        serde_json::json!({
            "message": e.message,
            "path": e.path,
            "line": e.line,
            "column": e.column,
        })
    });
    // A text report that never got a result has nothing to sum up.
    let results = summary.allow + summary.warn + summary.deny;
    if args.format == Format::Json || results > 0 || read.is_ok() {
        if let Err(e) = writer.end(out, summary, error_json.as_ref()) {
            write_error.get_or_insert(e);
        }
    }
    if let Err(e) = read {
        let _ = writeln!(err, "error: `{}`: {e}", args.input);
        return EXIT_BAD_INPUT;
    }
    if let Some(e) = write_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "error: cannot write output: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    if summary.deny > 0 {
        EXIT_DENIED
    } else {
        EXIT_OK
    }
}
