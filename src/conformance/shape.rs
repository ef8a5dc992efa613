//! The typed diff of two RMS answers, by shape.
//!
//! Two answers conform when they have the same HTTP status, the same field names, the
//! same JSON types and the same nullability at every path, the same codes and the same
//! message texts. Other values (an amount, a date, an order number, an id) are not
//! compared: they legitimately differ between two runs. Which keys hold a code or a text
//! is data ([`ValueKeys`], from the conformance rules file), not code.
//!
//! Arrays are compared element by element up to the shorter length, so every element of
//! RMS's lists (`MessageModelList`, `OrderModelList`, `PackageModelList`) is checked
//! against its counterpart; a different length is its own kind of difference
//! (`length_differs`: a message RMS sent and the other side did not, a search that found
//! more orders). An empty array on one side says nothing about its elements' shape.

use serde::Serialize;
use serde_json::Value;

/// What kind of difference.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The recording has the field, the other answer does not.
    MissingField,
    /// The other answer has a field the recording does not.
    ExtraField,
    /// Different JSON types (`integer` and `string`, an object and plain text, …).
    TypeMismatch,
    /// `null` on one side, a value on the other.
    NullVsValue,
    /// An array of another length.
    LengthDiffers,
    /// A code (`messageCode`, `messageType`, `errorCode`, …) differs.
    CodeDiffers,
    /// A message text differs (or a plain-text body).
    TextDiffers,
    /// The HTTP status differs.
    StatusDiffers,
}

impl Kind {
    /// The name used in the rules file and the JSON output (`missing_field`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::MissingField => "missing_field",
            Kind::ExtraField => "extra_field",
            Kind::TypeMismatch => "type_mismatch",
            Kind::NullVsValue => "null_vs_value",
            Kind::LengthDiffers => "length_differs",
            Kind::CodeDiffers => "code_differs",
            Kind::TextDiffers => "text_differs",
            Kind::StatusDiffers => "status_differs",
        }
    }

    /// In words, for the text report.
    pub fn words(self) -> &'static str {
        match self {
            Kind::MissingField => "missing field",
            Kind::ExtraField => "extra field",
            Kind::TypeMismatch => "type mismatch",
            Kind::NullVsValue => "null vs value",
            Kind::LengthDiffers => "length differs",
            Kind::CodeDiffers => "code differs",
            Kind::TextDiffers => "text differs",
            Kind::StatusDiffers => "status differs",
        }
    }
}

/// One difference: where, what kind, what the recording has and what the other side has.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// `$.MessageModelList[0].messageCode` (the body; `$` is the whole body), or
    /// `status` for the HTTP status.
    pub path: String,
    pub kind: Kind,
    /// The recorded side: a JSON type name (`integer`, `string`, `null`, `text`, `absent`),
    /// a code, a text or a status.
    pub expected: Value,
    /// The other side, in the same terms.
    pub got: Value,
}

/// Which keys hold values compared exactly: codes and texts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueKeys {
    pub codes: Vec<String>,
    pub texts: Vec<String>,
}

/// A body: JSON, plain text, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    Text(String),
    Empty,
}

impl Body {
    /// Reads bytes as RMS's answer: JSON when it parses, text otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Body {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Body::Empty;
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => Body::Json(v),
            Err(_) => Body::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }
}

/// The JSON type name of a value (`integer` and `number` apart: RMS's amounts are
/// integers, and a float where an integer belongs is a difference).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn body_type(b: &Body) -> &'static str {
    match b {
        Body::Json(v) => type_name(v),
        Body::Text(_) => "text",
        Body::Empty => "empty",
    }
}

/// Compares `got` (status and body) with the recording; every difference, in path order.
pub fn diff(
    keys: &ValueKeys,
    expected_status: u16,
    expected: &Body,
    got_status: u16,
    got: &Body,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if expected_status != got_status {
        out.push(Difference {
            path: "status".into(),
            kind: Kind::StatusDiffers,
            expected: expected_status.into(),
            got: got_status.into(),
        });
    }
    match (expected, got) {
        (Body::Json(e), Body::Json(g)) => diff_values(keys, "$", None, e, g, &mut out),
        (Body::Text(e), Body::Text(g)) if e != g => out.push(Difference {
            path: "$".into(),
            kind: Kind::TextDiffers,
            expected: e.as_str().into(),
            got: g.as_str().into(),
        }),
        (Body::Text(_), Body::Text(_)) | (Body::Empty, Body::Empty) => {}
        (e, g) => out.push(Difference {
            path: "$".into(),
            kind: Kind::TypeMismatch,
            expected: body_type(e).into(),
            got: body_type(g).into(),
        }),
    }
    out
}

