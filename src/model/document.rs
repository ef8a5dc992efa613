//! Reading check documents, one request or a batch, from YAML or JSON.
//!
//! A document is either one request (`{shop, now, action, order, oms}`) or a batch
//! (`{shop, now, requests: [{action, order, oms}, …]}`, S3). Requests are handed to a sink
//! one by one *while the document is read*: a JSON batch whose `shop` and `now` come before
//! `requests` goes through in bounded memory, however long it is. (If they come after,
//! the entries must wait for them and are held in memory; the answer is the same.)
//!
//! Errors name the JSON path (`requests[3].order.orderProgress`) and, where the parser
//! knows it, the line and column.

use std::fmt;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Action, BatchFacts, OmsState, Order, OrderInput, Request, Shop, Timestamp};

mod fast;

/// The syntax of a check document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Json,
    Yaml,
}

/// What was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentSummary {
    /// The document was a batch (`requests: […]`).
    pub batch: bool,
    /// How many requests were handed to the sink.
    pub requests: usize,
}

/// A document that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DocumentError {
    /// What is wrong, lowercase, user input in backticks.
    pub message: String,
    /// JSON path of the offending value; `.` for the whole document.
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path != "." {
            write!(f, "at `{}`: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

/// A sink refuses a request with a message and, optionally, a path below the request
/// (`oms.last_error`).
pub type SinkError = (String, String);

/// Reads a document from `reader` and hands every request to `sink` with its index.
///
/// `format` `None` sniffs: a document whose first non-blank character is `{` is JSON,
/// anything else YAML.
pub fn read_document<R: BufRead>(
    reader: R,
    format: Option<DocumentFormat>,
    sink: &mut dyn FnMut(usize, Request) -> Result<(), SinkError>,
) -> Result<DocumentSummary, DocumentError> {
    read_document_with(reader, format, sink, FAST_PATH.load(Ordering::Relaxed))
}

static FAST_PATH: AtomicBool = AtomicBool::new(true);

/// Turns the fast path of JSON batches off for the whole process (`benches/batch.rs` times
/// the path-tracking reader alone against it, in the same run). Not for production use.
#[doc(hidden)]
pub fn set_json_fast_path(on: bool) {
    FAST_PATH.store(on, Ordering::Relaxed);
}

/// [`read_document`]; `fast_path` false reads JSON with the path-tracking reader only (the
/// reference the fast path is tested against).
fn read_document_with<R: BufRead>(
    mut reader: R,
    format: Option<DocumentFormat>,
    sink: &mut dyn FnMut(usize, Request) -> Result<(), SinkError>,
    fast_path: bool,
) -> Result<DocumentSummary, DocumentError> {
    skip_bom(&mut reader)?;
    let format = match format {
        Some(f) => f,
        None => sniff(&mut reader)?,
    };
    let mut state = State {
        sink,
        refused: None,
        confirms: FirstIndex::default(),
        marker: None,
        delivered: 0,
        skip: 0,
    };
    let result = match format {
        DocumentFormat::Json if !fast_path => read_json_tracked(reader, &mut state, None),
        DocumentFormat::Json => {
            // The fast path: entries parsed from a buffer filled in large chunks, without
            // path tracking. Whatever it does not take (another document shape, an error, an
            // entry over the size limit) goes to the path-tracking reader, from the start or
            // from the end of the last entry delivered, which answers exactly as if it had
            // read the whole document itself.
            let mut input = fast::Buffered::new(reader);
            match fast::read_batch(&mut input, &mut state) {
                fast::Outcome::Done(summary) => Ok(summary),
                fast::Outcome::Refused => Err(DocumentError {
                    message: String::new(),
                    path: ".".into(),
                    line: None,
                    column: None,
                }),
                fast::Outcome::Fallback(None) => {
                    let limit =
                        usize::try_from(super::limits::max_input_bytes()).unwrap_or(usize::MAX);
                    match input.whole(limit) {
                        Some(bytes) => read_json_tracked_slice(bytes, &mut state),
                        None => {
                            let (replay, resume) = input.replay(None);
                            read_json_tracked(replay, &mut state, resume)
                        }
                    }
                }
                fast::Outcome::Fallback(resume) => {
                    let (replay, resume) = input.replay(resume);
                    read_json_tracked(replay, &mut state, resume)
                }
            }
        }
        DocumentFormat::Yaml => {
            let mut track = serde_path_to_error::Track::new();
            let text = super::limits::read_to_string_capped(reader).map_err(|e| DocumentError {
                message: format!("cannot read the document: {e}"),
                path: ".".into(),
                line: None,
                column: None,
            })?;
            if let Some((i, message)) = super::limits::yaml_shape(&text) {
                let (line, column) = crate::rules::line_column(&text, i);
                return Err(DocumentError {
                    message,
                    path: ".".into(),
                    line: Some(line),
                    column: Some(column),
                });
            }
            let de = serde_yaml::Deserializer::from_str(&text);
            DocumentSeed {
                state: &mut state,
                resume: None,
            }
            .deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
            .map_err(|e| yaml_error(e, clean_path(track.path().to_string())))
        }
    };
    if let Some((index, (message, below))) = state.refused.take() {
        let mut path = format!("requests[{index}]");
        if index == usize::MAX {
            path = String::new();
        }
        if !below.is_empty() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&below);
        }
        return Err(DocumentError {
            message,
            path: if path.is_empty() { ".".into() } else { path },
            line: None,
            column: None,
        });
    }
    result
}

