//! Values an expression computes: small, `Copy`, borrowing from the request and the rule
//! set, so that evaluation allocates nothing.

use std::fmt;

use crate::model::{Duration, Package, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
    Time(Timestamp),
    /// Seconds.
    Duration(i64),
    Packages(&'a [Package]),
}

impl Value<'_> {
    /// The value as JSON, for `check --explain --format json`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(n) => (*n).into(),
            Value::Str(s) => (*s).into(),
            Value::Time(t) => t.to_string().into(),
            Value::Duration(d) => Duration::from_secs(*d).to_string().into(),
            Value::Packages(p) => format!("{} packages", p.len()).into(),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Duration(d) => write!(f, "{}", Duration::from_secs(*d)),
            Value::Packages(p) => write!(f, "[{} packages]", p.len()),
        }
    }
}
