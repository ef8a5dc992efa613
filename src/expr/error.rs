//! Errors of guard expressions, with the span of the offending text.
//!
//! Spans are byte offsets inside the expression string; the rules loader moves them into
//! the rules file, so a diagnostic underlines the very characters in `rules/*.yaml`.

use super::ast::Span;

/// An expression that does not parse or does not type-check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The text is not an expression.
    #[error("{message}")]
    Parse { message: String, span: Span },
    /// The expression parses but names something unknown or mixes types.
    #[error("{message}")]
    Check {
        message: String,
        span: Span,
        help: Option<String>,
    },
}

impl ExprError {
    pub(crate) fn parse(src: &str, offset: usize, message: &str) -> Self {
        let offset = offset.min(src.len());
        ExprError::Parse {
            message: message.to_owned(),
            span: Span::new(offset, offset),
        }
    }

    pub(crate) fn check(span: Span, message: impl Into<String>) -> Self {
        ExprError::Check {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub(crate) fn with_help(self, help: impl Into<String>) -> Self {
        match self {
            ExprError::Check { message, span, .. } => ExprError::Check {
                message,
                span,
                help: Some(help.into()),
            },
            other => other,
        }
    }

    /// Where in the expression string.
    pub fn span(&self) -> Span {
        match self {
            ExprError::Parse { span, .. } | ExprError::Check { span, .. } => *span,
        }
    }

    /// A hint on how to fix it.
    pub fn help(&self) -> Option<&str> {
        match self {
            ExprError::Parse { .. } => None,
            ExprError::Check { help, .. } => help.as_deref(),
        }
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        match self {
            ExprError::Parse { message, .. } | ExprError::Check { message, .. } => message,
        }
    }
}
