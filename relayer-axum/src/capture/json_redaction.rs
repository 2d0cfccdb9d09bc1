//! Secret values kept out of captured JSON bodies.
//!
//! A captured body is often a cut prefix of a document, so it cannot be
//! parsed: a tolerant byte scanner finds the keys (strings followed by `:`)
//! and replaces the whole value of each secret one with [`REDACTED`],
//! copying everything else as it is. A string value that holds JSON itself
//! (an object or an array, as `JSON.stringify` leaves in a field) is
//! redacted inside the same way. Garbage goes through unchanged.

use std::borrow::Cow;

use relayer::SecretNames;

use crate::config::REDACTED;

/// `json` with the value of every secret key (at any depth, also inside
/// string values that hold JSON) replaced with `"[redacted]"`; a value cut
/// short by the end of `json` too. Borrowed when nothing is secret.
pub(crate) fn redact_json<'j>(json: &'j str, names: &SecretNames) -> Cow<'j, str> {
    let bytes = json.as_bytes();
    let mut redacted: Vec<u8> = Vec::new();
    // `bytes[copied..]` is still to be copied into `redacted`.
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'"' {
            at += 1;
            continue;
        }
        let (string_end, closed) = skip_string(bytes, at);
        let content = &bytes[at + 1..string_end - usize::from(closed)];
        let colon = skip_whitespace(bytes, string_end);
        // A string followed by a colon is complete: it is a key.
        let is_key = bytes.get(colon) == Some(&b':');
        if !is_key {
            // A value: the JSON it may hold is redacted inside.
            if let Some(inner) = redacted_inside(content, names) {
                redacted.extend_from_slice(&bytes[copied..=at]);
                redacted.extend_from_slice(inner.as_bytes());
                copied = at + 1 + content.len();
            }
            at = string_end;
            continue;
        }
        at = string_end;
        let value = skip_whitespace(bytes, colon + 1);
        // A document cut right after the colon shows no value to hide.
        if value < bytes.len() && names.is_secret(&unescape(content)) {
            redacted.extend_from_slice(&bytes[copied..value]);
            redacted.push(b'"');
            redacted.extend_from_slice(REDACTED.as_bytes());
            redacted.push(b'"');
            at = skip_value(bytes, value);
            copied = at;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(json);
    }
    redacted.extend_from_slice(&bytes[copied..]);
    // Cuts fall on ASCII bytes only, so this is text; lossy just in case.
    Cow::Owned(
        String::from_utf8(redacted)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
    )
}

/// The content of a string value (escaped, as sent), redacted and escaped
/// again, when it holds JSON (an object or an array, possibly cut) with a
/// secret in it.
fn redacted_inside(content: &[u8], names: &SecretNames) -> Option<String> {
    if !holds_json(content) {
        return None;
    }
    let text = unescape(content);
    match redact_json(&text, names) {
        Cow::Borrowed(_) => None,
        Cow::Owned(inner) => {
            let quoted = serde_json::to_string(&inner).ok()?;
            Some(quoted[1..quoted.len() - 1].to_owned())
        }
    }
}

/// Whether escaped string content starts, after blanks (escaped ones
/// too), with `{` or `[`.
fn holds_json(content: &[u8]) -> bool {
    let mut at = 0;
    loop {
        match content.get(at..at + 2) {
            Some([b'\\', b'n' | b'r' | b't']) => at += 2,
            _ => match content.get(at) {
                Some(byte) if byte.is_ascii_whitespace() => at += 1,
                Some(b'{' | b'[') => return true,
                _ => return false,
            },
        }
    }
}

