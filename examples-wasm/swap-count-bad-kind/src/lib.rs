//! Swap count with a changed state kind (keyed process, keyed by `key`,
//! event time from `ts`): behaves like `swap-count-v1`, `{"key", "count"}`
//! per record and a reset at the end of each period of event time, but
//! keeps state `count` as a **list** (one element per record, its
//! timestamp) where version 1 has a value.
//!
//! A swap from `swap-count-v1` to this guest must be refused: a state
//! cannot change kind, and no migration could turn a value into a list. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

use eddy_sdk::{ListState, OpenContext};
use swap_count_common::{CountState, SwapCount};

/// State `count` as a list: the timestamps of the current key's records in
/// the current period.
struct CountList;

impl CountState for CountList {
    type Counter = ListState<i64>;

    fn declare(ctx: &mut OpenContext) -> ListState<i64> {
        ctx.list_state("count")
    }
}

/// `swap-count-v1` with state `count` as a list.
type SwapCountBadKind = SwapCount<CountList>;

eddy_sdk::export_keyed_process!(SwapCountBadKind);

#[cfg(test)]
mod tests {
    use swap_count_common::testing::assert_counts_like_version_1;

    #[test]
    fn counts_like_version_1_with_a_list() {
        assert_counts_like_version_1::<super::SwapCountBadKind>();
    }
}
