//! How much input a reader takes before it refuses, so that no file, pipe or body can
//! make this tool use unbounded memory or time (`check /dev/zero`, 500 KB of nested `{`).
//!
//! - **Size**: one document — a rules file, a scenario, a cassette, a VCR file, an error
//!   body, a YAML check document, and each entry of a streamed JSON batch — is at most
//!   [`max_input_bytes`] (16 MiB by default; the CLI's `--max-input-size` changes it for
//!   the process). A JSON batch streams: its entries are counted one by one, never the
//!   whole, so a batch of any length still goes through in bounded memory.
//! - **Nesting**: YAML flow collections (`[`, `{`) nest at most [`MAX_YAML_NESTING`] deep,
//!   found by a linear scan *before* the YAML parser, whose time grows with the square of
//!   the nesting. (JSON readers use serde_json's own limit of 128.)

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

/// The default of [`max_input_bytes`]: 16 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Deepest nesting of YAML flow collections (serde_yaml's own recursion limit is 128).
pub const MAX_YAML_NESTING: usize = 128;

static MAX_INPUT_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_BYTES);

/// The largest document a reader takes, in bytes.
pub fn max_input_bytes() -> u64 {
    MAX_INPUT_BYTES.load(Ordering::Relaxed)
}

/// Sets [`max_input_bytes`] for the whole process (the CLI's `--max-input-size`).
pub fn set_max_input_bytes(bytes: u64) {
    MAX_INPUT_BYTES.store(bytes.max(1), Ordering::Relaxed);
}

/// `text`, or its first `max` characters and `…` when it is longer: how much of an input
/// (a key, a path, a URL) a message repeats, since the input may be megabytes long.
pub fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `64 MiB`, `512 KiB`, `1 GiB` or `1234 bytes`.
pub fn describe_bytes(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

/// Parses a size such as `64MiB`, `512k`, `2G` or `1000000` (bytes).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size `{s}`: expected a number of bytes, like `64MiB`"))?;
    let per: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size `{s}`: units are KiB, MiB and GiB")),
    };
    match n.checked_mul(per) {
        Some(0) | None => Err(format!(
            "invalid size `{s}`: expected from 1 byte to 16383 GiB"
        )),
        Some(b) => Ok(b),
    }
}

/// The message of an input over the limit.
pub fn too_large_message() -> String {
    format!(
        "the input is larger than {} (raise the limit with `--max-input-size`)",
        describe_bytes(max_input_bytes())
    )
}

/// Reads all of `reader` as UTF-8 text, refusing more than [`max_input_bytes`].
pub fn read_to_string_capped<R: Read>(reader: R) -> io::Result<String> {
    let limit = max_input_bytes();
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            too_large_message(),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

/// Reads a file as UTF-8 text, refusing more than [`max_input_bytes`].
pub fn read_file_capped(path: &std::path::Path) -> io::Result<String> {
    read_to_string_capped(std::fs::File::open(path)?)
}

/// A reader that refuses to go more than [`max_input_bytes`] past the last
/// [`mark`](CountingReader::mark): a streamed batch marks after each entry.
pub struct CountingReader<R> {
    inner: R,
    since_mark: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R) -> Self {
        CountingReader {
            inner,
            since_mark: Default::default(),
            limit: max_input_bytes(),
        }
    }

    /// A handle that restarts the count (after each entry of a batch).
    pub fn marker(&self) -> Marker {
        Marker(self.since_mark.clone())
    }
}

/// Restarts the count of a [`CountingReader`].
#[derive(Clone)]
pub struct Marker(std::rc::Rc<std::cell::Cell<u64>>);

impl Marker {
    pub fn mark(&self) {
        self.0.set(0);
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_mark.get().saturating_add(n as u64);
        self.since_mark.set(total);
        if total > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                too_large_message(),
            ));
        }
        Ok(n)
    }
}

impl<R: io::BufRead> io::BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        let total = self.since_mark.get().saturating_add(amt as u64);
        self.since_mark.set(total);
        self.inner.consume(amt);
    }
}

/// Most values (lines and flow-collection items) one YAML document may hold: the parser
/// keeps an event per value, so this bounds its memory (a legitimate 16 MiB document has
/// far fewer; 15 MB of `[[],[],…]` has 5 million).
pub const MAX_YAML_VALUES: usize = 2_000_000;

/// Why a YAML text is refused before parsing: where (a byte offset) and what.
pub fn yaml_shape(text: &str) -> Option<(usize, String)> {
    if let Some(i) = yaml_too_deep(text) {
        return Some((
            i,
            format!("the document nests deeper than {MAX_YAML_NESTING} levels"),
        ));
    }
    yaml_too_many_values(text).map(|i| {
        (
            i,
            format!("the document holds more than {MAX_YAML_VALUES} values"),
        )
    })
}

/// Where a YAML text passes [`MAX_YAML_VALUES`]: lines, plus the items of flow
/// collections (`[`, `{` and `,`), counted without parsing.
fn yaml_too_many_values(text: &str) -> Option<usize> {
    let mut values = 0usize;
    for (i, b) in text.bytes().enumerate() {
        if matches!(b, b'\n' | b'[' | b'{' | b',') {
            values += 1;
            if values > MAX_YAML_VALUES {
                return Some(i);
            }
        }
    }
    None
}

/// The first place a YAML text nests flow collections deeper than [`MAX_YAML_NESTING`]:
/// a byte offset. A linear scan that follows YAML closely enough: outside a flow
/// collection, `[`/`{` opens one only where a value starts (line start, after `- `, `: `,
/// `? `); inside, brackets count unless quoted; comments are skipped.
pub fn yaml_too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // At the start of a value (outside flow collections).
    let mut value_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                if depth == 0 {
                    value_start = true;
                }
            }
            b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' => {}
            b'[' | b'{' if depth > 0 || value_start => {
                depth += 1;
                if depth > MAX_YAML_NESTING {
                    return Some(i);
                }
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                value_start = false;
            }
            b'"' | b'\'' if depth > 0 || value_start => {
                // A quoted scalar: skip it (`''` and `\"` are escapes).
                let q = b;
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += if q == b'"' && bytes[i] == b'\\' { 2 } else { 1 };
                }
                value_start = false;
            }
            b'-' | b':' | b'?' | b',' => {
                // `- x`, `k: x`, `? x`, and after a comma in a flow collection.
                value_start = depth > 0 || bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace());
            }
            _ => {
                if depth == 0 {
                    value_start = false;
                }
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_found_in_flow_collections_only() {
        assert_eq!(yaml_too_deep(&"[".repeat(200_000)), Some(MAX_YAML_NESTING));
        let nested = "{b: ".repeat(125_000);
        assert!(yaml_too_deep(&nested).is_some());
        // Brackets in plain or quoted text are not collections.
        let text = "ja: a [ b [ c\nen: '[[[[['\nx: \"{{{{\"\n".repeat(1000);
        assert_eq!(yaml_too_deep(&text), None);
        assert_eq!(yaml_too_deep("a: [1, [2, {b: [3]}]]\n# [[[[[[\n"), None);
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999G").is_err());
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(describe_bytes(64 << 20), "64 MiB");
        assert_eq!(describe_bytes(1000), "1000 bytes");
    }
}
