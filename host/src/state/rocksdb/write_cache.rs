//! A write-back cache of value state in front of RocksDB.
//!
//! A window's accumulator is read and written once per record and deleted
//! when the window fires, often before RocksDB ever needed it: going
//! through the memtable every time costs most of a RocksDB job's CPU. The
//! cache keeps recent values (and recent misses) in memory and writes the
//! changed ones to the database in batches when it is full and before
//! anything reads the database as a whole (a snapshot, a count, a TTL
//! compaction). A value read (or found missing) first and then set and
//! deleted between two write-backs never reaches RocksDB at all.
//!
//! When full it writes everything back and starts empty (simple; live
//! values are read back from RocksDB when next needed). A deleted value
//! the database cannot hold leaves the cache at once, so a window job's
//! fired accumulators do not fill it.

use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap};
use rocksdb::{BoundColumnFamily, WriteBatch};

/// Bytes an entry costs beyond its key and value: its 48-byte map slot at
/// the table's load (up to half empty after it grows), the rounding of two
/// allocations. The process's RSS grows by more than the capacity (about
/// 1.6x in `tests/larger_than_memory.rs`): RocksDB's memtables take the
/// write-backs, and freed memory is not all returned at once.
const ENTRY_OVERHEAD: usize = 128;

/// What an entry of `key` holding `value` counts against the capacity.
fn cost(key: &[u8], value: Option<&[u8]>) -> usize {
    key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
}

/// One cached value state entry.
#[derive(Debug)]
struct Cached {
    /// The value; `None` when there is none (a miss or a delete).
    value: Option<Vec<u8>>,
    /// Changed since it was last read from or written to the database.
    dirty: bool,
    /// The database may hold a value for this key (so a delete must reach it).
    in_db: bool,
}

/// Cached value state of one backend, per state id.
#[derive(Debug)]
pub(super) struct ValueCache {
    states: Vec<HashMap<Box<[u8]>, Cached, DefaultHashBuilder>>,
    bytes: usize,
    capacity: usize,
}

/// What the cache knows about a key.
pub(super) enum Lookup<'c> {
    /// The value (or that there is none), without asking the database.
    Known(Option<&'c [u8]>),
    /// Not cached: ask the database, then [`ValueCache::fill`].
    Unknown,
}

impl ValueCache {
    /// A cache holding about `capacity` bytes of keys and values; 0 turns it off.
    pub(super) fn new(capacity: usize) -> Self {
        ValueCache {
            states: Vec::new(),
            bytes: 0,
            capacity,
        }
    }

    /// Whether it caches at all.
    pub(super) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The entries of `state`, made on first use.
    fn state(&mut self, state: usize) -> &mut HashMap<Box<[u8]>, Cached, DefaultHashBuilder> {
        if self.states.len() <= state {
            self.states.resize_with(state + 1, HashMap::default);
        }
        &mut self.states[state]
    }

