//! RMS's answers to the calls one request made, read for what the merged answer needs and
//! written back as RMS wrote them.
//!
//! The guard has already read each answer for its own purpose (which orders RMS took).
//! The merge needs much less from it: which order each message is about, and whether it
//! is an error. So each message is kept as the bytes RMS sent ([`RawValue`]) and only
//! those two fields are read from it; the merged answer writes the bytes back unchanged.
//! Nothing RMS wrote is lost or re-spelled — an explicit `"orderNumber": null`, a field
//! this version does not know, a message missing a field the guard's reader requires —
//! and a 100-message answer is read once more for a few microseconds, not re-built.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::model::canonical_order_number;
use crate::rms::Sent;

/// One message of an RMS answer: its bytes, and what the merge reads from them.
pub(super) struct Message<'a> {
    raw: &'a RawValue,
    /// The canonical order number the message is about, when it names one as a string.
    order: Option<String>,
    error: bool,
}

impl Message<'_> {
    /// `messageType` is `ERROR` (in any case).
    pub(super) fn is_error(&self) -> bool {
        self.error
    }
}

impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// The two fields of a message the merge reads, unread themselves until [`text`] reads
/// them; every other field is skipped unread.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "messageType", default, borrow)]
    message_type: Option<&'a RawValue>,
    #[serde(rename = "orderNumber", default, borrow)]
    order_number: Option<&'a RawValue>,
}

/// A field's string, or `None` for any other JSON value (a number, `null`, an object):
/// such a field names no order and no message type, and the message is kept as it is.
/// Borrowed from the answer unless it holds an escape.
fn text(field: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = field?.get();
    if let Ok(plain) = serde_json::from_str::<&str>(raw) {
        return Some(Cow::Borrowed(plain));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

impl<'a> Message<'a> {
    fn read(raw: &'a RawValue) -> Self {
        // A message that is not an object (or repeats a field) is kept, about no order.
        let head = serde_json::from_str::<Head<'a>>(raw.get()).ok();
        let (message_type, order_number) = match head {
            Some(h) => (text(h.message_type), text(h.order_number)),
            None => (None, None),
        };
        Message {
            raw,
            order: order_number.as_deref().map(canonical_order_number),
            error: message_type.is_some_and(|t| t.eq_ignore_ascii_case("ERROR")),
        }
    }
}

/// An RMS answer: its messages unread but for their heads, and its other top-level fields.
struct Answer<'a> {
    messages: Vec<&'a RawValue>,
    extra: Extra<'a>,
}

/// Top-level fields of RMS's answers, each as RMS wrote it (a number too long for a float
/// stays as it was), in the order first seen; a field given again takes its later value.
#[derive(Default)]
pub(super) struct Extra<'a>(Vec<(String, &'a RawValue)>);

impl<'a> Extra<'a> {
    fn set(&mut self, key: String, value: &'a RawValue) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    #[cfg(test)]
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.get())
    }
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Answer<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Answer<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RMS answer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut answer = Answer {
                    messages: Vec::new(),
                    extra: Extra::default(),
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "MessageModelList" {
                        // Given twice, both lists are kept.
                        let list: Option<Vec<&'de RawValue>> = map.next_value()?;
                        answer.messages.extend(list.unwrap_or_default());
                    } else {
                        answer.extra.set(key.into_owned(), map.next_value()?);
                    }
                }
                Ok(answer)
            }
        }
        d.deserialize_map(V)
    }
}

/// What RMS wrote in its answers to a request's calls of one function.
#[derive(Default)]
pub(super) struct Said<'a> {
    /// Per canonical order number: the first message of an answer about the order, the
    /// last answer's (a resend has the last word), as the guard — and so the ledger —
    /// reads them. In the order RMS first wrote them, so that messages about orders the
    /// merge has no place for are kept in that order ([`Said::unplaced`]).
    pub(super) by_order: HashMap<String, (usize, Message<'a>)>,
    /// Every other message: about no order, or a second one about an order. Kept, after
    /// the orders' entries, so nothing RMS wrote is lost.
    pub(super) others: Vec<Message<'a>>,
    /// The answers' other top-level fields (a later answer's win).
    pub(super) extra: Extra<'a>,
}

impl<'a> Said<'a> {
    /// Takes RMS's message about the order `canonical`, if it wrote one.
    pub(super) fn take(&mut self, canonical: &str) -> Option<Message<'a>> {
        self.by_order.remove(canonical).map(|(_, m)| m)
    }

    /// Every message no order of the request took: about an order the proxy did not send
    /// (or nobody asked for), in the order RMS wrote them, then the messages about no
    /// order or repeating one. Nothing RMS wrote is dropped.
    pub(super) fn unplaced(self) -> impl Iterator<Item = Message<'a>> {
        let mut left: Vec<(usize, Message<'a>)> = self.by_order.into_values().collect();
        left.sort_by_key(|(seen, _)| *seen);
        left.into_iter().map(|(_, m)| m).chain(self.others)
    }
}

