//! The embedded RocksDB backend: keyed state larger than memory, with the
//! same semantics as the in-memory backend (Flink's
//! `EmbeddedRocksDBStateBackend`).
//!
//! Each operator subtask has a database of its own in the job's local
//! directory, and each state a column family. Keys are laid out so that a
//! key group is one contiguous range (design decision 3):
//!
//! ```text
//! u16 key group (big-endian) | u32 key length (BE) | key | u32 namespace length (BE) | namespace | map key (map state only)
//! ```
//!
//! A list is one value holding `[u32 len][element]...`; appends are RocksDB
//! merges, so adding to a list never reads it. The write-ahead log is off:
//! durability comes from checkpoints (issue 5), as in Flink.

mod snapshot_reader;
mod timers;
mod write_cache;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::checkpoint::Checkpoint;
use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, BoundColumnFamily, Cache, DBWithThreadMode, Direction,
    IteratorMode, MergeOperands, MultiThreaded, Options, ReadOptions, WriteBatch, WriteOptions,
};

use super::ttl::{self, TtlClock};
use super::{
    KeyGroupRange, MapEntry, StateBackend, StateDescriptor, StateError, StateId, StateKey,
    StateKind, StateTtl, TtlUpdate, check_access, check_reregistration, check_restore,
};
use crate::snapshot::{
    KeyedStateSnapshot, NativeDatabase, NativeState, StoredEntry, StoredPayload,
};
use crate::time::TimerService;
use crate::wasm::layout::{join_length_prefixed, put_bytes, split_length_prefixed};
use snapshot_reader::RocksDbCheckpoint;
pub use snapshot_reader::read_native_files;
use timers::RocksDbTimerQueue;
use write_cache::{Evict, Lookup, ValueCache};

/// Default size of each subtask's write-back cache of value state.
pub const DEFAULT_WRITE_CACHE_BYTES: usize = crate::job::DEFAULT_WRITE_CACHE as usize;

/// The database type: column families can be created while timer queues
/// hold the database too.
type Db = DBWithThreadMode<MultiThreaded>;

/// What every RocksDB database of a job shares.
#[derive(Clone)]
pub struct RocksDbShared {
    /// Databases go below this directory, one per operator subtask.
    pub dir: PathBuf,
    /// One LRU block cache for the whole job, so memory stays bounded
    /// however many subtasks and states there are.
    pub block_cache: Cache,
    /// Memtable budget of each database.
    pub write_buffer_bytes: usize,
    /// The clock state TTL is measured on, also by the compaction filter.
    pub clock: TtlClock,
    /// Bytes of value state each database keeps in its write-back cache
    /// (0: none, every access goes to RocksDB).
    pub write_cache_bytes: usize,
}

impl RocksDbShared {
    /// Options for a job whose databases live below `dir`.
    pub fn new(dir: PathBuf, block_cache_bytes: usize, write_buffer_bytes: usize) -> Self {
        RocksDbShared {
            dir,
            block_cache: Cache::new_lru_cache(block_cache_bytes),
            write_buffer_bytes,
            clock: TtlClock::System,
            write_cache_bytes: DEFAULT_WRITE_CACHE_BYTES,
        }
    }
}

/// One subtask's database, shared by its state backend and its timer
/// queues; the directory goes when the last of them does.
struct Database {
    db: Db,
    path: PathBuf,
}

