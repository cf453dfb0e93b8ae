//! The same tests for every state backend: whatever a job's backend, state
//! behaves the same (issue 4's "parameterised, not copied").

use super::ttl::TtlClock;
use super::*;
use crate::snapshot::SnapshotSink;

/// A fresh backend of each kind in this build owning `range`, with its name
/// for messages. The RocksDB one lives in a temporary directory removed
/// with it.
fn each_backend(
    range: KeyGroupRange,
) -> Vec<(&'static str, Box<dyn StateBackend>, tempfile::TempDir)> {
    each_backend_on(range, TtlClock::System)
}

/// As [`each_backend`], with TTL measured on `clock` and enforced as in a
/// job (the backend wrapped in [`TtlStates`]).
fn each_backend_on(
    range: KeyGroupRange,
    clock: TtlClock,
) -> Vec<(&'static str, Box<dyn StateBackend>, tempfile::TempDir)> {
    let wrap = |backend: Box<dyn StateBackend>| -> Box<dyn StateBackend> {
        Box::new(TtlStates::new(backend, clock.clone()))
    };
    let memory = MemoryStateBackend::new("op", range.clone()).with_ttl_clock(clock.clone());
    vec![
        (
            "memory",
            Box::new(memory) as Box<dyn StateBackend>,
            tempfile::tempdir().expect("temp dir"),
        ),
        #[cfg(feature = "rocksdb")]
        rocksdb(&range, &clock, "rocksdb", DEFAULT_WRITE_CACHE_BYTES),
        // A write-back cache of a few entries writes back all the time.
        #[cfg(feature = "rocksdb")]
        rocksdb(&range, &clock, "rocksdb, tiny write cache", 300),
        #[cfg(feature = "rocksdb")]
        rocksdb(&range, &clock, "rocksdb, no write cache", 0),
    ]
    .into_iter()
    .map(|(name, backend, dir)| (name, wrap(backend), dir))
    .collect()
}

#[cfg(feature = "rocksdb")]
fn rocksdb(
    range: &KeyGroupRange,
    clock: &TtlClock,
    name: &'static str,
    write_cache_bytes: usize,
) -> (&'static str, Box<dyn StateBackend>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
    shared.clock = clock.clone();
    shared.write_cache_bytes = write_cache_bytes;
    let rocks = RocksDbStateBackend::open(&shared, "op", 0, range.clone()).expect("open RocksDB");
    (name, Box::new(rocks), dir)
}

fn descriptor(name: &str, kind: StateKind) -> StateDescriptor {
    StateDescriptor {
        name: name.into(),
        kind,
        ttl: None,
    }
}

fn at<'a>(key: &'a [u8], namespace: &'a [u8]) -> StateKey<'a> {
    StateKey::new(key_group_of(key, 128), key, namespace)
}

#[test]
fn value_list_and_map_state_are_scoped_by_key_and_namespace() {
    for (name, mut b, _dir) in each_backend(KeyGroupRange::all(128)) {
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        let l = b.register(&descriptor("l", StateKind::List)).unwrap();
        let m = b.register(&descriptor("m", StateKind::Map)).unwrap();
        b.value_set(v, at(b"a", b""), b"1").unwrap();
        b.value_set(v, at(b"a", b"w1"), b"2").unwrap();
        assert_eq!(
            b.value_get(v, at(b"a", b"")).unwrap(),
            Some(b"1".to_vec()),
            "{name}"
        );
        assert_eq!(
            b.value_get(v, at(b"a", b"w1")).unwrap(),
            Some(b"2".to_vec()),
            "{name}"
        );
        assert_eq!(b.value_get(v, at(b"b", b"")).unwrap(), None, "{name}");
        b.list_add(l, at(b"a", b""), b"x").unwrap();
        b.list_add(l, at(b"a", b""), b"y").unwrap();
        assert_eq!(
            b.list_get(l, at(b"a", b"")).unwrap(),
            vec![b"x".to_vec(), b"y".to_vec()],
            "{name}"
        );
        // Keys that are prefixes of each other stay apart.
        b.map_put(m, at(b"a", b""), b"k2", b"2").unwrap();
        b.map_put(m, at(b"a", b""), b"k1", b"1").unwrap();
        b.map_put(m, at(b"ab", b""), b"k0", b"0").unwrap();
        let entries = b.map_entries(m, at(b"a", b"")).unwrap();
        assert_eq!(
            entries,
            vec![
                (b"k1".to_vec(), b"1".to_vec()),
                (b"k2".to_vec(), b"2".to_vec())
            ],
            "{name}: ordered by map key"
        );
        assert_eq!(
            b.map_get(m, at(b"a", b""), b"k2").unwrap(),
            Some(b"2".to_vec())
        );
        b.map_remove(m, at(b"a", b""), b"k1").unwrap();
        b.map_remove(m, at(b"a", b""), b"k2").unwrap();
        // v: 2 (two namespaces), l: 1, m: 1 (key "ab"); an emptied map is gone.
        assert_eq!(b.entry_count(), 4, "{name}");
        b.clear(v, at(b"a", b"")).unwrap();
        b.clear(l, at(b"a", b"")).unwrap();
        b.clear(m, at(b"ab", b"")).unwrap();
        assert_eq!(b.map_entries(m, at(b"ab", b"")).unwrap(), vec![], "{name}");
        assert_eq!(
            b.entry_count(),
            1,
            "{name}: only the windowed value is left"
        );
    }
}

