//! Trace and span ids: random, never all zero, written as lower-case hex.

use std::fmt;

use serde::{Serialize, Serializer};

/// A W3C trace id: 16 bytes, written as 32 lower-case hex digits.
///
/// ```
/// let id = relayer::trace::TraceId::random();
/// assert_eq!(id.to_string().len(), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A W3C span id (a `parent-id` on the wire): 8 bytes, written as 16
/// lower-case hex digits.
///
/// ```
/// let id = relayer::trace::SpanId::random();
/// assert_eq!(id.to_string().len(), 16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A new random id.
    pub fn random() -> Self {
        Self(nonzero_random())
    }
}

impl SpanId {
    /// A new random id.
    pub fn random() -> Self {
        Self(nonzero_random())
    }
}

/// Random bytes, drawn again in the (2⁻⁶⁴ likely) case they are all zero,
/// which W3C Trace Context forbids.
fn nonzero_random<const N: usize>() -> [u8; N] {
    loop {
        let bytes: [u8; N] = rand::random();
        if bytes != [0; N] {
            return bytes;
        }
    }
}

/// Parses exactly `2 * N` lower-case hex digits that are not all zero.
pub(crate) fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    (bytes != [0; N]).then_some(bytes)
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut text = [0; 32];
    let text = &mut text[..2 * bytes.len()];
    encode_hex(bytes, text);
    f.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

/// Writes `bytes` as lower-case hex into `text`, two digits a byte.
pub(crate) fn encode_hex(bytes: &[u8], text: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for SpanId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_w3c_refuses() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parsed = TraceId(parse_hex(id).unwrap());
        assert_eq!(parsed.to_string(), id);
        assert_eq!(parse_hex::<16>(&"0".repeat(32)), None, "all zero");
        assert_eq!(parse_hex::<16>(&id.to_uppercase()), None, "upper case");
        assert_eq!(parse_hex::<16>(&id[1..]), None, "too short");
        assert_eq!(
            parse_hex::<8>("00f067aa0ba902b7")
                .map(|b| SpanId(b).to_string())
                .as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(parse_hex::<8>("00f067aa0ba902bg"), None, "not hex");
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(TraceId::random(), TraceId::random());
        assert_ne!(SpanId::random(), SpanId::random());
    }
}