impl Drop for Database {
    fn drop(&mut self) {
        // Local state is a working copy; checkpoints are what survives (as in Flink).
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Keyed state of one operator subtask in an embedded RocksDB.
pub struct RocksDbStateBackend {
    operator: String,
    range: KeyGroupRange,
    database: Arc<Database>,
    states: Vec<StateDescriptor>,
    options: ColumnOptions,
    write_options: WriteOptions,
    /// Reused buffer for the key being read or written.
    scratch: Vec<u8>,
    /// Recent value state, written back in batches.
    cache: ValueCache,
    /// Bytes of one write-back batch: a fraction of a memtable.
    write_back_chunk: usize,
    /// Random id of this database instance (or of the one it was restored
    /// from): within one, a file name always means the same contents.
    lineage: String,
    /// The states of the checkpoint the database was restored from (none
    /// for a fresh one), whose column families were opened with their
    /// options.
    restored_states: Vec<StateDescriptor>,
}

/// A random lineage for a new database instance.
fn new_lineage() -> Result<String, StateError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| StateError::Storage(format!("no randomness for a database id: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The states a native checkpoint says it holds, as descriptors.
fn native_descriptors(database: &NativeDatabase) -> Result<Vec<StateDescriptor>, StateError> {
    (database.states.iter())
        .map(|state| {
            let kind = StateKind::from_name(&state.kind).ok_or_else(|| {
                StateError::Storage(format!(
                    "the RocksDB checkpoint names an unknown kind `{}` for state `{}`",
                    state.kind, state.name
                ))
            })?;
            Ok(StateDescriptor {
                name: state.name.clone(),
                kind,
                // Only whether there is one matters to RocksDB (the
                // compaction filter); values carry their own deadlines.
                ttl: state.ttl_ms.map(|millis| StateTtl {
                    millis,
                    update: TtlUpdate::OnCreateAndWrite,
                }),
            })
        })
        .collect()
}

/// How a database's column families are set up: the options every one
/// shares and the clock state TTL is measured on.
struct ColumnOptions {
    base: Options,
    clock: TtlClock,
}

impl ColumnOptions {
    fn new(shared: &RocksDbShared) -> Self {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&shared.block_cache);
        // Index and filter blocks count against the cache, so memory is
        // bounded by it rather than growing with the data. They are
        // partitioned (as Flink's bounded-memory setup does): a small
        // top-level index stays pinned and only the partitions a read needs
        // come through the cache, so a small cache does not mean reading a
        // whole file's index again on every lookup.
        table.set_cache_index_and_filter_blocks(true);
        table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_pin_top_level_index_and_filter(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_bloom_filter(10.0, false);
        let mut base = Options::default();
        base.set_block_based_table_factory(&table);
        base.set_merge_operator_associative(LIST_APPEND, append_lists);
        base.set_write_buffer_size(shared.write_buffer_bytes / 4);
        // Most reads of a window job miss (a window's first record): a bloom
        // filter on the memtable answers those without walking its skip list.
        base.set_memtable_whole_key_filtering(true);
        base.set_memtable_prefix_bloom_ratio(0.1);
        ColumnOptions {
            base,
            clock: shared.clock.clone(),
        }
    }

    /// Options of the database as a whole.
    fn db_options(&self, shared: &RocksDbShared) -> Options {
        let mut options = self.base.clone();
        options.set_db_write_buffer_size(shared.write_buffer_bytes);
        options.set_max_open_files(256);
        options
    }

    /// Options of the column family of `descriptor`: the shared ones, plus a
    /// compaction filter that drops expired entries if the state has a TTL.
    fn for_state(&self, descriptor: &StateDescriptor) -> Options {
        let mut options = self.base.clone();
        if descriptor.ttl.is_some() {
            let clock = self.clock.clone();
            let kind = descriptor.kind;
            options.set_compaction_filter("eddy.ttl", move |_level, _key, stored: &[u8]| {
                let now = clock.now();
                let expired = match kind {
                    StateKind::List => all_elements_expired(stored, now),
                    StateKind::Value | StateKind::Map | StateKind::BroadcastMap => {
                        ttl::is_expired(stored, now)
                    }
                };
                if expired {
                    Decision::Remove
                } else {
                    Decision::Keep
                }
            });
        }
        options
    }
}

impl std::fmt::Debug for RocksDbStateBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbStateBackend")
            .field("operator", &self.operator)
            .field("path", &self.database.path)
            .finish_non_exhaustive()
    }
}

/// Name of the merge operator that appends to lists.
const LIST_APPEND: &str = "eddy.list-append";

/// The column family every RocksDB database has.
const DEFAULT_FAMILY: &str = "default";

/// Column families of the timers, one per time domain.
const EVENT_TIMERS: &str = "eddy.timers-event-time";
const PROCESSING_TIMERS: &str = "eddy.timers-processing-time";

fn rocks(error: rocksdb::Error) -> StateError {
    StateError::Storage(error.to_string())
}

impl RocksDbStateBackend {
    /// Open a fresh database for subtask `subtask` of `operator` below the
    /// shared directory; whatever an earlier run left there is removed.
    pub fn open(
        shared: &RocksDbShared,
        operator: &str,
        subtask: u32,
        range: KeyGroupRange,
    ) -> Result<Self, StateError> {
        let path = Self::fresh_dir(shared, operator, subtask)?;
        let options = ColumnOptions::new(shared);
        let mut db_options = options.db_options(shared);
        db_options.create_if_missing(true);
        let db = Db::open(&db_options, &path).map_err(rocks)?;
        for timers in [EVENT_TIMERS, PROCESSING_TIMERS] {
            db.create_cf(timers, &options.base).map_err(rocks)?;
        }
        Ok(Self::new(
            shared,
            operator,
            range,
            db,
            path,
            options,
            new_lineage()?,
            Vec::new(),
        ))
    }

    /// Open the database of a native checkpoint (an incremental
    /// checkpoint's files, which `fill` puts into the folder it is given),
    /// for the same subtask and key groups that took it: restoring needs
    /// no entry read or written. The database keeps the checkpoint's
    /// lineage, so files it has in common with it need no upload again.
    pub fn open_restored(
        shared: &RocksDbShared,
        operator: &str,
        subtask: u32,
        range: KeyGroupRange,
        database: &NativeDatabase,
        fill: impl FnOnce(&Path) -> Result<(), StateError>,
    ) -> Result<Self, StateError> {
        let restored = native_descriptors(database)?;
        let path = Self::fresh_dir(shared, operator, subtask)?;
        let opened = Self::open_on_files(&path, shared, &restored, fill);
        let (db, options) = opened.inspect_err(|_| {
            // The copy of the state is worth nothing now.
            let _ = std::fs::remove_dir_all(&path);
        })?;
        Ok(Self::new(
            shared,
            operator,
            range,
            db,
            path,
            options,
            database.lineage.clone(),
            restored,
        ))
    }

    /// Put the files into `path` with `fill` and open the database there,
    /// every column family with the options of its state in `restored`.
    fn open_on_files(
        path: &Path,
        shared: &RocksDbShared,
        restored: &[StateDescriptor],
        fill: impl FnOnce(&Path) -> Result<(), StateError>,
    ) -> Result<(Db, ColumnOptions), StateError> {
        fill(path)?;
        let options = ColumnOptions::new(shared);
        let db_options = options.db_options(shared);
        let families = Db::list_cf(&db_options, path).map_err(|e| {
            StateError::Storage(format!(
                "the restored RocksDB files in {} cannot be opened: {e}",
                path.display()
            ))
        })?;
        let db = Db::open_cf_with_opts(
            &db_options,
            path,
            families.iter().map(|name| {
                let family = match restored.iter().find(|d| &d.name == name) {
                    Some(descriptor) => options.for_state(descriptor),
                    None => options.base.clone(),
                };
                (name.as_str(), family)
            }),
        )
        .map_err(rocks)?;
        // Column families of states the checkpoint does not list (no
        // longer registered when it was taken) go, as a logical restore
        // would leave them out.
        for name in &families {
            let listed = restored.iter().any(|d| &d.name == name);
            if !listed
                && ![DEFAULT_FAMILY, EVENT_TIMERS, PROCESSING_TIMERS].contains(&name.as_str())
            {
                db.drop_cf(name).map_err(rocks)?;
            }
        }
        Ok((db, options))
    }

    /// The folder of subtask `subtask` of `operator`, emptied.
    fn fresh_dir(
        shared: &RocksDbShared,
        operator: &str,
        subtask: u32,
    ) -> Result<PathBuf, StateError> {
        let path = shared
            .dir
            .join(format!("eddy-{}", std::process::id()))
            .join(format!("{operator}-{subtask}"));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| io_error(&path, e))?;
        }
        std::fs::create_dir_all(&path).map_err(|e| io_error(&path, e))?;
        Ok(path)
    }