/// `value_get_into` reads what `value_get` reads, short values and long
/// ones (the memory backend keeps short ones inline), and clears its buffer
/// when there is nothing.
#[test]
fn value_get_into_reads_what_value_get_reads() {
    let clock = TtlClock::manual(1_000);
    for (name, mut b, _dir) in each_backend_on(KeyGroupRange::all(128), clock.clone()) {
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        let (t, _, _) = ttl_states(b.as_mut(), "-ttl", TtlUpdate::OnCreateAndWrite);
        let long = vec![7u8; 100];
        let mut out = b"left over".to_vec();
        for state in [v, t] {
            b.value_set(state, at(b"short", b"w"), b"12").unwrap();
            b.value_set(state, at(b"long", b"w"), &long).unwrap();
            for key in [&b"short"[..], b"long", b"absent"] {
                let found = b.value_get_into(state, at(key, b"w"), &mut out).unwrap();
                let expected = b.value_get(state, at(key, b"w")).unwrap();
                assert_eq!(found, expected.is_some(), "{name}");
                assert_eq!(out, expected.unwrap_or_default(), "{name}");
            }
        }
        clock.advance(100); // the TTL state's entries expire
        assert!(
            !b.value_get_into(t, at(b"short", b"w"), &mut out).unwrap(),
            "{name}"
        );
        assert!(out.is_empty(), "{name}");
        assert!(
            b.value_get_into(v, at(b"long", b"w"), &mut out).unwrap(),
            "{name}"
        );
        assert_eq!(out, long, "{name}");
    }
}

#[test]
fn list_update_replaces_and_empty_clears() {
    for (name, mut b, _dir) in each_backend(KeyGroupRange::all(128)) {
        let l = b.register(&descriptor("l", StateKind::List)).unwrap();
        b.list_add(l, at(b"k", b""), b"old").unwrap();
        b.list_update(l, at(b"k", b""), vec![b"a".to_vec(), b"".to_vec()])
            .unwrap();
        b.list_add(l, at(b"k", b""), b"c").unwrap();
        assert_eq!(
            b.list_get(l, at(b"k", b"")).unwrap(),
            vec![b"a".to_vec(), b"".to_vec(), b"c".to_vec()],
            "{name}"
        );
        b.list_update(l, at(b"k", b""), Vec::new()).unwrap();
        assert!(b.list_get(l, at(b"k", b"")).unwrap().is_empty(), "{name}");
        assert_eq!(b.entry_count(), 0, "{name}");
    }
}

#[test]
fn kind_mismatch_and_foreign_key_groups_are_errors() {
    for (name, mut b, _dir) in each_backend(KeyGroupRange::for_subtask(0, 2, 128)) {
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        assert_eq!(b.register(&descriptor("v", StateKind::Value)).unwrap(), v);
        let owned = (0u32..)
            .map(|i| i.to_string().into_bytes())
            .find(|k| key_group_of(k, 128) < 64)
            .unwrap();
        assert!(
            matches!(
                b.list_get(v, at(&owned, b"")),
                Err(StateError::WrongKind { .. })
            ),
            "{name}"
        );
        let foreign = StateKey::new(100, b"a", b"");
        assert!(
            matches!(
                b.value_get(v, foreign),
                Err(StateError::ForeignKeyGroup { .. })
            ),
            "{name}"
        );
        assert!(
            b.register(&descriptor("v", StateKind::Map)).is_err(),
            "{name}"
        );
    }
}

/// What a snapshot hands over when it is read.
#[derive(Default)]
struct Collected {
    entries: Vec<StoredEntry>,
    timers: Vec<(crate::time::TimeDomain, crate::time::Timer)>,
}

