//! The shop's licence key, as RMS sees it (S17).
//!
//! A key works from the moment it is active until it expires. A renewed key is not active
//! at once — RMS takes a while to accept it — and lasts the rules file's
//! `timing.license_lifetime`. A call made outside that window gets RMS's 401.

use std::time::Duration;

use crate::model::Timestamp;

/// When the key RMS holds for the shop works. Both ends are open by default: a simulated
/// shop has a key that always works until a scenario says otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct License {
    /// The last moment the key works (`None`: never expires).
    pub(super) expires_at: Option<Timestamp>,
    /// The first moment the key works (`None`: already active).
    active_from: Option<Timestamp>,
}

impl License {
    /// Whether a call at `now` is authorised.
    pub(super) fn works_at(&self, now: Timestamp) -> bool {
        let t = now.unix_seconds();
        self.expires_at.is_none_or(|e| t <= e.unix_seconds())
            && self.active_from.is_none_or(|a| t >= a.unix_seconds())
    }

    /// A key renewed at `now`: it works from `now + activation` and expires `lifetime`
    /// seconds after `now`.
    pub(super) fn renew(&mut self, now: Timestamp, activation: Duration, lifetime: i64) {
        let active = now
            .unix_seconds()
            .saturating_add(i64::try_from(activation.as_secs()).unwrap_or(i64::MAX));
        self.active_from = Some(Timestamp::from_unix(active, now.offset_seconds()));
        self.expires_at = Some(Timestamp::from_unix(
            now.unix_seconds().saturating_add(lifetime),
            now.offset_seconds(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_key_works_after_its_activation_until_its_expiry() {
        let at = |s: i64| Timestamp::from_unix(s, 9 * 3600);
        let mut key = License::default();
        assert!(
            key.works_at(at(0)),
            "a simulated shop starts with a working key"
        );
        key.renew(at(1_000), Duration::from_secs(60), 86_400);
        assert!(!key.works_at(at(1_059)), "not active yet");
        assert!(key.works_at(at(1_060)));
        assert!(key.works_at(at(87_400)), "the expiry itself still works");
        assert!(!key.works_at(at(87_401)));
    }
}
