//! The fast path of a JSON batch: `{"shop": …, "now": …, "requests": [entry, …]}` with
//! `shop` and `now` first (the shape that streams), read in large chunks into a buffer
//! and each value deserialized from the buffer (serde_json's slice reader) without path
//! tracking. The buffer keeps only the bytes from the end of the last entry delivered, so
//! memory stays flat however long the batch is.
//!
//! The fast path never reports an error itself: anything it does not take (another shape,
//! a duplicate key, a value that fails, an entry over the size limit, a read error) hands
//! the rest to the path-tracking reader — from the start of the document if no entry was
//! delivered yet, else from the end of the last entry delivered ([`Buffered::replay`]) —
//! which finds the error with its path, line and column as if it had read everything.

use std::io::{self, Read};

use serde::de::DeserializeOwned;

use super::{DocumentSummary, Entry, Resume, Shop, State, Timestamp};

/// What the path-tracking reader reads before a resumed stream: a batch whose entry 0 is
/// a placeholder, so that the separator after the last entry delivered is read as in the
/// whole document.
pub(super) const RESUME_PREFIX: &[u8] = b"{\"requests\":[null";

/// How much is read at once (in unit tests, a few bytes: every value crosses a chunk).
const CHUNK: usize = if cfg!(test) { 7 } else { 256 * 1024 };

/// The first read's size; each later one is as large as what was read so far, up to
/// [`CHUNK`].
const FIRST_READ: usize = 4 * 1024;

/// An error this close to the end of the buffer may be the buffer's end cutting a value
/// short (a number, a status code): read more and try again.
const MARGIN: usize = if cfg!(test) { 2 } else { 1024 };

pub(super) enum Outcome {
    Done(DocumentSummary),
    /// The sink refused a request (`State::refused` says which).
    Refused,
    /// The path-tracking reader takes over; `Some` after entries were delivered.
    Fallback(Option<Delivered>),
}

/// The fast path's progress when it handed over.
pub(super) struct Delivered {
    shop: Shop,
    now: Option<Timestamp>,
    /// Entries delivered.
    count: usize,
    /// Absolute offset just after the last of them.
    end: usize,
}

/// The input, read in chunks; `buf` holds the bytes from absolute offset `base`.
pub(super) struct Buffered<R> {
    reader: R,
    /// The bytes read are `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
    base: usize,
    eof: bool,
    error: Option<io::Error>,
    /// Newlines before `base`, and the absolute offset after the last of them.
    lines_before: usize,
    line_start_before: usize,
}

impl<R: Read> Buffered<R> {
    pub(super) fn new(reader: R) -> Self {
        Buffered {
            reader,
            buf: Vec::new(),
            filled: 0,
            base: 0,
            eof: false,
            error: None,
            lines_before: 0,
            line_start_before: 0,
        }
    }

    fn end(&self) -> usize {
        self.base + self.filled
    }

    fn slice(&self, from: usize) -> &[u8] {
        self.buf[..self.filled]
            .get(from - self.base..)
            .unwrap_or_default()
    }

