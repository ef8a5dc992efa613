//! RMS credentials: the service secret and the licence key.
//!
//! They are wrapped in [`Secret`], whose `Debug` and `Display` print `[redacted]`, so a
//! credential cannot reach a log line, an error message or a cassette by accident. The
//! only way to the value is [`Secret::expose`], called when the `Authorization` header
//! is built.

use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The pair RMS authenticates with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// `SP<shopId>_…`
    pub service_secret: Secret,
    /// `SL<shopId>_…`; expires after 90 days.
    pub license_key: Secret,
}

/// Why credentials could not be read. Never contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("missing environment variable `{0}`")]
    MissingVar(&'static str),
    #[error("cannot read credentials file `{path}`: {message}")]
    File { path: String, message: String },
}

/// What a credentials file must hold, said by every error about one.
const EXPECTED_KEYS: &str = "expected a YAML mapping with exactly two string keys, `service_secret: SP…` and `license_key: SL…`";

/// Environment variable of the service secret.
pub const SERVICE_SECRET_VAR: &str = "RMS_SERVICE_SECRET";
/// Environment variable of the licence key.
pub const LICENSE_KEY_VAR: &str = "RMS_LICENSE_KEY";

impl Credentials {
    pub fn new(service_secret: impl Into<String>, license_key: impl Into<String>) -> Self {
        Credentials {
            service_secret: Secret::new(service_secret),
            license_key: Secret::new(license_key),
        }
    }

    /// From `RMS_SERVICE_SECRET` and `RMS_LICENSE_KEY`.
    pub fn from_env() -> Result<Credentials, CredentialsError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(CredentialsError::MissingVar(name))
        };
        Ok(Credentials::new(
            var(SERVICE_SECRET_VAR)?,
            var(LICENSE_KEY_VAR)?,
        ))
    }

    /// From a YAML file `{service_secret: …, license_key: …}`.
    pub fn from_file(path: &std::path::Path) -> Result<Credentials, CredentialsError> {
        let err = |message: String| CredentialsError::File {
            path: path.display().to_string(),
            message,
        };
        let text = crate::model::limits::read_file_capped(path).map_err(|e| err(e.to_string()))?;
        // serde_yaml's messages quote the offending value: keep only where it is.
        serde_yaml::from_str(&text).map_err(|e| {
            err(match e.location() {
                Some(l) => format!(
                    "not a credentials file (line {}, column {}): {EXPECTED_KEYS}",
                    l.line(),
                    l.column()
                ),
                None => format!("not a credentials file: {EXPECTED_KEYS}"),
            })
        })
    }

    /// `ESA base64(serviceSecret:licenseKey)`.
    pub fn authorization(&self) -> String {
        let raw = format!(
            "{}:{}",
            self.service_secret.expose(),
            self.license_key.expose()
        );
        format!(
            "ESA {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Decodes an `Authorization: ESA …` header into (secret, key), for redaction.
pub fn decode_esa(header: &str) -> Option<(String, String)> {
    let token = header.trim().strip_prefix("ESA ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (secret, key) = raw.split_once(':')?;
    Some((secret.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::new("SP375055_canary-secret", "SL375055_canary-key");
        let shown = format!("{c:?} {} {}", c.service_secret, c.license_key);
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(
            decode_esa(&c.authorization()),
            Some((
                "SP375055_canary-secret".into(),
                "SL375055_canary-key".into()
            ))
        );
    }
}
