//! Secrets kept out of records: one rule for secret names ([`SecretNames`]),
//! applied to header names, query parameters (in query strings, in URLs,
//! in the URLs quoted by an error's text) and JSON keys.

mod names;
mod query;
mod url;

pub use names::{DEFAULT_SECRET_STEMS, DEFAULT_SECRET_WORDS, SecretNames};

/// What a redacted value is replaced with.
///
/// ```
/// assert_eq!(relayer::REDACTED, "[redacted]");
/// ```
pub const REDACTED: &str = "[redacted]";
