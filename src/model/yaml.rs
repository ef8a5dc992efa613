//! Reading YAML documents into typed values with errors that say where: the path of the
//! offending value (`steps[3].fault.kind`) and its line and column. Used for every YAML
//! file this tool reads (rules, scenarios, cassettes, check documents).

use serde::de::DeserializeOwned;

/// A YAML document that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// `at `path`: what is wrong`, or just what is wrong at the top.
    pub message: String,
    /// The path of the offending value (`.` for the document).
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Byte offset, when known.
    pub index: Option<usize>,
}

/// A file that cannot be used, and where: `scenario `x.yaml`: at `steps[3]`: … (line 9, column 5)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{file}`: {message}{}", location(*.line, *.column))]
pub struct FileError {
    /// What the file is (`cassette`, `scenario`).
    pub kind: &'static str,
    pub file: String,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    }
}

impl FileError {
    /// An error about a `kind` file, without a position.
    pub fn new(kind: &'static str, file: &str, message: impl Into<String>) -> Self {
        FileError {
            kind,
            file: file.to_owned(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// Reads the file at `path`, or says why not.
    pub fn read(kind: &'static str, path: &std::path::Path) -> Result<String, FileError> {
        super::limits::read_file_capped(path).map_err(|e| {
            FileError::new(
                kind,
                &path.display().to_string(),
                format!("cannot read: {e}"),
            )
        })
    }

    /// The error of a YAML document that does not fit its type.
    pub fn from_yaml(kind: &'static str, file: &str, e: YamlError) -> Self {
        FileError {
            kind,
            file: file.to_owned(),
            message: e.message,
            line: e.line,
            column: e.column,
        }
    }
}

/// Deserialises `text`, tracking the path of any error.
///
/// Before the YAML parser sees it: a leading byte-order mark is skipped (positions stay
/// those of the file), and flow collections nested deeper than
/// [`MAX_YAML_NESTING`](super::limits::MAX_YAML_NESTING) are refused at once (the parser's
/// time grows with the square of the nesting). A second document (`---`) is refused with
/// its position.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let (text, shift) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (text, 0),
    };
    let at = |index: usize, message: String| {
        let (line, column) = crate::rules::line_column(text, index);
        YamlError {
            message,
            path: ".".into(),
            line: Some(line),
            column: Some(column + usize::from(shift > 0 && line == 1)),
            index: Some(index + shift),
        }
    };
    if let Some((i, message)) = super::limits::yaml_shape(text) {
        return Err(at(i, message));
    }
    let mut track = serde_path_to_error::Track::new();
    let de = serde_yaml::Deserializer::from_str(text);
    T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track)).map_err(|e| {
        if e.to_string().contains("more than one document") {
            return match second_document(text) {
                Some(i) => at(
                    i,
                    "a second YAML document (`---`): this file holds one document".into(),
                ),
                // No `---`: the parser ended the first document early (an indented first
                // key, a stray `...`); the first line is where to look.
                None => at(
                    0,
                    "the text reads as more than one YAML document (is the first key indented?): this file holds one document".into(),
                ),
            };
        }
        let path = track.path().to_string();
        let message = yaml_message(&e, &path);
        // The scanner reports some errors as "… at position N" (a character count) with
        // no location, or the document's start.
        if let Some(i) = position_in(&e.to_string(), text) {
            let message = strip_position(message);
            return at(i, message);
        }
        let located = e.location();
        YamlError {
            message: if path == "." || path.is_empty() {
                message
            } else {
                format!("at `{path}`: {message}")
            },
            path,
            line: located.as_ref().map(|l| l.line()),
            column: located
                .as_ref()
                .map(|l| l.column() + usize::from(shift > 0 && l.line() == 1)),
            index: located.as_ref().map(|l| l.index() + shift),
        }
    })
}

/// Where the second document of a YAML stream starts: a `---` line after content.
fn second_document(text: &str) -> Option<usize> {
    let mut seen_content = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            if seen_content {
                return Some(offset);
            }
        } else if !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "..." {
            seen_content = true;
        }
        offset += line.len();
    }
    None
}

/// A serde_yaml error's message without its location (reported apart) and without the
/// path serde_yaml puts in front of it (`requests[0].oms: …`, a prefix of `path`).
pub fn yaml_message(e: &serde_yaml::Error, path: &str) -> String {
    let mut message = strip_location(e.to_string());
    let mut prefix = path;
    loop {
        if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
            message = rest.to_owned();
            break;
        }
        match prefix.rfind(['.', '[']) {
            Some(i) => prefix = &prefix[..i],
            None => break,
        }
    }
    message
}

/// serde's messages carry " at line N column M"; we report the location separately.
pub(crate) fn strip_location(message: String) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

/// The byte offset of "at position N" (N characters into `text`) in a YAML error message.
fn position_in(message: &str, text: &str) -> Option<usize> {
    let rest = &message[message.find(" at position ")? + " at position ".len()..];
    let n: usize = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some(text.char_indices().nth(n).map_or(text.len(), |(i, _)| i))
}

fn strip_position(message: String) -> String {
    match message.find(" at position ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}