impl SnapshotSink for Collected {
    fn entry(&mut self, entry: StoredEntry) -> Result<(), SnapshotError> {
        self.entries.push(entry);
        Ok(())
    }

    fn timer(
        &mut self,
        domain: crate::time::TimeDomain,
        timer: crate::time::Timer,
    ) -> Result<(), SnapshotError> {
        self.timers.push((domain, timer));
        Ok(())
    }
}

#[test]
fn snapshots_are_consistent_copies() {
    for (name, mut b, dir) in each_backend(KeyGroupRange::all(128)) {
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        for i in 0..100u32 {
            b.value_set(v, at(&i.to_be_bytes(), b""), b"x").unwrap();
        }
        let target = dir.path().join("checkpoint-1");
        let snapshot = b.snapshot(&target).unwrap();
        // Changes after the snapshot do not reach it.
        b.value_set(v, at(b"later", b""), b"y").unwrap();
        // A copy in memory leaves no files; a RocksDB checkpoint is files.
        assert_eq!(
            snapshot.scratch_dir().is_some(),
            name.starts_with("rocksdb")
        );
        if let Some(scratch) = snapshot.scratch_dir() {
            assert_eq!(
                scratch, target,
                "{name}: the files are where they were asked for"
            );
            assert!(scratch.exists(), "{name}");
        }
        let mut read = Collected::default();
        snapshot.read_into(&mut read).unwrap();
        assert_eq!(read.entries.len(), 100, "{name}");
        assert!(
            read.entries
                .iter()
                .all(|e| e.state == "v" && e.payload == StoredPayload::Value(b"x".to_vec())),
            "{name}"
        );
        assert!(read.timers.is_empty(), "{name}");
        assert_eq!(b.entry_count(), 101, "{name}");
    }
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_keeps_each_key_group_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
    let mut b = RocksDbStateBackend::open(&shared, "op", 0, KeyGroupRange::all(128)).unwrap();
    let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
    for i in 0..1000u32 {
        b.value_set(v, at(i.to_string().as_bytes(), b""), b"x")
            .unwrap();
    }
    let target = dir.path().join("cp");
    b.snapshot(&target).unwrap();
    let families = ::rocksdb::DB::list_cf(&::rocksdb::Options::default(), &target).unwrap();
    let db = ::rocksdb::DB::open_cf(&::rocksdb::Options::default(), &target, families).unwrap();
    let cf = db.cf_handle("v").unwrap();
    let groups: Vec<u16> = db
        .iterator_cf(cf, ::rocksdb::IteratorMode::Start)
        .map(|item| {
            let (key, _) = item.unwrap();
            u16::from_be_bytes([key[0], key[1]])
        })
        .collect();
    assert_eq!(groups.len(), 1000);
    assert!(groups.is_sorted(), "keys sort by key group first");
}

fn with_ttl(name: &str, kind: StateKind, millis: u64, update: TtlUpdate) -> StateDescriptor {
    StateDescriptor {
        name: name.into(),
        kind,
        ttl: Some(StateTtl { millis, update }),
    }
}

/// A value, a list and a map state named `v`, `l`, `m` (then `suffix`),
/// each with a 100 ms TTL refreshed as `update` says.
fn ttl_states(
    b: &mut dyn StateBackend,
    suffix: &str,
    update: TtlUpdate,
) -> (StateId, StateId, StateId) {
    let mut register = |name: &str, kind| {
        b.register(&with_ttl(&format!("{name}{suffix}"), kind, 100, update))
            .unwrap()
    };
    (
        register("v", StateKind::Value),
        register("l", StateKind::List),
        register("m", StateKind::Map),
    )
}

