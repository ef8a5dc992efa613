//! The data a check is about: the RMS order as RMS sends it, the OMS's own state, the
//! shop's settings, the action, and the reading of check documents (single or batch).

mod action;
mod document;
pub mod limits;
mod order;
mod request;
mod timestamp;
mod yaml;

pub use action::{Action, ActionSet};
pub use document::{
    read_document, request_json_schema, set_json_fast_path, DocumentError, DocumentFormat,
    DocumentSummary, SinkError,
};
pub use order::{canonical_order_number, Order, OrderInput, Package, ORDER_KEYS, PACKAGE_KEYS};
pub use request::{BatchFacts, Label, LedgerState, OmsState, Request, Shop};
pub use timestamp::{Duration, DurationError, Timestamp, TimestampError};
pub use yaml::{from_yaml, yaml_message, FileError, YamlError};
