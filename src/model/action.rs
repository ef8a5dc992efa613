//! The OMS actions a pre-flight check is asked about.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the OMS is about to do. The snake_case names are part of the public contract.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// 注文確認通知を送る: `confirmOrder`.
    Confirm,
    /// RMSステータスを取得: read the order back with `getOrder`.
    FetchStatus,
    /// 注文内容修正: edit the order in the OMS.
    Modify,
    /// 入力内容を反映する: push OMS edits to RMS (API option only).
    Reflect,
    /// 同梱: bundle orders in the OMS.
    Bundle,
    /// 同梱解除: release a bundle.
    Unbundle,
    /// Ship the order (`updateOrderShipping`).
    Ship,
    /// Send a mail template to the buyer.
    SendMail,
    /// Print slips (帳票作成).
    PrintSlip,
    /// Cancel the order (`cancelOrder`).
    Cancel,
    /// Import orders with the shop's import settings; the only action without an order.
    Import,
}

impl Action {
    /// Every action, in contract order.
    pub const ALL: [Action; 11] = [
        Action::Confirm,
        Action::FetchStatus,
        Action::Modify,
        Action::Reflect,
        Action::Bundle,
        Action::Unbundle,
        Action::Ship,
        Action::SendMail,
        Action::PrintSlip,
        Action::Cancel,
        Action::Import,
    ];

    /// The contract name, e.g. `fetch_status`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::FetchStatus => "fetch_status",
            Action::Modify => "modify",
            Action::Reflect => "reflect",
            Action::Bundle => "bundle",
            Action::Unbundle => "unbundle",
            Action::Ship => "ship",
            Action::SendMail => "send_mail",
            Action::PrintSlip => "print_slip",
            Action::Cancel => "cancel",
            Action::Import => "import",
        }
    }

    /// Looks an action up by its contract name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the action is about one order (all but `import`).
    pub fn needs_order(self) -> bool {
        self != Action::Import
    }

    /// A bit for [`ActionSet`].
    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of actions, as a bit set (cheap to test on the hot path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(u16);

impl ActionSet {
    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Adds `action`.
    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    /// Whether every action of `self` is in `other`.
    pub fn is_subset(self, other: ActionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The actions in contract order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        let mut set = ActionSet::default();
        for a in iter {
            set.insert(a);
        }
        set
    }
}
