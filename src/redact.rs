//! Secrets kept out of records: the values of query parameters, in the
//! query strings and URLs relayer records.

use std::borrow::Cow;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

/// What a redacted value is replaced with.
///
/// ```
/// assert_eq!(relayer::REDACTED, "[redacted]");
/// ```
pub const REDACTED: &str = "[redacted]";

/// The query parameters whose values are masked with [`REDACTED`] wherever
/// relayer records a query string: a request's own, and the URLs of its
/// [outgoing calls](crate::OutgoingCall), which follow the rules of the
/// request that makes them. Cheap to clone.
///
/// Names are compared percent-decoded and ignoring ASCII case, so `Token=`,
/// `TOKEN=` and `t%6Fken=` are all masked for `token`.
///
/// ```
/// use relayer::RedactedParams;
///
/// let params = RedactedParams::default().with("token");
/// assert_eq!(params.query("a=1&TOKEN=s3cret"), "a=1&TOKEN=[redacted]");
/// assert_eq!(
///     params.url("https://user:pass@api.example.com:8443/v1/things?token=s3cret#top"),
///     "https://api.example.com:8443/v1/things?token=[redacted]",
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactedParams {
    names: Arc<[String]>,
}

impl RedactedParams {
    /// These parameters and `name`.
    #[must_use]
    pub fn with(&self, name: impl Into<String>) -> Self {
        let mut names = self.names.to_vec();
        names.push(name.into());
        Self {
            names: names.into(),
        }
    }

    /// The query string with the values of these parameters replaced with
    /// [`REDACTED`]; borrowed when there is nothing to mask.
    pub fn query<'q>(&self, query: &'q str) -> Cow<'q, str> {
        if self.names.is_empty() || !query.split('&').any(|pair| self.hides_pair(pair)) {
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

    /// `url` as a record may hold it: without user information (`user:password@`)
    /// and fragment, its query string masked as by [`query`](Self::query).
    pub fn url<'u>(&self, url: &'u str) -> Cow<'u, str> {
        let url = url.split_once('#').map_or(url, |(url, _)| url);
        let (before_query, query) = match url.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (url, None),
        };
        // The authority runs from after `scheme://` to the path.
        let authority_start = before_query.find("://").map_or(0, |at| at + 3);
        let authority_end = before_query[authority_start..]
            .find('/')
            .map_or(before_query.len(), |at| authority_start + at);
        let user_info = before_query[authority_start..authority_end]
            .rfind('@')
            .map(|at| authority_start..authority_start + at + 1);
        let masked_query = query.map(|query| self.query(query));
        if user_info.is_none() && !matches!(masked_query, Some(Cow::Owned(_))) {
            return Cow::Borrowed(url);
        }
        let mut clean = String::with_capacity(url.len());
        match user_info {
            Some(user_info) => {
                clean.push_str(&before_query[..user_info.start]);
                clean.push_str(&before_query[user_info.end..]);
            }
            None => clean.push_str(before_query),
        }
        if let Some(query) = masked_query {
            clean.push('?');
            clean.push_str(&query);
        }
        Cow::Owned(clean)
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
        self.names
            .iter()
            .any(|hidden| hidden.eq_ignore_ascii_case(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(names: &[&str]) -> RedactedParams {
        names
            .iter()
            .fold(RedactedParams::default(), |params, name| params.with(*name))
    }

    #[test]
    fn masks_configured_query_params_only() {
        let params = params(&["token", "api key"]);
        assert_eq!(
            params.query("a=1&token=s3cret&b=2&TOKEN=x&t%6Fken=y&api+key=z&tokens=ok&token"),
            "a=1&token=[redacted]&b=2&TOKEN=[redacted]&t%6Fken=[redacted]&api+key=[redacted]&tokens=ok&token"
        );
    }

    #[test]
    fn borrows_when_nothing_is_masked() {
        assert!(matches!(
            params(&[]).query("token=1"),
            Cow::Borrowed("token=1")
        ));
        assert!(matches!(
            params(&["token"]).query("a=1&b"),
            Cow::Borrowed("a=1&b")
        ));
        let url = "http://127.0.0.1:8080/a/b?c=1";
        assert!(matches!(params(&["token"]).url(url), Cow::Borrowed(u) if u == url));
    }

    #[test]
    fn urls_lose_user_information_and_fragment() {
        let params = params(&["token"]);
        assert_eq!(
            params.url("http://me:pw@host/path?token=1&x=2#frag"),
            "http://host/path?token=[redacted]&x=2"
        );
        assert_eq!(params.url("http://me@host"), "http://host");
        // An `@` in the path or the query is not user information.
        assert_eq!(
            params.url("http://host/users/@me?to=a@b"),
            "http://host/users/@me?to=a@b"
        );
        // Only a path: what a gRPC client without origin sends.
        assert_eq!(params.url("/pkg.Greeter/SayHello"), "/pkg.Greeter/SayHello");
        assert_eq!(params.url("/search?token=x"), "/search?token=[redacted]");
    }
}