/// A key as a path step: `.name`, or `["a.b"]` when it is not a plain name.
pub fn key_step(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{key}")
    } else {
        format!("[{}]", Value::from(key))
    }
}

fn diff_values(
    keys: &ValueKeys,
    path: &str,
    key: Option<&str>,
    e: &Value,
    g: &Value,
    out: &mut Vec<Difference>,
) {
    let (te, tg) = (type_name(e), type_name(g));
    if te != tg {
        let kind = if e.is_null() || g.is_null() {
            Kind::NullVsValue
        } else {
            Kind::TypeMismatch
        };
        out.push(Difference {
            path: path.to_owned(),
            kind,
            expected: te.into(),
            got: tg.into(),
        });
        return;
    }
    match (e, g) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                let p = format!("{path}{}", key_step(k));
                match g.get(k) {
                    Some(gv) => diff_values(keys, &p, Some(k), ev, gv, out),
                    None => out.push(Difference {
                        path: p,
                        kind: Kind::MissingField,
                        expected: type_name(ev).into(),
                        got: "absent".into(),
                    }),
                }
            }
            for (k, gv) in g.iter().filter(|(k, _)| !e.contains_key(*k)) {
                out.push(Difference {
                    path: format!("{path}{}", key_step(k)),
                    kind: Kind::ExtraField,
                    expected: "absent".into(),
                    got: type_name(gv).into(),
                });
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                out.push(Difference {
                    path: path.to_owned(),
                    kind: Kind::LengthDiffers,
                    expected: e.len().into(),
                    got: g.len().into(),
                });
            }
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                diff_values(keys, &format!("{path}[{i}]"), None, ev, gv, out);
            }
        }
        _ => {
            let Some(k) = key else { return };
            let kind = if keys.codes.iter().any(|c| c == k) {
                Kind::CodeDiffers
            } else if keys.texts.iter().any(|t| t == k) {
                Kind::TextDiffers
            } else {
                return;
            };
            if e != g {
                out.push(Difference {
                    path: path.to_owned(),
                    kind,
                    expected: e.clone(),
                    got: g.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> ValueKeys {
        ValueKeys {
            codes: vec!["messageCode".into()],
            texts: vec!["message".into()],
        }
    }

    fn kinds(e: Value, g: Value) -> Vec<(String, Kind)> {
        diff(&keys(), 200, &Body::Json(e), 200, &Body::Json(g))
            .into_iter()
            .map(|d| (d.path, d.kind))
            .collect()
    }

    #[test]
    fn values_are_not_compared_but_shapes_codes_and_texts_are() {
        assert!(kinds(json!({"a": 1, "b": "x"}), json!({"a": 2, "b": "y"})).is_empty());
        assert_eq!(
            kinds(
                json!({"a": 1, "b": null, "c": [{"messageCode": "X", "message": "m"}]}),
                json!({"a": "1", "b": 3, "d": 1, "c": [{"messageCode": "Y", "message": "n"}, {}]})
            ),
            vec![
                ("$.a".into(), Kind::TypeMismatch),
                ("$.b".into(), Kind::NullVsValue),
                ("$.c".into(), Kind::LengthDiffers),
                ("$.c[0].messageCode".into(), Kind::CodeDiffers),
                ("$.c[0].message".into(), Kind::TextDiffers),
                ("$.d".into(), Kind::ExtraField),
            ]
        );
        assert_eq!(
            kinds(json!({"a.b": 1}), json!({})),
            vec![("$[\"a.b\"]".into(), Kind::MissingField)]
        );
        assert_eq!(
            kinds(json!({"a": 1}), json!({"a": 1.5})),
            vec![("$.a".into(), Kind::TypeMismatch)]
        );
    }

    #[test]
    fn status_and_text_bodies() {
        let d = diff(
            &keys(),
            503,
            &Body::Text("API In Maintenance".into()),
            200,
            &Body::Json(json!({})),
        );
        assert_eq!(d[0].kind, Kind::StatusDiffers);
        assert_eq!(d[1].kind, Kind::TypeMismatch);
        assert_eq!(d[1].expected, json!("text"));
        assert!(diff(
            &keys(),
            500,
            &Body::from_bytes(b"x"),
            500,
            &Body::from_bytes(b"x")
        )
        .is_empty());
    }
}
