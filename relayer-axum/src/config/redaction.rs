//! Secrets kept out of records: header values and query parameters.

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use relayer::RedactedParams;

/// What a redacted header value or query parameter value is replaced with.
///
/// ```
/// assert_eq!(relayer_axum::REDACTED, "[redacted]");
/// ```
pub use relayer::REDACTED;

/// Headers whose values never reach a record, whatever the configuration.
const SECRET_HEADERS: [HeaderName; 4] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE];

/// The header values and query parameters masked in records.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redaction {
    headers: Vec<HeaderName>,
    /// Also masked in the URLs of the request's outgoing calls.
    pub(crate) query_params: RedactedParams,
}

impl Redaction {
    pub(crate) fn redact_header(&mut self, name: HeaderName) {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
    }

    pub(crate) fn redact_query_param(&mut self, name: String) {
        self.query_params = self.query_params.with(name);
    }

    /// Whether the value of header `name` is replaced with [`REDACTED`]:
    /// always for `Authorization`, `Proxy-Authorization`, `Cookie` and
    /// `Set-Cookie`, and for the headers configured.
    pub(crate) fn hides_header(&self, name: &HeaderName) -> bool {
        SECRET_HEADERS.contains(name) || self.headers.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_always_hidden() {
        let mut redaction = Redaction::default();
        for secret in [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
        ] {
            assert!(
                redaction.hides_header(&HeaderName::from_static(secret)),
                "{secret}"
            );
        }
        let api_key = HeaderName::from_static("x-api-key");
        assert!(!redaction.hides_header(&api_key));
        redaction.redact_header(api_key.clone());
        assert!(redaction.hides_header(&api_key));
    }
}
