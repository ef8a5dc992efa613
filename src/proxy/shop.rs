//! Whose call it is: the shop key the ledger and the rate limit are kept under, and the
//! shop settings the rules read.
//!
//! With `--shop FILE` the proxy serves one shop, named and configured by the file. Without
//! it, each caller's shop is known by a salted SHA-256 of the service secret in its
//! `Authorization: ESA …` header — a stable key that is not the secret and cannot be
//! turned back into it; the licence key is not part of it, so renewing the licence (S17)
//! keeps the shop's ledger.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::FileError;
use crate::model::Shop;
use crate::rms::decode_esa;

/// The `--shop` file.
///
/// ```yaml
/// id: "375055"            # the shop key in the ledger (not a secret)
/// settings:               # the check request's `shop` (api_option, licence dates, import)
///   api_option: true
///   license_expires_at: 2027-02-01T23:59:59+09:00
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopFile {
    pub id: String,
    #[serde(default)]
    pub settings: Shop,
}

impl ShopFile {
    /// Reads and checks a shop file; errors name the file, line and column.
    pub fn load(path: &std::path::Path) -> Result<ShopFile, FileError> {
        let text = FileError::read("shop", path)?;
        let file = path.display().to_string();
        let shop: ShopFile =
            crate::model::from_yaml(&text).map_err(|e| FileError::from_yaml("shop", &file, e))?;
        let id = shop.id.trim();
        if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            return Err(FileError::new(
                "shop",
                &file,
                "`id` must be 1 to 200 printable characters",
            ));
        }
        Ok(ShopFile {
            id: id.to_owned(),
            settings: shop.settings,
        })
    }
}

/// The salt of [`key_of_authorization`]: fixed, so every proxy sharing a ledger computes
/// the same key for the same shop.
const SALT: &[u8] = b"rms-preflight shop key v1\0";

/// `esa-<32 hex>`: the shop key of an `ESA base64(serviceSecret:licenseKey)` header, or
/// `None` when the header is not one.
pub fn key_of_authorization(header: &str) -> Option<String> {
    let (secret, _licence) = decode_esa(header)?;
    if secret.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(SALT);
    h.update(secret.as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("esa-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rms::Credentials;

    #[test]
    fn the_key_is_stable_across_licences_and_hides_the_secret() {
        let a = key_of_authorization(&Credentials::new("SP1_secret", "SL1_a").authorization());
        let b = key_of_authorization(&Credentials::new("SP1_secret", "SL1_b").authorization());
        let c = key_of_authorization(&Credentials::new("SP2_other", "SL1_a").authorization());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let a = a.unwrap();
        assert!(a.starts_with("esa-") && a.len() == 36, "{a}");
        assert!(!a.contains("SP1"));
        assert_eq!(key_of_authorization("Bearer x"), None);
    }
}