/// Where the path-tracking reader takes over from the fast path after `index` entries were
/// delivered: the stream starts right after the last of them and is read behind the
/// prefix [`fast::RESUME_PREFIX`] (a batch holding one placeholder entry); paths and
/// positions are translated back to the whole document's.
struct Resume {
    shop: Shop,
    now: Option<Timestamp>,
    /// Entries delivered before the stream.
    index: usize,
    /// Line (from 1) and byte offset in that line (from 0) where the stream starts.
    line: usize,
    offset_in_line: usize,
}

/// The JSON reader with path tracking (serde_path_to_error) over a byte stream, its input
/// counted per entry of a batch.
fn read_json_tracked<R: std::io::Read>(
    reader: R,
    state: &mut State<'_>,
    resume: Option<Resume>,
) -> Result<DocumentSummary, DocumentError> {
    let mut track = serde_path_to_error::Track::new();
    // Counted per entry of a batch (marked after each), so a batch of any length streams
    // while no single entry can exceed the input limit.
    let counting = super::limits::CountingReader::new(reader);
    state.marker = Some(counting.marker());
    let prefix: &[u8] = if resume.is_some() {
        fast::RESUME_PREFIX
    } else {
        b""
    };
    let mut de = serde_json::Deserializer::from_reader(std::io::Read::chain(prefix, counting));
    let position = |line: usize, column: usize| match &resume {
        Some(r) if line == 1 => (
            r.line,
            (column + r.offset_in_line).saturating_sub(prefix.len()),
        ),
        Some(r) if line > 1 => (r.line + line - 1, column),
        _ => (line, column),
    };
    let seed_resume = resume.as_ref().map(|r| (r.shop.clone(), r.now, r.index));
    let r = DocumentSeed {
        state,
        resume: seed_resume,
    }
    .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    match r {
        Ok(summary) => de
            .end()
            .map(|()| summary)
            .map_err(|e| json_error(e, ".".into(), position)),
        Err(e) => {
            let mut path = clean_path(track.path().to_string());
            if let Some(r) = &resume {
                path = shift_entry_index(&path, r.index);
            }
            Err(json_error(e, path, position))
        }
    }
}

/// [`read_json_tracked`] of a whole document already in memory and within the input
/// limit (so no entry can exceed it), parsed from the slice without path tracking —
/// several times faster than byte by byte from a reader (one request to the service, a batch the fast path left).
/// A document with an error is read again as a stream, so the error reads exactly as it
/// always did.
fn read_json_tracked_slice(
    bytes: &[u8],
    state: &mut State<'_>,
) -> Result<DocumentSummary, DocumentError> {
    state.marker = None;
    // No path tracking: a document with an error is read again below, with it.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let r = DocumentSeed {
        state: &mut *state,
        resume: None,
    }
    .deserialize(&mut de);
    if let Ok(summary) = r {
        if de.end().is_ok() {
            return Ok(summary);
        }
    }
    if state.refused.is_some() {
        // The sink's own refusal: located by the caller, not by the parser.
        return Err(DocumentError {
            message: String::new(),
            path: ".".into(),
            line: None,
            column: None,
        });
    }
    // The slice reader places some errors a column apart from the stream reader: read the
    // document again as a stream for the error exactly as it always read, handing nothing
    // to the sink twice (the requests it already took are skipped; the S1 table already
    // holds them, so every later request is judged as the first time).
    state.skip = std::mem::take(&mut state.delivered);
    read_json_tracked(std::io::Cursor::new(bytes), state, None)
}

