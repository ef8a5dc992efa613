//! An OMS's request body, read as JSON that means one thing only.
//!
//! JSON leaves a key given twice in one object to the reader: `serde_json` keeps the last
//! value, other parsers keep the first or refuse. The proxy forwards the caller's own body
//! for every guarded call but `confirmOrder`, so a body whose meaning depends on the
//! reader could be checked as one order and acted on by RMS as another. Such a body is
//! refused, naming the key and where it is.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::model::limits::shortened;

/// `body` as a JSON value, or why the proxy will not read it: not JSON, or an object that
/// names a key twice (`the body names `orderNumber` twice at `$.x``).
pub(super) fn parse(body: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Strict { path: &Path::Root }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE) {
            // The duplicate's own message; serde_json adds the position after it.
            Some(rest) => format!("the body {rest}"),
            None => format!("the body is not JSON: {text}"),
        }
    })
}

/// Marks a duplicate-key error among serde_json's own.
const DUPLICATE: &str = "\u{0}duplicate: ";

/// How much of a key, and of a path, a message shows (a key may be megabytes long).
const SHOWN_KEY: usize = 64;
const SHOWN_PATH: usize = 120;

/// Where a value sits, as a JSON path (`$.a[2].b`), built only when an error needs it.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct Strict<'p> {
    path: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = Path::Index(self.path, out.len());
            match seq.next_element_seed(Strict { path: &path })? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "{DUPLICATE}names `{}` twice at `{}`",
                    shortened(&key.escape_debug().to_string(), SHOWN_KEY),
                    shortened(&self.path.to_string(), SHOWN_PATH)
                )));
            }
            let path = Path::Key(self.path, &key);
            let value = map.next_value_seed(Strict { path: &path })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_as_serde_json_reads_it() {
        let body = br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"orderNumber":"375055-1"}"#;
        assert_eq!(
            parse(body).unwrap(),
            serde_json::from_slice::<Value>(body).unwrap()
        );
    }

    /// A key given twice anywhere is refused with its place; a key given once in each of
    /// two objects is not a duplicate.
    #[test]
    fn a_key_given_twice_is_refused_where_it_is() {
        let cases: [(&[u8], &str); 3] = [
            (
                br#"{"orderNumberList":["a"],"orderNumberList":["b"]}"#,
                "the body names `orderNumberList` twice at `$` at line 1 column 42",
            ),
            (
                br#"{"x":[{"orderNumber":"a"},{"orderNumber":"b","orderNumber":"c"}]}"#,
                "the body names `orderNumber` twice at `$.x[1]` at line 1 column 58",
            ),
            (
                b"{\"a\":{\"k\\n\":1,\"k\\n\":2}}",
                "the body names `k\\n` twice at `$.a` at line 1 column 19",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(parse(body).unwrap_err(), message);
        }
        assert!(parse(br#"[{"orderNumber":"a"},{"orderNumber":"b"}]"#).is_ok());
    }

    /// A key of megabytes, given twice deep down, is named in a message of a line.
    #[test]
    fn a_long_key_and_a_deep_path_are_shortened() {
        let key = "k".repeat(100_000);
        let body = format!(r#"{{"{key}":{{"{key}":{{"x":1,"x":2}}}}, "y":1}}"#);
        let e = parse(body.as_bytes()).unwrap_err();
        assert!(e.len() < 400, "{} characters", e.len());
        let body = format!(r#"{{"{key}":1,"{key}":2}}"#);
        let e = parse(body.as_bytes()).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "the body names `{}…` twice at `$`",
                "k".repeat(64)
            )),
            "{e}"
        );
    }

    #[test]
    fn what_is_not_json_says_so() {
        for body in [&b""[..], b"{", b"{} x", b"[1,]"] {
            let e = parse(body).unwrap_err();
            assert!(e.starts_with("the body is not JSON: "), "{e}");
        }
    }
}
