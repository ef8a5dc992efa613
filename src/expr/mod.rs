//! Guard expressions: the small typed language of the rules file's `when:` fields.
//!
//! Three stages, one file each, after a size check (`bounds.rs`: length, nesting and
//! operator count, so no stage can overflow the stack): [`parse`](parse_expr) (text → [`Expr`], nom),
//! [`compile`] (names resolved against the [vocabulary](vocabulary), types checked,
//! lowered to a [`Compiled`] tree) and [`Compiled::eval`] (a request → `bool`). Errors of
//! the first two carry a [`Span`]; the third cannot fail: `null` and overflow make a
//! comparison false rather than an error.
//!
//! ```
//! use rms_preflight::expr::{parse_expr, compile, Scope};
//! let e = parse_expr("order.orderProgress != 100").unwrap();
//! let compiled = compile(&e, &Scope::default()).unwrap();
//! assert!(compiled.reads_order());
//! ```
//!
//! Semantics worth knowing when writing rules:
//! - `x == null` / `x != null` test presence; only nullable fields may be compared with `null`;
//! - `<`, `<=`, `>`, `>=` and `in` with a `null` operand are false;
//! - arithmetic with `null`, or that overflows, gives `null`;
//! - `now - order.orderDatetime` is a duration; `order.orderDatetime + 14d` a time.

mod ast;
mod bounds;
mod check;
mod error;
mod eval;
mod parse;
mod print;
mod value;
pub mod vocabulary;

pub use ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp, KEYWORDS};
pub use check::{compile, Compiled, Scope};
pub use error::ExprError;
pub use eval::{Env, NoTrace, SentinelGroup, Trace};
pub use parse::parse_expr;
pub use value::Value;
