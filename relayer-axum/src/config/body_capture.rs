//! Which bodies are captured into records, how much of them, and which
//! JSON keys are redacted in them.

use http::HeaderMap;

use crate::capture::{Capture, text_kind};

/// The JSON keys whose values never reach a captured body.
pub(crate) const DEFAULT_REDACTED_BODY_KEYS: [&str; 5] =
    ["password", "token", "secret", "authorization", "api_key"];

/// Body capture: off unless a bound is set.
#[derive(Debug, Clone)]
pub(crate) struct BodyCapture {
    pub(crate) max_bytes: Option<usize>,
    /// Compared ignoring case.
    pub(crate) redacted_keys: Vec<String>,
}

impl Default for BodyCapture {
    fn default() -> Self {
        Self {
            max_bytes: None,
            redacted_keys: DEFAULT_REDACTED_BODY_KEYS.map(String::from).to_vec(),
        }
    }
}

impl BodyCapture {
    pub(crate) fn redact_key(&mut self, name: String) {
        if !self.redacted_keys.contains(&name) {
            self.redacted_keys.push(name);
        }
    }

    /// A capture for the body these headers describe, when capture is on
    /// and the body is JSON or text, not encoded.
    pub(crate) fn start(&self, headers: &HeaderMap) -> Option<Capture> {
        let max_bytes = self.max_bytes?;
        Some(Capture::new(text_kind(headers)?, max_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers
    }

    #[test]
    fn off_by_default() {
        assert!(BodyCapture::default().start(&json_headers()).is_none());
    }

    #[test]
    fn on_for_json_and_text_only() {
        let capture = BodyCapture {
            max_bytes: Some(10),
            ..BodyCapture::default()
        };
        assert!(capture.start(&json_headers()).is_some());
        assert!(capture.start(&HeaderMap::new()).is_none());
    }

    #[test]
    fn redacted_keys_add_to_the_defaults_once() {
        let mut capture = BodyCapture::default();
        capture.redact_key("ssn".into());
        capture.redact_key("ssn".into());
        assert_eq!(
            capture.redacted_keys,
            [
                "password",
                "token",
                "secret",
                "authorization",
                "api_key",
                "ssn"
            ]
        );
    }
}
