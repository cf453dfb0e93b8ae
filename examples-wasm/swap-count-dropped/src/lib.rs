//! Swap count with a renamed state (keyed process, keyed by `key`, event
//! time from `ts`): `swap-count-v1` exactly, except that its value state is
//! named `tally`, so to the host it drops state `count` and declares a new
//! one.
//!
//! A swap from `swap-count-v1` to this guest must be refused unless it is
//! given `--allow-dropped-state`; with it, `count` is discarded and `tally`
//! starts empty, so every key counts from 1 again. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

use eddy_sdk::{OpenContext, ValueState};
use swap_count_common::{CountState, SwapCount};

/// Records of the current key in the current period, as in version 1 but in
/// state `tally` (a value, state version 1).
struct Tally;

impl CountState for Tally {
    type Counter = ValueState<u64>;

    fn declare(ctx: &mut OpenContext) -> ValueState<u64> {
        ctx.value_state("tally")
    }
}

/// `swap-count-v1` with its state named `tally`.
type SwapCountDropped = SwapCount<Tally>;

eddy_sdk::export_keyed_process!(SwapCountDropped);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::KeyedHarness;
    use swap_count_common::testing::assert_counts_like_version_1;

    #[test]
    fn declares_tally_and_not_count() {
        let harness = KeyedHarness::<super::SwapCountDropped>::open("").unwrap();
        let error = harness.migrate_state("count", 1, b"41").unwrap_err();
        assert!(error.ends_with("(its states are `tally`)"), "{error}");
    }

    #[test]
    fn counts_like_version_1() {
        assert_counts_like_version_1::<super::SwapCountDropped>();
    }
}