/// `requests[j]…` of a resumed stream is `requests[j - 1 + index]…` of the document (entry
/// 0 of the stream is the placeholder).
fn shift_entry_index(path: &str, index: usize) -> String {
    let Some(rest) = path.strip_prefix("requests[") else {
        return path.to_owned();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[..digits].parse::<usize>() {
        Ok(j) if j >= 1 && rest[digits..].starts_with(']') => {
            format!("requests[{}{}", j - 1 + index, &rest[digits..])
        }
        _ => path.to_owned(),
    }
}

/// A UTF-8 byte-order mark (Windows editors write one) is not part of the document.
fn skip_bom<R: BufRead>(reader: &mut R) -> Result<(), DocumentError> {
    let buf = reader.fill_buf().map_err(|e| DocumentError {
        message: format!("cannot read the document: {e}"),
        path: ".".into(),
        line: None,
        column: None,
    })?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

fn sniff<R: BufRead>(reader: &mut R) -> Result<DocumentFormat, DocumentError> {
    loop {
        let buf = reader.fill_buf().map_err(|e| DocumentError {
            message: format!("cannot read the document: {e}"),
            path: ".".into(),
            line: None,
            column: None,
        })?;
        let Some(&first) = buf.first() else {
            return Ok(DocumentFormat::Yaml);
        };
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip == 0 {
            return Ok(if first == b'{' {
                DocumentFormat::Json
            } else {
                DocumentFormat::Yaml
            });
        }
        reader.consume(skip);
    }
}

/// serde_path_to_error writes `?` for a segment it could not name (inside broken syntax).
fn clean_path(mut path: String) -> String {
    while let Some(p) = path.strip_suffix(".?") {
        path.truncate(p.len());
    }
    if path == "?" || path.is_empty() {
        ".".into()
    } else {
        path
    }
}

fn json_error(
    e: serde_json::Error,
    path: String,
    position: impl Fn(usize, usize) -> (usize, usize),
) -> DocumentError {
    let (line, column) = if e.line() > 0 {
        position(e.line(), e.column())
    } else {
        (0, 0)
    };
    DocumentError {
        message: super::yaml::strip_location(e.to_string()),
        path,
        line: (line > 0).then_some(line),
        // serde_json says column 0 for an error on a line's first byte (a newline or a
        // control character there); columns count from 1.
        column: (line > 0).then_some(column.max(1)),
    }
}

fn yaml_error(e: serde_yaml::Error, path: String) -> DocumentError {
    let location = e.location();
    let message = super::yaml::yaml_message(&e, &path);
    DocumentError {
        message,
        path,
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
    }
}

struct State<'s> {
    sink: &'s mut dyn FnMut(usize, Request) -> Result<(), SinkError>,
    /// The first request the sink refused: (index, or `usize::MAX` for a single request).
    refused: Option<(usize, SinkError)>,
    /// The first `confirm` entry of each order number seen so far (S1 across a batch), by a
    /// 64-bit hash of the trimmed number: 16 bytes an order instead of the whole string.
    /// Two different numbers with one hash (odds ~1e-8 in a million-order batch) would
    /// deny a confirmation, never allow a second one.
    confirms: FirstIndex,
    /// Restarts the input count after each entry of a streamed JSON batch.
    marker: Option<super::limits::Marker>,
    /// Requests handed to the sink so far, and how many of the next ones not to hand
    /// again (a document read a second time to locate its error exactly).
    delivered: usize,
    skip: usize,
}

impl State<'_> {
    fn deliver<E: de::Error>(&mut self, index: usize, mut request: Request) -> Result<(), E> {
        if index != usize::MAX && request.action == Action::Confirm {
            let number = super::order::canonical_order_number(request.order_number());
            if !number.is_empty() {
                let key = order_number_key(&number);
                match self.confirms.get(key) {
                    Some(first) => request.batch.repeat_of = Some(first),
                    None => self.confirms.insert(key, index),
                }
            }
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        self.delivered += 1;
        match (self.sink)(index, request) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                let message = refusal.0.clone();
                self.refused = Some((index, refusal));
                Err(E::custom(message))
            }
        }
    }
}

