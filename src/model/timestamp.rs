//! Timestamps and durations as RMS and the rules file write them.
//!
//! RMS writes `2020-08-02T21:13:56+0900` (no colon in the offset); people and other tools
//! write RFC 3339 (`2026-11-30T12:00:00+09:00`). Both are accepted everywhere. Internally a
//! timestamp is seconds since the Unix epoch plus the offset it was written with, so the
//! engine compares plain integers and output keeps the writer's time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    secs: i64,
    offset_secs: i32,
}

/// Why a timestamp string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{input}`: expected RFC 3339 (`2026-11-30T12:00:00+09:00`) or RMS form (`2026-11-30T12:00:00+0900`)")]
pub struct TimestampError {
    input: String,
}

impl Timestamp {
    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// The UTC offset it is shown in, in seconds.
    pub fn offset_seconds(self) -> i32 {
        self.offset_secs
    }

    /// A timestamp at `secs` since the epoch, shown in the given UTC offset.
    pub fn from_unix(secs: i64, offset_secs: i32) -> Self {
        Timestamp { secs, offset_secs }
    }

    /// The current time of the machine's clock, shown in JST (RMS's zone).
    ///
    /// Only the CLI edge calls this; the engine takes time as an input.
    pub fn now_jst() -> Self {
        Timestamp {
            secs: chrono::Utc::now().timestamp(),
            offset_secs: 9 * 3600,
        }
    }

    fn to_chrono(self) -> Option<DateTime<FixedOffset>> {
        let offset = FixedOffset::east_opt(self.offset_secs)?;
        offset.timestamp_opt(self.secs, 0).single()
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .map_err(|_| TimestampError {
                input: s.to_owned(),
            })?;
        Ok(Timestamp {
            secs: parsed.timestamp(),
            offset_secs: parsed.offset().local_minus_utc(),
        })
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in the offset the timestamp was written with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_chrono() {
            Some(dt) => write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%S%:z")),
            None => write!(f, "@{}", self.secs),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> String {
        "Timestamp".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.metadata().description = Some(
            "RFC 3339 (2026-11-30T12:00:00+09:00) or RMS form (2026-11-30T12:00:00+0900)".into(),
        );
        schema.string().pattern =
            Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$".into());
        schema.into()
    }
}

/// A length of time, written `14d`, `5m`, `10h` or `30s` in the rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    secs: i64,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: expected a whole number and a unit, like `14d`, `10h`, `5m` or `30s`")]
pub struct DurationError {
    input: String,
}

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration { secs }
    }

    /// The length in seconds.
    pub const fn as_secs(self) -> i64 {
        self.secs
    }

    /// The unit a number is multiplied by for a suffix (`d`, `h`, `m`, `s`).
    pub fn unit_seconds(unit: char) -> Option<i64> {
        match unit {
            'd' => Some(86_400),
            'h' => Some(3_600),
            'm' => Some(60),
            's' => Some(1),
            _ => None,
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError {
            input: s.to_owned(),
        };
        let unit = s.chars().last().ok_or_else(err)?;
        let per = Duration::unit_seconds(unit).ok_or_else(err)?;
        let digits = &s[..s.len() - unit.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        let secs = n.checked_mul(per).ok_or_else(err)?;
        Ok(Duration { secs })
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides the length exactly: `14d`, `90m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        for (unit, per) in [('d', 86_400), ('h', 3_600), ('m', 60)] {
            if s != 0 && s % per == 0 {
                return write!(f, "{}{unit}", s / per);
            }
        }
        write!(f, "{s}s")
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> String {
        "Duration".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.metadata().description = Some("a whole number and a unit: 14d, 10h, 5m, 30s".into());
        schema.string().pattern = Some(r"^[0-9]+[dhms]$".into());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_form_and_rfc3339_are_the_same_instant() {
        let rms: Timestamp = "2020-08-02T21:13:56+0900".parse().unwrap();
        let rfc: Timestamp = "2020-08-02T12:13:56Z".parse().unwrap();
        assert_eq!(rms.unix_seconds(), rfc.unix_seconds());
        assert_eq!(rms.to_string(), "2020-08-02T21:13:56+09:00");
    }

    #[test]
    fn garbage_is_refused_with_the_input_named() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().starts_with("invalid timestamp `yesterday`"));
    }

    #[test]
    fn durations_round_trip() {
        for s in ["14d", "5m", "10h", "45s", "90m"] {
            assert_eq!(s.parse::<Duration>().unwrap().to_string(), s);
        }
        assert!("d".parse::<Duration>().is_err());
        assert!("-5m".parse::<Duration>().is_err());
        assert!("99999999999999999d".parse::<Duration>().is_err());
    }
}
