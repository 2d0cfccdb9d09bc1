//! Tail sampling: which records are written, decided when a request ends.

use std::time::Duration;

use crate::record::Outcome;
use crate::trace::TraceId;

/// Which records a relayer writes, decided when each request ends (tail
/// sampling), so that the decision can look at how the request went.
///
/// A record is always kept when its outcome is not `ok`, its HTTP status is
/// at or above [`keep_status_from`](Sampling::keep_status_from) (500 by
/// default), it took longer than
/// [`keep_slower_than`](Sampling::keep_slower_than), or its handler called
/// [`Relayer::keep`](crate::Relayer::keep). Any other record is kept at the
/// [ratio](Sampling::ratio), by its trace id, with the rule of
/// OpenTelemetry's consistent probability sampling
/// ([`sampled_in`](Sampling::sampled_in)): every service of a trace that
/// samples at the same ratio, relayer or an OpenTelemetry SDK, keeps or
/// drops the same traces, so a request's story is kept whole across
/// services.
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
    /// The rejection threshold of `ratio`, computed once.
    threshold: u64,
    status_from: u16,
    slower_than: Option<Duration>,
}

/// How a request ended, as the sampling policy sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending {
    pub(crate) trace_id: TraceId,
    pub(crate) outcome: Outcome,
    pub(crate) status: Option<u16>,
    pub(crate) elapsed: Duration,
    pub(crate) forced: bool,
}

/// 2⁵⁶: the randomness of a trace id is its low 56 bits.
const RANDOMNESS_RANGE: u64 = 1 << 56;

impl Sampling {
    /// Keeps ordinary records at `ratio`, from 0.0 (none) to 1.0 (all);
    /// errors, 5xx and forced records are always kept.
    #[must_use]
    pub fn ratio(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            1.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        Self {
            ratio,
            threshold: threshold(ratio),
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

    /// Whether the ratio keeps the trace `trace_id`: the head decision,
    /// before how the request went is known.
    pub(crate) fn keeps_trace(&self, trace_id: TraceId) -> bool {
        randomness(trace_id) >= self.threshold
    }

    /// Whether the record of a request that ended so is written.
    pub(crate) fn keeps(&self, ending: &Ending) -> bool {
        ending.forced
            || ending.outcome != Outcome::Ok
            || ending
                .status
                .is_some_and(|status| status >= self.status_from)
            || self.slower_than.is_some_and(|slow| ending.elapsed > slow)
            || self.keeps_trace(ending.trace_id)
    }

    /// The ratio rule, the one of OpenTelemetry's consistent probability
    /// sampling: a trace is kept when the randomness of its id (the low 56
    /// bits, its last 7 bytes as a big-endian number) is at or above the
    /// rejection threshold of `ratio`: (1 − `ratio`) × 2⁵⁶, computed as
    /// 2⁵⁶ − `ratio` × 2⁵⁶ rounded to the nearest integer, ties to even, as
    /// OpenTelemetry's SDKs do. Every service of the trace decides the
    /// same, and a trace kept at one ratio is kept at every higher one.
    ///
    /// The trace ids relayer starts are random; W3C Trace Context Level 2
    /// callers say theirs are with the `random` flag. A caller whose trace
    /// ids are not random in their low 56 bits gets skewed ratios, as with
    /// OpenTelemetry.
    ///
    /// ```
    /// use relayer::{Sampling, trace::TraceId};
    ///
    /// let id = |hex: u128| TraceId(hex.to_be_bytes());
    /// // At 0.25 the threshold is 0xc0000000000000: the top quarter is kept.
    /// assert!(Sampling::sampled_in(id(0x00c0_0000_0000_0000), 0.25));
    /// assert!(!Sampling::sampled_in(id(0xffff_ffff_ffff_ffff_00bf_ffff_ffff_ffff), 0.25));
    /// assert!(Sampling::sampled_in(id(1), 1.0));
    /// assert!(!Sampling::sampled_in(id(u128::MAX), 0.0));
    /// ```
    pub fn sampled_in(trace_id: TraceId, ratio: f64) -> bool {
        Self::ratio(ratio).keeps_trace(trace_id)
    }
}

/// The rejection threshold of `ratio` (in 0.0..=1.0): 2⁵⁶ − round(ratio ×
/// 2⁵⁶). Scaling by a power of two is exact, so only the rounding decides,
/// as in OpenTelemetry's SDKs.
fn threshold(ratio: f64) -> u64 {
    // In 0..=2⁵⁶, exactly representable: the cast neither wraps nor rounds.
    let kept = (ratio * RANDOMNESS_RANGE as f64).round_ties_even() as u64;
    RANDOMNESS_RANGE - kept
}

/// The low 56 bits of a trace id.
fn randomness(trace_id: TraceId) -> u64 {
    let [.., b9, b10, b11, b12, b13, b14, b15] = trace_id.0;
    u64::from_be_bytes([0, b9, b10, b11, b12, b13, b14, b15])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(outcome: Outcome, status: Option<u16>, millis: u64, forced: bool) -> Ending {
        Ending {
            trace_id: TraceId([0xff; 16]),
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

    /// The thresholds OpenTelemetry's specification tabulates (as `th`
    /// values, trailing zeros dropped), at full precision.
    #[test]
    fn thresholds_are_opentelemetrys() {
        let th = |ratio: f64| format!("{:014x}", threshold(ratio));
        assert_eq!(th(1.0), "00000000000000");
        assert_eq!(th(0.5), "80000000000000");
        assert_eq!(th(0.25), "c0000000000000");
        assert_eq!(th(0.125), "e0000000000000");
        assert_eq!(th(0.1), "e6666666666666");
        assert_eq!(th(0.01), "fd70a3d70a3d71");
        assert_eq!(threshold(0.0), 1 << 56, "nothing is at or above 2^56");
    }

    #[test]
    fn randomness_is_the_low_56_bits() {
        let id = TraceId(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128.to_be_bytes());
        assert_eq!(randomness(id), 0x00dc_ba98_7654_3210);
    }
}
