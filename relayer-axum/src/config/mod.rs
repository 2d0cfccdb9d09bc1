//! What the layer records and skips, shared by every clone of the layer and
//! its services.

mod body_capture;
mod bounds;
mod redaction;

use std::sync::Arc;

use http::HeaderName;
use relayer::Relayer;

use crate::client_addr::TrustedProxies;

pub(crate) use body_capture::BodyCapture;
pub(crate) use bounds::Bounds;
pub use bounds::{CUT, DEFAULT_MAX_REQUEST_ID_BYTES, DEFAULT_MAX_VALUE_BYTES};
pub use redaction::REDACTED;
pub(crate) use redaction::Redaction;

/// The layer's configuration, built through [`RelayerLayer`](crate::RelayerLayer)'s
/// methods and shared behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// Paths served without scope and record (exact match).
    skip_paths: Vec<String>,
    /// Path prefixes served without scope and record.
    skip_prefixes: Vec<String>,
    /// Request headers written under `headers` in the record.
    pub(crate) recorded_headers: RecordedHeaders,
    /// Header values, query parameters and body keys masked in the record.
    pub(crate) redaction: Redaction,
    /// How much client input is copied into responses and records.
    pub(crate) bounds: Bounds,
    /// Where the request id is read from and written to.
    pub(crate) request_id_header: RequestIdHeader,
    /// Which bodies are copied into the record.
    pub(crate) body_capture: BodyCapture,
    /// The proxies whose headers say who the client is.
    pub(crate) trusted_proxies: TrustedProxies,
}

/// The request id header's name, `x-request-id` unless configured, also as
/// text for the scope, which sends it on.
#[derive(Debug, Clone)]
pub(crate) struct RequestIdHeader {
    pub(crate) name: HeaderName,
    pub(crate) text: Arc<str>,
}

impl RequestIdHeader {
    pub(crate) fn new(name: HeaderName) -> Self {
        let text = name.as_str().into();
        Self { name, text }
    }
}

impl Default for RequestIdHeader {
    fn default() -> Self {
        Self::new(crate::REQUEST_ID_HEADER)
    }
}

/// Which request headers go into the record's `headers` object.
#[derive(Debug, Clone, Default)]
pub(crate) enum RecordedHeaders {
    /// None (the default): the record has no `headers` field.
    #[default]
    None,
    /// These, when present.
    Some(Vec<HeaderName>),
    /// Every request header.
    All,
}

impl Config {
    /// The default configuration, with the request id header of `relayer`.
    pub(crate) fn for_relayer(relayer: &Relayer) -> Self {
        let request_id_header = HeaderName::try_from(relayer.request_id_header())
            .map(RequestIdHeader::new)
            .unwrap_or_default();
        Self {
            request_id_header,
            ..Self::default()
        }
    }

    pub(crate) fn skip_path(&mut self, path: String) {
        self.skip_paths.push(path);
    }

    pub(crate) fn skip_prefix(&mut self, prefix: String) {
        self.skip_prefixes.push(prefix);
    }

    pub(crate) fn record_header(&mut self, name: HeaderName) {
        match &mut self.recorded_headers {
            RecordedHeaders::All => {}
            RecordedHeaders::Some(names) => {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            none @ RecordedHeaders::None => *none = RecordedHeaders::Some(vec![name]),
        }
    }

    pub(crate) fn record_all_headers(&mut self) {
        self.recorded_headers = RecordedHeaders::All;
    }

    /// Whether requests to `path` are served without scope and record.
    pub(crate) fn skips(&self, path: &str) -> bool {
        self.skip_paths.iter().any(|skipped| skipped == path)
            || self
                .skip_prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_exact_paths_and_prefixes() {
        let mut config = Config::default();
        config.skip_path("/health".into());
        config.skip_prefix("/static/".into());
        assert!(config.skips("/health"));
        assert!(!config.skips("/health/deep"));
        assert!(!config.skips("/healthz"));
        assert!(config.skips("/static/app.js"));
        assert!(!config.skips("/static"));
        assert!(!config.skips("/things"));
    }

    #[test]
    fn recorded_headers_are_deduplicated_and_all_wins() {
        let mut config = Config::default();
        config.record_header(HeaderName::from_static("x-tenant"));
        config.record_header(HeaderName::from_static("x-tenant"));
        assert!(
            matches!(&config.recorded_headers, RecordedHeaders::Some(names) if names.len() == 1)
        );
        config.record_all_headers();
        config.record_header(HeaderName::from_static("x-other"));
        assert!(matches!(config.recorded_headers, RecordedHeaders::All));
    }
}
