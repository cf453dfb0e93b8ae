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

    #[test]
    fn key_group_is_stable() {
        // Part of the savepoint format: a change here breaks restores.
        assert_eq!(key_group_of(b"alice", 128), key_group_of(b"alice", 128));
        assert!(key_group_of(b"alice", 128) < 128);
    }
}