    /// What the cache knows of `key` in `state`.
    pub(super) fn get(&self, state: usize, key: &[u8]) -> Lookup<'_> {
        match self.states.get(state).and_then(|s| s.get(key)) {
            Some(cached) => Lookup::Known(cached.value.as_deref()),
            None => Lookup::Unknown,
        }
    }

    /// Remember what the database answered for `key` (not cached yet).
    /// Returns whether the cache is now over its capacity: reads alone
    /// must not grow it without bound.
    pub(super) fn fill(&mut self, state: usize, key: &[u8], value: Option<&[u8]>) -> bool {
        self.bytes += cost(key, value);
        let cached = Cached {
            value: value.map(<[u8]>::to_vec),
            dirty: false,
            in_db: value.is_some(),
        };
        let replaced = self.state(state).insert(key.into(), cached);
        debug_assert!(replaced.is_none(), "filled a key that was cached");
        self.bytes > self.capacity
    }

    /// Set (`Some`) or delete (`None`) the value of `key`, to be written
    /// back later. Returns whether the cache is now over its capacity.
    pub(super) fn put(&mut self, state: usize, key: &[u8], value: Option<&[u8]>) -> bool {
        let map = self.state(state);
        match map.get_mut(key) {
            // Deleting what the database cannot hold: nothing to write
            // back, and a later read that asks the database finds nothing
            // too (a fired window's accumulator leaves the cache at once).
            Some(cached) if value.is_none() && !cached.in_db => {
                let before = cost(key, cached.value.as_deref());
                map.remove(key);
                self.bytes = self.bytes.saturating_sub(before);
            }
            Some(cached) => {
                let before = cost(key, cached.value.as_deref());
                match (&mut cached.value, value) {
                    (Some(old), Some(new)) => {
                        old.clear();
                        old.extend_from_slice(new);
                    }
                    (slot, new) => *slot = new.map(<[u8]>::to_vec),
                }
                cached.dirty = true;
                self.bytes = (self.bytes + cost(key, value)).saturating_sub(before);
            }
            None => {
                // Not read first (a blind write): the database may hold a
                // value that a delete must remove.
                let cached = Cached {
                    value: value.map(<[u8]>::to_vec),
                    dirty: true,
                    in_db: true,
                };
                map.insert(key.into(), cached);
                self.bytes += cost(key, value);
            }
        }
        self.bytes > self.capacity
    }

    /// Forget `key` (the database was written directly).
    pub(super) fn forget(&mut self, state: usize, key: &[u8]) {
        if let Some(cached) = self.states.get_mut(state).and_then(|s| s.remove(key)) {
            self.bytes = self
                .bytes
                .saturating_sub(cost(key, cached.value.as_deref()));
        }
    }

    /// Hand every change to `commit` in batches of about `chunk_bytes`
    /// (the column family of each state from `cf_of`), then mark it
    /// written; with [`Evict::All`], empty the cache too. Batches stay
    /// small so that a write-back never swells a memtable far past its
    /// budget. Nothing is marked or dropped until every batch is in: after
    /// an error the changes are still here, and writing them again is
    /// harmless.
    pub(super) fn write_back<'db, E>(
        &mut self,
        mut cf_of: impl FnMut(usize) -> Result<Arc<BoundColumnFamily<'db>>, E>,
        evict: Evict,
        chunk_bytes: usize,
        mut commit: impl FnMut(WriteBatch) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut batch = WriteBatch::default();
        for (state, entries) in self.states.iter().enumerate() {
            let mut dirty = entries.iter().filter(|(_, c)| c.dirty).peekable();
            if dirty.peek().is_none() {
                continue;
            }
            let cf = cf_of(state)?;
            for (key, cached) in dirty {
                match &cached.value {
                    Some(value) => batch.put_cf(&cf, key, value),
                    None if cached.in_db => batch.delete_cf(&cf, key),
                    None => {}
                }
                if batch.size_in_bytes() >= chunk_bytes {
                    commit(std::mem::take(&mut batch))?;
                }
            }
        }
        if !batch.is_empty() {
            commit(batch)?;
        }
        match evict {
            Evict::All => {
                self.states.iter_mut().for_each(HashMap::clear);
                self.bytes = 0;
            }
            Evict::None => {
                for cached in self.states.iter_mut().flat_map(HashMap::values_mut) {
                    cached.dirty = false;
                    cached.in_db = cached.value.is_some();
                }
            }
        }
        Ok(())
    }
}

