//! Which bodies are captured as text: JSON, forms and text, not encoded.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

/// A body that reads as text in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// `application/json` or `application/*+json`: its secret keys are redacted.
    Json,
    /// `application/x-www-form-urlencoded`: its secret fields are masked
    /// as in a query string.
    Form,
    /// `text/*`: redacted as JSON when it starts with `{` or `[`.
    Text,
}

/// The kind of the body these headers describe, when it is captured: JSON,
/// a form or text, without a `Content-Encoding` (other than `identity`) that would
/// make its bytes compressed.
pub(crate) fn text_kind(headers: &HeaderMap) -> Option<TextKind> {
    let encoded = headers.get_all(CONTENT_ENCODING).iter().any(|encoding| {
        !encoding
            .to_str()
            .is_ok_and(|encoding| encoding.trim().eq_ignore_ascii_case("identity"))
    });
    if encoded {
        return None;
    }
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    match kind {
        "application" if subtype == "json" || subtype.ends_with("+json") => Some(TextKind::Json),
        "application" if subtype == "x-www-form-urlencoded" => Some(TextKind::Form),
        "text" if !subtype.is_empty() => Some(TextKind::Text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(headers: &[(&'static str, &'static str)]) -> Option<TextKind> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        text_kind(&map)
    }

    #[test]
    fn json_and_text_are_captured() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
            " application/vnd.api+json ;x=y",
        ] {
            assert_eq!(
                kind(&[("content-type", json)]),
                Some(TextKind::Json),
                "{json}"
            );
        }
        for text in ["text/plain", "text/html; charset=utf-8", "TEXT/csv"] {
            assert_eq!(
                kind(&[("content-type", text)]),
                Some(TextKind::Text),
                "{text}"
            );
        }
    }

    #[test]
    fn forms_are_captured() {
        for form in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
        ] {
            assert_eq!(
                kind(&[("content-type", form)]),
                Some(TextKind::Form),
                "{form}"
            );
        }
    }

    #[test]
    fn other_types_are_not() {
        for other in [
            "application/octet-stream",
            "multipart/form-data; boundary=x",
            "application/jsonl",
            "image/png",
            "text/",
            "text",
            "",
        ] {
            assert_eq!(kind(&[("content-type", other)]), None, "{other}");
        }
        assert_eq!(kind(&[]), None);
    }

    #[test]
    fn encoded_bodies_are_not_unless_identity() {
        let json = ("content-type", "application/json");
        assert_eq!(kind(&[json, ("content-encoding", "gzip")]), None);
        assert_eq!(
            kind(&[
                json,
                ("content-encoding", "identity"),
                ("content-encoding", "br")
            ]),
            None
        );
        assert_eq!(
            kind(&[json, ("content-encoding", "Identity")]),
            Some(TextKind::Json)
        );
    }
}
