//! Flink's interval join, run by the host: a record of the first (left)
//! input at `t` joins every record of the second (right) input with the same
//! key and a timestamp in `t + lower ..= t + upper`.
//!
//! Both sides are buffered in keyed map state (map key: the timestamp, value:
//! the records at that timestamp), so checkpoints cover them like any other
//! keyed state. A buffered record is removed by an event-time timer once the
//! watermark has passed every timestamp it could still join; records behind
//! the watermark on arrival go to the `late-left` / `late-right` side outputs
//! instead of being dropped silently (Flink's `sideOutputLeftLateData`).

use crate::job::{InputSide, JoinInterval, LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT};
use crate::runtime::operator::{Collector, Operator, OperatorError, keyed_snapshot};
use crate::runtime::record::{NO_TIMESTAMP, Record};
use crate::snapshot::{OperatorSnapshot, RestoredOperatorState};
use crate::state::{
    StateBackend, StateDescriptor, StateId, StateKey, StateKind, key_group_of, restore_keyed,
};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{TimeDomain, Timer, TimerService};
use crate::wasm::layout::{put_bytes, split_length_prefixed};

/// Timer namespace of cleanup timers for left records.
const LEFT_NAMESPACE: &[u8] = b"L";
/// Timer namespace of cleanup timers for right records.
const RIGHT_NAMESPACE: &[u8] = b"R";

/// The interval join of one operator subtask.
pub struct IntervalJoin {
    backend: Box<dyn StateBackend>,
    /// Map state per side: timestamp → the records buffered at it.
    left: StateId,
    right: StateId,
    timers: TimerService,
    interval: JoinInterval,
    watermark: i64,
    max_parallelism: u32,
    side_outputs: Vec<String>,
}

impl IntervalJoin {
    /// A join over `interval` keeping its buffers in `backend`.
    pub fn new(
        mut backend: Box<dyn StateBackend>,
        interval: JoinInterval,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let mut map_state = |name: &str| {
            backend.register(&StateDescriptor {
                name: name.into(),
                kind: StateKind::Map,
                ttl: None,
            })
        };
        let left = map_state("eddy.join-left")?;
        let right = map_state("eddy.join-right")?;
        let timers = backend.timer_service()?;
        Ok(IntervalJoin {
            backend,
            left,
            right,
            timers,
            interval,
            watermark: NO_WATERMARK,
            max_parallelism,
            side_outputs: vec![LATE_LEFT_OUTPUT.into(), LATE_RIGHT_OUTPUT.into()],
        })
    }

    /// Buffer each record of `side` and emit its pairs with the other side's buffer.
    fn process_side(
        &mut self,
        side: InputSide,
        input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let (own, other) = match side {
            InputSide::First => (self.left, self.right),
            InputSide::Second => (self.right, self.left),
        };
        // Timestamps of the other side that a record at `t` joins: `t + from ..= t + to`.
        let (from, to) = match side {
            InputSide::First => (self.interval.lower, self.interval.upper),
            InputSide::Second => (-self.interval.upper, -self.interval.lower),
        };
        for mut record in input {
            self.advance(record.watermark)?;
            let timestamp = record.timestamp;
            if timestamp == NO_TIMESTAMP {
                return Err(OperatorError::Record(
                    "an interval join received a record without timestamp; set `timestamp` on the sources of both inputs".into(),
                ));
            }
            if self.watermark != NO_WATERMARK && timestamp < self.watermark {
                let late = match side {
                    InputSide::First => 0,
                    InputSide::Second => 1,
                };
                out.side[late].push(Record::at_watermark(
                    record.value,
                    timestamp,
                    self.watermark,
                ));
                continue;
            }
            let key = record.key.take().ok_or_else(|| {
                OperatorError::Record("an interval join received a record without key".into())
            })?;
            let key_group = key_group_of(&key, self.max_parallelism);
            let at = StateKey::new(key_group, &key, b"");
            let map_key = timestamp_key(timestamp);

            let mut buffered = self.backend.map_get(own, at, &map_key)?.unwrap_or_default();
            put_bytes(&mut buffered, &record.value);
            self.backend.map_put(own, at, &map_key, &buffered)?;

            let (lowest, highest) = (timestamp.saturating_add(from), timestamp.saturating_add(to));
            for (other_key, others) in self.backend.map_entries(other, at)? {
                let other_timestamp = timestamp_of(&other_key)?;
                if other_timestamp < lowest || other_timestamp > highest {
                    continue;
                }
                let others = split_length_prefixed(&others)
                    .map_err(|e| OperatorError::Record(format!("interval join buffer: {e}")))?;
                for other_value in &others {
                    let (left, right) = match side {
                        InputSide::First => (&record.value, other_value),
                        InputSide::Second => (other_value, &record.value),
                    };
                    out.main.push(Record::at_watermark(
                        joined_pair(left, right),
                        timestamp.max(other_timestamp),
                        self.watermark,
                    ));
                }
            }

            // Kept until the watermark passes the last timestamp of the other
            // side it can join; from then on such records are late.
            let namespace = match side {
                InputSide::First => LEFT_NAMESPACE,
                InputSide::Second => RIGHT_NAMESPACE,
            };
            let cleanup = highest.max(timestamp).saturating_add(1);
            self.timers.register(
                TimeDomain::EventTime,
                Timer {
                    timestamp: cleanup,
                    key_group,
                    key,
                    namespace: namespace.to_vec(),
                },
            )?;
        }
        Ok(())
    }

