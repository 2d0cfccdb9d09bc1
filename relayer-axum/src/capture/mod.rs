//! Body capture: the first bytes of a JSON, form or text body, copied as
//! its frames pass, for the record's `request_body` and `response_body`.

mod content_type;
mod json_redaction;

use std::io::IoSlice;

use std::borrow::Cow;

use bytes::Buf;
use relayer::SecretNames;

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
    /// Bounds the bytes copied, and the text as written in the record.
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

    /// The bytes kept as text, secrets redacted by `names` (in JSON, and
    /// in text that starts like JSON, by key; in a form, by field),
    /// ending with [`CUT`] when the body went on or the text, as written
    /// in the record's JSON (escapes included), would pass the bound;
    /// `None` when no byte passed.
    pub(crate) fn text(&self, names: &SecretNames) -> Option<String> {
        if self.bytes.is_empty() && !self.cut {
            return None;
        }
        let kept = if self.cut {
            without_split_character(&self.bytes)
        } else {
            &self.bytes
        };
        let text = String::from_utf8_lossy(kept);
        let redacted = match self.kind {
            TextKind::Json => redact_json(&text, names),
            TextKind::Form => names.query(&text),
            TextKind::Text if starts_like_json(&text) => redact_json(&text, names),
            TextKind::Text => Cow::Borrowed(&*text),
        };
        let end = written_prefix(&redacted, self.max_bytes);
        let mut text = redacted[..end].to_owned();
        if self.cut || end < redacted.len() {
            text.push_str(CUT);
        }
        Some(text)
    }
}

/// Whether `text` starts, after blanks, with `{` or `[` (JSON sent as
/// `text/plain`, as `fetch` does with a string body).
fn starts_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// The length of the longest prefix of `text` that JSON writes in at most
/// `max_bytes` (quotes aside): `"` and `\` take two bytes, control
/// characters two or six.
fn written_prefix(text: &str, max_bytes: usize) -> usize {
    let mut written = 0;
    for (at, c) in text.char_indices() {
        written += match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            '\0'..='\u{1f}' => 6,
            c => c.len_utf8(),
        };
        if written > max_bytes {
            return at;
        }
    }
    text.len()
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

    fn captured(kind: TextKind, max_bytes: usize, frames: &[&'static [u8]]) -> Option<String> {
        let mut capture = Capture::new(kind, max_bytes);
        for frame in frames {
            capture.copy(&bytes::Bytes::from_static(frame));
        }
        capture.text(&SecretNames::default())
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
                40,
                &[
                    br#"{"a":1,"password":"#,
                    br#""hunter2-and-then-some-more"}"#
                ]
            )
            .as_deref(),
            Some(r#"{"a":1,"password":"[redacted]"…[cut]"#)
        );
        assert_eq!(
            captured(TextKind::Text, 100, &[b" \n[{\"password\":\"x\"}]"]).as_deref(),
            Some(" \n[{\"password\":\"[redacted]\"}]"),
            "text that starts like JSON is redacted as JSON"
        );
        assert_eq!(
            captured(TextKind::Text, 100, &[b"password: x"]).as_deref(),
            Some("password: x"),
            "other text is kept"
        );
        assert_eq!(
            captured(
                TextKind::Form,
                100,
                &[b"user=ann&password=x&pass", b"word=y"]
            )
            .as_deref(),
            Some("user=ann&password=[redacted]&password=[redacted]")
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
    fn the_bound_holds_for_the_text_as_written() {
        // Each control character is six bytes once escaped.
        assert_eq!(
            captured(TextKind::Text, 14, &[b"ab\x01\x01\x01"]).as_deref(),
            Some("ab\u{1}\u{1}…[cut]")
        );
        assert_eq!(
            captured(TextKind::Text, 20, &[b"ab\x01\x01\x01"]).as_deref(),
            Some("ab\u{1}\u{1}\u{1}")
        );
        assert_eq!(
            captured(TextKind::Text, 5, &[b"\"a\"b"]).as_deref(),
            Some("\"a\"…[cut]")
        );
        // A short secret grows into `"[redacted]"`: the bound still holds.
        assert_eq!(
            captured(TextKind::Json, 20, &[br#"{"token":1,"a":2}"#]).as_deref(),
            Some(r#"{"token":"[redact…[cut]"#)
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
        assert_eq!(
            capture.text(&SecretNames::default()).as_deref(),
            Some("abcdefgh…[cut]")
        );
        assert!(capture.bytes.capacity() <= 8, "bounded");
    }
}