/// The end of the string starting with the quote at `start`: past its
/// closing quote (and closed), or the end of `bytes` when it is cut.
fn skip_string(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return (at + 1, true),
            _ => at += 1,
        }
    }
    (bytes.len(), false)
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The end of the value starting at `start`: a string, an object or array
/// (nested ones inside), or anything else up to the next delimiter.
fn skip_value(bytes: &[u8], start: usize) -> usize {
    match bytes[start] {
        b'"' => skip_string(bytes, start).0,
        b'{' | b'[' => {
            let mut depth = 0_usize;
            let mut at = start;
            while at < bytes.len() {
                match bytes[at] {
                    b'"' => {
                        at = skip_string(bytes, at).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            bytes.len()
        }
        _ => {
            let mut at = start;
            while at < bytes.len()
                && !matches!(bytes[at], b',' | b'}' | b']' | b'"')
                && !bytes[at].is_ascii_whitespace()
            {
                at += 1;
            }
            at
        }
    }
}

/// A string as its sender meant it: JSON escapes decoded, anything
/// invalid read as U+FFFD. Borrowed when there is no escape.
fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw);
    }
    let mut key = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        if raw[at] != b'\\' {
            key.push(raw[at]);
            at += 1;
            continue;
        }
        let escaped = match raw.get(at + 1) {
            Some(b'u') => {
                let (decoded, used) = unicode_escape(&raw[at..]);
                at += used;
                decoded
            }
            Some(&other) => {
                at += 2;
                match other {
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'"' | b'\\' | b'/' => char::from(other),
                    _ => char::REPLACEMENT_CHARACTER,
                }
            }
            None => {
                at += 1;
                char::REPLACEMENT_CHARACTER
            }
        };
        key.extend_from_slice(escaped.encode_utf8(&mut [0; 4]).as_bytes());
    }
    Cow::Owned(String::from_utf8_lossy(&key).into_owned())
}

/// The character of the `\uXXXX` escape at the start of `escape` (two of
/// them for a surrogate pair) and how many bytes it took.
fn unicode_escape(escape: &[u8]) -> (char, usize) {
    let Some(high) = hex4(escape.get(2..6)) else {
        return (char::REPLACEMENT_CHARACTER, escape.len().min(2));
    };
    if (0xD800..0xDC00).contains(&high)
        && escape.get(6..8) == Some(b"\\u")
        && let Some(low) = hex4(escape.get(8..12))
        && (0xDC00..0xE000).contains(&low)
    {
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return (
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
            12,
        );
    }
    (
        char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER),
        6,
    )
}

fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(digits?).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(json: &str) -> String {
        redact_json(json, &SecretNames::default()).into_owned()
    }

    #[test]
    fn redacts_the_values_of_secret_keys_only() {
        assert_eq!(
            redact(r#"{"user":"ann","password":"hunter2","n":1}"#),
            r#"{"user":"ann","password":"[redacted]","n":1}"#
        );
    }

    #[test]
    fn keys_match_ignoring_case_at_any_depth() {
        assert_eq!(
            redact(r#"{"a":{"b":[{"Token":"t1"},{"x":[{"API_KEY":7}]}]}}"#),
            r#"{"a":{"b":[{"Token":"[redacted]"},{"x":[{"API_KEY":"[redacted]"}]}]}}"#
        );
    }

    #[test]
    fn every_kind_of_value_is_redacted_whole() {
        assert_eq!(
            redact(
                r#"{"secret":{"a":[1,{"b":"}"}]},"token":[1,[2]],"password":-1.5e3,"api_key":null,"authorization":true,"k":"v"}"#
            ),
            r#"{"secret":"[redacted]","token":"[redacted]","password":"[redacted]","api_key":"[redacted]","authorization":"[redacted]","k":"v"}"#
        );
    }

    #[test]
    fn whitespace_around_colons_and_values_is_kept() {
        assert_eq!(
            redact("{ \"password\" :\n  \"x\" ,\n \"a\" : 1 }"),
            "{ \"password\" :\n  \"[redacted]\" ,\n \"a\" : 1 }"
        );
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        assert_eq!(
            redact(r#"{"note":"say \"password\": x","password":"a\"b\\","next":"ok"}"#),
            r#"{"note":"say \"password\": x","password":"[redacted]","next":"ok"}"#
        );
    }

    #[test]
    fn escaped_key_names_are_decoded_before_comparing() {
        assert_eq!(
            redact(r#"{"pass\u0077ord":"a","to\u006Ben":"b","se\"cret":"c","t\u00f6ken":"d"}"#),
            r#"{"pass\u0077ord":"[redacted]","to\u006Ben":"[redacted]","se\"cret":"[redacted]","t\u00f6ken":"d"}"#
        );
        let names = SecretNames::default().redact("😀").redact("tökEN");
        assert_eq!(
            redact_json(r#"{"\ud83d\ude00":1,"TÖKEN":2}"#, &names),
            r#"{"\ud83d\ude00":"[redacted]","TÖKEN":"[redacted]"}"#
        );
    }

    #[test]
    fn values_that_are_not_keys_are_kept() {
        assert_eq!(
            redact(r#"["password","token",{"k":"secret"}]"#),
            r#"["password","token",{"k":"secret"}]"#
        );
    }

    #[test]
    fn cut_documents_are_redacted_as_far_as_they_go() {
        for (cut, expected) in [
            (r#"{"password":"hunt"#, r#"{"password":"[redacted]""#),
            (r#"{"password":{"a":[1,"#, r#"{"password":"[redacted]""#),
            (r#"{"password":12"#, r#"{"password":"[redacted]""#),
            (r#"{"password":"#, r#"{"password":"#),
            (r#"{"password" "#, r#"{"password" "#),
            (r#"{"passw"#, r#"{"passw"#),
            (r#"{"pass\u00"#, r#"{"pass\u00"#),
            (r#"{"a":"b\"#, r#"{"a":"b\"#),
        ] {
            assert_eq!(redact(cut), expected, "{cut}");
        }
    }

    #[test]
    fn broken_escapes_in_keys_do_not_crash() {
        for key in [
            r"\",
            r"\u",
            r"\u12",
            r"\uzzzz",
            r"\ud800",
            r"\ud800\u0041",
            r"\q",
        ] {
            let json = format!(r#"{{"{key}":1}}"#);
            assert_eq!(redact(&json), json);
        }
    }

    #[test]
    fn garbage_goes_through_unchanged() {
        for garbage in [
            "",
            "plain text",
            "}}]]::\"",
            ":::",
            "\"\"\":",
            "\u{fffd}\"é\":1",
        ] {
            assert_eq!(redact(garbage), garbage);
        }
    }

    /// A document with a secret under each default key, in every place a
    /// value can be; no cut of it shows any part of a secret.
    const DOCUMENT: &str = r#"{"user":"ann","password":"S3CR-pw","list":[{"Token":"S3CR-tok"},
        {"nested":{"SECRET":{"deep":["S3CR-deep",{"x":"S3CR-x"}]}}}],"authorization" : "S3CR \"quoted\" S3CR",
        "api_key":12345678,"pass\u0077ord":"S3CR-escaped","ok":"é visible"}"#;

    #[test]
    fn no_cut_of_a_document_leaks_a_secret() {
        for end in (0..=DOCUMENT.len()).filter(|&end| DOCUMENT.is_char_boundary(end)) {
            let redacted = redact(&DOCUMENT[..end]);
            assert!(!redacted.contains("S3CR"), "{end}: {redacted}");
            assert!(!redacted.contains("12345678"), "{end}: {redacted}");
        }
        assert!(redact(DOCUMENT).ends_with(r#""ok":"é visible"}"#));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A fixed xorshift sequence: the same cases on every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[]\":,\\u0aZ \n\xc3\xa9\xff";
        for _ in 0..2_000 {
            let len = usize::try_from(next() % 64).unwrap();
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[usize::try_from(next()).unwrap() % alphabet.len()])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = redact(&text);
        }
    }
}
