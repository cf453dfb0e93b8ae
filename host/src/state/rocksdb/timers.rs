//! Timers kept in RocksDB, one column family per time domain (Flink's
//! RocksDB priority queue). A timer is one key with an empty value, laid
//! out so that RocksDB's key order is [`Timer`]'s order:
//!
//! ```text
//! timestamp (i64, sign bit flipped, BE) | key group (u16 BE) | key, escaped, then 0x00 0x01 | namespace
//! ```
//!
//! In the escaped key each 0x00 byte becomes 0x00 0xFF, so a key sorts
//! before any longer key it is a prefix of, as byte strings do.

use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use super::{Database, rocks};
use crate::snapshot::HeapTimersSnapshot;
use crate::state::StateError;
use crate::time::timers::{Timer, TimerQueue};

/// The timers of one time domain of one subtask.
pub(super) struct RocksDbTimerQueue {
    database: Arc<Database>,
    column: &'static str,
    write_options: WriteOptions,
    /// Timestamp of the first timer, kept exact so that asking when the
    /// next timer is due needs no read.
    first: Option<i64>,
    /// A stored key no live timer sorts before. Reads seek here rather than
    /// to the start, skipping the deletions left by timers fired earlier,
    /// which RocksDB keeps until they are compacted away (the classic cost
    /// of a queue in an LSM tree).
    floor: Vec<u8>,
    scratch: Vec<u8>,
}

impl RocksDbTimerQueue {
    /// The queue in column family `column` of `database`.
    pub(super) fn new(database: Arc<Database>, column: &'static str) -> Result<Self, StateError> {
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        let mut queue = RocksDbTimerQueue {
            database,
            column,
            write_options,
            first: None,
            floor: Vec::new(),
            scratch: Vec::new(),
        };
        queue.refresh_first()?;
        Ok(queue)
    }

    fn cf(&self) -> Result<Arc<rocksdb::BoundColumnFamily<'_>>, StateError> {
        self.database
            .db
            .cf_handle(self.column)
            .ok_or_else(|| StateError::Storage(format!("column family {} is missing", self.column)))
    }

    /// Read the first timer's timestamp again.
    fn refresh_first(&mut self) -> Result<(), StateError> {
        let cf = self.cf()?;
        let first = match self
            .database
            .db
            .iterator_cf(&cf, IteratorMode::From(&self.floor, Direction::Forward))
            .next()
        {
            Some(item) => Some(decode_timestamp(&item.map_err(rocks)?.0)?),
            None => None,
        };
        drop(cf);
        self.first = first;
        Ok(())
    }
}

impl TimerQueue for RocksDbTimerQueue {
    fn insert(&mut self, timer: Timer) -> Result<(), StateError> {
        self.scratch.clear();
        encode(&mut self.scratch, &timer);
        let cf = self.cf()?;
        self.database
            .db
            .put_cf_opt(&cf, &self.scratch, [], &self.write_options)
            .map_err(rocks)?;
        drop(cf);
        if self.scratch < self.floor {
            self.floor.clone_from(&self.scratch);
        }
        self.first = Some(
            self.first
                .map_or(timer.timestamp, |t| t.min(timer.timestamp)),
        );
        Ok(())
    }

    fn remove(&mut self, timer: &Timer) -> Result<(), StateError> {
        self.scratch.clear();
        encode(&mut self.scratch, timer);
        let cf = self.cf()?;
        self.database
            .db
            .delete_cf_opt(&cf, &self.scratch, &self.write_options)
            .map_err(rocks)?;
        drop(cf);
        if self.first == Some(timer.timestamp) {
            self.refresh_first()?;
        }
        Ok(())
    }