/// Reads what RMS wrote to every call of `function_name` in `calls`. An answer that is not
/// a JSON object with a `MessageModelList` array is skipped: the proxy then answers for
/// its orders itself, from the guard's outcome.
pub(super) fn upstream_messages<'a>(calls: &'a [Sent], function_name: &str) -> Said<'a> {
    let mut said = Said::default();
    let mut seen = 0;
    for sent in calls {
        if sent.function != function_name {
            continue;
        }
        let Ok(reply) = &sent.result else { continue };
        let Ok(answer) = serde_json::from_slice::<Answer<'a>>(&reply.body) else {
            continue;
        };
        let mut this: HashMap<String, (usize, Message<'a>)> =
            HashMap::with_capacity(answer.messages.len());
        for raw in answer.messages {
            let mut m = Message::read(raw);
            match m.order.take() {
                Some(n) => match this.entry(n) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert((seen, m));
                        seen += 1;
                    }
                    std::collections::hash_map::Entry::Occupied(o) => {
                        m.order = Some(o.key().clone());
                        said.others.push(m);
                    }
                },
                None => said.others.push(m),
            }
        }
        // The first answer's map is taken as it is; a later one's messages replace.
        if said.by_order.is_empty() {
            said.by_order = this;
        } else {
            said.by_order.extend(this);
        }
        for (k, v) in answer.extra.0 {
            said.extra.set(k, v);
        }
    }
    said
}

/// One order's entry of a merged answer: RMS's own message, as it came, or the proxy's.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Entry<'a> {
    Rms(Message<'a>),
    Own(Value),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rms::RmsReply;

    fn sent(body: &str) -> Sent {
        Sent {
            function: "confirmOrder".into(),
            result: Ok(RmsReply {
                status: 200,
                body: bytes::Bytes::from(body.to_owned()),
            }),
            elapsed: std::time::Duration::ZERO,
        }
    }

    /// The merge writes each message back byte for byte, whatever it holds, and reads
    /// only its order number and type — a message the guard's reader would refuse (no
    /// `messageCode`, a numeric `orderNumber`, an explicit `null`) is still kept.
    #[test]
    fn messages_are_kept_as_rms_wrote_them() {
        let body = r#"{"MessageModelList":[
            {"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ERROR_003","message":"x","orderNumber":" 375055-1 ","z":[1,{"a":null}]},
            {"messageType":"info","orderNumber":null,"message":"\u3042"},
            {"messageType":"INFO","orderNumber":12345},
            "not an object",
            {"messageType":"INFO","orderNumber":"375055-1"}
          ],"requestId":"r-1"}"#;
        let calls = [sent(body)];
        let said = upstream_messages(&calls, "confirmOrder");
        let first = &said.by_order["375055-1"].1;
        assert!(first.is_error());
        assert_eq!(
            serde_json::to_string(first).unwrap(),
            r#"{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ERROR_003","message":"x","orderNumber":" 375055-1 ","z":[1,{"a":null}]}"#
        );
        let others: Vec<String> = said
            .others
            .iter()
            .map(|m| serde_json::to_string(m).unwrap())
            .collect();
        assert_eq!(
            others,
            [
                r#"{"messageType":"info","orderNumber":null,"message":"\u3042"}"#,
                r#"{"messageType":"INFO","orderNumber":12345}"#,
                r#""not an object""#,
                r#"{"messageType":"INFO","orderNumber":"375055-1"}"#,
            ]
        );
        assert_eq!(said.extra.get("requestId"), Some(r#""r-1""#));
    }

    /// What no order of the request takes is kept in the order RMS wrote it, and the
    /// top-level fields keep their spelling (a later answer's value wins).
    #[test]
    fn unplaced_messages_and_top_level_fields_are_kept() {
        let calls = [
            sent(
                r#"{"MessageModelList":[{"orderNumber":"b"},{"orderNumber":"a"},{"m":1}],"n":1.10,"big":123456789012345678901234567890}"#,
            ),
            sent(r#"{"MessageModelList":[{"orderNumber":"c"}],"n":2}"#),
        ];
        let mut said = upstream_messages(&calls, "confirmOrder");
        assert!(said.take("a").is_some());
        let extra = serde_json::to_string(&said.extra).unwrap();
        assert_eq!(extra, r#"{"n":2,"big":123456789012345678901234567890}"#);
        let left: Vec<String> = said
            .unplaced()
            .map(|m| serde_json::to_string(&m).unwrap())
            .collect();
        assert_eq!(
            left,
            [
                r#"{"orderNumber":"b"}"#,
                r#"{"orderNumber":"c"}"#,
                r#"{"m":1}"#
            ]
        );
    }

    /// A type or an order number written with escapes reads as the same text.
    #[test]
    fn escaped_fields_read_as_their_text() {
        let calls = [sent(
            r#"{"MessageModelList":[{"messageType":"ERR\u004fR","orderNumber":"375055-\u0031"}]}"#,
        )];
        let said = upstream_messages(&calls, "confirmOrder");
        assert!(said.by_order["375055-1"].1.is_error());
    }

    #[test]
    fn an_answer_that_is_not_rms_shaped_says_nothing() {
        for body in [
            "",
            "[]",
            r#"{"MessageModelList":{}}"#,
            "{\"MessageModelList\":[1,",
        ] {
            let calls = [sent(body)];
            let said = upstream_messages(&calls, "confirmOrder");
            assert!(said.by_order.is_empty() && said.others.is_empty(), "{body}");
        }
    }
}
