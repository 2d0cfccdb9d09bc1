//! Durations as records write them: milliseconds, rounded to the
//! microsecond (3 decimals, as the Python relayer wrote them), so 81.101 µs
//! is written `0.081`, not with the float noise of a division
//! (`0.08110099999999999`).

use serde::Serializer;

/// `ms` rounded to 3 decimals: whole microseconds.
pub(crate) fn rounded(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Serializes a duration in milliseconds [`rounded`] to the microsecond.
// serde's `serialize_with` hands the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn serialize<S: Serializer>(ms: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(rounded(*ms))
}

#[cfg(test)]
mod tests {
    use super::rounded;

    #[test]
    fn durations_are_whole_microseconds_without_float_noise() {
        assert_eq!(rounded(0.081_100_999_999_999_99), 0.081);
        let written = |ms: f64| serde_json::to_string(&rounded(ms)).unwrap();
        assert_eq!(written(0.081_100_999_999_999_99), "0.081");
        assert_eq!(written(81_101.0 / 1000.0), "81.101");
        assert_eq!(written(3.000_000_4), "3.0");
        assert_eq!(rounded(0.000_4), 0.0);
        assert_eq!(rounded(1_234.567_89), 1_234.568);
        // Rounding what is rounded changes nothing.
        for ms in [0.354_219, 12.000_5, 99_999.999_9] {
            assert_eq!(rounded(rounded(ms)), rounded(ms));
        }
    }
}
