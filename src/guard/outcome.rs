//! What a guarded call returns: denied (nothing sent), done, or failed (with the error
//! table's entry and remedy). Owned, so outcomes outlive the engine borrow.

use crate::engine::{Classification, Verdict};
use crate::model::Order;
use crate::rules::{Retry, Text};

/// One finding, owned: the engine's [`Finding`](crate::engine::Finding) with its text
/// owned ([`Verdict::into_owned`]).
pub type OwnedFinding = crate::engine::Finding<'static>;

/// A remedy variant, owned.
pub type OwnedRemedy = crate::engine::RemedyRef<'static>;

/// An owned [`Verdict`]: what a guarded call reports, outliving the engine borrow.
pub type Report = Verdict<'static>;

/// A call that was made and failed, classified by the error table.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The error-table id (`license_expired`, `qps_limit`, …).
    pub error: String,
    pub source: String,
    pub retry: Retry,
    pub next: Vec<String>,
    pub message: Text,
    pub remedy: Vec<Text>,
    /// What happened, for logs (never a credential).
    pub detail: String,
    /// Warnings of the check that let the call go (as [`Done::warnings`]).
    pub warnings: Vec<OwnedFinding>,
    /// RMS may have acted on the call and reading the order back could not tell: the
    /// order must be read back before anything is resent (a ledger keeps it `unknown`).
    /// `false` when RMS certainly did not act (it refused, or a read-back showed the
    /// order untouched).
    pub outcome_unknown: bool,
}

impl Failure {
    pub fn from_classification(c: &Classification<'_>, detail: String) -> Self {
        let e = c.entry;
        Failure {
            error: e.id.clone(),
            source: e.source.clone(),
            retry: e.retry,
            next: e.next.clone(),
            message: e.message.clone(),
            remedy: e.remedy.clone(),
            detail,
            warnings: Vec::new(),
            outcome_unknown: false,
        }
    }
}

/// A call that went through.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    /// Warnings of the check (the call was allowed with them).
    pub warnings: Vec<OwnedFinding>,
    /// The outcome was unknown and a read-back showed RMS had acted (no resend).
    pub reconciled: bool,
    /// The order as read back, when it was.
    pub order: Option<Order>,
}

/// The outcome of one guarded call for one order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The rules denied it; nothing was sent.
    Denied(Report),
    Done(Box<Done>),
    Failed(Failure),
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }

    pub fn is_denied(&self) -> bool {
        matches!(self, Outcome::Denied(_))
    }

    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// The verdict of the check the guard made before the call: the denial itself, or
    /// the warnings it let the call go with (no second check needed to learn it).
    pub fn report(&self) -> Report {
        let warnings = match self {
            Outcome::Denied(r) => return r.clone(),
            Outcome::Done(d) => &d.warnings,
            Outcome::Failed(f) => &f.warnings,
        };
        Verdict {
            decision: if warnings.is_empty() {
                crate::engine::Decision::Allow
            } else {
                crate::engine::Decision::Warn
            },
            findings: warnings.clone(),
        }
    }
}