    #[expect(clippy::too_many_arguments, reason = "the parts of a backend, named")]
    fn new(
        shared: &RocksDbShared,
        operator: &str,
        range: KeyGroupRange,
        db: Db,
        path: PathBuf,
        options: ColumnOptions,
        lineage: String,
        restored_states: Vec<StateDescriptor>,
    ) -> Self {
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        RocksDbStateBackend {
            operator: operator.to_string(),
            range,
            database: Arc::new(Database { db, path }),
            states: Vec::new(),
            options,
            write_options,
            scratch: Vec::new(),
            cache: ValueCache::new(shared.write_cache_bytes),
            write_back_chunk: (shared.write_buffer_bytes / 16).max(64 << 10),
            lineage,
            restored_states,
        }
    }

    /// The directory of this database.
    pub fn path(&self) -> &Path {
        &self.database.path
    }

    fn db(&self) -> &Db {
        &self.database.db
    }

    /// Check that `state` has the `expected` kind and `at` is ours, and put
    /// the key of `at` in the scratch buffer.
    fn prepare(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        expected: StateKind,
    ) -> Result<(), StateError> {
        check_access(
            &self.operator,
            &self.range,
            &self.states,
            state,
            at,
            expected,
        )?;
        self.scratch.clear();
        entry_prefix(&mut self.scratch, at);
        Ok(())
    }

