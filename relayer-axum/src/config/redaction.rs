//! Secrets kept out of records: header values and query parameters.

use std::borrow::Cow;

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use percent_encoding::percent_decode_str;

/// What a redacted header value or query parameter value is replaced with.
///
/// ```
/// assert_eq!(relayer_axum::REDACTED, "[redacted]");
/// ```
pub const REDACTED: &str = "[redacted]";

/// Headers whose values never reach a record, whatever the configuration.
const SECRET_HEADERS: [HeaderName; 4] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE];

/// The header values and query parameters masked in records.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redaction {
    headers: Vec<HeaderName>,
    query_params: Vec<String>,
}

impl Redaction {
    pub(crate) fn redact_header(&mut self, name: HeaderName) {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
    }

    pub(crate) fn redact_query_param(&mut self, name: String) {
        self.query_params.push(name);
    }

    /// Whether the value of header `name` is replaced with [`REDACTED`]:
    /// always for `Authorization`, `Proxy-Authorization`, `Cookie` and
    /// `Set-Cookie`, and for the headers configured.
    pub(crate) fn hides_header(&self, name: &HeaderName) -> bool {
        SECRET_HEADERS.contains(name) || self.headers.contains(name)
    }

    /// The query string with the values of configured parameters replaced
    /// with [`REDACTED`]; borrowed when there is nothing to mask.
    ///
    /// Parameter names are compared percent-decoded and ignoring ASCII case,
    /// so `Token=`, `TOKEN=` and `t%6Fken=` are all masked for `token`.
    pub(crate) fn query<'q>(&self, query: &'q str) -> Cow<'q, str> {
        if self.query_params.is_empty() || !query.split('&').any(|pair| self.hides_pair(pair)) {
            return Cow::Borrowed(query);
        }
        let mut masked = String::with_capacity(query.len());
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                masked.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if self.hides_param(name) => {
                    masked.push_str(name);
                    masked.push('=');
                    masked.push_str(REDACTED);
                }
                _ => masked.push_str(pair),
            }
        }
        Cow::Owned(masked)
    }

    fn hides_pair(&self, pair: &str) -> bool {
        pair.split_once('=')
            .is_some_and(|(name, _)| self.hides_param(name))
    }

    fn hides_param(&self, raw_name: &str) -> bool {
        let spaced: Cow<'_, str> = if raw_name.contains('+') {
            Cow::Owned(raw_name.replace('+', " "))
        } else {
            Cow::Borrowed(raw_name)
        };
        let name = percent_decode_str(&spaced).decode_utf8_lossy();
        self.query_params
            .iter()
            .any(|hidden| hidden.eq_ignore_ascii_case(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redaction(params: &[&str]) -> Redaction {
        let mut redaction = Redaction::default();
        for param in params {
            redaction.redact_query_param((*param).to_owned());
        }
        redaction
    }

    #[test]
    fn masks_configured_query_params_only() {
        let redaction = redaction(&["token", "api key"]);
        assert_eq!(
            redaction.query("a=1&token=s3cret&b=2&TOKEN=x&t%6Fken=y&api+key=z&tokens=ok&token"),
            "a=1&token=[redacted]&b=2&TOKEN=[redacted]&t%6Fken=[redacted]&api+key=[redacted]&tokens=ok&token"
        );
    }

    #[test]
    fn borrows_when_nothing_is_masked() {
        assert!(matches!(
            redaction(&[]).query("token=1"),
            Cow::Borrowed("token=1")
        ));
        assert!(matches!(
            redaction(&["token"]).query("a=1&b"),
            Cow::Borrowed("a=1&b")
        ));
    }

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
