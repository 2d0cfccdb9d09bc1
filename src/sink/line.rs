//! The JSON-lines form: one line per message, its topic, key and headers
//! next to its value, which is embedded as the bytes Kafka gets but for
//! the escapes that keep controls out of the line.

use super::controls;
use crate::producer::Message;

/// Appends `message` to `out` as one line, newline included:
///
/// ```text
/// {"topic":"logging","key":null,"headers":{},"value":{...}}
/// ```
///
/// `key` is the key as a string when it is UTF-8 (string keys), `null`
/// without a key; other keys (a UUID's 16 bytes) are written as
/// `"key_hex"` instead, lower-case hex. Header values are UTF-8 text
/// (relayer's are); any other byte becomes U+FFFD.
///
/// No control character is left raw in the line (see
/// [`controls::escape_in_json`]): DEL, C1 controls, U+2028, U+2029 and the
/// bidirectional controls inside strings become `\uXXXX` escapes, so the
/// embedded value differs from Kafka's bytes by these escapes only, and
/// stands for the same JSON.
pub(crate) fn encode(message: &Message<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(b"{\"topic\":");
    string(out, message.topic);
    match message.key.map(std::str::from_utf8) {
        None => out.extend_from_slice(b",\"key\":null"),
        Some(Ok(key)) => {
            out.extend_from_slice(b",\"key\":");
            string(out, key);
        }
        Some(Err(_)) => {
            out.extend_from_slice(b",\"key_hex\":\"");
            hex(out, message.key.unwrap_or_default());
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"headers\":{");
    for (i, (name, value)) in message.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        string(out, &String::from_utf8_lossy(value));
    }
    out.extend_from_slice(b"},\"value\":");
    out.extend_from_slice(message.payload);
    out.push(b'}');
    controls::escape_in_json(out, start);
    out.push(b'\n');
}

/// Appends `text` as a JSON string.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Appends `bytes` as lower-case hex.
fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    crate::trace::encode_hex(bytes, &mut out[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn line(message: &Message<'_>) -> String {
        let mut out = Vec::new();
        encode(message, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn topic_key_headers_and_the_value_byte_identical() {
        let payload = br#"{"b":1, "a":"x\ny"}"#;
        let line = line(&Message {
            topic: "prod_\"order\"",
            key: Some(b"order-1"),
            headers: &[("x-request-id", b"r-1"), ("traceparent", b"00-ab")],
            payload,
        });
        assert!(line.ends_with(concat!(r#""value":{"b":1, "a":"x\ny"}}"#, "\n")));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"topic": "prod_\"order\"", "key": "order-1",
                   "headers": {"x-request-id": "r-1", "traceparent": "00-ab"},
                   "value": {"b": 1, "a": "x\ny"}})
        );
    }

    #[test]
    fn no_key_is_null_a_binary_key_is_hex() {
        let none = line(&Message {
            topic: "t",
            key: None,
            headers: &[],
            payload: b"1",
        });
        assert_eq!(
            none,
            "{\"topic\":\"t\",\"key\":null,\"headers\":{},\"value\":1}\n"
        );
        let binary = line(&Message {
            topic: "t",
            key: Some(&[0x00, 0xff, 0x1a]),
            headers: &[],
            payload: b"1",
        });
        assert_eq!(
            binary,
            "{\"topic\":\"t\",\"key_hex\":\"00ff1a\",\"headers\":{},\"value\":1}\n"
        );
    }

    #[test]
    fn line_separators_and_c1_are_escaped_in_the_same_json() {
        let payload = "{\"a\":\"x\u{2028}y\u{85}z\u{202e}\"}";
        let line = line(&Message {
            topic: "t\u{2029}",
            key: Some("k\u{9b}".as_bytes()),
            headers: &[],
            payload: payload.as_bytes(),
        });
        assert!(
            line.ends_with(concat!(r#""value":{"a":"x\u2028y\u0085z\u202e"}}"#, "\n")),
            "{line}"
        );
        assert!(
            line.starts_with(r#"{"topic":"t\u2029","key":"k\u009b""#),
            "{line}"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["value"]["a"], "x\u{2028}y\u{85}z\u{202e}");
        assert_eq!(parsed["key"], "k\u{9b}");
    }

    #[test]
    fn newlines_between_tokens_become_spaces() {
        let line = line(&Message {
            topic: "t",
            key: None,
            headers: &[],
            payload: b"{\n  \"a\": 1\r\n}",
        });
        assert_eq!(line.matches('\n').count(), 1);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["value"], json!({"a": 1}));
    }
}