    /// Reads once more (up to a chunk), first dropping the bytes before `keep` if that
    /// frees at least half the buffer. False at the end of the input, on a read error, or
    /// when the buffer already reaches `cap_end`.
    fn more(&mut self, keep: usize, cap_end: usize) -> bool {
        if self.eof || self.end() > cap_end {
            return false;
        }
        let drop = keep.saturating_sub(self.base).min(self.filled);
        if drop > 0 && drop * 2 >= self.filled {
            let dropped = &self.buf[..drop];
            if let Some(last) = dropped.iter().rposition(|&b| b == b'\n') {
                self.lines_before += dropped.iter().filter(|&&b| b == b'\n').count();
                self.line_start_before = self.base + last + 1;
            }
            self.buf.copy_within(drop..self.filled, 0);
            self.filled -= drop;
            self.base += drop;
        }
        // The buffer stays initialized past `filled`: zeroed only when it grows.
        // Reads grow with the input, from a small first read up to CHUNK: one request
        // (the service's usual document) must not cost zeroing a whole chunk.
        let chunk = self.filled.clamp(FIRST_READ.min(CHUNK), CHUNK);
        if self.buf.len() < self.filled + chunk {
            self.buf.resize(self.filled + chunk, 0);
        }
        let len = self.filled;
        loop {
            match self.reader.read(&mut self.buf[len..len + chunk]) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.filled = len + n;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.error = Some(e);
                    return false;
                }
            }
        }
    }

    /// The byte at `at` (reading more if needed), or `None` at the end or at the cap.
    fn byte(&mut self, at: usize, keep: usize, cap_end: usize) -> Option<u8> {
        while at >= self.end() {
            if !self.more(keep, cap_end) {
                return None;
            }
        }
        self.buf[..self.filled].get(at - self.base).copied()
    }

    /// The first byte at or after `at` that is not JSON whitespace, and where.
    fn skip_ws(&mut self, mut at: usize, keep: usize, cap_end: usize) -> Option<(u8, usize)> {
        loop {
            match self.byte(at, keep, cap_end)? {
                b' ' | b'\n' | b'\t' | b'\r' => at += 1,
                b => return Some((b, at)),
            }
        }
    }

    /// Whether the bytes at `at` are `lit` (reading more if needed).
    fn literal(&mut self, at: usize, lit: &[u8], keep: usize, cap_end: usize) -> bool {
        while self.end() < at + lit.len() {
            if !self.more(keep, cap_end) {
                return false;
            }
        }
        self.slice(at).starts_with(lit)
    }

    /// One JSON value of type `T` starting at or after `at` (after whitespace), and the
    /// absolute offset after it; `None` if it does not parse.
    fn value<T: DeserializeOwned>(
        &mut self,
        at: usize,
        keep: usize,
        cap_end: usize,
    ) -> Option<(T, usize)> {
        loop {
            let slice = self.slice(at);
            let mut values = serde_json::Deserializer::from_slice(slice).into_iter::<T>();
            match values.next() {
                Some(Ok(v)) => return Some((v, at + values.byte_offset())),
                Some(Err(e)) => {
                    let cut_short = e.line() == 0
                        || offset_of(slice, e.line(), e.column()) + MARGIN >= slice.len();
                    if self.eof || !cut_short {
                        return None;
                    }
                }
                None if self.eof => return None,
                None => {}
            }
            if !self.more(keep, cap_end) && !self.eof {
                return None;
            }
            if self.error.is_some() {
                return None;
            }
        }
    }

    /// The whole input, when nothing was dropped and it ends within `limit` bytes without
    /// a read error: read on to its end. A document the fast path does not take (one
    /// request, say) is then parsed from the slice by the path-tracking reader, instead of
    /// byte by byte from a reader. `None`: go on as a stream.
    pub(super) fn whole(&mut self, limit: usize) -> Option<&[u8]> {
        if self.base != 0 {
            return None;
        }
        while !self.eof {
            if self.filled > limit || !self.more(0, limit) {
                break;
            }
        }
        if !self.eof || self.error.is_some() || self.filled > limit {
            return None;
        }
        Some(&self.buf[..self.filled])
    }

    /// The reader the path-tracking reader continues with, and where it resumes.
    pub(super) fn replay(self, delivered: Option<Delivered>) -> (Replay<R>, Option<Resume>) {
        let from = delivered.as_ref().map_or(0, |d| d.end);
        let before = &self.buf[..from.saturating_sub(self.base).min(self.filled)];
        let line = self.lines_before + before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = match before.iter().rposition(|&b| b == b'\n') {
            Some(last) => self.base + last + 1,
            None => self.line_start_before,
        };
        let resume = delivered.map(|d| Resume {
            shop: d.shop,
            now: d.now,
            index: d.count,
            line,
            offset_in_line: from - line_start,
        });
        let start = from.saturating_sub(self.base).min(self.filled);
        let mut buf = self.buf;
        buf.truncate(self.filled);
        buf.drain(..start);
        (
            Replay {
                head: io::Cursor::new(buf),
                error: self.error,
                rest: self.reader,
            },
            resume,
        )
    }
}

/// The bytes the fast path read and had not finished with, then its read error if it met
/// one, then the rest of the input.
pub(super) struct Replay<R> {
    head: io::Cursor<Vec<u8>>,
    error: Option<io::Error>,
    rest: R,
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.rest.read(buf)
    }
}

