//! Swap count with a version but no migration (keyed process, keyed by
//! `key`, event time from `ts`): `swap-count-v1` exactly, except that it
//! declares value state `count` at state version 2 and registers no
//! migration from version 1.
//!
//! A swap from `swap-count-v1` to this guest must be refused: the host
//! holds version-1 values it has no way to turn into version 2's. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

use eddy_sdk::{OpenContext, StateVersion, ValueState};
use swap_count_common::{CountState, SwapCount};

/// State `count`, a value (`u64`) as in version 1, at state version 2.
struct CountAtV2;

impl CountState for CountAtV2 {
    type Counter = ValueState<u64>;

    fn declare(ctx: &mut OpenContext) -> ValueState<u64> {
        // Version 2 with no `migrate_from(1, ...)`: what the host must refuse.
        ctx.value_state_versioned("count", StateVersion::new(2))
    }
}

/// `swap-count-v1` with state `count` at version 2.
type SwapCountBadVersion = SwapCount<CountAtV2>;

eddy_sdk::export_keyed_process!(SwapCountBadVersion);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::KeyedHarness;
    use swap_count_common::testing::assert_counts_like_version_1;

    #[test]
    fn has_no_migration_from_version_1() {
        let harness = KeyedHarness::<super::SwapCountBadVersion>::open("").unwrap();
        let error = harness.migrate_state("count", 1, b"41").unwrap_err();
        assert_eq!(
            error,
            "cannot migrate state `count` from version 1: it is at version 2 and migrates from \
             no older version"
        );
    }

    #[test]
    fn counts_like_version_1() {
        assert_counts_like_version_1::<super::SwapCountBadVersion>();
    }
}
