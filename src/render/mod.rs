//! The answers of `check` and `explain-error` in their JSON contract (README "Output"),
//! written by the CLI and by the service (`serve`) alike, so the two cannot differ.
//!
//! - [`check_document`] reads a check document, checks every request as it is read and
//!   hands each verdict to a [`ResultWriter`]; [`JsonWriter`] writes the public JSON
//!   document (opened before the first result, closed with the summary after the last),
//!   so a batch of any length streams through.
//! - [`explain_error`] classifies an RMS answer into an [`ExplainErrorOutput`], the
//!   document `explain-error --format json` prints.
//!
//! The JSON Schemas of both documents come from these types ([`check_output_schema`],
//! [`explain_error_schema`]; checked in under `rules/`).

mod check;
mod explain_error;

pub use check::{
    check_document, check_output_schema, CheckOptions, CheckRun, JsonFragments, JsonWriter,
    ResultWriter, Summary,
};
pub use explain_error::{
    explain_error, explain_error_schema, DuplicateKey, ExplainErrorOutput, OrderOutput,
};