/// The first index of each key, in ~12 bytes a key: a sorted array of keys beside their
/// indices, and a small hash table of the latest keys merged into it when full (a hash
/// table of a million keys takes ~50 MB at its peak, while it grows).
#[derive(Default)]
struct FirstIndex {
    keys: Vec<u64>,
    indices: Vec<u32>,
    recent: std::collections::HashMap<u64, usize>,
    /// Indices past `u32::MAX - 1` (a batch of four billion entries).
    large: std::collections::HashMap<u64, usize>,
}

impl FirstIndex {
    /// Keys held in `recent` before they are merged.
    const RECENT: usize = if cfg!(test) { 5 } else { 1 << 16 };
    const LARGE: u32 = u32::MAX;

    fn get(&self, key: u64) -> Option<usize> {
        if let Some(&i) = self.recent.get(&key) {
            return Some(i);
        }
        let at = self.keys.partition_point(|&k| k < key);
        match (self.keys.get(at), self.indices.get(at)) {
            (Some(&k), Some(&i)) if k == key => match i {
                Self::LARGE => self.large.get(&key).copied(),
                i => usize::try_from(i).ok(),
            },
            _ => None,
        }
    }

    /// Records a key not held yet.
    fn insert(&mut self, key: u64, index: usize) {
        self.recent.insert(key, index);
        if self.recent.len() >= Self::RECENT {
            self.merge();
        }
    }

    /// Merges `recent` into the sorted arrays, in place from the back.
    fn merge(&mut self) {
        let mut new: Vec<(u64, usize)> = self.recent.drain().collect();
        new.sort_unstable_by_key(|&(k, _)| k);
        let old = self.keys.len();
        self.keys.resize(old + new.len(), 0);
        self.indices.resize(old + new.len(), 0);
        let (mut i, mut j, mut out) = (old, new.len(), old + new.len());
        while j > 0 {
            out -= 1;
            let (key, index) = new[j - 1];
            if i > 0 && self.keys[i - 1] > key {
                self.keys[out] = self.keys[i - 1];
                self.indices[out] = self.indices[i - 1];
                i -= 1;
            } else {
                let small = u32::try_from(index).ok().filter(|&n| n != Self::LARGE);
                if small.is_none() {
                    self.large.insert(key, index);
                }
                self.keys[out] = key;
                self.indices[out] = small.unwrap_or(Self::LARGE);
                j -= 1;
            }
        }
    }
}

/// A stable 64-bit key for an order number (SipHash with fixed keys).
fn order_number_key(number: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    number.hash(&mut h);
    h.finish()
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Shop,
    Now,
    Action,
    Order,
    Oms,
    Requests,
    /// A whole `getOrder` response pasted in as the document, beside `action`.
    #[serde(rename = "OrderModelList")]
    OrderModelList,
    #[serde(rename = "MessageModelList")]
    MessageModelList,
    #[serde(rename = "version")]
    Version,
}

/// One `requests[]` entry of a batch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawEntry")]
struct Entry {
    action: Action,
    order: Option<Order>,
    oms: OmsState,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    action: Action,
    #[serde(default)]
    order: Option<Order>,
    #[serde(default)]
    oms: OmsState,
}

impl TryFrom<RawEntry> for Entry {
    type Error = String;

    fn try_from(raw: RawEntry) -> Result<Self, String> {
        check_order_presence(raw.action, raw.order.is_some())?;
        Ok(Entry {
            action: raw.action,
            order: raw.order,
            oms: raw.oms,
        })
    }
}

fn check_order_presence(action: Action, has_order: bool) -> Result<(), String> {
    if action.needs_order() && !has_order {
        return Err(format!(
            "missing field `order`: action `{action}` is about one order and needs it"
        ));
    }
    Ok(())
}

struct DocumentSeed<'a, 's> {
    state: &'a mut State<'s>,
    /// Resuming after the fast path: the header it read and the entries it delivered.
    resume: Option<(Shop, Option<Timestamp>, usize)>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = DocumentSummary;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = DocumentSummary;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a check request: a map with `action` and `order`, or a batch with `requests`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut shop: Option<Shop> = None;
        let mut now: Option<Timestamp> = None;
        let mut now_seen = false;
        let mut action: Option<Action> = None;
        let mut order: Option<OrderInput> = None;
        let mut response: Option<Vec<Order>> = None;
        let mut response_keys = false;
        let mut messages: Option<Vec<super::order::ResponseMessage>> = None;
        let mut version_seen = false;
        let mut oms: Option<OmsState> = None;
        let mut batch: Option<(usize, Vec<Entry>)> = None;
        let mut first_index = None;
        if let Some((s, n, index)) = self.resume {
            shop = Some(s);
            now = n;
            now_seen = true;
            first_index = Some(index);
        }

