//! Which bodies are captured into records, and how much of them.

use http::HeaderMap;

use crate::capture::{Capture, text_kind};

/// Body capture: off unless a bound is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyCapture {
    /// The longest field written in the record, escapes included.
    pub(crate) max_bytes: Option<usize>,
}

impl BodyCapture {
    /// A capture for the body these headers describe, when capture is on
    /// and the body is text (JSON, a form, `text/*`), not encoded.
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
    fn on_for_text_only() {
        let capture = BodyCapture {
            max_bytes: Some(10),
        };
        assert!(capture.start(&json_headers()).is_some());
        assert!(capture.start(&HeaderMap::new()).is_none());
    }
}
