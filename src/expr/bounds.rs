//! Limits on the size of a guard expression, checked before parsing.
//!
//! The parser, the type checker, the printer and the evaluator all recurse over the tree,
//! so a guard nested thousands deep (or a chain of thousands of `and`) would overflow the
//! stack. A guard of the rules file is a line or two; these limits are far above any real
//! one and far below what the stack holds. The check is a linear scan of the text, so a
//! hostile rules file is refused at once, with the place underlined.

use super::ast::Span;
use super::error::ExprError;

/// Longest guard, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of `(…)` and `[…]`.
pub const MAX_NESTING: usize = 32;
/// Most operators (`and or not in == != < <= > >= + - =>`) in one guard.
pub const MAX_OPERATORS: usize = 256;

/// Refuses a guard over any limit, pointing at the first place that exceeds it.
pub fn check(src: &str) -> Result<(), ExprError> {
    if src.len() > MAX_LEN {
        let at = (0..=MAX_LEN)
            .rev()
            .find(|&i| src.is_char_boundary(i))
            .unwrap_or(0);
        let end = src[at..].chars().next().map_or(at, |c| at + c.len_utf8());
        return Err(too_much(
            Span::new(at, end),
            format!("the guard is too long: more than {MAX_LEN} bytes"),
        ));
    }
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let width = match b {
            b'"' => {
                // Skip a string literal (with `\"` escapes); the parser reports a bad one.
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
                continue;
            }
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_much(
                        Span::new(i, i + 1),
                        format!("the guard nests too deeply: more than {MAX_NESTING} levels of brackets"),
                    ));
                }
                1
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                1
            }
            b'=' | b'!' | b'<' | b'>' if bytes.get(i + 1) == Some(&b'=') => {
                operators += 1;
                2
            }
            b'=' if bytes.get(i + 1) == Some(&b'>') => {
                operators += 1;
                2
            }
            b'<' | b'>' | b'+' | b'-' => {
                operators += 1;
                1
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let len = bytes[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                if matches!(&src[i..i + len], "and" | "or" | "not" | "in") {
                    operators += 1;
                }
                len
            }
            _ => 1,
        };
        if operators > MAX_OPERATORS {
            return Err(too_much(
                Span::new(i, i + width),
                format!("the guard is too long: more than {MAX_OPERATORS} operators"),
            ));
        }
        i += width;
    }
    Ok(())
}

fn too_much(span: Span, message: String) -> ExprError {
    ExprError::check(span, message)
        .with_help("split the rule into several rules, or name the condition with a sentinel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_at_the_first_bracket_too_deep() {
        let src = format!("{}true{}", "(".repeat(1000), ")".repeat(1000));
        let err = check(&src).unwrap_err();
        assert_eq!(err.span(), Span::new(MAX_NESTING, MAX_NESTING + 1));
        assert!(err.message().contains("nests too deeply"));
    }

    #[test]
    fn long_chains_are_refused_at_the_first_operator_too_many() {
        let src = vec!["true"; 300].join(" and ");
        let err = check(&src).unwrap_err();
        assert!(err.message().contains("more than 256 operators"), "{err:?}");
        let span = err.span();
        assert_eq!(&src[span.start..span.end], "and");
    }

    #[test]
    fn strings_and_real_guards_pass() {
        check(r#"oms.last_error in ["a(((", "b and or not"]"#).unwrap();
        check("not (order.orderProgress in [100, 200, 300])").unwrap();
    }
}
