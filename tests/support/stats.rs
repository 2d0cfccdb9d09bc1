//! Checks on the stats every fault test makes.

use relayer::producer::Stats;

/// Every message is accounted for: `produced = delivered + failed +
/// dropped + queued`, `queued` being counted on its own.
pub(crate) fn assert_identity(stats: &Stats) {
    assert_eq!(
        stats.produced,
        stats.delivered + stats.failed + stats.dropped + stats.queued,
        "{stats:?}"
    );
}