    fn pop_due(&mut self, time: i64, limit: usize) -> Result<Vec<Timer>, StateError> {
        if self.first.is_none_or(|first| first > time) || limit == 0 {
            return Ok(Vec::new());
        }
        let cf = self.cf()?;
        let mut read = ReadOptions::default();
        if let Some(after) = time.checked_add(1) {
            read.set_iterate_upper_bound(timestamp_bytes(after).to_vec());
        }
        let mut due = Vec::new();
        let mut batch = WriteBatch::default();
        let mut last_popped = None;
        for item in self.database.db.iterator_cf_opt(
            &cf,
            read,
            IteratorMode::From(&self.floor, Direction::Forward),
        ) {
            let (stored, _) = item.map_err(rocks)?;
            due.push(decode(&stored)?);
            batch.delete_cf(&cf, &stored);
            if due.len() == limit {
                last_popped = Some(stored);
                break;
            }
        }
        self.database
            .db
            .write_opt(batch, &self.write_options)
            .map_err(rocks)?;
        drop(cf);
        // Everything before the last timer popped is gone; if all due
        // timers went, everything before `time + 1`.
        match (last_popped, time.checked_add(1)) {
            (Some(last), _) => self.floor = last.into_vec(),
            (None, Some(after)) => self.floor = timestamp_bytes(after).to_vec(),
            (None, None) => {}
        }
        self.refresh_first()?;
        Ok(due)
    }

    fn first_timestamp(&self) -> Option<i64> {
        self.first
    }

    fn heap_snapshot(&self) -> Option<Box<dyn HeapTimersSnapshot>> {
        // These timers are in the database, so in its native checkpoint.
        None
    }

    fn len(&self) -> usize {
        self.cf().map_or(0, |cf| {
            self.database
                .db
                .iterator_cf(&cf, IteratorMode::Start)
                .count()
        })
    }
}

/// A timestamp as bytes that sort as the numbers do.
fn timestamp_bytes(timestamp: i64) -> [u8; 8] {
    ((timestamp as u64) ^ (1 << 63)).to_be_bytes()
}

fn encode(out: &mut Vec<u8>, timer: &Timer) {
    out.extend_from_slice(&timestamp_bytes(timer.timestamp));
    out.extend_from_slice(&timer.key_group.to_be_bytes());
    for &byte in &timer.key {
        out.push(byte);
        if byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&timer.namespace);
}

fn malformed(stored: &[u8]) -> StateError {
    StateError::Storage(format!("a stored timer is not well formed: {stored:02x?}"))
}

fn decode_timestamp(stored: &[u8]) -> Result<i64, StateError> {
    let bytes: [u8; 8] = stored
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(stored))?;
    Ok((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// The timer a stored key holds, the inverse of [`encode`] (also used to
/// read the timers of a RocksDB checkpoint).
pub(super) fn decode(stored: &[u8]) -> Result<Timer, StateError> {
    let timestamp = decode_timestamp(stored)?;
    let key_group = stored
        .get(8..10)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| malformed(stored))?;
    let mut key = Vec::new();
    let mut at = 10;
    loop {
        match (stored.get(at), stored.get(at + 1)) {
            (Some(0x00), Some(0xFF)) => {
                key.push(0);
                at += 2;
            }
            (Some(0x00), Some(0x01)) => {
                at += 2;
                break;
            }
            (Some(0x00), _) | (None, _) => return Err(malformed(stored)),
            (Some(&byte), _) => {
                key.push(byte);
                at += 1;
            }
        }
    }
    Ok(Timer {
        timestamp,
        key_group,
        key,
        namespace: stored[at..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{KeyGroupRange, RocksDbShared, RocksDbStateBackend, StateBackend};
    use crate::time::timers::check_timer_queue;

    #[test]
    fn rocksdb_timers_are_deduplicated_and_fire_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
        let mut backend =
            RocksDbStateBackend::open(&shared, "op", 0, KeyGroupRange::all(128)).unwrap();
        check_timer_queue(backend.timer_service().unwrap());
    }

    #[test]
    fn encoding_round_trips_and_sorts_as_timers_do() {
        let mut timers = Vec::new();
        for ts in [i64::MIN, -1, 0, 1, i64::MAX] {
            for key in [&b""[..], b"\0", b"\0\0", b"a", b"a\0", b"ab", b"\xff"] {
                for ns in [&b""[..], b"\0", b"w"] {
                    timers.push(Timer {
                        timestamp: ts,
                        key_group: 3,
                        key: key.to_vec(),
                        namespace: ns.to_vec(),
                    });
                }
            }
        }
        let mut encoded: Vec<Vec<u8>> = timers
            .iter()
            .map(|t| {
                let mut out = Vec::new();
                encode(&mut out, t);
                out
            })
            .collect();
        encoded.sort();
        let decoded: Vec<Timer> = encoded.iter().map(|e| decode(e).unwrap()).collect();
        timers.sort();
        assert_eq!(decoded, timers);
    }
}
