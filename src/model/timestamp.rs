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
        if let Some(t) = parse_fixed(s.as_bytes()) {
            return Ok(t);
        }
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

/// The fixed layouts RMS and most tools write, read by hand (chrono's format-string parser
/// re-reads its format for every value): `YYYY-MM-DDTHH:MM:SS` then `Z`, `±HH:MM` or
/// `±HHMM`. Anything else (fractions, leap seconds, other separators) returns `None` and
/// goes to chrono, so what is accepted and its value are chrono's.
fn parse_fixed(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 {
        return None;
    }
    fn num(b: &[u8]) -> Option<u32> {
        let mut n = 0u32;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    let hour = num(&b[11..13])?;
    let minute = num(&b[14..16])?;
    let second = num(&b[17..19])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year == 0 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_secs: i32 = match &b[19..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - i64::from(offset_secs);
    Some(Timestamp { secs, offset_secs })
}

/// `YYYY-MM-DDTHH:MM:SS±HH:MM` written by hand (chrono's formatter re-reads its format
/// string for every value); `None` outside years 1–9999 and whole-minute offsets under a
/// day, which chrono writes.
fn format_fixed(t: Timestamp) -> Option<[u8; 25]> {
    let offset = i64::from(t.offset_secs);
    if offset.abs() >= 86_400 || offset % 60 != 0 {
        return None;
    }
    let local = t.secs.checked_add(offset)?;
    let (days, sod) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00+00:00";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 2, offset.abs() / 3600);
    put(23, 2, offset.abs() / 60 % 60);
    if offset < 0 {
        out[19] = b'-';
    }
    Some(out)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in the offset the timestamp was written with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = format_fixed(*self) {
            // ASCII digits and punctuation only.
            return f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?);
        }
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

    /// The hand-written reader agrees with chrono wherever it answers, and leaves the rest
    /// to chrono.
    #[test]
    fn fixed_layout_reader_agrees_with_chrono() {
        let chrono_parse = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
                .ok()
                .map(|p| (p.timestamp(), p.offset().local_minus_utc()))
        };
        let mut cases = vec![
            "2026-11-30T12:00:00+09:00".to_owned(),
            "2020-08-02T21:13:56+0900".to_owned(),
            "1970-01-01T00:00:00Z".to_owned(),
            "1969-12-31T23:59:59-00:30".to_owned(),
            "2024-02-29T23:59:59+14:00".to_owned(),
            "2023-02-29T00:00:00+09:00".to_owned(),
            "2100-02-29T00:00:00+09:00".to_owned(),
            "2000-02-29T00:00:00+0000".to_owned(),
            "0001-01-01T00:00:00Z".to_owned(),
            "9999-12-31T23:59:59-2359".to_owned(),
            "2026-13-01T00:00:00Z".to_owned(),
            "2026-11-31T00:00:00Z".to_owned(),
            "2026-11-30T24:00:00Z".to_owned(),
            "2026-11-30T12:60:00Z".to_owned(),
            "2026-11-30T12:00:60Z".to_owned(),
            "2026-11-30T12:00:00+24:00".to_owned(),
            "2026-11-30T12:00:00+09:60".to_owned(),
            "2026-11-30T12:00:00+9:00".to_owned(),
            "2026-11-30t12:00:00z".to_owned(),
            "2026-11-30 12:00:00+09:00".to_owned(),
            "2026-11-30T12:00:00.5+09:00".to_owned(),
            "+2026-11-30T12:00:00+09:00".to_owned(),
        ];
        for year in [1600, 1899, 1900, 1970, 1999, 2000, 2024, 2025, 2400] {
            for month in 1..=12 {
                for day in [1, 28, 29, 30, 31] {
                    cases.push(format!("{year:04}-{month:02}-{day:02}T07:08:09-05:30"));
                }
            }
        }
        for s in &cases {
            if let Some(t) = parse_fixed(s.as_bytes()) {
                assert_eq!(
                    chrono_parse(s),
                    Some((t.unix_seconds(), t.offset_seconds())),
                    "{s}"
                );
            }
            let ours = s.parse::<Timestamp>().ok();
            assert_eq!(
                ours.map(|t| (t.unix_seconds(), t.offset_seconds())),
                chrono_parse(s).or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
                    .ok()
                    .map(|p| (p.timestamp(), p.offset().local_minus_utc()))),
                "{s}"
            );
        }
        assert!(parse_fixed(b"2026-11-30T12:00:00+0900").is_some());
    }

    /// The hand-written formatter writes what chrono writes.
    #[test]
    fn fixed_layout_writer_agrees_with_chrono() {
        let chrono_text = |t: Timestamp| match t.to_chrono() {
            Some(dt) => format!("{}", dt.format("%Y-%m-%dT%H:%M:%S%:z")),
            None => format!("@{}", t.secs),
        };
        let mut secs: i64 = -62_135_596_800 - 86_400 * 3;
        while secs < 253_402_300_800 + 86_400 * 3 {
            for offset in [
                0,
                9 * 3600,
                -(5 * 3600 + 30 * 60),
                14 * 3600,
                -12 * 3600,
                61,
                -86_400,
            ] {
                let t = Timestamp::from_unix(secs, offset);
                assert_eq!(t.to_string(), chrono_text(t), "{secs} {offset}");
            }
            secs += 86_400 * 97 + 3_599;
        }
        let t: Timestamp = "2026-11-30T12:00:00+0900".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-30T12:00:00+09:00");
    }

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
