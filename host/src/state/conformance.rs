//! The same tests for every state backend: whatever a job's backend, state
//! behaves the same (issue 4's "parameterised, not copied").

use super::*;

/// A fresh backend of each kind owning `range`, with its name for messages.
/// The RocksDB one lives in a temporary directory removed with it.
fn each_backend(
    range: KeyGroupRange,
) -> Vec<(&'static str, Box<dyn StateBackend>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
    let rocks = RocksDbStateBackend::open(&shared, "op", 0, range.clone()).expect("open RocksDB");
    vec![
        (
            "memory",
            Box::new(MemoryStateBackend::new("op", range)),
            tempfile::tempdir().expect("temp dir"),
        ),
        ("rocksdb", Box::new(rocks), dir),
    ]
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
        match snapshot {
            StateSnapshot::MemoryCopy(copy) => {
                assert_eq!(name, "memory");
                assert_eq!(copy.entry_count(), 100);
                assert_eq!(copy.descriptors()[0].name, "v");
            }
            StateSnapshot::RocksDbCheckpoint { dir } => {
                assert_eq!(name, "rocksdb");
                let restored =
                    ::rocksdb::DB::list_cf(&::rocksdb::Options::default(), &dir).unwrap();
                assert!(restored.contains(&"v".to_string()), "{restored:?}");
                let db =
                    ::rocksdb::DB::open_cf(&::rocksdb::Options::default(), &dir, ["v"]).unwrap();
                let cf = db.cf_handle("v").unwrap();
                assert_eq!(
                    db.iterator_cf(cf, ::rocksdb::IteratorMode::Start).count(),
                    100
                );
            }
        }
        assert_eq!(b.entry_count(), 101, "{name}");
    }
}

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
    let db = ::rocksdb::DB::open_cf(&::rocksdb::Options::default(), &target, ["v"]).unwrap();
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