    /// The column family of a registered state.
    fn cf(&self, state: StateId) -> Result<Arc<BoundColumnFamily<'_>>, StateError> {
        column_family(self.db(), &self.states, state)
    }

    /// Write the cache's changes to the database, in batches of a fraction
    /// of a memtable.
    fn write_back(&mut self, evict: Evict) -> Result<(), StateError> {
        let (db, states, write_options) = (&self.database.db, &self.states, &self.write_options);
        self.cache.write_back(
            |state| column_family(db, states, StateId(state as u32)),
            evict,
            self.write_back_chunk,
            |batch| db.write_opt(batch, write_options).map_err(rocks),
        )
    }

    /// The value of the key in the scratch buffer, from the cache or else
    /// the database (and then cached), handed to `use_value`.
    fn cached_value<T>(
        &mut self,
        state: StateId,
        use_value: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T, StateError> {
        if let Lookup::Known(value) = self.cache.get(state.0 as usize, &self.scratch) {
            return Ok(use_value(value));
        }
        // Fields, not methods, so the pinned value can outlive the lookup.
        let db = &self.database.db;
        let stored = db
            .get_pinned_cf(&column_family(db, &self.states, state)?, &self.scratch)
            .map_err(rocks)?;
        let full = self.cache.enabled()
            && self
                .cache
                .fill(state.0 as usize, &self.scratch, stored.as_deref());
        let result = use_value(stored.as_deref());
        drop(stored);
        if full {
            self.write_back(Evict::All)?;
        }
        Ok(result)
    }

    /// Set or delete the value of the key in the scratch buffer through the
    /// cache, writing it back when full.
    fn cache_put(&mut self, state: StateId, value: Option<&[u8]>) -> Result<(), StateError> {
        if self.cache.put(state.0 as usize, &self.scratch, value) {
            self.write_back(Evict::All)?;
        }
        Ok(())
    }

    /// Keys and values of `cf` that start with `prefix`, in key order.
    fn scan(
        &self,
        cf: &Arc<BoundColumnFamily<'_>>,
        prefix: &[u8],
    ) -> Result<Vec<MapEntry>, StateError> {
        let mut read = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            read.set_iterate_upper_bound(end);
        }
        let mut entries = Vec::new();
        for item in
            self.db()
                .iterator_cf_opt(cf, read, IteratorMode::From(prefix, Direction::Forward))
        {
            let (key, value) = item.map_err(rocks)?;
            if !key.starts_with(prefix) {
                break;
            }
            entries.push((key[prefix.len()..].to_vec(), value.into_vec()));
        }
        Ok(entries)
    }
}

/// Whether every element of a stored list (`[u32 len][stamped element]...`)
/// has expired; an unreadable list is kept.
fn all_elements_expired(list: &[u8], now: i64) -> bool {
    split_length_prefixed(list)
        .is_ok_and(|elements| elements.iter().all(|element| ttl::is_expired(element, now)))
}

/// The column family of `state`, one of `states` (a free function, so
/// callers can borrow other fields of the backend beside it).
fn column_family<'db>(
    db: &'db Db,
    states: &[StateDescriptor],
    state: StateId,
) -> Result<Arc<BoundColumnFamily<'db>>, StateError> {
    states
        .get(state.0 as usize)
        .and_then(|descriptor| db.cf_handle(&descriptor.name))
        .ok_or(StateError::UnknownState(state))
}

