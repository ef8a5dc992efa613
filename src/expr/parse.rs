//! Guard expressions: text → [`Expr`], with nom.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | cmp
//! cmp     := add (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") add)?
//! add     := unary (("+" | "-") unary)*
//! unary   := "-" unary | primary            (`-9999` is one integer literal)
//! primary := int | duration | string | "true" | "false" | "null"
//!          | "[" (expr ("," expr)*)? "]" | "(" expr ")"
//!          | name "(" (arg ("," arg)*)? ")" | name ("." name)*
//! arg     := name "=>" expr | expr
//! ```
//!
//! Comparisons do not chain (`a < b < c` is an error, not a surprise). Durations are a
//! whole number and a unit: `14d`, `10h`, `5m`, `30s`.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, satisfy};
use nom::combinator::{not, peek, recognize};
use nom::error::{ErrorKind, ParseError};
use nom::sequence::pair;
use nom::{Err as NomErr, IResult};

use super::ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp, KEYWORDS};
use super::error::ExprError;
use crate::model::Duration;

/// Parses one guard expression.
pub fn parse_expr(src: &str) -> Result<Expr, ExprError> {
    super::bounds::check(src)?;
    let result = expr(src, src).and_then(|(rest, e)| {
        let rest = skip_ws(rest);
        if rest.is_empty() {
            Ok(e)
        } else {
            Err(NomErr::Failure(PErr::new(
                rest,
                "expected an operator or the end of the expression",
            )))
        }
    });
    result.map_err(|e| match e {
        NomErr::Error(e) | NomErr::Failure(e) => e.into_expr_error(src),
        NomErr::Incomplete(_) => ExprError::parse(src, src.len(), "unexpected end of expression"),
    })
}

/// A parse error: where, and what was expected there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PErr<'a> {
    rest: &'a str,
    expected: &'static str,
}

impl<'a> PErr<'a> {
    fn new(rest: &'a str, expected: &'static str) -> Self {
        PErr { rest, expected }
    }

    fn into_expr_error(self, src: &str) -> ExprError {
        let offset = src.len() - self.rest.len();
        let found = token_at(self.rest);
        let message = if self.expected.starts_with("expected") {
            if found.is_empty() {
                format!("unexpected end of expression: {}", self.expected)
            } else {
                format!("unexpected `{found}`: {}", self.expected)
            }
        } else {
            // A complete message of its own (overflow, chained comparison, …).
            self.expected.to_owned()
        };
        ExprError::Parse {
            message,
            span: Span::new(
                offset,
                offset + found.len().max(if found.is_empty() { 0 } else { 1 }),
            ),
        }
    }
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _: ErrorKind) -> Self {
        PErr::new(input, "expected an expression")
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        // Keep the error that got furthest: it is the most specific.
        if other.rest.len() <= self.rest.len() {
            other
        } else {
            self
        }
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn token_at(rest: &str) -> &str {
    let rest = rest.trim_start();
    let mut chars = rest.char_indices();
    match chars.next() {
        None => "",
        Some((_, c)) if c.is_alphanumeric() || c == '_' => {
            let end = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(rest.len(), |(i, _)| i);
            &rest[..end]
        }
        Some((_, c)) => {
            let two = ["==", "!=", "<=", ">=", "=>"];
            if two.iter().any(|t| rest.starts_with(t)) {
                &rest[..2]
            } else {
                &rest[..c.len_utf8()]
            }
        }
    }
}

fn skip_ws(i: &str) -> &str {
    i.trim_start_matches([' ', '\t', '\n', '\r'])
}

fn offset(src: &str, rest: &str) -> usize {
    src.len() - rest.len()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(is_ident_char),
    ))(i)
}

/// A keyword, not followed by a name character (`in` but not `index`).
fn keyword<'a>(kw: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    move |i| {
        let i = skip_ws(i);
        let (rest, k) = tag(kw)(i)?;
        let (rest, _) = not(peek(satisfy(is_ident_char)))(rest)?;
        Ok((rest, k))
    }
}

fn sym<'a>(s: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    move |i| tag(s)(skip_ws(i))
}

