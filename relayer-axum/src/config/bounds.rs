//! Client input is bounded: what a client sends is copied into a response,
//! an event or a record only up to a size.

use std::borrow::Cow;

/// The longest `X-Request-ID` taken from a client, by default.
pub use relayer::DEFAULT_MAX_REQUEST_ID_BYTES;

/// The longest header value, path or query string copied into a record,
/// by default.
pub use relayer::DEFAULT_MAX_VALUE_BYTES;

/// What ends a value that was cut to its bound.
///
/// ```
/// assert_eq!(relayer_axum::CUT, "…[cut]");
/// ```
pub use relayer::CUT;

/// The size bounds on client input.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    pub(crate) request_id_bytes: usize,
    pub(crate) value_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            request_id_bytes: DEFAULT_MAX_REQUEST_ID_BYTES,
            value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl Bounds {
    /// `value`, cut at a character boundary to at most the bound, and then
    /// marked with [`CUT`].
    pub(crate) fn cut<'v>(&self, value: Cow<'v, str>) -> Cow<'v, str> {
        relayer::cut(value, self.value_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_marked() {
        let bounds = Bounds {
            request_id_bytes: 0,
            value_bytes: 5,
        };
        assert_eq!(bounds.cut("short".into()), "short");
        assert_eq!(bounds.cut("longer".into()), "longe…[cut]");
        // 'é' is two bytes: it is not split.
        assert_eq!(bounds.cut("abcdé".into()), "abcd…[cut]");
    }
}
