//! Where each value of a YAML file was written, so diagnostics can point into the file.
//!
//! serde_yaml deserialises without positions; this walks the same text with yaml-rust2's
//! event parser and records, for every value, its path (`rules[3].when`) and its byte
//! offset. An expression's own span is then moved into the file by aligning the parsed
//! string with the source text (which also steps over quotes, block-scalar indentation
//! and folded line breaks).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Byte offsets of the values of one YAML document, by path.
#[derive(Debug, Default)]
pub struct SourceMap {
    starts: HashMap<String, (usize, Option<TScalarStyle>)>,
}

impl SourceMap {
    /// Indexes `src`. A document yaml-rust2 cannot read gives an empty map (serde_yaml
    /// reports the syntax error itself).
    pub fn build(src: &str) -> SourceMap {
        let char_to_byte: Vec<usize> = src
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(src.len()))
            .collect();
        let mut builder = Builder {
            char_to_byte,
            frames: Vec::new(),
            map: SourceMap::default(),
        };
        let mut parser = Parser::new_from_str(src);
        if parser.load(&mut builder, false).is_err() {
            return SourceMap::default();
        }
        builder.map
    }

    /// The byte offset where the value at `path` starts.
    pub fn start(&self, path: &str) -> Option<usize> {
        self.starts.get(path).map(|(s, _)| *s)
    }

    /// The byte range of the scalar at `path`, whose parsed value is `value`.
    pub fn scalar_range(&self, src: &str, path: &str, value: &str) -> Option<(usize, usize)> {
        self.sub_range(src, path, value, 0, value.len())
    }

    /// The byte range in the file of `value[start..end]`, `value` being the scalar at `path`.
    pub fn sub_range(
        &self,
        src: &str,
        path: &str,
        value: &str,
        start: usize,
        end: usize,
    ) -> Option<(usize, usize)> {
        let &(at, style) = self.starts.get(path)?;
        // yaml-rust2 marks quoted scalars at the quote, block scalars at their content.
        let content = match style {
            Some(TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted) => at + 1,
            _ => at,
        };
        let from = align(src, content, value, start);
        let to = if end > start {
            let last = value[..end].chars().next_back().map_or(0, char::len_utf8);
            align(src, content, value, end - last) + last
        } else {
            from
        };
        Some((from, to.max(from).min(src.len())))
    }
}

/// The byte offset in `src` of the character at byte `k` of `value`, reading `value`
/// from `start`: characters of the source that do not match (quotes, indentation, escape
/// backslashes) are stepped over; a folded space matches a line break.
fn align(src: &str, start: usize, value: &str, k: usize) -> usize {
    let mut j = start.min(src.len());
    for (i, c) in value.char_indices() {
        let mut p = j;
        let found = loop {
            let Some(sc) = src[p..].chars().next() else {
                break None;
            };
            if sc == c || (c == ' ' && sc == '\n') {
                break Some(p);
            }
            p += sc.len_utf8();
        };
        let Some(p) = found else {
            return src.len();
        };
        if i >= k {
            return p;
        }
        j = p + src[p..].chars().next().map_or(0, char::len_utf8);
    }
    j
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

struct Builder {
    char_to_byte: Vec<usize>,
    frames: Vec<Frame>,
    map: SourceMap,
}

impl Builder {
    fn byte(&self, mark: Marker) -> usize {
        self.char_to_byte
            .get(mark.index())
            .copied()
            .unwrap_or_else(|| self.char_to_byte.last().copied().unwrap_or(0))
    }

    /// The path of the value that starts now, or `None` when a map key is expected.
    fn value_path(&self) -> Option<String> {
        match self.frames.last() {
            None => Some(String::new()),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map {
                path,
                key: Some(key),
            }) => Some(if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            }),
            Some(Frame::Seq { path, index }) => Some(format!("{path}[{index}]")),
        }
    }

    /// A value is complete: move the parent on.
    fn value_done(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, ..) => match self.value_path() {
                None => {
                    // yaml-rust2 marks a block mapping at its first `:`; the first key is
                    // where a reader sees it start.
                    let at = self.byte(mark);
                    if let Some(Frame::Map { path, key }) = self.frames.last_mut() {
                        if let Some(start) = self.map.starts.get_mut(path.as_str()) {
                            if start.0 > at {
                                start.0 = at;
                            }
                        }
                        *key = Some(value);
                    }
                }
                Some(path) => {
                    let at = self.byte(mark);
                    self.map.starts.insert(path, (at, Some(style)));
                    self.value_done();
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.value_path() {
                    let at = self.byte(mark);
                    self.map.starts.insert(path, (at, None));
                }
                self.value_done();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.value_path().unwrap_or_default();
                let at = self.byte(mark);
                self.map.starts.insert(path.clone(), (at, None));
                self.frames.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, index: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plain_quoted_and_block_scalars() {
        let src = "rules:\n  - id: a\n    when: oms.x == 1\n  - id: \"b\"\n    when: >-\n      not\n      oms.y\nname: 日本語 text\n";
        let map = SourceMap::build(src);
        let (s, e) = map
            .scalar_range(src, "rules[0].when", "oms.x == 1")
            .unwrap();
        assert_eq!(&src[s..e], "oms.x == 1");
        let (s, e) = map.scalar_range(src, "rules[1].id", "b").unwrap();
        assert_eq!(&src[s..e], "b");
        let (s, e) = map
            .sub_range(src, "rules[1].when", "not oms.y", 4, 9)
            .unwrap();
        assert_eq!(&src[s..e], "oms.y");
        let (s, e) = map.scalar_range(src, "name", "日本語 text").unwrap();
        assert_eq!(&src[s..e], "日本語 text");
    }
}