/// Turns a recoverable error into a committed one with a message.
fn expect<'a, T>(
    mut p: impl FnMut(&'a str) -> Res<'a, T>,
    expected: &'static str,
) -> impl FnMut(&'a str) -> Res<'a, T> {
    move |i| match p(i) {
        Err(NomErr::Error(e)) => {
            // Report at the first non-blank character, or deeper if the inner parser got there.
            let at = skip_ws(i);
            if e.rest.len() < at.len() {
                Err(NomErr::Failure(e))
            } else {
                Err(NomErr::Failure(PErr::new(at, expected)))
            }
        }
        other => other,
    }
}

fn expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    or_expr(src, i)
}

fn binary(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    let span = Span::new(l.span.start, r.span.end);
    Expr {
        kind: ExprKind::Binary(op, Box::new(l), Box::new(r)),
        span,
    }
}

fn or_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let (mut i, mut lhs) = and_expr(src, i)?;
    while let Ok((rest, _)) = keyword("or")(i) {
        let (rest, rhs) = expect(|i| and_expr(src, i), "expected an expression after `or`")(rest)?;
        lhs = binary(BinaryOp::Or, lhs, rhs);
        i = rest;
    }
    Ok((i, lhs))
}

fn and_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let (mut i, mut lhs) = not_expr(src, i)?;
    while let Ok((rest, _)) = keyword("and")(i) {
        let (rest, rhs) = expect(|i| not_expr(src, i), "expected an expression after `and`")(rest)?;
        lhs = binary(BinaryOp::And, lhs, rhs);
        i = rest;
    }
    Ok((i, lhs))
}

fn not_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let start = offset(src, skip_ws(i));
    if let Ok((rest, _)) = keyword("not")(i) {
        let (rest, inner) =
            expect(|i| not_expr(src, i), "expected an expression after `not`")(rest)?;
        let span = Span::new(start, inner.span.end);
        return Ok((
            rest,
            Expr {
                kind: ExprKind::Unary(UnaryOp::Not, Box::new(inner)),
                span,
            },
        ));
    }
    cmp_expr(src, i)
}

fn cmp_op(i: &str) -> Res<'_, BinaryOp> {
    let i = skip_ws(i);
    if let Ok((rest, _)) = keyword("in")(i) {
        return Ok((rest, BinaryOp::In));
    }
    // `=>` belongs to a lambda, not to a comparison.
    let ops = [
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::Ne),
        ("<=", BinaryOp::Le),
        (">=", BinaryOp::Ge),
        ("<", BinaryOp::Lt),
        (">", BinaryOp::Gt),
    ];
    for (text, op) in ops {
        if let Some(rest) = i.strip_prefix(text) {
            return Ok((rest, op));
        }
    }
    Err(NomErr::Error(PErr::new(i, "expected a comparison")))
}

fn cmp_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let (i, lhs) = add_expr(src, i)?;
    let Ok((rest, op)) = cmp_op(i) else {
        return Ok((i, lhs));
    };
    let (rest, rhs) = expect(
        |i| add_expr(src, i),
        "expected an expression after the comparison",
    )(rest)?;
    if cmp_op(rest).is_ok() {
        return Err(NomErr::Failure(PErr::new(
            skip_ws(rest),
            "comparisons do not chain: add parentheses or join them with `and`",
        )));
    }
    Ok((rest, binary(op, lhs, rhs)))
}

fn add_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let (mut i, mut lhs) = unary_expr(src, i)?;
    loop {
        let op = match alt((sym("+"), sym("-")))(i) {
            Ok((rest, "+")) => (rest, BinaryOp::Add),
            Ok((rest, _)) => (rest, BinaryOp::Sub),
            Err(_) => break,
        };
        let (rest, rhs) = expect(
            |i| unary_expr(src, i),
            "expected an expression after the operator",
        )(op.0)?;
        lhs = binary(op.1, lhs, rhs);
        i = rest;
    }
    Ok((i, lhs))
}

fn unary_expr<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let i = skip_ws(i);
    let start = offset(src, i);
    if let Some(after) = i.strip_prefix('-') {
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            // `-9999`: a negative integer literal, unless it carries a unit.
            let (rest, lit) = number(src, i)?;
            return Ok((rest, lit));
        }
        let (rest, inner) =
            expect(|i| unary_expr(src, i), "expected an expression after `-`")(after)?;
        let span = Span::new(start, inner.span.end);
        return Ok((
            rest,
            Expr {
                kind: ExprKind::Unary(UnaryOp::Neg, Box::new(inner)),
                span,
            },
        ));
    }
    primary(src, i)
}