fn io_error(path: &Path, error: std::io::Error) -> StateError {
    StateError::Storage(format!("{}: {error}", path.display()))
}

/// `key group | key length | key | namespace length | namespace`.
fn entry_prefix(out: &mut Vec<u8>, at: StateKey<'_>) {
    out.extend_from_slice(&at.key_group.to_be_bytes());
    out.extend_from_slice(&(at.key.len() as u32).to_be_bytes());
    out.extend_from_slice(at.key);
    out.extend_from_slice(&(at.namespace.len() as u32).to_be_bytes());
    out.extend_from_slice(at.namespace);
}

/// A stored key taken apart, the inverse of [`entry_prefix`] (plus the map
/// key of map state after it).
struct SplitKey<'k> {
    key_group: u16,
    key: &'k [u8],
    namespace: &'k [u8],
    /// What follows the entry prefix: the map key of a map entry, empty otherwise.
    rest: &'k [u8],
    /// Length of the entry prefix.
    prefix_len: usize,
}

/// Take apart a stored key (`None` if it is not well formed).
fn split_key(stored: &[u8]) -> Option<SplitKey<'_>> {
    let key_group = u16::from_be_bytes(stored.get(..2)?.try_into().ok()?);
    let key_len = u32::from_be_bytes(stored.get(2..6)?.try_into().ok()?) as usize;
    let ns_at = 6usize.checked_add(key_len)?;
    let ns_len_end = ns_at.checked_add(4)?;
    let ns_len = u32::from_be_bytes(stored.get(ns_at..ns_len_end)?.try_into().ok()?) as usize;
    let end = ns_len_end.checked_add(ns_len)?;
    Some(SplitKey {
        key_group,
        key: &stored[6..ns_at],
        namespace: stored.get(ns_len_end..end)?,
        rest: &stored[end..],
        prefix_len: end,
    })
}

