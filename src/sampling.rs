//! Tail sampling: which records are written, decided when a request ends.

use std::time::Duration;

use crate::record::Outcome;

/// Which records a relayer writes, decided when each request ends (tail
/// sampling), so that the decision can look at how the request went.
///
/// A record is always kept when its outcome is not `ok`, its HTTP status is
/// at or above [`keep_status_from`](Sampling::keep_status_from) (500 by
/// default), it took longer than
/// [`keep_slower_than`](Sampling::keep_slower_than), or its handler called
/// [`Relayer::keep`](crate::Relayer::keep). Any other record is kept at the
/// [ratio](Sampling::ratio), by its request id: every service that samples
/// at the same ratio keeps or drops the same request ids, so a request's
/// records are kept or dropped together across services.
///
/// Events ([`emit`](crate::Relayer::emit)) are never sampled: they are
/// domain data. Sampled-out records are counted in
/// [`Stats::sampled_out`](crate::producer::Stats::sampled_out).
///
/// ```
/// use std::time::Duration;
/// use relayer::{Relayer, Sampling};
///
/// let relayer = Relayer::builder("logging")
///     .brokers("localhost:9092")
///     .sampling(
///         Sampling::ratio(0.01)                       // 1 % of ordinary requests
///             .keep_slower_than(Duration::from_millis(500)) // every slow one
///             .keep_status_from(400),                 // every 4xx and 5xx
///     )
///     .build()?;
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    ratio: f64,
    status_from: u16,
    slower_than: Option<Duration>,
}

/// How a request ended, as the sampling policy sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) outcome: Outcome,
    pub(crate) status: Option<u16>,
    pub(crate) elapsed: Duration,
    pub(crate) forced: bool,
}

impl Sampling {
    /// Keeps ordinary records at `ratio`, from 0.0 (none) to 1.0 (all);
    /// errors, 5xx and forced records are always kept.
    #[must_use]
    pub fn ratio(ratio: f64) -> Self {
        Self {
            ratio: if ratio.is_nan() {
                1.0
            } else {
                ratio.clamp(0.0, 1.0)
            },
            status_from: 500,
            slower_than: None,
        }
    }

    /// Always keeps records whose HTTP status is `status` or above
    /// (default 500).
    #[must_use]
    pub fn keep_status_from(mut self, status: u16) -> Self {
        self.status_from = status;
        self
    }

    /// Always keeps records of requests that took longer than `duration`.
    #[must_use]
    pub fn keep_slower_than(mut self, duration: Duration) -> Self {
        self.slower_than = Some(duration);
        self
    }

    /// Whether the record of a request that ended so is written.
    pub(crate) fn keeps(&self, ending: &Ending<'_>) -> bool {
        ending.forced
            || ending.outcome != Outcome::Ok
            || ending
                .status
                .is_some_and(|status| status >= self.status_from)
            || self.slower_than.is_some_and(|slow| ending.elapsed > slow)
            || Self::sampled_in(ending.request_id, self.ratio)
    }

    /// The ratio rule, the same in every service: a request id is kept when
    /// the 64-bit FNV-1a hash of its UTF-8 bytes is below `ratio` × 2⁶⁴.
    ///
    /// ```
    /// use relayer::Sampling;
    /// assert!(Sampling::sampled_in("any id", 1.0));
    /// assert!(!Sampling::sampled_in("any id", 0.0));
    /// let kept = (0..10_000).filter(|n| Sampling::sampled_in(&n.to_string(), 0.25)).count();
    /// assert!((2_300..2_700).contains(&kept), "{kept}");
    /// ```
    pub fn sampled_in(request_id: &str, ratio: f64) -> bool {
        if ratio >= 1.0 {
            return true;
        }
        // u64 → f64 rounds, which only matters within 2⁻⁵³ of the bound.
        (fnv1a_64(request_id) as f64) < ratio * 2f64.powi(64)
    }
}

/// The 64-bit FNV-1a hash: simple enough for any language to reproduce.
fn fnv1a_64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(outcome: Outcome, status: Option<u16>, millis: u64, forced: bool) -> Ending<'static> {
        Ending {
            request_id: "an id the 0 ratio drops",
            outcome,
            status,
            elapsed: Duration::from_millis(millis),
            forced,
        }
    }

    #[test]
    fn errors_slow_and_forced_records_are_always_kept() {
        let none = Sampling::ratio(0.0).keep_slower_than(Duration::from_secs(1));
        assert!(!none.keeps(&ending(Outcome::Ok, Some(200), 10, false)));
        assert!(!none.keeps(&ending(Outcome::Ok, Some(499), 10, false)));
        assert!(none.keeps(&ending(Outcome::Ok, Some(500), 10, false)));
        assert!(none.keeps(&ending(Outcome::Error, None, 10, false)));
        assert!(none.keeps(&ending(Outcome::Cancelled, Some(499), 10, false)));
        assert!(none.keeps(&ending(Outcome::Ok, Some(200), 1_001, false)));
        assert!(none.keeps(&ending(Outcome::Ok, Some(200), 10, true)));
        let from_400 = Sampling::ratio(0.0).keep_status_from(400);
        assert!(from_400.keeps(&ending(Outcome::Ok, Some(404), 10, false)));
    }

    #[test]
    fn ratios_are_clamped() {
        assert_eq!(Sampling::ratio(7.0).ratio, 1.0);
        assert_eq!(Sampling::ratio(-1.0).ratio, 0.0);
        assert_eq!(Sampling::ratio(f64::NAN).ratio, 1.0);
    }

    /// FNV-1a's published test vectors, so that another implementation of
    /// the rule can check itself against the same numbers.
    #[test]
    fn the_hash_is_fnv_1a_64() {
        assert_eq!(fnv1a_64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64("foobar"), 0x8594_4171_f739_67e8);
    }
}
