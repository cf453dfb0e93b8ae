//! Swap count, version 2 (keyed process, keyed by `key`, event time from
//! `ts`): the state of `swap-count-v1` unchanged (value state `count`, a
//! `u64` at state version 1, cleared at the end of each period of event
//! time), with another rule and output: a record emits only once its key
//! has been seen at least twice in the period, as `{"key", "total",
//! "rule": "v2"}`.
//!
//! Swapped in for `swap-count-v1` (`eddy swap`), it continues every key's
//! count where version 1 left it, with no migration, since the state's
//! name, kind and version are the same; the `rule` field shows which
//! version produced a line. See `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`. Fields it does not know are
//! ignored, because a swap keeps the operator's config for the new guest.

use serde::Serialize;
use swap_count_common::{CountV1, Key, Output, SwapCount};

/// What version 2 emits: the count as `total`, and which rule made it.
#[derive(Serialize)]
struct Total {
    key: Key,
    total: u64,
    rule: &'static str,
}

/// The smallest count that is emitted.
const MIN_TOTAL: u64 = 2;

impl Output for Total {
    fn of(key: Key, total: u64) -> Option<Self> {
        (total >= MIN_TOTAL).then_some(Total {
            key,
            total,
            rule: "v2",
        })
    }
}

/// `swap-count-v1` with version 2's output; the count in state `count` as
/// version 1 kept it.
type SwapCountV2 = SwapCount<CountV1, Total>;

eddy_sdk::export_keyed_process!(SwapCountV2);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq};
    use swap_count_common::testing::values;

    #[test]
    fn emits_from_the_second_record_of_a_key_in_a_period() {
        let mut harness = KeyedHarness::<super::SwapCountV2>::open("").unwrap();
        let first = harness
            .process(&[
                (b"7", 100, br#"{"key": 7, "ts": 100}"#),
                (b"a", 200, br#"{"key": "a", "ts": 200}"#),
                (b"7", 300, br#"{"key": 7, "ts": 300}"#),
                (b"7", 400, br#"{"key": 7, "ts": 400}"#),
            ])
            .unwrap();
        assert_jsonl_eq(
            &values(first),
            "{\"key\":7,\"total\":2,\"rule\":\"v2\"}\n{\"key\":7,\"total\":3,\"rule\":\"v2\"}",
        );
        assert!(harness.advance_watermark(1000).unwrap().is_empty());
        let next = harness
            .process(&[(b"7", 1100, br#"{"key": 7, "ts": 1100}"#)])
            .unwrap();
        assert!(next.is_empty(), "the count starts over each period");
    }

    #[test]
    fn keeps_state_count_of_version_1() {
        let harness = KeyedHarness::<super::SwapCountV2>::open("").unwrap();
        let error = harness.migrate_state("count", 1, b"41").unwrap_err();
        assert!(
            error.ends_with("it is at version 1 and migrates from no older version"),
            "{error}"
        );
    }
}