/// Length of the entry prefix at the start of a stored key, if well formed.
fn entry_prefix_len(stored: &[u8]) -> Option<usize> {
    split_key(stored).map(|split| split.prefix_len)
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The list merge operator: lists are `[u32 len][element]...`, so appending
/// is concatenation.
fn append_lists(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut list = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for operand in operands {
        list.extend_from_slice(operand);
    }
    Some(list)
}

impl StateBackend for RocksDbStateBackend {
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError> {
        if let Some(id) = check_reregistration(&self.operator, &self.states, descriptor)? {
            return Ok(id);
        }
        if self.db().cf_handle(&descriptor.name).is_none() {
            self.db()
                .create_cf(&descriptor.name, &self.options.for_state(descriptor))
                .map_err(rocks)?;
        } else if let Some(restored) = (self.restored_states.iter())
            .find(|d| d.name == descriptor.name && d.kind != descriptor.kind)
        {
            // The runtime reads such files as entries instead
            // (`plan::build`); this guards the backend on its own.
            return Err(StateError::RestoredKind {
                operator: self.operator.clone(),
                name: descriptor.name.clone(),
                declared: descriptor.kind,
                stored: restored.kind,
            });
        } else if let Some(restored) = (self.restored_states.iter())
            .find(|d| d.name == descriptor.name)
            .filter(|d| d.ttl.is_some() != descriptor.ttl.is_some())
        {
            // The column family was opened with (or without) the TTL
            // compaction filter, which cannot change while it is open.
            return Err(StateError::Storage(format!(
                "operator `{}`: state `{}` {} in the checkpoint and {} now; restore from a savepoint to change that",
                self.operator,
                descriptor.name,
                if restored.ttl.is_some() {
                    "had a time-to-live"
                } else {
                    "had no time-to-live"
                },
                if descriptor.ttl.is_some() {
                    "has one"
                } else {
                    "has none"
                },
            )));
        }
        self.states.push(descriptor.clone());
        Ok(StateId(self.states.len() as u32 - 1))
    }

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.prepare(state, at, StateKind::Value)?;
        self.cached_value(state, |value| value.map(<[u8]>::to_vec))
    }

    fn value_get_into(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        self.prepare(state, at, StateKind::Value)?;
        self.cached_value(state, |value| {
            out.clear();
            if let Some(value) = value {
                out.extend_from_slice(value);
            }
            value.is_some()
        })
    }

    fn value_set(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        value: &[u8],
    ) -> Result<(), StateError> {
        self.prepare(state, at, StateKind::Value)?;
        if self.cache.enabled() {
            return self.cache_put(state, Some(value));
        }
        self.db()
            .put_cf_opt(&self.cf(state)?, &self.scratch, value, &self.write_options)
            .map_err(rocks)
    }

    fn list_get(&mut self, state: StateId, at: StateKey<'_>) -> Result<Vec<Vec<u8>>, StateError> {
        self.prepare(state, at, StateKind::List)?;
        let stored = self
            .db()
            .get_cf(&self.cf(state)?, &self.scratch)
            .map_err(rocks)?;
        match stored {
            Some(list) => split_length_prefixed(&list)
                .map_err(|e| StateError::Storage(format!("a stored list is not well formed: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    fn list_add(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        element: &[u8],
    ) -> Result<(), StateError> {
        let mut operand = Vec::with_capacity(4 + element.len());
        put_bytes(&mut operand, element);
        self.prepare(state, at, StateKind::List)?;
        self.db()
            .merge_cf_opt(
                &self.cf(state)?,
                &self.scratch,
                operand,
                &self.write_options,
            )
            .map_err(rocks)
    }

    fn list_update(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        elements: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        self.prepare(state, at, StateKind::List)?;
        let cf = self.cf(state)?;
        let result = if elements.is_empty() {
            self.db()
                .delete_cf_opt(&cf, &self.scratch, &self.write_options)
        } else {
            let list = join_length_prefixed(&elements);
            self.db()
                .put_cf_opt(&cf, &self.scratch, list, &self.write_options)
        };
        result.map_err(rocks)
    }

    fn map_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.prepare(state, at, StateKind::Map)?;
        self.scratch.extend_from_slice(map_key);
        self.db()
            .get_cf(&self.cf(state)?, &self.scratch)
            .map_err(rocks)
    }

    fn map_put(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.prepare(state, at, StateKind::Map)?;
        self.scratch.extend_from_slice(map_key);
        self.db()
            .put_cf_opt(&self.cf(state)?, &self.scratch, value, &self.write_options)
            .map_err(rocks)
    }

    fn map_remove(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<(), StateError> {
        self.prepare(state, at, StateKind::Map)?;
        self.scratch.extend_from_slice(map_key);
        self.db()
            .delete_cf_opt(&self.cf(state)?, &self.scratch, &self.write_options)
            .map_err(rocks)
    }

    fn map_entries(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Vec<MapEntry>, StateError> {
        self.prepare(state, at, StateKind::Map)?;
        self.scan(&self.cf(state)?, &self.scratch)
    }

    fn clear(&mut self, state: StateId, at: StateKey<'_>) -> Result<(), StateError> {
        let kind = self
            .states
            .get(state.0 as usize)
            .ok_or(StateError::UnknownState(state))?
            .kind;
        self.prepare(state, at, kind)?;
        if kind == StateKind::Value && self.cache.enabled() {
            return self.cache_put(state, None);
        }
        let cf = self.cf(state)?;
        let key = &self.scratch;
        let result = match kind {
            StateKind::Map | StateKind::BroadcastMap => match prefix_end(key) {
                Some(end) => self.db().delete_range_cf(&cf, key, &end),
                None => Ok(()),
            },
            StateKind::Value | StateKind::List => {
                self.db().delete_cf_opt(&cf, key, &self.write_options)
            }
        };
        result.map_err(rocks)
    }

    fn key_groups(&self) -> &KeyGroupRange {
        &self.range
    }

    fn entry_count(&mut self) -> usize {
        if let Err(error) = self.write_back(Evict::None) {
            // The changes stay in the cache; only this count misses them.
            tracing::warn!(operator = %self.operator, "cannot write cached state back, the count leaves it out: {error}");
        }
        let mut count = 0;
        for descriptor in &self.states {
            let Some(cf) = self.db().cf_handle(&descriptor.name) else {
                continue;
            };
            let mut last_prefix: Option<Vec<u8>> = None;
            for (key, _) in self.db().iterator_cf(&cf, IteratorMode::Start).flatten() {
                let prefix = match descriptor.kind {
                    // Map entries of one key and namespace count once.
                    StateKind::Map | StateKind::BroadcastMap => {
                        let len = entry_prefix_len(&key).unwrap_or(key.len());
                        key[..len].to_vec()
                    }
                    StateKind::Value | StateKind::List => key.into_vec(),
                };
                if last_prefix.as_ref() != Some(&prefix) {
                    count += 1;
                    last_prefix = Some(prefix);
                }
            }
        }
        count
    }

    fn snapshot(&mut self, dir: &Path) -> Result<Box<dyn KeyedStateSnapshot>, StateError> {
        // The cache and then the memtables hold what the WAL-less database
        // has not written yet.
        self.write_back(Evict::None)?;
        let db = self.db();
        db.flush().map_err(rocks)?;
        let names = self.states.iter().map(|d| d.name.as_str());
        for name in names.chain([EVENT_TIMERS, PROCESSING_TIMERS]) {
            if let Some(cf) = db.cf_handle(name) {
                db.flush_cf(&cf).map_err(rocks)?;
            }
        }
        Checkpoint::new(db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(dir))
            .map_err(rocks)?;
        Ok(Box::new(RocksDbCheckpoint {
            dir: dir.to_path_buf(),
            database: NativeDatabase {
                lineage: self.lineage.clone(),
                states: (self.states.iter())
                    .map(|d| NativeState {
                        name: d.name.clone(),
                        kind: d.kind.name().to_string(),
                        ttl_ms: d.ttl.map(|ttl| ttl.millis),
                    })
                    .collect(),
            },
        }))
    }

    fn restore_entry(&mut self, entry: &StoredEntry) -> Result<(), StateError> {
        let state = check_restore(&self.operator, &self.range, &self.states, entry)?;
        let mut prefix = Vec::new();
        entry_prefix(
            &mut prefix,
            StateKey::new(entry.key_group, &entry.key, &entry.namespace),
        );
        self.cache.forget(state.0 as usize, &prefix);
        let cf = self.cf(state)?;
        // One batch per entry, so a map is replaced as a whole.
        let mut batch = WriteBatch::default();
        match &entry.payload {
            StoredPayload::Value(value) => batch.put_cf(&cf, &prefix, value),
            StoredPayload::List(elements) if elements.is_empty() => batch.delete_cf(&cf, &prefix),
            StoredPayload::List(elements) => {
                batch.put_cf(&cf, &prefix, join_length_prefixed(elements));
            }
            StoredPayload::Map(entries) => {
                if let Some(end) = prefix_end(&prefix) {
                    batch.delete_range_cf(&cf, &prefix, &end);
                }
                let mut key = prefix.clone();
                for (map_key, value) in entries {
                    key.truncate(prefix.len());
                    key.extend_from_slice(map_key);
                    batch.put_cf(&cf, &key, value);
                }
            }
        }
        self.db()
            .write_opt(batch, &self.write_options)
            .map_err(rocks)
    }

    fn purge_expired(&mut self) -> Result<(), StateError> {
        // Expired values in the cache go to the database to be filtered.
        self.write_back(Evict::All)?;
        // A full compaction runs every file through the TTL compaction
        // filter. RocksDB does not show the filter list appends that are
        // still merge operands; the first compaction merges them into
        // values, so lists take a second one.
        for descriptor in self.states.iter().filter(|d| d.ttl.is_some()) {
            if let Some(cf) = self.db().cf_handle(&descriptor.name) {
                let passes = if descriptor.kind == StateKind::List {
                    2
                } else {
                    1
                };
                for _ in 0..passes {
                    self.db()
                        .compact_range_cf(&cf, None::<&[u8]>, None::<&[u8]>);
                }
            }
        }
        Ok(())
    }

    fn timer_service(&mut self) -> Result<TimerService, StateError> {
        Ok(TimerService::new(
            Box::new(RocksDbTimerQueue::new(
                Arc::clone(&self.database),
                EVENT_TIMERS,
            )?),
            Box::new(RocksDbTimerQueue::new(
                Arc::clone(&self.database),
                PROCESSING_TIMERS,
            )?),
        ))
    }
}
