use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A UTC instant written as RFC 3339 with microseconds and a `Z`,
/// e.g. `2026-11-23T10:00:00.123456Z`.
///
/// The Python relayer 1.0 wrote no zone (`datetime.utcnow().isoformat()`);
/// records in [`WireFormat::Python1`](crate::WireFormat::Python1) write
/// that form, through [`naive`](Timestamp::naive).
///
/// ```
/// use relayer::record::Timestamp;
/// let t = Timestamp::from(chrono::DateTime::from_timestamp(0, 1_000).unwrap());
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#""1970-01-01T00:00:00.000001Z""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// This instant as Python's `datetime.utcnow().isoformat()` wrote it:
    /// no zone, and microseconds only when they are not zero.
    ///
    /// ```
    /// use relayer::record::Timestamp;
    /// let t = Timestamp::from(chrono::DateTime::from_timestamp(0, 120_000).unwrap());
    /// assert_eq!(t.naive().to_string(), "1970-01-01T00:00:00.000120");
    /// ```
    pub fn naive(self) -> impl fmt::Display {
        Naive(self)
    }

    /// Writes the digits into a stack buffer and then at once, with no
    /// allocation and no formatting machinery: every line of every request
    /// has a timestamp.
    fn write(&self, f: &mut fmt::Formatter<'_>, naive: bool) -> fmt::Result {
        match self.text(naive) {
            Some((text, end)) => f.write_str(ascii(&text[..end])),
            None => self.write_rare(f, naive),
        }
    }

    /// The text in a stack buffer and its length; `None` for years before
    /// 0 or after 9999.
    fn text(&self, naive: bool) -> Option<([u8; 27], usize)> {
        // In UTC: `DateTime`'s own accessors convert to local time at each call.
        let t = self.0.naive_utc();
        let micros = t.nanosecond() / 1_000 % 1_000_000;
        let end = match (naive, micros) {
            (false, _) => 27,
            (true, 0) => 19,
            (true, _) => 26,
        };
        let year = u32::try_from(t.year()).ok().filter(|year| *year <= 9999)?;
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], t.month());
        put_digits(&mut text[8..10], t.day());
        put_digits(&mut text[11..13], t.hour());
        put_digits(&mut text[14..16], t.minute());
        put_digits(&mut text[17..19], t.second());
        // A leap second's nanoseconds run past 10^9; keep six digits.
        put_digits(&mut text[20..26], micros);
        Some((text, end))
    }

    /// Years before 0 or after 9999, through chrono.
    fn write_rare(&self, f: &mut fmt::Formatter<'_>, naive: bool) -> fmt::Result {
        let text = self.0.to_rfc3339_opts(SecondsFormat::Micros, true);
        if !naive {
            return f.write_str(&text);
        }
        let text = text.trim_end_matches('Z');
        f.write_str(text.strip_suffix(".000000").unwrap_or(text))
    }
}

/// See [`Timestamp::naive`].
struct Naive(Timestamp);

impl fmt::Display for Naive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(instant: DateTime<Utc>) -> Self {
        Self(instant)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

/// The digits and separators [`Timestamp::text`] writes.
fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).expect("ASCII digits and separators")
}

/// Writes `n` in decimal, zero-padded, into all of `digits`.
fn put_digits(digits: &mut [u8], mut n: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.text(false) {
            Some((text, end)) => serializer.serialize_str(ascii(&text[..end])),
            None => serializer.collect_str(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc3339_with_microseconds() {
        for (secs, nanos) in [
            (1_795_000_000, 0),
            (1_795_000_000, 1_000),
            (0, 123_456_789),
            (-62_000_000_000, 999_999_999), // year 5
            (300_000_000_000, 5_000),       // past year 9999
        ] {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(
                Timestamp(t).to_string(),
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
    }

    /// What Python 3 prints for `datetime.utcfromtimestamp(secs + micros / 1e6).isoformat()`.
    #[test]
    fn naive_matches_python_isoformat() {
        for (secs, nanos, python) in [
            (1_795_000_000, 0, "2026-11-18T11:06:40"),
            (1_795_000_000, 1_000, "2026-11-18T11:06:40.000001"),
            (1_795_000_000, 999, "2026-11-18T11:06:40"),
            (0, 123_456_789, "1970-01-01T00:00:00.123456"),
        ] {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(Timestamp(t).naive().to_string(), python);
        }
    }
}
