//! Which RMS function a request names, and what the proxy does with it.
//!
//! A path is read as RMS's gateway would most generously read it: percent-decoded, the
//! function name compared without regard to case, any number of trailing slashes. So
//! `/es/2.0/order/%63onfirmOrder//` is `confirmOrder`, and goes through the guard like
//! the plain spelling: a spelling can never carry a state-changing call past the check.
//! A path the proxy cannot read as an RMS function is refused, not relayed (unless in
//! `--dry-run`, which relays everything).

use crate::model::Action;

/// What the proxy does with a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Reads: relayed unchanged; `getOrder` answers fill the snapshot cache.
    Read,
    /// `confirmOrder`: the guard, the ledger, one upstream call for what is allowed.
    Confirm,
    /// A state-changing call the rules judge (ship, cancel, reflect), one order per call.
    Guarded(Action),
    /// A state-changing call no rule is about (memo, remarks, sub-status…): relayed,
    /// counted.
    Unguarded,
}

/// Every RakutenPayOrderAPI function the proxy knows (`shared/notes/rms-api-facts.md`),
/// with its route.
const FUNCTIONS: &[(&str, Route)] = &[
    ("searchOrder", Route::Read),
    ("getOrder", Route::Read),
    ("getSubStatusList", Route::Read),
    ("getPayment", Route::Read),
    ("getResultUpdateOrderShippingAsync", Route::Read),
    ("simulateCouponAmount", Route::Read),
    ("confirmOrder", Route::Confirm),
    ("updateOrderShipping", Route::Guarded(Action::Ship)),
    ("updateOrderShippingAsync", Route::Guarded(Action::Ship)),
    ("cancelOrder", Route::Guarded(Action::Cancel)),
    ("cancelOrderAfterShipping", Route::Guarded(Action::Cancel)),
    ("updateOrderDelivery", Route::Guarded(Action::Reflect)),
    ("updateOrderSubStatus", Route::Unguarded),
    ("updateOrderMemo", Route::Unguarded),
    ("updateOrderRemarks", Route::Unguarded),
    ("updateOrderSender", Route::Unguarded),
    ("updateOrderSenderAfterShipping", Route::Unguarded),
    ("updateOrderOrderer", Route::Unguarded),
];

/// A request's function, read from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The path before `/order/` (`/es/2.0`), in canonical form: where the proxy's own
    /// calls go, and where relayed calls go too.
    pub prefix: String,
    /// The function's name as RMS spells it.
    pub name: &'static str,
    pub route: Route,
}

impl Function {
    /// `{prefix}/order/{name}/`: the one path the proxy sends a call of this function to,
    /// whatever spelling it came in.
    pub fn path(&self) -> String {
        format!("{}/order/{}/", self.prefix, self.name)
    }
}

/// Why a path is not an RMS function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAFunction {
    #[error("the path is not valid percent-encoded UTF-8")]
    Encoding,
    #[error("the path has no `/order/<function>`")]
    NoFunction,
    #[error(
        "the path has a segment that is not letters, digits, `.`, `_` or `-` (or is `.` or `..`)"
    )]
    Segment,
    #[error("`{0}` is not a RakutenPayOrderAPI function this proxy knows")]
    Unknown(String),
}

/// Reads `path` (without the query) as `<prefix>/order/<function>`: percent-decoded, every
/// segment plain (letters, digits, `.`, `_`, `-`; never `.` or `..`), exactly one `order`
/// segment, right before the last one. Anything else is refused, so what the proxy judges
/// is exactly what it sends, and no gateway can read the same path as another function.
pub fn function_of(path: &str) -> Result<Function, NotAFunction> {
    let decoded = percent_decode(path).ok_or(NotAFunction::Encoding)?;
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| {
        *s == "."
            || *s == ".."
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }) {
        return Err(NotAFunction::Segment);
    }
    let orders: Vec<usize> = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.eq_ignore_ascii_case("order"))
        .map(|(i, _)| i)
        .collect();
    let [at] = orders.as_slice() else {
        return Err(NotAFunction::NoFunction);
    };
    if *at + 2 > segments.len() {
        return Err(NotAFunction::NoFunction);
    }
    if *at + 2 < segments.len() {
        let shown: String = segments[at + 1..].join("/").chars().take(80).collect();
        return Err(NotAFunction::Unknown(shown));
    }
    let name = segments[at + 1];
    let prefix: String = segments[..*at].iter().map(|s| format!("/{s}")).collect();
    FUNCTIONS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(known, route)| Function {
            prefix,
            name: known,
            route,
        })
        .ok_or_else(|| {
            let shown: String = name.chars().take(80).collect();
            NotAFunction::Unknown(shown)
        })
}

/// `%XX` decoding (strict: a bad escape or non-UTF-8 result is `None`); decoding repeats
/// until nothing changes, so double encoding cannot hide a name.
fn percent_decode(path: &str) -> Option<String> {
    let mut current = path.to_owned();
    for _ in 0..4 {
        if !current.contains('%') {
            return Some(current);
        }
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        current = String::from_utf8(out).ok()?;
    }
    (!current.contains('%')).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_function_are_one_function() {
        for path in [
            "/es/2.0/order/confirmOrder/",
            "/es/2.0/order/confirmOrder",
            "/es/2.0/order/ConfirmOrder//",
            "/es/2.0/order/%63onfirmOrder/",
            "/es/2.0/order/%2563onfirmOrder/",
            "/es/2.0/order%2FconfirmOrder",
        ] {
            let f = function_of(path).unwrap();
            assert_eq!(
                (f.name, f.route),
                ("confirmOrder", Route::Confirm),
                "{path}"
            );
            assert_eq!(f.prefix, "/es/2.0", "{path}");
        }
    }

    #[test]
    fn what_is_not_a_function_is_said() {
        assert_eq!(function_of("/es/2.0/order/"), Err(NotAFunction::NoFunction));
        // What a gateway could read as another function is refused, not relayed.
        for path in [
            "/es/2.0/order/confirmOrder%23/order/confirmOrder",
            "/es/2.0/order/confirmOrder%3F/order/getOrder",
            "/es/2.0/order/confirmOrder;x/order/getOrder",
            "/es/2.0/order/confirmOrder/..%2Forder%2FgetOrder",
            "/es/2.0/order/confirmOrder/order/getOrder",
            "/es/2.0/./order/getOrder",
            "/es/2.0/order/get%00Order",
        ] {
            assert!(function_of(path).is_err(), "{path}");
        }
        let f = function_of("//es//2.0/order/getorder").unwrap();
        assert_eq!(f.path(), "/es/2.0/order/getOrder/");
        assert_eq!(function_of("/healthz"), Err(NotAFunction::NoFunction));
        assert_eq!(
            function_of("/es/2.0/order/%zz"),
            Err(NotAFunction::Encoding)
        );
        assert_eq!(
            function_of("/es/2.0/order/confirmOrder2"),
            Err(NotAFunction::Unknown("confirmOrder2".into()))
        );
        assert_eq!(
            function_of("/es/2.0/order/getOrder").map(|f| f.route),
            Ok(Route::Read)
        );
    }
}
