//! The syntax tree of a guard expression, as the parser produces it.
//!
//! Nodes carry the byte span of their text inside the expression string; equality ignores
//! spans, so `print(parse(s))` can be compared with `parse(s)` (the round-trip property).

use crate::model::Duration;

/// A byte range inside one expression string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// An expression and where it was written.
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl PartialEq for Expr {
    /// Structural equality; spans are ignored.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Str(String),
    Bool(bool),
    Null,
    /// `14d`, `5m`.
    Duration(Duration),
    /// `order.orderProgress`, `p.postagePrice`, `now`.
    Path(Vec<String>),
    /// `[800, 900]`, only as the right side of `in`.
    List(Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `any(order.PackageModelList, p => …)`, `sentinel("…")`, `days(…)`.
    Call(String, Vec<Expr>),
    /// `p => …`, only as an argument of `any`/`all`.
    Lambda(String, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
        }
    }
}

/// Words that cannot name a field or a lambda parameter.
pub const KEYWORDS: &[&str] = &["and", "or", "not", "in", "true", "false", "null"];
