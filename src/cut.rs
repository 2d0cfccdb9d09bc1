//! Values copied into records are bounded: past a size, they are cut and
//! marked.

use std::borrow::Cow;

/// What ends a value that was cut to its bound.
///
/// ```
/// assert_eq!(relayer::CUT, "…[cut]");
/// ```
pub const CUT: &str = "…[cut]";

/// The longest text value (a header value, a path, a URL, an error's text)
/// copied into a record, by default.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024;

/// `value`, cut at a character boundary to at most `max_bytes`, and then
/// marked with [`CUT`]; as it is when it fits.
///
/// ```
/// assert_eq!(relayer::cut("short".into(), 5), "short");
/// assert_eq!(relayer::cut("abcdé".into(), 5), "abcd…[cut]"); // 'é' is not split
/// ```
pub fn cut(value: Cow<'_, str>, max_bytes: usize) -> Cow<'_, str> {
    if value.len() <= max_bytes {
        return value;
    }
    let end = (0..=max_bytes)
        .rev()
        .find(|&end| value.is_char_boundary(end))
        .unwrap_or(0);
    Cow::Owned(format!("{}{CUT}", &value[..end]))
}