    /// Move to `watermark` if it is ahead, dropping the buffered records
    /// nothing can join any more.
    fn advance(&mut self, watermark: i64) -> Result<(), OperatorError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        if self.timers.next_event_time().is_none_or(|t| t > watermark) {
            return Ok(());
        }
        for timer in self
            .timers
            .pop_due(TimeDomain::EventTime, watermark, usize::MAX)?
        {
            let (state, timestamp) = self.buffered_timestamp(&timer);
            let at = StateKey::new(timer.key_group, &timer.key, b"");
            self.backend
                .map_remove(state, at, &timestamp_key(timestamp))?;
        }
        Ok(())
    }

    /// The buffer and timestamp a cleanup timer is for (the inverse of
    /// the cleanup time set in `process_side`).
    fn buffered_timestamp(&self, timer: &Timer) -> (StateId, i64) {
        let last_kept = timer.timestamp - 1;
        if timer.namespace == LEFT_NAMESPACE {
            (self.left, last_kept - self.interval.upper.max(0))
        } else {
            (self.right, last_kept - (-self.interval.lower).max(0))
        }
    }

    /// Timestamps buffered for `key` on `side`, in order (for tests).
    pub fn buffered(&mut self, side: InputSide, key: &[u8]) -> Result<Vec<i64>, OperatorError> {
        let state = match side {
            InputSide::First => self.left,
            InputSide::Second => self.right,
        };
        let at = StateKey::new(key_group_of(key, self.max_parallelism), key, b"");
        self.backend
            .map_entries(state, at)?
            .iter()
            .map(|(map_key, _)| timestamp_of(map_key))
            .collect()
    }
}

impl Operator for IntervalJoin {
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        self.process_side(InputSide::First, input, out)
    }

    fn process_second(
        &mut self,
        input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        self.process_side(InputSide::Second, input, out)
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Collector) -> Result<(), OperatorError> {
        self.advance(watermark)
    }

    fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }
    fn snapshot_state(
        &mut self,
        scratch: &std::path::Path,
    ) -> Result<Option<OperatorSnapshot>, OperatorError> {
        keyed_snapshot(self.backend.as_mut(), &self.timers, self.watermark, scratch).map(Some)
    }

    fn restore_state(&mut self, state: RestoredOperatorState) -> Result<(), OperatorError> {
        self.watermark = restore_keyed(&state, self.backend.as_mut(), &mut self.timers)?;
        Ok(())
    }
}

/// A timestamp as a map key whose byte order is numeric order (sign bit flipped).
fn timestamp_key(timestamp: i64) -> [u8; 8] {
    ((timestamp as u64) ^ (1 << 63)).to_be_bytes()
}