#[test]
fn expired_state_is_never_returned() {
    let clock = TtlClock::manual(1_000);
    for (name, mut b, _dir) in each_backend_on(KeyGroupRange::all(128), clock.clone()) {
        let update = TtlUpdate::OnCreateAndWrite;
        let (v, l, m) = ttl_states(b.as_mut(), "", update);
        let k = at(b"k", b"");
        b.value_set(v, k, b"1").unwrap();
        b.list_add(l, k, b"early").unwrap();
        b.map_put(m, k, b"early", b"e").unwrap();
        clock.advance(60); // 1060
        b.list_add(l, k, b"late").unwrap();
        b.map_put(m, k, b"late", b"l").unwrap();
        clock.advance(39); // 1099: nothing has expired yet
        assert_eq!(b.value_get(v, k).unwrap(), Some(b"1".to_vec()), "{name}");
        assert_eq!(b.list_get(l, k).unwrap().len(), 2, "{name}");
        assert_eq!(b.map_entries(m, k).unwrap().len(), 2, "{name}");
        clock.advance(1); // 1100: the entries written at 1000 expire
        assert_eq!(b.value_get(v, k).unwrap(), None, "{name}");
        assert_eq!(b.list_get(l, k).unwrap(), vec![b"late".to_vec()], "{name}");
        assert_eq!(b.map_get(m, k, b"early").unwrap(), None, "{name}");
        assert_eq!(
            b.map_entries(m, k).unwrap(),
            vec![(b"late".to_vec(), b"l".to_vec())],
            "{name}"
        );
        clock.advance(60); // 1160: everything has expired
        assert!(b.list_get(l, k).unwrap().is_empty(), "{name}");
        assert!(b.map_entries(m, k).unwrap().is_empty(), "{name}");
        // Met on access, expired entries were removed (lazy cleanup).
        assert_eq!(b.entry_count(), 0, "{name}");
        // A state without a TTL on the same backend never expires.
        let plain = b.register(&descriptor("plain", StateKind::Value)).unwrap();
        b.value_set(plain, k, b"kept").unwrap();
        clock.advance(1_000_000);
        assert_eq!(
            b.value_get(plain, k).unwrap(),
            Some(b"kept".to_vec()),
            "{name}"
        );
    }
}

#[test]
fn on_create_and_write_ignores_reads_and_on_read_and_write_does_not() {
    let clock = TtlClock::manual(1_000);
    for (name, mut b, _dir) in each_backend_on(KeyGroupRange::all(128), clock.clone()) {
        let mut ids = Vec::new();
        for (label, update) in [
            ("write", TtlUpdate::OnCreateAndWrite),
            ("read", TtlUpdate::OnReadAndWrite),
        ] {
            let (v, l, m) = ttl_states(b.as_mut(), &format!("-{label}"), update);
            ids.push((update, v, l, m));
        }
        let k = at(b"k", b"");
        for &(_, v, l, m) in &ids {
            b.value_set(v, k, b"x").unwrap();
            b.list_add(l, k, b"x").unwrap();
            b.map_put(m, k, b"mk", b"x").unwrap();
        }
        clock.advance(50); // 1050: read everything once
        for &(_, v, l, m) in &ids {
            assert!(b.value_get(v, k).unwrap().is_some(), "{name}");
            assert_eq!(b.list_get(l, k).unwrap().len(), 1, "{name}");
            assert!(b.map_get(m, k, b"mk").unwrap().is_some(), "{name}");
        }
        clock.advance(60); // 1110: past the write's expiry, before the read's
        for &(update, v, l, m) in &ids {
            let live = update == TtlUpdate::OnReadAndWrite;
            assert_eq!(
                b.value_get(v, k).unwrap().is_some(),
                live,
                "{name} {update:?}"
            );
            assert_eq!(
                b.list_get(l, k).unwrap().len(),
                usize::from(live),
                "{name} {update:?}"
            );
            assert_eq!(
                b.map_entries(m, k).unwrap().len(),
                usize::from(live),
                "{name} {update:?}"
            );
        }
        // The reads at 1110 refreshed again: live until 1210.
        clock.advance(99);
        let (_, v, _, _) = ids[1];
        assert!(b.value_get(v, k).unwrap().is_some(), "{name}");
    }
}

#[test]
fn expired_entries_are_cleaned_up_without_being_read() {
    let clock = TtlClock::manual(1_000);
    for (name, mut b, _dir) in each_backend_on(KeyGroupRange::all(128), clock.clone()) {
        let update = TtlUpdate::OnCreateAndWrite;
        let (v, l, m) = ttl_states(b.as_mut(), "", update);
        for i in 0..500u32 {
            let key = i.to_be_bytes();
            b.value_set(v, at(&key, b""), b"old").unwrap();
            b.list_add(l, at(&key, b""), b"old").unwrap();
            b.list_add(l, at(&key, b""), b"old").unwrap();
            b.map_put(m, at(&key, b""), b"mk", b"old").unwrap();
        }
        clock.advance(100);
        // Written after the others expired, to a state of its own (so these
        // accesses do not drive the memory backend's sweep of `v`).
        let fresh = b
            .register(&with_ttl("fresh", StateKind::Value, 100, update))
            .unwrap();
        for i in 0..20u32 {
            b.value_set(fresh, at(&i.to_be_bytes(), b""), b"new")
                .unwrap();
        }
        assert_eq!(
            b.entry_count(),
            1_520,
            "{name}: nothing removed before cleanup"
        );
        b.purge_expired().unwrap();
        assert_eq!(b.entry_count(), 20, "{name}: only the live values are left");
    }
}

