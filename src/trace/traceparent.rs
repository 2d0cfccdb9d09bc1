//! The W3C `traceparent` header: parsed by the rules of W3C Trace Context,
//! where anything invalid means "no parent", never an error.

use std::fmt;

use super::ids::{SpanId, TraceId, encode_hex, parse_hex};

/// A `traceparent` header: the caller's trace id, its span id and the trace
/// flags, as in `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
///
/// ```
/// use relayer::trace::TraceParent;
///
/// let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(parent.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id.to_string(), "00f067aa0ba902b7");
/// assert_eq!(parent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
///
/// // Invalid input is no parent: a new trace starts.
/// assert!(TraceParent::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace every span of the request belongs to.
    pub trace_id: TraceId,
    /// The caller's span.
    pub parent_id: SpanId,
    /// The trace flags; bit 0 is "sampled".
    pub flags: u8,
}

/// The length of a version `00` header.
const LEN: usize = 55;

impl TraceParent {
    /// Parses a `traceparent` value; `None` for anything W3C Trace Context
    /// calls invalid: version `ff` or not two lower-case hex digits, ids of
    /// the wrong length, upper-case or all zero, missing flags, or extra
    /// fields in version `00`. A later version is read as version `00`, its
    /// extra fields ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']);
        let version = hex_byte(value.get(..2)?)?;
        let fixed = match version {
            0 if value.len() == LEN => value,
            // A later version: its first fields are those of version 00.
            1..=0xfe if value.len() == LEN || value.as_bytes().get(LEN) == Some(&b'-') => {
                value.get(..LEN)?
            }
            // Version ff, or extra fields in version 00.
            _ => return None,
        };
        let mut fields = fixed.split('-').skip(1);
        let (trace_id, parent_id, flags) = (fields.next()?, fields.next()?, fields.next()?);
        Some(Self {
            trace_id: TraceId(parse_hex(trace_id)?),
            parent_id: SpanId(parse_hex(parent_id)?),
            flags: hex_byte(flags)?,
        })
    }
}

/// Two lower-case hex digits.
fn hex_byte(text: &str) -> Option<u8> {
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    match text.as_bytes() {
        [a, b] if lower_hex(*a) && lower_hex(*b) => u8::from_str_radix(text, 16).ok(),
        _ => None,
    }
}

/// The length of a version `00` `traceparent`.
pub(crate) const TRACEPARENT_LEN: usize = 55;

impl TraceParent {
    /// The header value this crate sends (always version `00`), on the
    /// stack: `00-{trace id}-{parent id}-{flags}`.
    pub(crate) fn encode(&self) -> [u8; TRACEPARENT_LEN] {
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        encode_hex(&self.trace_id.0, &mut text[3..35]);
        encode_hex(&self.parent_id.0, &mut text[36..52]);
        encode_hex(&[self.flags], &mut text[53..55]);
        text
    }
}

impl fmt::Display for TraceParent {
    /// The header value this crate sends: always version `00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.encode();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_round_trips() {
        let parent = TraceParent::parse(VALID).unwrap();
        assert_eq!(parent.flags, 1);
        assert_eq!(parent.to_string(), VALID);
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert_eq!(TraceParent::parse(unsampled).unwrap().flags, 0);
    }

    #[test]
    fn invalid_headers_are_no_parent() {
        for invalid in [
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version not hex
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", // upper case
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", // upper-case flags
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short trace id
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01", // lengths shifted
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  // short flags
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // extra in 00
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", // wrong separators
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", // future, no dash
        ] {
            assert_eq!(TraceParent::parse(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn a_future_version_is_read_as_version_00() {
        let future =
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        let parent = TraceParent::parse(future).unwrap();
        assert_eq!(parent.to_string(), VALID, "sent on as version 00");
        let exact = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(TraceParent::parse(exact).is_some());
    }
}
