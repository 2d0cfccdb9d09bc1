//! URLs as records may hold them: no user information, no fragment, the
//! query's secrets masked; also the URLs quoted in a text (an error's).

use std::borrow::Cow;
use std::ops::Range;

use super::SecretNames;

impl SecretNames {
    /// `url` as a record may hold it: without user information
    /// (`user:password@`) and fragment, its query masked as by
    /// [`query`](Self::query). Borrowed when there is nothing to change.
    ///
    /// A URL without a scheme (`//user:pw@host/x`) is read the same way,
    /// and so is user information with a raw `?` or `#` in it: everything
    /// up to the last `@` before the path is dropped.
    ///
    /// ```
    /// let names = relayer::SecretNames::default();
    /// assert_eq!(
    ///     names.url("https://user:pass@api.example.com:8443/v1/things?token=s3cret&page=2#top"),
    ///     "https://api.example.com:8443/v1/things?token=[redacted]&page=2",
    /// );
    /// assert_eq!(names.url("//me:p?w#d@host/x"), "//host/x");
    /// ```
    pub fn url<'u>(&self, url: &'u str) -> Cow<'u, str> {
        let user_info = user_info(url);
        let rest_start = user_info.as_ref().map_or(0, |user_info| user_info.end);
        let rest = &url[rest_start..];
        let without_fragment = rest.split_once('#').map_or(rest, |(kept, _)| kept);
        let (before_query, query) = match without_fragment.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (without_fragment, None),
        };
        let masked_query = query.map(|query| self.query(query));
        let unchanged = user_info.is_none()
            && without_fragment.len() == rest.len()
            && !matches!(masked_query, Some(Cow::Owned(_)));
        if unchanged {
            return Cow::Borrowed(url);
        }
        let mut clean = String::with_capacity(url.len());
        match user_info {
            Some(user_info) => {
                clean.push_str(&url[..user_info.start]);
                clean.push_str(before_query);
            }
            None => clean.push_str(&url[..rest_start + before_query.len()]),
        }
        if let Some(query) = masked_query {
            clean.push('?');
            clean.push_str(&query);
        }
        Cow::Owned(clean)
    }

    /// `text` (an error's, which often quotes the URL it failed on) with
    /// every URL in it written as by [`url`](Self::url). Borrowed when
    /// there is nothing to change.
    ///
    /// ```
    /// let names = relayer::SecretNames::default();
    /// assert_eq!(
    ///     names.urls_in("error sending request for url (https://me:pw@api/x?token=s3cret)"),
    ///     "error sending request for url (https://api/x?token=[redacted])",
    /// );
    /// ```
    pub fn urls_in<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut redacted = String::new();
        let mut copied = 0;
        for url in urls(text) {
            let clean = self.url(&text[url.clone()]);
            if let Cow::Owned(clean) = clean {
                redacted.push_str(&text[copied..url.start]);
                redacted.push_str(&clean);
                copied = url.end;
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        redacted.push_str(&text[copied..]);
        Cow::Owned(redacted)
    }
}

/// Where the user information of `url` is, `@` included: after
/// `scheme://` or a leading `//` (or at the start, for `user:pw@host`),
/// up to the last `@` before the path.
fn user_info(url: &str) -> Option<Range<usize>> {
    let start = authority_start(url);
    let path = url[start..].find('/').map_or(url.len(), |at| start + at);
    let at = url[start..path].rfind('@')?;
    Some(start..start + at + 1)
}

/// After `scheme://`, or a leading `//`; else 0.
fn authority_start(url: &str) -> usize {
    if url.starts_with("//") {
        return 2;
    }
    match url.find("://") {
        Some(at) if is_scheme(&url[..at]) => at + 3,
        _ => 0,
    }
}

fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'))
}

