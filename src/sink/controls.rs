//! Characters a terminal or a line splitter acts on, kept from reaching
//! them: nothing a client sends moves a cursor, sets a title, reorders
//! text or ends a line.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` is a control: C0 (newline and tab too), DEL, C1, the line
/// and paragraph separators (U+2028, U+2029, which Python's `splitlines`
/// and JavaScript end lines on) and the bidirectional controls (U+202A to
/// U+202E, U+2066 to U+2069), which reorder the text after them.
pub(crate) fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each control written as an escape (`\n`, `\u{1b}`), so it
/// prints as what it is on one line; borrowed when it has none.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => clean.push_str("\\n"),
            '\r' => clean.push_str("\\r"),
            '\t' => clean.push_str("\\t"),
            c if is_control(c) => {
                let _ = write!(clean, "\\u{{{:x}}}", u32::from(c));
            }
            c => clean.push(c),
        }
    }
    Cow::Owned(clean)
}

/// Rewrites the JSON in `json[start..]` so that no control is left raw,
/// its value unchanged: the controls JSON lets through in strings (DEL,
/// C1, U+2028, U+2029, the bidirectional ones) become `\uXXXX` escapes,
/// and the whitespace it allows between tokens (newline, carriage
/// return, tab) becomes spaces. Other controls are escaped in JSON
/// strings already, and valid JSON has no other byte above ASCII outside
/// them. Touches nothing (and copies nothing) when there is none.
pub(crate) fn escape_in_json(json: &mut Vec<u8>, start: usize) {
    let Some(first) = json[start..]
        .iter()
        .position(|&byte| may_start_control(byte))
    else {
        return;
    };
    let tail = json.split_off(start + first);
    let mut at = 0;
    while at < tail.len() {
        let (code, width) = match tail[at..] {
            [b'\n' | b'\r' | b'\t', ..] => {
                json.push(b' ');
                at += 1;
                continue;
            }
            [0x7f, ..] => (0x7f, 1),
            [0xc2, second @ 0x80..=0x9f, ..] => (u32::from(second), 2),
            [0xe2, 0x80, third @ 0xa8..=0xae, ..] => (0x2000 + u32::from(third & 0x3f), 3),
            [0xe2, 0x81, third @ 0xa6..=0xa9, ..] => (0x2040 + u32::from(third & 0x3f), 3),
            _ => {
                json.push(tail[at]);
                at += 1;
                continue;
            }
        };
        // Writing into a Vec cannot fail.
        let _ = std::io::Write::write_fmt(json, format_args!("\\u{code:04x}"));
        at += width;
    }
}

/// The first byte of a control in UTF-8, or of something that may be one.
fn may_start_control(byte: u8) -> bool {
    matches!(byte, b'\n' | b'\r' | b'\t' | 0x7f | 0xc2 | 0xe2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_and_nothing_else() {
        assert_eq!(escaped("plain é ✓ 😀"), "plain é ✓ 😀");
        assert_eq!(
            escaped("a\u{1b}]0;t\u{7}\nb\r\t\u{7f}\u{85}\u{9b}\u{2028}\u{202e}\u{2069}"),
            "a\\u{1b}]0;t\\u{7}\\nb\\r\\t\\u{7f}\\u{85}\\u{9b}\\u{2028}\\u{202e}\\u{2069}"
        );
    }

    #[test]
    fn json_keeps_its_value_and_loses_every_raw_control() {
        // Every character up to U+3000 and a few past it, in a string and
        // between tokens.
        for code in (0..0x3000).chain([0xfeff, 0x1f600]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let value = serde_json::json!({ "k": format!("a{c}b") });
            let mut json = b"x".to_vec();
            json.extend_from_slice(format!("{{\n\t\"k\" :\r{}}}", value["k"]).as_bytes());
            escape_in_json(&mut json, 1);
            let text = std::str::from_utf8(&json[1..]).unwrap();
            assert!(!text.chars().any(is_control), "{code:x}: {text:?}");
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed, value, "{code:x}");
        }
    }

    #[test]
    fn json_without_controls_is_untouched() {
        let mut json = r#"{"a":"é ✓ \u001b"}"#.as_bytes().to_vec();
        let before = json.clone();
        escape_in_json(&mut json, 0);
        assert_eq!(json, before);
    }
}
