//! Body capture: the first bytes of a JSON or text body, copied as its
//! frames pass, for the record's `request_body` and `response_body`.

mod content_type;
mod json_redaction;

use std::io::IoSlice;

use bytes::Buf;

pub(crate) use content_type::{TextKind, text_kind};
use json_redaction::redact_json;

use crate::config::CUT;

/// How many chunks of one frame's data are looked at; a `Buf` made of more
/// (rare: a chain of chains) is kept up to there and marked cut.
const MAX_CHUNKS: usize = 64;

/// The first bytes of one body, up to a bound.
#[derive(Debug)]
pub(crate) struct Capture {
    kind: TextKind,
    max_bytes: usize,
    bytes: Vec<u8>,
    /// The body had bytes past those kept.
    cut: bool,
}

impl Capture {
    pub(crate) fn new(kind: TextKind, max_bytes: usize) -> Self {
        Self {
            kind,
            max_bytes,
            bytes: Vec::new(),
            cut: false,
        }
    }

    /// Copies what still fits of a frame's `data`, leaving it unread.
    pub(crate) fn copy(&mut self, data: &impl Buf) {
        if self.cut {
            return;
        }
        let wanted = data.remaining().min(self.max_bytes - self.bytes.len());
        // Grow like a `Vec`, but never past the bound.
        let capacity = (self.bytes.len() + wanted)
            .max(self.bytes.capacity() * 2)
            .min(self.max_bytes);
        self.bytes.reserve_exact(capacity - self.bytes.len());
        let mut chunks = [IoSlice::new(&[]); MAX_CHUNKS];
        let filled = data.chunks_vectored(&mut chunks);
        let mut copied = 0;
        for chunk in &chunks[..filled] {
            let take = chunk.len().min(wanted - copied);
            self.bytes.extend_from_slice(&chunk[..take]);
            copied += take;
        }
        // Bytes not copied now would leave a hole before the next frame's.
        self.cut = data.remaining() > copied;
    }

    /// The bytes kept as text, JSON secrets redacted with `redacted_keys`,
    /// ending with [`CUT`] when the body went on; `None` when no byte
    /// passed.
    pub(crate) fn text(&self, redacted_keys: &[String]) -> Option<String> {
        if self.bytes.is_empty() && !self.cut {
            return None;
        }
        let kept = if self.cut {
            without_split_character(&self.bytes)
        } else {
            &self.bytes
        };
        let text = String::from_utf8_lossy(kept);
        let mut text = match self.kind {
            TextKind::Json => redact_json(&text, redacted_keys),
            TextKind::Text => text.into_owned(),
        };
        if self.cut {
            text.push_str(CUT);
        }
        Some(text)
    }
}

/// `bytes` without the first bytes of a UTF-8 character that a cut split
/// (which would read as U+FFFD).
fn without_split_character(bytes: &[u8]) -> &[u8] {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let byte = bytes[len - back];
        // Continuation bytes are `10xxxxxx`; the character starts before.
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let width = match byte {
            0b1100_0000..=0b1101_1111 => 2,
            0b1110_0000..=0b1110_1111 => 3,
            0b1111_0000..=0b1111_0111 => 4,
            _ => 1,
        };
        return if width > back {
            &bytes[..len - back]
        } else {
            bytes
        };
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["password".to_owned()]
    }

    fn captured(kind: TextKind, max_bytes: usize, frames: &[&'static [u8]]) -> Option<String> {
        let mut capture = Capture::new(kind, max_bytes);
        for frame in frames {
            capture.copy(&bytes::Bytes::from_static(frame));
        }
        capture.text(&keys())
    }

    #[test]
    fn a_short_body_is_kept_whole() {
        assert_eq!(
            captured(TextKind::Text, 10, &[b"hello", b" you"]).as_deref(),
            Some("hello you")
        );
        assert_eq!(
            captured(TextKind::Text, 5, &[b"hello"]).as_deref(),
            Some("hello")
        );
    }

    #[test]
    fn a_long_body_is_cut_and_marked() {
        assert_eq!(
            captured(TextKind::Text, 7, &[b"hello", b" world"]).as_deref(),
            Some("hello w…[cut]")
        );
        assert_eq!(
            captured(TextKind::Text, 0, &[b"x"]).as_deref(),
            Some("…[cut]")
        );
    }

    #[test]
    fn no_byte_is_no_text() {
        assert_eq!(captured(TextKind::Json, 10, &[]), None);
        assert_eq!(captured(TextKind::Json, 10, &[b""]), None);
    }

    #[test]
    fn json_is_redacted_also_when_cut() {
        assert_eq!(
            captured(
                TextKind::Json,
                21,
                &[br#"{"a":1,"password":"#, br#""hunter2"}"#]
            )
            .as_deref(),
            Some(r#"{"a":1,"password":"[redacted]"…[cut]"#)
        );
        assert_eq!(
            captured(TextKind::Text, 100, &[br#"{"password":"x"}"#]).as_deref(),
            Some(r#"{"password":"x"}"#),
            "text is not JSON"
        );
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "é" is 2 bytes, "€" 3, "😀" 4.
        for (max_bytes, expected) in [
            (1, "a…[cut]"),
            (2, "a…[cut]"),
            (3, "aé…[cut]"),
            (5, "aé…[cut]"),
            (6, "aé€…[cut]"),
            (9, "aé€…[cut]"),
            (10, "aé€😀…[cut]"),
        ] {
            assert_eq!(
                captured(TextKind::Text, max_bytes, &["aé€😀!".as_bytes()]).as_deref(),
                Some(expected),
                "{max_bytes}"
            );
        }
        // Bytes that are not UTF-8 read as U+FFFD, where they are not cut.
        assert_eq!(
            captured(TextKind::Text, 10, &[b"a\xffb"]).as_deref(),
            Some("a\u{fffd}b")
        );
    }

    #[test]
    fn every_chunk_of_a_non_contiguous_buf_is_copied() {
        let mut capture = Capture::new(TextKind::Text, 8);
        let data = bytes::Bytes::from_static(b"abc").chain(bytes::Bytes::from_static(b"def"));
        capture.copy(&data);
        assert_eq!(data.remaining(), 6, "left unread");
        let data = bytes::Bytes::from_static(b"gh").chain(bytes::Bytes::from_static(b"ij"));
        capture.copy(&data);
        assert_eq!(capture.text(&[]).as_deref(), Some("abcdefgh…[cut]"));
        assert!(capture.bytes.capacity() <= 8, "bounded");
    }
}
