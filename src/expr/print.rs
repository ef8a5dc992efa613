//! Printing an expression back to text that parses to the same tree.
//!
//! Every nested operator gets parentheses: the output is meant to be unambiguous, not
//! pretty; `lint` and `--explain` show the user's own text, not this.

use std::fmt;

use super::ast::{Expr, ExprKind, UnaryOp};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(n) => write!(f, "{n}"),
            ExprKind::Str(s) => write_string(f, s),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Null => f.write_str("null"),
            ExprKind::Duration(d) => write!(f, "{d}"),
            ExprKind::Path(parts) => f.write_str(&parts.join(".")),
            ExprKind::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_operand(f, item)?;
                }
                f.write_str("]")
            }
            ExprKind::Unary(UnaryOp::Not, e) => {
                f.write_str("not ")?;
                write_operand(f, e)
            }
            ExprKind::Unary(UnaryOp::Neg, e) => write!(f, "-({e})"),
            ExprKind::Binary(op, l, r) => {
                write_operand(f, l)?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, r)
            }
            ExprKind::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
            ExprKind::Lambda(param, body) => write!(f, "{param} => {body}"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr) -> fmt::Result {
    match e.kind {
        ExprKind::Binary(..) | ExprKind::Unary(UnaryOp::Not, _) | ExprKind::Lambda(..) => {
            write!(f, "({e})")
        }
        _ => write!(f, "{e}"),
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}