/// The URLs in `text`: from a scheme (`https://`) or a `//` that starts a
/// word, up to a space or a quote, without the punctuation that ends a
/// sentence or closes a parenthesis.
fn urls(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        let slashes = from + text[from..].find("//")?;
        let start = scheme_start(bytes, slashes);
        let mut end = slashes + 2;
        while end < bytes.len() && !ends_url(bytes[end]) {
            end += 1;
        }
        while end > slashes + 2
            && matches!(
                bytes[end - 1],
                b')' | b']' | b'}' | b'.' | b',' | b';' | b':' | b'!'
            )
        {
            end -= 1;
        }
        from = end.max(slashes + 2);
        Some(start..end)
    })
}

/// Where the URL whose `//` is at `slashes` starts: at its scheme when
/// one is right before (`https:`), else at the slashes.
fn scheme_start(bytes: &[u8], slashes: usize) -> usize {
    if slashes == 0 || bytes[slashes - 1] != b':' {
        return slashes;
    }
    let colon = slashes - 1;
    let mut start = colon;
    while start > 0
        && (bytes[start - 1].is_ascii_alphanumeric()
            || matches!(bytes[start - 1], b'+' | b'-' | b'.'))
    {
        start -= 1;
    }
    // A scheme starts with a letter.
    while start < colon && !bytes[start].is_ascii_alphabetic() {
        start += 1;
    }
    if start == colon { slashes } else { start }
}

fn ends_url(byte: u8) -> bool {
    byte.is_ascii_whitespace() || matches!(byte, b'"' | b'\'' | b'<' | b'>' | b'`')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> SecretNames {
        SecretNames::default()
    }

    #[test]
    fn urls_lose_user_information_and_fragment() {
        let names = names();
        assert_eq!(
            names.url("http://me:pw@host/path?token=1&x=2#frag"),
            "http://host/path?token=[redacted]&x=2"
        );
        assert_eq!(names.url("http://me@host"), "http://host");
        assert_eq!(names.url("http://host/a#access_token=x"), "http://host/a");
        // An `@` in the path or the query is not user information.
        assert_eq!(
            names.url("http://host/users/@me?to=a@b"),
            "http://host/users/@me?to=a@b"
        );
        // Only a path: what a gRPC client without origin sends.
        assert_eq!(names.url("/pkg.Greeter/SayHello"), "/pkg.Greeter/SayHello");
        assert_eq!(names.url("/search?token=x"), "/search?token=[redacted]");
    }

    #[test]
    fn user_information_without_scheme_or_with_raw_delimiters_goes() {
        let names = names();
        assert_eq!(
            names.url("//me:pw@host/x?token=1"),
            "//host/x?token=[redacted]"
        );
        assert_eq!(names.url("me:pw@host/x"), "host/x");
        assert_eq!(
            names.url("https://me:p?w#d@host/x?a=1"),
            "https://host/x?a=1"
        );
        assert_eq!(names.url("https://me:p#w?d@host"), "https://host");
        assert_eq!(names.url("https://a@b:p@w@host:1/x"), "https://host:1/x");
    }

    #[test]
    fn borrows_when_nothing_changes() {
        let url = "http://127.0.0.1:8080/a/b?c=1";
        assert!(matches!(names().url(url), Cow::Borrowed(u) if u == url));
        let text = "connection refused (os error 111) for http://a/b?c=1";
        assert!(matches!(names().urls_in(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn every_url_in_a_text_is_redacted() {
        let names = names();
        assert_eq!(
            names.urls_in(
                "error sending request for url (https://me:pw@api/x?token=s3cret): \
                 redirected to \"http://u:p@other/?sig=abc#f\", then //me:pw@third/y."
            ),
            "error sending request for url (https://api/x?token=[redacted]): \
             redirected to \"http://other/?sig=[redacted]\", then //third/y."
        );
        assert_eq!(
            names.urls_in("postgres://app:pw@db:5432/app?password=x failed"),
            "postgres://db:5432/app?password=[redacted] failed"
        );
        assert_eq!(names.urls_in("1http://u:p@h"), "1http://h");
        assert_eq!(names.urls_in("//"), "//");
        assert_eq!(names.urls_in("a // b"), "a // b");
        // Garbage is read somehow, never past its end.
        let _ = names.urls_in("x://://u:p@h:// //:/@");
    }
}