/// `123`, `-9999`, `14d`. A negative number with a unit is `-(14d)`.
fn number<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let start = offset(src, i);
    let negative = i.starts_with('-');
    let body = if negative { &i[1..] } else { i };
    let (rest, digits) = take_while1(|c: char| c.is_ascii_digit())(body)?;
    let unit = rest
        .chars()
        .next()
        .filter(|c| Duration::unit_seconds(*c).is_some());
    let after_unit = unit.map_or(rest, |u| &rest[u.len_utf8()..]);
    if after_unit.starts_with(is_ident_char) {
        return Err(NomErr::Failure(PErr::new(
            i,
            "a number is followed by a name: write durations as `14d`, `10h`, `5m` or `30s`",
        )));
    }
    let too_large = || NomErr::Failure(PErr::new(i, "number is too large"));
    let n: i64 = digits.parse().map_err(|_| too_large())?;
    let kind = match unit {
        None => ExprKind::Int(if negative { -n } else { n }),
        Some(u) => {
            let secs = Duration::unit_seconds(u)
                .and_then(|per| n.checked_mul(per))
                .ok_or_else(too_large)?;
            ExprKind::Duration(Duration::from_secs(secs))
        }
    };
    let end = offset(src, after_unit);
    let lit = Expr {
        kind,
        span: Span::new(if negative { start + 1 } else { start }, end),
    };
    if negative && unit.is_some() {
        return Ok((
            after_unit,
            Expr {
                kind: ExprKind::Unary(UnaryOp::Neg, Box::new(lit)),
                span: Span::new(start, end),
            },
        ));
    }
    Ok((
        after_unit,
        Expr {
            span: Span::new(start, end),
            ..lit
        },
    ))
}

fn string<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let start = offset(src, i);
    let (mut rest, _) = char('"')(i)?;
    let mut value = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => {
                return Err(NomErr::Failure(PErr::new(
                    &src[start..],
                    "unterminated string: add the closing `\"`",
                )))
            }
            Some('"') => {
                rest = chars.as_str();
                break;
            }
            Some('\\') => {
                let escaped = match chars.next() {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    _ => {
                        return Err(NomErr::Failure(PErr::new(
                            rest,
                            "unknown escape: use `\\\"`, `\\\\`, `\\n` or `\\t`",
                        )))
                    }
                };
                value.push(escaped);
                rest = chars.as_str();
            }
            Some(c) => {
                value.push(c);
                rest = chars.as_str();
            }
        }
    }
    Ok((
        rest,
        Expr {
            kind: ExprKind::Str(value),
            span: Span::new(start, offset(src, rest)),
        },
    ))
}

fn list<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let start = offset(src, i);
    let (mut rest, _) = char('[')(i)?;
    let mut items = Vec::new();
    if let Ok((r, _)) = sym("]")(rest) {
        return Ok((
            r,
            Expr {
                kind: ExprKind::List(items),
                span: Span::new(start, offset(src, r)),
            },
        ));
    }
    loop {
        let (r, item) = expect(|i| expr(src, i), "expected a list item")(rest)?;
        items.push(item);
        let (r, sep) = expect(alt((sym(","), sym("]"))), "expected `,` or `]`")(r)?;
        rest = r;
        if sep == "]" {
            break;
        }
    }
    Ok((
        rest,
        Expr {
            kind: ExprKind::List(items),
            span: Span::new(start, offset(src, rest)),
        },
    ))
}

fn primary<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let i = skip_ws(i);
    let start = offset(src, i);
    match i.chars().next() {
        Some('(') => {
            let (rest, inner) = expect(|i| expr(src, i), "expected an expression")(&i[1..])?;
            let (rest, _) = expect(sym(")"), "expected `)`")(rest)?;
            // Parentheses only group; the node keeps its own span.
            return Ok((rest, inner));
        }
        Some('[') => return list(src, i),
        Some('"') => return string(src, i),
        Some(c) if c.is_ascii_digit() => return number(src, i),
        _ => {}
    }
    let (rest, name) = ident(i)?;
    let lit = |kind| {
        Ok((
            rest,
            Expr {
                kind,
                span: Span::new(start, offset(src, rest)),
            },
        ))
    };
    match name {
        "true" => return lit(ExprKind::Bool(true)),
        "false" => return lit(ExprKind::Bool(false)),
        "null" => return lit(ExprKind::Null),
        kw if KEYWORDS.contains(&kw) => {
            return Err(NomErr::Error(PErr::new(i, "expected an expression")))
        }
        _ => {}
    }
    if let Ok((after_paren, _)) = sym("(")(rest) {
        return call(src, start, name, after_paren);
    }
    let mut parts = vec![name.to_owned()];
    let mut rest = rest;
    while let Some(after_dot) = rest.strip_prefix('.') {
        let (r, part) = expect(ident, "expected a field name after `.`")(after_dot)?;
        parts.push(part.to_owned());
        rest = r;
    }
    Ok((
        rest,
        Expr {
            kind: ExprKind::Path(parts),
            span: Span::new(start, offset(src, rest)),
        },
    ))
}