/// Whether a write-back also empties the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evict {
    /// Keep the entries, now clean (before a snapshot: the values stay hot).
    None,
    /// Drop them all (the cache is full).
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    type Db = rocksdb::DBWithThreadMode<rocksdb::MultiThreaded>;

    /// A database with a column family `v`, in a folder removed with it.
    fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        let db = Db::open(&options, dir.path()).unwrap();
        db.create_cf("v", &rocksdb::Options::default()).unwrap();
        (dir, db)
    }

    /// A cache holding 100 changed values of 100 bytes.
    fn hundred_changes() -> ValueCache {
        let mut cache = ValueCache::new(1 << 20);
        for i in 0..100u32 {
            cache.put(0, &i.to_be_bytes(), Some(&[7; 100]));
        }
        cache
    }

    /// How many writes a write-back of `cache` makes.
    fn writes(cache: &mut ValueCache, evict: Evict) -> usize {
        let (_dir, db) = database();
        let mut written = 0;
        cache
            .write_back(
                |_| db.cf_handle("v").ok_or(()),
                evict,
                1 << 20,
                |batch| {
                    written += batch.len();
                    Ok(())
                },
            )
            .unwrap();
        written
    }

    #[test]
    fn a_value_set_and_deleted_between_write_backs_never_reaches_the_database() {
        let mut cache = ValueCache::new(1 << 20);
        cache.fill(0, b"window-1", None);
        cache.put(0, b"window-1", Some(b"3"));
        cache.put(0, b"window-1", Some(b"4"));
        cache.put(0, b"window-1", None);
        assert_eq!(writes(&mut cache, Evict::None), 0);
        assert!(
            matches!(cache.get(0, b"window-1"), Lookup::Unknown),
            "and it left the cache"
        );
    }

    #[test]
    fn changes_are_written_once_and_deletes_reach_values_the_database_may_hold() {
        let mut cache = ValueCache::new(1 << 20);
        cache.fill(0, b"read", Some(b"1"));
        cache.put(0, b"read", None);
        cache.put(0, b"blind", None);
        cache.put(0, b"new", Some(b"2"));
        cache.fill(0, b"untouched", Some(b"5"));
        assert_eq!(writes(&mut cache, Evict::None), 3);
        assert_eq!(writes(&mut cache, Evict::None), 0, "written back already");
        assert!(matches!(cache.get(0, b"new"), Lookup::Known(Some(b"2"))));
        cache.put(0, b"new", None);
        assert_eq!(
            writes(&mut cache, Evict::All),
            1,
            "`new` is in the database now"
        );
        assert!(matches!(cache.get(0, b"new"), Lookup::Unknown));
    }

    #[test]
    fn a_write_back_is_committed_in_chunks() {
        let mut cache = hundred_changes();
        let (_dir, db) = database();
        let mut batches = Vec::new();
        cache
            .write_back(
                |_| db.cf_handle("v").ok_or(()),
                Evict::All,
                1000,
                |batch| {
                    batches.push(batch.len());
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(batches.iter().sum::<usize>(), 100);
        assert!(batches.len() >= 10, "{batches:?}");
        assert!(batches.iter().all(|&n| n <= 10), "{batches:?}");
    }

    #[test]
    fn a_failed_write_back_keeps_every_change() {
        let mut cache = hundred_changes();
        let (_dir, db) = database();
        let mut commits = 0;
        let failed = cache.write_back(
            |_| db.cf_handle("v").ok_or(()),
            Evict::All,
            1000,
            |_| {
                commits += 1;
                if commits == 3 { Err(()) } else { Ok(()) }
            },
        );
        assert_eq!(failed, Err(()));
        assert_eq!(writes(&mut cache, Evict::All), 100, "all still to write");
    }

    #[test]
    fn reads_alone_fill_the_cache_to_its_capacity() {
        let mut cache = ValueCache::new(3 * (ENTRY_OVERHEAD + 10));
        assert!(!cache.fill(0, b"key-1", Some(b"12345")));
        assert!(!cache.fill(0, b"key-2", None));
        assert!(!cache.fill(0, b"key-3", Some(b"12345")));
        assert!(cache.fill(0, b"key-4", Some(b"12345")));
    }

    #[test]
    fn the_cache_says_when_it_is_full() {
        let mut cache = ValueCache::new(2 * (ENTRY_OVERHEAD + 10));
        assert!(!cache.put(0, b"key-1", Some(b"12345")));
        assert!(
            !cache.put(0, b"key-1", Some(b"12345")),
            "an update adds nothing"
        );
        assert!(!cache.put(0, b"key-2", Some(b"12345")));
        assert!(cache.put(1, b"key-3", Some(b"12345")));
        writes(&mut cache, Evict::All);
        assert!(!cache.put(0, b"key-4", Some(b"12345")), "empty again");
    }
}
