//! Query strings (and form bodies, which have their syntax) with the
//! values of their secret parameters masked.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::{REDACTED, SecretNames};

impl SecretNames {
    /// The query string (or `application/x-www-form-urlencoded` body) with
    /// the value of each secret parameter replaced with [`REDACTED`];
    /// borrowed when there is nothing to mask. Names are compared
    /// percent-decoded (`+` is a space), so `t%6Fken=` is masked too.
    ///
    /// ```
    /// let names = relayer::SecretNames::default();
    /// assert_eq!(
    ///     names.query("page=2&access_token=s3cret&X-Amz-Signature=abc"),
    ///     "page=2&access_token=[redacted]&X-Amz-Signature=[redacted]",
    /// );
    /// ```
    pub fn query<'q>(&self, query: &'q str) -> Cow<'q, str> {
        if !query.split('&').any(|pair| self.hides_pair(pair)) {
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
        self.is_secret(&percent_decode_str(&spaced).decode_utf8_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_params_by_default_and_added_ones() {
        let names = SecretNames::default().redact("api key");
        assert_eq!(
            names.query("a=1&token=s3cret&b=2&TOKEN=x&t%6Fken=y&api+key=z&tokens=ok&token"),
            "a=1&token=[redacted]&b=2&TOKEN=[redacted]&t%6Fken=[redacted]&api+key=[redacted]&tokens=[redacted]&token"
        );
        let names = SecretNames::default().redact("code");
        assert_eq!(
            names.query("code=abc&state=xyz"),
            "code=[redacted]&state=xyz"
        );
    }

    #[test]
    fn kept_params_are_not_masked() {
        let names = SecretNames::default().keep("token_count");
        assert_eq!(
            names.query("tokenCount=3&token=s"),
            "tokenCount=3&token=[redacted]"
        );
    }

    #[test]
    fn borrows_when_nothing_is_masked() {
        let names = SecretNames::default();
        assert!(matches!(names.query("a=1&b"), Cow::Borrowed("a=1&b")));
        assert!(matches!(names.query(""), Cow::Borrowed("")));
    }
}
