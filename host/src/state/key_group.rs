//! Key groups: the unit of partitioning and of state (design decision 3).
//!
//! `key_group = hash(key) % max_parallelism`, fixed for the life of a job;
//! each parallel subtask owns a contiguous range, so rescaling moves whole
//! ranges and state never has to be rehashed.

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

/// The key group of a key. The hash is part of the savepoint format: never change it.
pub fn key_group_of(key: &[u8], max_parallelism: u32) -> u16 {
    (xxh3_64(key) % u64::from(max_parallelism)) as u16
}

/// The contiguous key groups owned by one subtask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroupRange {
    pub groups: Range<u16>,
}

impl KeyGroupRange {
    /// The range of `subtask` out of `parallelism`, as Flink assigns them.
    pub fn for_subtask(subtask: u32, parallelism: u32, max_parallelism: u32) -> Self {
        let start = (subtask * max_parallelism).div_ceil(parallelism);
        let end = ((subtask + 1) * max_parallelism).div_ceil(parallelism);
        KeyGroupRange {
            groups: start as u16..end as u16,
        }
    }

    /// Every key group of a job (a single subtask).
    pub fn all(max_parallelism: u32) -> Self {
        KeyGroupRange {
            groups: 0..max_parallelism as u16,
        }
    }

    pub fn contains(&self, key_group: u16) -> bool {
        self.groups.contains(&key_group)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The subtask that owns `key_group`, the inverse of [`KeyGroupRange::for_subtask`].
pub fn subtask_for_key_group(key_group: u16, parallelism: u32, max_parallelism: u32) -> u32 {
    u32::from(key_group) * parallelism / max_parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_all_key_groups_and_agree_with_routing() {
        for max in [1u32, 7, 128, 1000] {
            for parallelism in 1..=max.min(9) {
                let mut next = 0u16;
                for subtask in 0..parallelism {
                    let range = KeyGroupRange::for_subtask(subtask, parallelism, max);
                    assert_eq!(range.groups.start, next);
                    for kg in range.groups.clone() {
                        assert_eq!(subtask_for_key_group(kg, parallelism, max), subtask);
                    }
                    next = range.groups.end;
                }
                assert_eq!(u32::from(next), max);
            }
        }
    }

    /// Key groups computed once with the hash of the first release: they
    /// are part of the savepoint format, so none may ever change.
    #[test]
    fn key_groups_of_known_keys_never_change() {
        let pinned: [(&[u8], [u16; 5]); 6] = [
            // max parallelism:  1  7  128  1000  32768
            (b"", [0, 4, 66, 138, 5314]),
            (b"alice", [0, 5, 48, 80, 5808]),
            (b"bob", [0, 4, 101, 397, 14565]),
            (b"user-42", [0, 3, 77, 621, 2509]),
            (b"\x00\xff", [0, 3, 115, 83, 3059]),
            ("z\u{fc}rich".as_bytes(), [0, 3, 55, 159, 13751]),
        ];
        for (key, groups) in pinned {
            for (max, expected) in [1, 7, 128, 1000, 32768].into_iter().zip(groups) {
                assert_eq!(
                    key_group_of(key, max),
                    expected,
                    "key {key:?} at max parallelism {max}"
                );
            }
        }
    }

    /// Which subtask restores which key groups is part of the savepoint
    /// format too (Flink's assignment).
    #[test]
    fn subtask_ranges_never_change() {
        let pinned: [(u32, u32, &[std::ops::Range<u16>]); 5] = [
            (2, 128, &[0..64, 64..128]),
            (3, 128, &[0..43, 43..86, 86..128]),
            (4, 128, &[0..32, 32..64, 64..96, 96..128]),
            (
                7,
                1000,
                &[
                    0..143,
                    143..286,
                    286..429,
                    429..572,
                    572..715,
                    715..858,
                    858..1000,
                ],
            ),
            (
                5,
                32768,
                &[
                    0..6554,
                    6554..13108,
                    13108..19661,
                    19661..26215,
                    26215..32768,
                ],
            ),
        ];
        for (parallelism, max, ranges) in pinned {
            let actual: Vec<_> = (0..parallelism)
                .map(|subtask| KeyGroupRange::for_subtask(subtask, parallelism, max).groups)
                .collect();
            assert_eq!(actual, ranges, "parallelism {parallelism} of {max}");
        }
    }
}