fn timestamp_of(map_key: &[u8]) -> Result<i64, OperatorError> {
    let bytes: [u8; 8] = map_key.try_into().map_err(|_| {
        OperatorError::Record(format!(
            "interval join buffer: a map key of {} bytes is not a timestamp",
            map_key.len()
        ))
    })?;
    Ok((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// `{"left":…,"right":…}`: each side as JSON when it is JSON, else as a string.
fn joined_pair(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(left.len() + right.len() + 20);
    out.extend_from_slice(b"{\"left\":");
    push_json(&mut out, left);
    out.extend_from_slice(b",\"right\":");
    push_json(&mut out, right);
    out.push(b'}');
    out
}

fn push_json(out: &mut Vec<u8>, value: &[u8]) {
    if serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok() {
        out.extend_from_slice(value);
    } else {
        let text = String::from_utf8_lossy(value);
        serde_json::to_writer(&mut *out, text.trim_end()).expect("writing to a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{KeyGroupRange, MemoryStateBackend};

    fn join(lower: i64, upper: i64) -> IntervalJoin {
        let backend = MemoryStateBackend::new("join", KeyGroupRange::for_subtask(0, 1, 128));
        IntervalJoin::new(Box::new(backend), JoinInterval { lower, upper }, 128).unwrap()
    }

    fn record(key: &str, timestamp: i64, value: &str) -> Record {
        Record {
            key: Some(key.as_bytes().to_vec()),
            ..Record::new(value.as_bytes().to_vec(), timestamp)
        }
    }

    fn main_output(out: &mut Collector) -> Vec<(String, i64)> {
        out.main
            .drain(..)
            .map(|r| (String::from_utf8(r.value).unwrap(), r.timestamp))
            .collect()
    }

    #[test]
    fn timestamp_keys_sort_numerically() {
        let mut keys: Vec<_> = [5, -3, 0, i64::MIN, i64::MAX, -1]
            .map(timestamp_key)
            .to_vec();
        keys.sort();
        let sorted: Vec<i64> = keys.iter().map(|k| timestamp_of(k).unwrap()).collect();
        assert_eq!(sorted, vec![i64::MIN, -3, -1, 0, 5, i64::MAX]);
    }

    #[test]
    fn joins_within_bounds_from_either_side() {
        // Right records at t-2 ..= t+1 of a left record at t join.
        let mut join = join(-2, 1);
        let mut out = Collector::with_side_outputs(2);
        join.process_second(
            vec![
                record("k", 7, "r7"),
                record("k", 8, "r8"),
                record("k", 11, "r11"),
                record("k", 12, "r12"),
                record("other", 10, "x"),
            ],
            &mut out,
        )
        .unwrap();
        join.process(vec![record("k", 10, "10")], &mut out).unwrap();
        assert_eq!(
            main_output(&mut out),
            vec![
                (r#"{"left":10,"right":"r8"}"#.to_string(), 10),
                (r#"{"left":10,"right":"r11"}"#.to_string(), 11),
            ]
        );
        // A right record arriving after the left one joins it too.
        join.process_second(vec![record("k", 9, "r9")], &mut out)
            .unwrap();
        assert_eq!(
            main_output(&mut out),
            vec![(r#"{"left":10,"right":"r9"}"#.to_string(), 10)]
        );
    }

    #[test]
    fn late_records_go_to_side_outputs_and_buffers_are_cleaned_up() {
        let mut join = join(-2, 1);
        let mut out = Collector::with_side_outputs(2);
        join.process(vec![record("k", 10, "10")], &mut out).unwrap();
        join.process_second(vec![record("k", 20, "20")], &mut out)
            .unwrap();
        assert_eq!(join.buffered(InputSide::First, b"k").unwrap(), vec![10]);
        // The left record can join right records up to 11: it stays while
        // the watermark is at 11, since a right record at 11 is not late yet.
        join.on_watermark(11, &mut out).unwrap();
        join.process_second(vec![record("k", 11, "r11")], &mut out)
            .unwrap();
        assert_eq!(
            main_output(&mut out),
            vec![(r#"{"left":10,"right":"r11"}"#.to_string(), 11)]
        );
        join.on_watermark(12, &mut out).unwrap();
        // The left buffer at 10 is gone; the right ones at 11 and 20 remain
        // (left records up to 13 and 22 may still join them).
        assert!(join.buffered(InputSide::First, b"k").unwrap().is_empty());
        assert_eq!(
            join.buffered(InputSide::Second, b"k").unwrap(),
            vec![11, 20]
        );
        join.process(vec![record("k", 11, "late")], &mut out)
            .unwrap();
        join.process_second(vec![record("k", 5, "late too")], &mut out)
            .unwrap();
        assert!(out.main.is_empty());
        assert_eq!(
            out.side[0],
            vec![Record::at_watermark(b"late".to_vec(), 11, 12)]
        );
        assert_eq!(
            out.side[1],
            vec![Record::at_watermark(b"late too".to_vec(), 5, 12)]
        );
        join.on_watermark(i64::MAX, &mut out).unwrap();
        assert!(join.buffered(InputSide::Second, b"k").unwrap().is_empty());
        assert_eq!(join.backend.entry_count(), 0);
    }
}