fn call<'a>(src: &'a str, start: usize, name: &'a str, i: &'a str) -> Res<'a, Expr> {
    let mut args = Vec::new();
    let mut rest = i;
    if let Ok((r, _)) = sym(")")(rest) {
        rest = r;
    } else {
        loop {
            let (r, arg) = expect(|i| argument(src, i), "expected an argument")(rest)?;
            args.push(arg);
            let (r, sep) = expect(alt((sym(","), sym(")"))), "expected `,` or `)`")(r)?;
            rest = r;
            if sep == ")" {
                break;
            }
        }
    }
    Ok((
        rest,
        Expr {
            kind: ExprKind::Call(name.to_owned(), args),
            span: Span::new(start, offset(src, rest)),
        },
    ))
}

fn argument<'a>(src: &'a str, i: &'a str) -> Res<'a, Expr> {
    let i = skip_ws(i);
    let start = offset(src, i);
    if let Ok((rest, param)) = ident(i) {
        if !KEYWORDS.contains(&param) {
            if let Ok((rest, _)) = sym("=>")(rest) {
                let (rest, body) =
                    expect(|i| expr(src, i), "expected an expression after `=>`")(rest)?;
                let span = Span::new(start, body.span.end);
                return Ok((
                    rest,
                    Expr {
                        kind: ExprKind::Lambda(param.to_owned(), Box::new(body)),
                        span,
                    },
                ));
            }
        }
    }
    expr(src, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> (String, Span) {
        match parse_expr(src).unwrap_err() {
            ExprError::Parse { message, span } => (message, span),
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn precedence_and_spans() {
        let e = parse_expr("not a.b == 1 and c or d").unwrap();
        assert_eq!(e.to_string(), "((not (a.b == 1)) and c) or d");
        assert_eq!(e.span, Span::new(0, 23));
    }

    #[test]
    fn negative_literals_and_durations() {
        let e = parse_expr("order.postagePrice == -9999").unwrap();
        assert_eq!(e.to_string(), "order.postagePrice == -9999");
        let e = parse_expr("now - order.orderDatetime >= 14d - 2d").unwrap();
        assert_eq!(e.to_string(), "(now - order.orderDatetime) >= (14d - 2d)");
    }

    #[test]
    fn lambdas_and_lists() {
        let e = parse_expr("any(order.PackageModelList, p => p.postagePrice == -9999)").unwrap();
        assert_eq!(
            e.to_string(),
            "any(order.PackageModelList, p => p.postagePrice == -9999)"
        );
        let e = parse_expr("order.orderProgress in [800, 900]").unwrap();
        assert_eq!(e.to_string(), "order.orderProgress in [800, 900]");
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        assert_eq!(
            err("order.orderProgress == "),
            (
                "unexpected end of expression: expected an expression after the comparison".into(),
                Span::new(23, 23)
            )
        );
        assert_eq!(
            err("(a and b"),
            (
                "unexpected end of expression: expected `)`".into(),
                Span::new(8, 8)
            )
        );
        assert_eq!(
            err("a < b < c"),
            (
                "comparisons do not chain: add parentheses or join them with `and`".into(),
                Span::new(6, 7)
            )
        );
        assert_eq!(
            err("a ]"),
            (
                "unexpected `]`: expected an operator or the end of the expression".into(),
                Span::new(2, 3)
            )
        );
        assert_eq!(err("\"abc").1, Span::new(0, 1));
        assert_eq!(err("99999999999999999999").0, "number is too large");
    }
}
