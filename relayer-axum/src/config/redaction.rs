//! Secrets kept out of records: header values, query parameters and the
//! keys of captured bodies, each place with its own additions to the one
//! rule for secret names ([`SecretNames`]).

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use relayer::SecretNames;

/// What a redacted header value, query parameter value or body value is
/// replaced with.
///
/// ```
/// assert_eq!(relayer_axum::REDACTED, "[redacted]");
/// ```
pub use relayer::REDACTED;

/// Headers whose values never reach a record, whatever the configuration:
/// they cannot be kept.
const SECRET_HEADERS: [HeaderName; 4] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE];

/// The secret names of each place a value is recorded from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redaction {
    /// Recorded request headers.
    pub(crate) headers: SecretNames,
    /// The query string; also in the URLs of the request's outgoing calls
    /// and of their errors.
    pub(crate) query_params: SecretNames,
    /// The keys of captured JSON and form bodies.
    pub(crate) body_keys: SecretNames,
}

impl Redaction {
    /// Whether the value of header `name` is replaced with [`REDACTED`]:
    /// always for `Authorization`, `Proxy-Authorization`, `Cookie` and
    /// `Set-Cookie`, and for the names the rule finds secret.
    pub(crate) fn hides_header(&self, name: &HeaderName) -> bool {
        SECRET_HEADERS.contains(name) || self.headers.is_secret(name.as_str())
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
            redaction.headers = redaction.headers.keep(secret);
            assert!(
                redaction.hides_header(&HeaderName::from_static(secret)),
                "{secret}"
            );
        }
    }

    #[test]
    fn header_names_follow_the_rule_with_their_additions() {
        let mut redaction = Redaction::default();
        let header = |name: &'static str| HeaderName::from_static(name);
        assert!(redaction.hides_header(&header("x-api-key")));
        assert!(redaction.hides_header(&header("x-csrf-token")));
        assert!(!redaction.hides_header(&header("x-tenant")));
        redaction.headers = redaction
            .headers
            .redact("x-tenant")
            .keep("x-session-region");
        assert!(redaction.hides_header(&header("x-tenant")));
        assert!(!redaction.hides_header(&header("x-session-region")));
    }
}