        fn once<T, E: de::Error>(slot: &Option<T>, name: &'static str) -> Result<(), E> {
            if slot.is_some() {
                return Err(E::duplicate_field(name));
            }
            Ok(())
        }

        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Shop => {
                    once(&shop, "shop")?;
                    shop = Some(map.next_value()?);
                }
                Key::Now => {
                    if now_seen {
                        return Err(de::Error::duplicate_field("now"));
                    }
                    now_seen = true;
                    now = map.next_value()?;
                }
                Key::Action => {
                    once(&action, "action")?;
                    action = Some(map.next_value()?);
                }
                Key::Order => {
                    once(&order, "order")?;
                    order = Some(map.next_value()?);
                }
                Key::Oms => {
                    once(&oms, "oms")?;
                    oms = Some(map.next_value()?);
                }
                Key::OrderModelList => {
                    once(&response, "OrderModelList")?;
                    response = Some(map.next_value::<Option<Vec<Order>>>()?.unwrap_or_default());
                }
                Key::MessageModelList => {
                    once(&messages, "MessageModelList")?;
                    response_keys = true;
                    messages = Some(
                        map.next_value::<Option<Vec<super::order::ResponseMessage>>>()?
                            .unwrap_or_default(),
                    );
                }
                Key::Version => {
                    if version_seen {
                        return Err(de::Error::duplicate_field("version"));
                    }
                    version_seen = true;
                    response_keys = true;
                    map.next_value::<de::IgnoredAny>()?;
                }
                Key::Requests => {
                    once(&batch, "requests")?;
                    // Stream when the shared header is complete; otherwise hold entries.
                    let header = (shop.is_some() && now_seen)
                        .then(|| (shop.clone().unwrap_or_default(), now));
                    let mut held = Vec::new();
                    let count = map.next_value_seed(RequestsSeed {
                        state: &mut *self.state,
                        header,
                        held: &mut held,
                        resume_at: first_index.take(),
                    })?;
                    batch = Some((count, held));
                }
            }
        }

        let shop = shop.unwrap_or_default();
        if response.is_some() || response_keys {
            // A getOrder response as the document: its orders are the `order`.
            if batch.is_some() || order.is_some() {
                return Err(de::Error::custom(
                    "a getOrder response (`OrderModelList`) at the top takes the place of `order`: give one or the other, and no `requests`",
                ));
            }
            let orders = response.unwrap_or_default();
            if orders.is_empty() {
                return Err(de::Error::custom(
                    "the getOrder response holds no order (`OrderModelList` is missing or empty): look at its `MessageModelList`",
                ));
            }
            super::order::check_response_messages(&orders, messages.as_deref().unwrap_or_default())
                .map_err(de::Error::custom)?;
            order = Some(OrderInput::Response(orders));
        }
        match batch {
            Some((count, held)) => {
                if action.is_some() || order.is_some() || oms.is_some() {
                    return Err(de::Error::custom(
                        "a batch takes `action`, `order` and `oms` inside each `requests` entry, not at the top",
                    ));
                }
                for (index, entry) in held.into_iter().enumerate() {
                    self.state.deliver(index, entry.into_request(&shop, now))?;
                }
                Ok(DocumentSummary {
                    batch: true,
                    requests: count,
                })
            }
            None => {
                let action = action.ok_or_else(|| {
                    de::Error::custom("missing field `action` (or `requests` for a batch)")
                })?;
                check_order_presence(action, order.is_some()).map_err(de::Error::custom)?;
                let oms = oms.unwrap_or_default();
                let orders = match order {
                    Some(OrderInput::Response(orders)) => orders,
                    one => {
                        let request = Request {
                            shop,
                            now,
                            action,
                            order: match one {
                                Some(OrderInput::One(o)) => Some(*o),
                                _ => None,
                            },
                            oms,
                            batch: BatchFacts::default(),
                        };
                        self.state.deliver(usize::MAX, request)?;
                        return Ok(DocumentSummary {
                            batch: false,
                            requests: 1,
                        });
                    }
                };
                // Each order of a pasted getOrder response is one request of a batch
                // with the same action, shop and OMS state.
                let count = orders.len();
                for (index, order) in orders.into_iter().enumerate() {
                    let request = Request {
                        shop: shop.clone(),
                        now,
                        action,
                        order: Some(order),
                        oms: oms.clone(),
                        batch: BatchFacts::default(),
                    };
                    self.state.deliver(index, request)?;
                }
                Ok(DocumentSummary {
                    batch: true,
                    requests: count,
                })
            }
        }
    }
}