/// The byte offset in `slice` of serde_json's (line, column) (line from 1).
fn offset_of(slice: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match slice[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => return slice.len(),
        }
    }
    start + column
}

/// Reads a batch whose `shop` and `now` come before `requests`, delivering each entry.
pub(super) fn read_batch<R: Read>(input: &mut Buffered<R>, state: &mut State<'_>) -> Outcome {
    let limit = usize::try_from(super::super::limits::max_input_bytes()).unwrap_or(usize::MAX);
    // Nothing is dropped and everything is counted from the start until an entry is
    // delivered (the path-tracking reader marks its count after each entry).
    let mut keep = 0;
    let mut cap_end = limit;
    let Some((b'{', open)) = input.skip_ws(0, keep, cap_end) else {
        return Outcome::Fallback(None);
    };
    let mut at = open + 1;
    let mut shop: Option<Shop> = None;
    let mut now: Option<Option<Timestamp>> = None;
    // The header: `"shop": {…}` and `"now": "…"`, each once, then `"requests"`.
    loop {
        let Some((b'"', key)) = input.skip_ws(at, keep, cap_end) else {
            return Outcome::Fallback(None);
        };
        if shop.is_none() && input.literal(key, b"\"shop\"", keep, cap_end) {
            at = key + 6;
        } else if now.is_none() && input.literal(key, b"\"now\"", keep, cap_end) {
            at = key + 5;
        } else if shop.is_some()
            && now.is_some()
            && input.literal(key, b"\"requests\"", keep, cap_end)
        {
            at = key + 10;
        } else {
            return Outcome::Fallback(None);
        }
        let Some((b':', colon)) = input.skip_ws(at, keep, cap_end) else {
            return Outcome::Fallback(None);
        };
        at = colon + 1;
        match input.slice(key).get(1) {
            Some(b's') => {
                let Some((v, end)) = input.value::<Shop>(at, keep, cap_end) else {
                    return Outcome::Fallback(None);
                };
                shop = Some(v);
                at = end;
            }
            Some(b'n') => {
                let Some((v, end)) = input.value::<Option<Timestamp>>(at, keep, cap_end) else {
                    return Outcome::Fallback(None);
                };
                now = Some(v);
                at = end;
            }
            _ => break,
        }
        match input.skip_ws(at, keep, cap_end) {
            Some((b',', comma)) => at = comma + 1,
            _ => return Outcome::Fallback(None),
        }
    }
    let (Some(shop), Some(now)) = (shop, now) else {
        return Outcome::Fallback(None);
    };
    let Some((b'[', open)) = input.skip_ws(at, keep, cap_end) else {
        return Outcome::Fallback(None);
    };
    at = open + 1;
    let mut count = 0usize;
    let fallback = |shop: Shop, count: usize, end: usize| {
        Outcome::Fallback((count > 0).then_some(Delivered {
            shop,
            now,
            count,
            end,
        }))
    };
    // The count of the input restarts after each entry, as the path-tracking reader's.
    let mut count_start = 0;
    loop {
        // After an entry: `,` then the next one, or `]`.
        if count > 0 {
            match input.skip_ws(at, keep, cap_end) {
                Some((b',', comma)) => at = comma + 1,
                Some((b']', close)) => {
                    at = close + 1;
                    break;
                }
                _ => return fallback(shop, count, keep),
            }
        } else if let Some((b']', close)) = input.skip_ws(at, keep, cap_end) {
            at = close + 1;
            break;
        }
        let Some((entry, end)) = input.value::<Entry>(at, keep, cap_end) else {
            return fallback(shop, count, keep);
        };
        if end - count_start > limit {
            return fallback(shop, count, keep);
        }
        if state
            .deliver::<serde_json::Error>(count, entry.into_request(&shop, now))
            .is_err()
        {
            return Outcome::Refused;
        }
        count += 1;
        at = end;
        keep = end;
        count_start = end;
        cap_end = end.saturating_add(limit);
    }
    // `}`, then nothing but whitespace, all within the count.
    let Some((b'}', close)) = input.skip_ws(at, keep, cap_end) else {
        return fallback(shop, count, keep);
    };
    if input.skip_ws(close + 1, keep, cap_end).is_some()
        || input.error.is_some()
        || !input.eof
        || input.end() - count_start > limit
    {
        return fallback(shop, count, keep);
    }
    Outcome::Done(DocumentSummary {
        batch: true,
        requests: count,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{read_document_with, DocumentError, DocumentFormat, DocumentSummary};

    type Run = (Vec<String>, Result<DocumentSummary, DocumentError>);

    fn run(doc: &[u8], fast_path: bool) -> Run {
        let mut seen = Vec::new();
        let result = read_document_with(
            doc,
            Some(DocumentFormat::Json),
            &mut |i, r| {
                let line = format!("{i} {r:?}");
                seen.push(line);
                if r.order_number() == "refused" {
                    return Err(("refused".into(), "order".into()));
                }
                Ok(())
            },
            fast_path,
        );
        (seen, result)
    }

    /// Whatever the bytes, the fast path delivers the same requests and answers the same
    /// (errors with the same message, path, line and column) as the path-tracking reader
    /// alone: every byte of some batches deleted, replaced or cut off.
    #[test]
    fn fast_path_answers_as_the_tracking_reader() {
        let docs: [&str; 4] = [
            "{\"shop\": {\"api_option\": true},\n \"now\": \"2026-11-30T12:00:00+09:00\",\n \"requests\": [\n  {\"action\": \"confirm\", \"order\": {\"orderNumber\": \"a-1\", \"orderProgress\": 100, \"postagePrice\": -9999}},\n  {\"action\":\"confirm\",\"order\":{\"orderNumber\":\"a-1\",\"orderProgress\":100},\"oms\":{\"confirm_sent\":true}},\n  {\"action\":\"ship\",\"order\":{\"orderNumber\":\"b\",\"orderProgress\":300,\"PackageModelList\":[{\"basketId\":1}]}}\n ]\n}\n",
            r#"{"now":null,"shop":{},"requests":[{"action":"confirm","order":{"orderNumber":"c","orderProgress":100}}],"x":1}"#,
            r#"{"shop":{},"now":"2026-11-30T12:00:00+0900","requests":[{"action":"confirm","order":{"orderNumber":"d"}},{"action":"confirm","order":{"orderNumber":"refused"}},{"action":"confirm","order":{"orderNumber":"e"}}]}"#,
            r#"{"shop":{},"now":"2026-11-30T12:00:00Z","requests":[]} "#,
        ];
        let mut variants = 0;
        for doc in docs {
            let doc = doc.as_bytes();
            let mut cases = vec![doc.to_vec()];
            for i in 0..doc.len() {
                let mut cut = doc.to_vec();
                cut.truncate(i);
                cases.push(cut);
                let mut deleted = doc.to_vec();
                deleted.remove(i);
                cases.push(deleted);
                for b in [
                    b'x', b'}', b']', b',', b'"', b'\n', b'1', b' ', b'{', b':', 0xff,
                ] {
                    let mut replaced = doc.to_vec();
                    replaced[i] = b;
                    cases.push(replaced);
                }
            }
            for case in cases {
                variants += 1;
                assert_eq!(
                    run(&case, true),
                    run(&case, false),
                    "{}",
                    String::from_utf8_lossy(&case)
                );
            }
        }
        assert!(variants > 1000);
        // The unmutated first document goes through the fast path to the end; an error in
        // its third entry hands over after two.
        let outcome = |doc: &str| {
            let mut sink = |_, _| Ok(());
            let mut state = super::State {
                sink: &mut sink,
                refused: None,
                confirms: super::super::FirstIndex::default(),
                marker: None,
                delivered: 0,
                skip: 0,
            };
            match super::read_batch(&mut super::Buffered::new(doc.as_bytes()), &mut state) {
                super::Outcome::Done(summary) => Some(summary.requests),
                super::Outcome::Fallback(Some(d)) => Some(100 + d.count),
                _ => None,
            }
        };
        assert_eq!(outcome(docs[0]), Some(3));
        assert_eq!(
            outcome(&docs[0].replace("\"ship\"", "\"shipx\"")),
            Some(102)
        );
    }
}
