//! `rms-preflight check`: read a request document, check every request, stream results.

use std::io::Write;

use super::args::{CheckArgs, CheckFormat, InputFormat};
use super::output::TextWriter;
use super::{load_rules, open_input, EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK};
use rms_preflight::engine::Engine;
use rms_preflight::model::{DocumentFormat, Timestamp};
use rms_preflight::render::{
    check_document, CheckOptions, JsonFragments, JsonWriter, ResultWriter,
};

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
    let fragments = JsonFragments::new(engine.rules(), lang);
    let mut writer: Box<dyn ResultWriter> = match args.format {
        CheckFormat::Json => Box::new(JsonWriter::with_fragments(&fragments)),
        CheckFormat::Jsonl => Box::new(JsonWriter::with_fragments(&fragments).lines()),
        CheckFormat::Text => Box::new(TextWriter {
            lang,
            rules: engine.rules(),
        }),
    };
    let options = CheckOptions {
        format,
        explain: args.explain,
        // Time is an input of the engine; the clock is read here, once, at the edge.
        now: Timestamp::now_jst(),
        stop_on_write_error: false,
    };
    let run = check_document(&engine, reader, &options, &mut *writer, out, &mut |_, _| {});
    if let Err(e) = run.read {
        let _ = writeln!(err, "error: `{}`: {e}", args.input);
        return EXIT_BAD_INPUT;
    }
    if let Some(e) = run.write_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "error: cannot write output: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    if run.summary.deny > 0 {
        EXIT_DENIED
    } else {
        EXIT_OK
    }
}