impl Entry {
    fn into_request(self, shop: &Shop, now: Option<Timestamp>) -> Request {
        Request {
            shop: shop.clone(),
            now,
            action: self.action,
            order: self.order,
            oms: self.oms,
            batch: BatchFacts::default(),
        }
    }
}

struct RequestsSeed<'a, 's> {
    state: &'a mut State<'s>,
    header: Option<(Shop, Option<Timestamp>)>,
    held: &'a mut Vec<Entry>,
    /// Resuming: the stream's first entry is a placeholder, the next one is entry `index`.
    resume_at: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for RequestsSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RequestsSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of requests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut index = 0;
        if let Some(first) = self.resume_at {
            seq.next_element::<de::IgnoredAny>()?;
            if let Some(m) = &self.state.marker {
                m.mark();
            }
            index = first;
        }
        while let Some(entry) = seq.next_element::<Entry>()? {
            if let Some(m) = &self.state.marker {
                m.mark();
            }
            match &self.header {
                Some((shop, now)) => self.state.deliver(index, entry.into_request(shop, *now))?,
                None => self.held.push(entry),
            }
            index += 1;
        }
        Ok(index)
    }
}

/// The shape of a check document, for its JSON Schema (`rms-preflight rules schema request`).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
#[schemars(deny_unknown_fields)]
struct CheckDocument {
    shop: Option<Shop>,
    /// Defaults to the real clock.
    now: Option<Timestamp>,
    /// One request: `action` (and `order`, and optionally `oms`).
    action: Option<Action>,
    /// One RMS `OrderModel`, or a whole `getOrder` response pasted in: each order of its
    /// `OrderModelList` becomes one request of a batch (same action, shop and OMS state).
    order: Option<OrderOrResponse>,
    oms: Option<OmsState>,
    /// A batch (S3): one entry per order; `shop` and `now` are shared.
    requests: Option<Vec<BatchEntry>>,
    /// A whole `getOrder` response as the document, beside `action`: its orders are the
    /// requests of a batch, as under `order`.
    #[serde(rename = "OrderModelList")]
    order_model_list: Option<Vec<Order>>,
    /// The pasted response's messages (ignored).
    #[serde(rename = "MessageModelList")]
    message_model_list: Option<serde_json::Value>,
    /// The pasted response's version (ignored).
    version: Option<serde_json::Value>,
}

/// What `order` holds: an `OrderModel` or a `getOrder` response.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum OrderOrResponse {
    Order(Box<Order>),
    Response(GetOrderResponse),
}

/// A `getOrder` response, as RMS sends it.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct GetOrderResponse {
    #[serde(rename = "MessageModelList")]
    message_model_list: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
    #[serde(rename = "OrderModelList")]
    order_model_list: Vec<Order>,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
#[schemars(deny_unknown_fields)]
struct BatchEntry {
    action: Action,
    order: Option<Order>,
    oms: Option<OmsState>,
}

/// The JSON Schema of check documents.
pub fn request_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(CheckDocument)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::FirstIndex;

    /// The compact table answers as a hash table, across many merges.
    #[test]
    fn first_index_answers_as_a_hash_table() {
        let mut table = FirstIndex::default();
        let mut reference = std::collections::HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for index in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Some keys again, some new.
            let key = if index % 3 == 0 { x % 500 } else { x };
            assert_eq!(table.get(key), reference.get(&key).copied(), "{index}");
            if let std::collections::hash_map::Entry::Vacant(e) = reference.entry(key) {
                e.insert(index);
                table.insert(key, index);
            }
        }
        for (&k, &i) in &reference {
            assert_eq!(table.get(k), Some(i));
        }
        let big = u64::MAX - 1;
        assert_eq!(table.get(big), None);
        table.insert(big, usize::MAX);
        for _ in 0..FirstIndex::RECENT {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            table.insert(x, 1);
        }
        assert_eq!(table.get(big), Some(usize::MAX));
    }
}