#[test]
fn a_restored_entry_replaces_a_value_set_before_it() {
    for (name, mut b, _dir) in each_backend(KeyGroupRange::all(128)) {
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        // Set, and for RocksDB still in its write-back cache.
        b.value_set(v, at(b"a", b""), b"old").unwrap();
        b.restore_entry(&StoredEntry {
            state: "v".into(),
            key_group: key_group_of(b"a", 128),
            key: b"a".to_vec(),
            namespace: Vec::new(),
            payload: StoredPayload::Value(b"restored".to_vec()),
        })
        .unwrap();
        assert_eq!(
            b.value_get(v, at(b"a", b"")).unwrap(),
            Some(b"restored".to_vec()),
            "{name}"
        );
        assert_eq!(b.entry_count(), 1, "{name}");
    }
}

/// A RocksDB backend opened on the native checkpoint `snapshot` (copied
/// into its folder), as an incremental checkpoint's restore opens it.
#[cfg(feature = "rocksdb")]
fn reopened(
    shared: &RocksDbShared,
    snapshot: &dyn KeyedStateSnapshot,
) -> Result<RocksDbStateBackend, StateError> {
    let native = snapshot
        .native_files()
        .expect("RocksDB snapshots are files");
    RocksDbStateBackend::open_restored(
        shared,
        "op",
        0,
        KeyGroupRange::all(128),
        native.database,
        |to| {
            for entry in std::fs::read_dir(native.dir).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
            Ok(())
        },
    )
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_opens_on_its_native_checkpoint_with_its_state_timers_and_lineage() {
    use crate::time::TimeDomain;
    let dir = tempfile::tempdir().unwrap();
    let shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
    let mut first = RocksDbStateBackend::open(&shared, "op", 0, KeyGroupRange::all(128)).unwrap();
    let kept = first
        .register(&descriptor("kept", StateKind::Value))
        .unwrap();
    let gone = first
        .register(&descriptor("gone", StateKind::List))
        .unwrap();
    first.value_set(kept, at(b"k", b""), b"v1").unwrap();
    first.list_add(gone, at(b"k", b""), b"x").unwrap();
    let timer = crate::snapshot::Timer::keyed(42, key_group_of(b"k", 128), b"k".to_vec());
    first
        .timer_service()
        .unwrap()
        .register(TimeDomain::EventTime, timer.clone())
        .unwrap();
    let one = first.snapshot(&dir.path().join("one")).unwrap();
    drop(first);

    // Restored: the same entries and timers, the same lineage; a state it
    // no longer registers is left out of its next checkpoint's list.
    let mut second = reopened(&shared, one.as_ref()).unwrap();
    let kept = second
        .register(&descriptor("kept", StateKind::Value))
        .unwrap();
    assert_eq!(
        second.value_get(kept, at(b"k", b"")).unwrap(),
        Some(b"v1".to_vec())
    );
    let timers = second.timer_service().unwrap();
    assert_eq!(timers.next_event_time(), Some(42));
    drop(timers);
    second.value_set(kept, at(b"k", b""), b"v2").unwrap();
    let two = second.snapshot(&dir.path().join("two")).unwrap();
    let lineage = |s: &dyn KeyedStateSnapshot| s.native_files().unwrap().database.lineage.clone();
    assert_eq!(lineage(two.as_ref()), lineage(one.as_ref()));
    let listed: Vec<_> = two
        .native_files()
        .unwrap()
        .database
        .states
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(listed, ["kept"]);
    drop(second);

    // Opened on that: the unlisted state's data went with it, as a logical
    // restore would have left it out; a time-to-live cannot appear.
    let mut third = reopened(&shared, two.as_ref()).unwrap();
    let gone = third
        .register(&descriptor("gone", StateKind::List))
        .unwrap();
    assert!(third.list_get(gone, at(b"k", b"")).unwrap().is_empty());
    let kept = StateDescriptor {
        ttl: Some(StateTtl {
            millis: 1000,
            update: TtlUpdate::OnCreateAndWrite,
        }),
        ..descriptor("kept", StateKind::Value)
    };
    assert_eq!(
        third.register(&kept).unwrap_err().to_string(),
        "state storage: operator `op`: state `kept` had no time-to-live in the checkpoint and has one now; restore from a savepoint to change that"
    );
    // A fresh database has a lineage of its own.
    let mut fresh =
        RocksDbStateBackend::open(&shared, "other", 0, KeyGroupRange::all(128)).unwrap();
    let three = fresh.snapshot(&dir.path().join("three")).unwrap();
    assert_ne!(lineage(three.as_ref()), lineage(one.as_ref()));
}
