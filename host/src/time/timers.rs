//! Per-key timers, deduplicated per timestamp and fired in timestamp order.
//!
//! Where timers are kept follows the job's state backend: in memory with the
//! memory backend, in RocksDB with the RocksDB backend (so that, as in
//! Flink, a job with many keys and windows does not keep its timers on the
//! heap). Operators see only [`TimerService`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use hashbrown::HashSet;
use smallvec::SmallVec;

use crate::snapshot::{HeapTimersSnapshot, TimerSnapshot};
pub use crate::snapshot::{TimeDomain, Timer};
use crate::state::StateError;

/// The timers of one time domain, in firing order ([`Timer`]'s order).
/// One implementation per state backend.
pub trait TimerQueue: Send {
    /// Add `timer`; an equal timer already queued is kept once.
    fn insert(&mut self, timer: Timer) -> Result<(), StateError>;
    /// Remove `timer` if it is queued.
    fn remove(&mut self, timer: &Timer) -> Result<(), StateError>;
    /// Remove and return, in order, the timers with timestamp <= `time`, at most `limit`.
    fn pop_due(&mut self, time: i64, limit: usize) -> Result<Vec<Timer>, StateError>;
    /// Timestamp of the first timer, without touching storage.
    fn first_timestamp(&self) -> Option<i64>;
    /// Number of timers queued (for tests and metrics; may scan).
    fn len(&self) -> usize;
    /// Every timer as it is now, for a checkpoint, if this queue keeps
    /// them on the heap; `None` if they are in the backend's storage, whose
    /// own snapshot then holds them (RocksDB's checkpoint does).
    fn heap_snapshot(&self) -> Option<Box<dyn HeapTimersSnapshot>>;
    /// Whether no timer is queued.
    fn is_empty(&self) -> bool {
        self.first_timestamp().is_none()
    }
}

/// Timers kept on the heap, grouped by timestamp.
///
/// Every key's one-minute window ends at the same instant, so a queue holds
/// few timestamps with many timers each. Such a timestamp keeps its timers
/// in hash sets: a timer costs a hash-set insert rather than an
/// ordered-tree insert that compares keys all the way down, and they are
/// put in order once, when they start to fire. A timestamp with few timers
/// (a process function's `now + 30s`) keeps them in a short sorted list.
/// A checkpoint shares the storage rather than copying it
/// ([`HeapTimersSnapshot`]); the sets are split into shards by key group so
/// that the first insert after a checkpoint copies one shard, not a whole
/// timestamp's timers.
#[derive(Debug, Default)]
pub struct HeapTimerQueue {
    by_timestamp: BTreeMap<i64, TimestampTimers>,
    len: usize,
}

/// Shards of a timestamp's timers once they are many.
const SHARDS: usize = 32;

/// Most timers a timestamp keeps in one sorted list.
const FEW: usize = 64;

/// What a timer is for, within its timestamp. Its derived order must stay
/// the one [`Timer`] has within a timestamp (key group, then key, then
/// namespace): it is the firing order. Short keys and window namespaces
/// are kept inline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct TimerKey {
    key_group: u16,
    key: SmallVec<[u8; 16]>,
    namespace: SmallVec<[u8; 16]>,
}

impl TimerKey {
    fn of(timer: &Timer) -> Self {
        TimerKey {
            key_group: timer.key_group,
            key: SmallVec::from_slice(&timer.key),
            namespace: SmallVec::from_slice(&timer.namespace),
        }
    }

    fn at(&self, timestamp: i64) -> Timer {
        Timer {
            timestamp,
            key_group: self.key_group,
            key: self.key.to_vec(),
            namespace: self.namespace.to_vec(),
        }
    }

    fn shard(&self) -> usize {
        usize::from(self.key_group) % SHARDS
    }
}

/// The timers of one timestamp.
#[derive(Debug, Clone)]
enum TimestampTimers {
    /// Up to [`FEW`], in firing order, shared with checkpoints.
    Few(Arc<Vec<TimerKey>>),
    /// More: in no order, in [`SHARDS`] shards shared with checkpoints.
    Many(Vec<Arc<HashSet<TimerKey>>>),
    /// Firing (what is left after a `pop_due` that stopped at its limit):
    /// in firing order.
    Firing(VecDeque<TimerKey>),
}

impl TimestampTimers {
    /// Whether the timer was new.
    fn insert(&mut self, key: TimerKey) -> bool {
        match self {
            TimestampTimers::Few(few) => match few.binary_search(&key) {
                Ok(_) => false,
                Err(_) if few.len() == FEW => {
                    let mut shards = vec![HashSet::new(); SHARDS];
                    for key in few.iter().cloned().chain([key]) {
                        shards[key.shard()].insert(key);
                    }
                    *self = TimestampTimers::Many(shards.into_iter().map(Arc::new).collect());
                    true
                }
                Err(at) => {
                    Arc::make_mut(few).insert(at, key);
                    true
                }
            },
            TimestampTimers::Many(shards) => {
                let shard = &mut shards[key.shard()];
                !shard.contains(&key) && Arc::make_mut(shard).insert(key)
            }
            TimestampTimers::Firing(ordered) => match ordered.binary_search(&key) {
                Ok(_) => false,
                Err(at) => {
                    ordered.insert(at, key);
                    true
                }
            },
        }
    }

    /// Whether the timer was there.
    fn remove(&mut self, key: &TimerKey) -> bool {
        match self {
            TimestampTimers::Few(few) => match few.binary_search(key) {
                Ok(at) => {
                    Arc::make_mut(few).remove(at);
                    true
                }
                Err(_) => false,
            },
            TimestampTimers::Many(shards) => {
                let shard = &mut shards[key.shard()];
                shard.contains(key) && Arc::make_mut(shard).remove(key)
            }
            TimestampTimers::Firing(ordered) => match ordered.binary_search(key) {
                Ok(at) => ordered.remove(at).is_some(),
                Err(_) => false,
            },
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            TimestampTimers::Few(few) => few.is_empty(),
            TimestampTimers::Many(shards) => shards.iter().all(|shard| shard.is_empty()),
            TimestampTimers::Firing(ordered) => ordered.is_empty(),
        }
    }

    /// The timers in firing order, ready to fire.
    fn firing(&mut self) -> &mut VecDeque<TimerKey> {
        if !matches!(self, TimestampTimers::Firing(_)) {
            let waiting = std::mem::replace(self, TimestampTimers::Firing(VecDeque::new()));
            *self = TimestampTimers::Firing(waiting.into_ordered().into());
        }
        match self {
            TimestampTimers::Firing(ordered) => ordered,
            _ => unreachable!("just put in order"),
        }
    }

    /// The timers in firing order; moved, not copied, where no checkpoint
    /// shares them.
    fn into_ordered(self) -> Vec<TimerKey> {
        match self {
            TimestampTimers::Few(few) => Arc::unwrap_or_clone(few),
            TimestampTimers::Many(shards) => {
                let mut ordered = Vec::with_capacity(shards.iter().map(|shard| shard.len()).sum());
                for shard in shards {
                    ordered.extend(Arc::unwrap_or_clone(shard));
                }
                ordered.sort_unstable();
                ordered
            }
            TimestampTimers::Firing(ordered) => ordered.into(),
        }
    }
}

/// A [`HeapTimerQueue`] as it was at a barrier, sharing its storage.
#[derive(Debug)]
struct SharedHeapTimers {
    by_timestamp: Vec<(i64, TimestampTimers)>,
}

impl HeapTimersSnapshot for SharedHeapTimers {
    fn into_timers(self: Box<Self>) -> Vec<Timer> {
        let mut timers = Vec::new();
        for (timestamp, at) in self.by_timestamp {
            timers.extend(at.into_ordered().iter().map(|key| key.at(timestamp)));
        }
        timers
    }
}

impl TimerQueue for HeapTimerQueue {
    fn insert(&mut self, timer: Timer) -> Result<(), StateError> {
        let at = self
            .by_timestamp
            .entry(timer.timestamp)
            .or_insert_with(|| TimestampTimers::Few(Arc::default()));
        if at.insert(TimerKey::of(&timer)) {
            self.len += 1;
        }
        Ok(())
    }

    fn remove(&mut self, timer: &Timer) -> Result<(), StateError> {
        let Some(at) = self.by_timestamp.get_mut(&timer.timestamp) else {
            return Ok(());
        };
        if at.remove(&TimerKey::of(timer)) {
            self.len -= 1;
            if at.is_empty() {
                self.by_timestamp.remove(&timer.timestamp);
            }
        }
        Ok(())
    }

    fn pop_due(&mut self, time: i64, limit: usize) -> Result<Vec<Timer>, StateError> {
        let mut due = Vec::new();
        while due.len() < limit {
            let Some(mut first) = self.by_timestamp.first_entry() else {
                break;
            };
            let timestamp = *first.key();
            if timestamp > time {
                break;
            }
            let ordered = first.get_mut().firing();
            let take = ordered.len().min(limit - due.len());
            due.extend(ordered.drain(..take).map(|key| key.at(timestamp)));
            self.len -= take;
            if ordered.is_empty() {
                first.remove();
            }
        }
        Ok(due)
    }

    fn first_timestamp(&self) -> Option<i64> {
        self.by_timestamp.keys().next().copied()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn heap_snapshot(&self) -> Option<Box<dyn HeapTimersSnapshot>> {
        let by_timestamp = (self.by_timestamp.iter())
            .map(|(&timestamp, at)| (timestamp, at.clone()))
            .collect();
        Some(Box::new(SharedHeapTimers { by_timestamp }))
    }
}

/// The timers of one keyed operator subtask, one queue per time domain.
pub struct TimerService {
    event_time: Box<dyn TimerQueue>,
    processing_time: Box<dyn TimerQueue>,
}

impl Default for TimerService {
    /// Timers on the heap.
    fn default() -> Self {
        TimerService::new(
            Box::<HeapTimerQueue>::default(),
            Box::<HeapTimerQueue>::default(),
        )
    }
}

impl std::fmt::Debug for TimerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerService")
            .field("event_time", &self.event_time.len())
            .field("processing_time", &self.processing_time.len())
            .finish()
    }
}

impl TimerService {
    /// Timers kept in the two given queues.
    pub fn new(event_time: Box<dyn TimerQueue>, processing_time: Box<dyn TimerQueue>) -> Self {
        TimerService {
            event_time,
            processing_time,
        }
    }

    fn queue(&mut self, domain: TimeDomain) -> &mut dyn TimerQueue {
        match domain {
            TimeDomain::EventTime => self.event_time.as_mut(),
            TimeDomain::ProcessingTime => self.processing_time.as_mut(),
        }
    }

    /// Register a timer; a timer already registered for the same key and timestamp is kept once.
    pub fn register(&mut self, domain: TimeDomain, timer: Timer) -> Result<(), StateError> {
        self.queue(domain).insert(timer)
    }

    /// Remove a timer if it is registered.
    pub fn delete(&mut self, domain: TimeDomain, timer: &Timer) -> Result<(), StateError> {
        self.queue(domain).remove(timer)
    }

    /// Remove and return, in timestamp order, every timer due at `time`
    /// (timestamp <= time), at most `limit` of them.
    pub fn pop_due(
        &mut self,
        domain: TimeDomain,
        time: i64,
        limit: usize,
    ) -> Result<Vec<Timer>, StateError> {
        self.queue(domain).pop_due(time, limit)
    }

    /// The timers for a checkpoint, shared rather than copied, if they are
    /// kept on the heap (`None` when the backend's own snapshot holds them,
    /// as RocksDB's does).
    pub fn snapshot(&self) -> Option<TimerSnapshot> {
        let domains: Vec<_> = [
            (TimeDomain::EventTime, self.event_time.heap_snapshot()),
            (
                TimeDomain::ProcessingTime,
                self.processing_time.heap_snapshot(),
            ),
        ]
        .into_iter()
        .filter_map(|(domain, snapshot)| Some((domain, snapshot?)))
        .collect();
        (!domains.is_empty()).then_some(TimerSnapshot { domains })
    }

    /// Earliest processing-time timer, to know when to wake up.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.processing_time.first_timestamp()
    }

    /// Earliest event-time timer: a watermark below it fires nothing, so an
    /// operator need not stop in the middle of a batch for it.
    pub fn next_event_time(&self) -> Option<i64> {
        self.event_time.first_timestamp()
    }

    /// Number of timers registered in `domain`.
    pub fn len(&self, domain: TimeDomain) -> usize {
        match domain {
            TimeDomain::EventTime => self.event_time.len(),
            TimeDomain::ProcessingTime => self.processing_time.len(),
        }
    }
}

/// The behaviour every [`TimerQueue`] must have, checked by each backend's tests.
#[cfg(test)]
pub(crate) fn check_timer_queue(mut service: TimerService) {
    fn timer(ts: i64, key: &str) -> Timer {
        Timer::keyed(ts, 0, key.as_bytes().to_vec())
    }
    let register = |service: &mut TimerService, domain, t| service.register(domain, t).unwrap();
    register(&mut service, TimeDomain::EventTime, timer(30, "a"));
    register(&mut service, TimeDomain::EventTime, timer(10, "b"));
    register(&mut service, TimeDomain::EventTime, timer(10, "b"));
    register(&mut service, TimeDomain::EventTime, timer(20, "a"));
    register(&mut service, TimeDomain::EventTime, timer(-5, "neg"));
    // Same timestamp: ordered by key bytes, a prefix first.
    register(&mut service, TimeDomain::EventTime, timer(20, "ab"));
    register(&mut service, TimeDomain::EventTime, timer(20, "\0"));
    let mut windowed = timer(20, "a");
    windowed.namespace = b"w".to_vec();
    register(&mut service, TimeDomain::EventTime, windowed.clone());
    register(&mut service, TimeDomain::ProcessingTime, timer(7, "a"));
    register(&mut service, TimeDomain::ProcessingTime, timer(5, "a"));
    assert_eq!(service.len(TimeDomain::EventTime), 7);
    assert_eq!(service.next_processing_time(), Some(5));
    let due = service
        .pop_due(TimeDomain::EventTime, 20, usize::MAX)
        .unwrap();
    assert_eq!(
        due,
        vec![
            timer(-5, "neg"),
            timer(10, "b"),
            timer(20, "\0"),
            timer(20, "a"),
            windowed,
            timer(20, "ab"),
        ]
    );
    service
        .delete(TimeDomain::EventTime, &timer(30, "a"))
        .unwrap();
    assert!(
        service
            .pop_due(TimeDomain::EventTime, i64::MAX, usize::MAX)
            .unwrap()
            .is_empty()
    );
    service
        .delete(TimeDomain::ProcessingTime, &timer(5, "a"))
        .unwrap();
    assert_eq!(service.next_processing_time(), Some(7));
    assert_eq!(
        service.pop_due(TimeDomain::ProcessingTime, 100, 1).unwrap(),
        vec![timer(7, "a")]
    );
    assert_eq!(service.next_processing_time(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_timers_are_deduplicated_and_fire_in_order() {
        check_timer_queue(TimerService::default());
    }

    /// A snapshot shares the queue's sets: what the queue does after it
    /// must not show in it, and it reads out in firing order.
    #[test]
    fn a_heap_snapshot_keeps_the_timers_of_its_barrier() {
        let window_timer = |timestamp, key_group: u16, key: &str| Timer {
            timestamp,
            key_group,
            key: key.as_bytes().to_vec(),
            namespace: b"window".to_vec(),
        };
        let mut service = TimerService::default();
        let mut expected = Vec::new();
        for key_group in (0..100u16).rev() {
            for timestamp in [60, 120] {
                let timer = window_timer(timestamp, key_group, "k");
                service
                    .register(TimeDomain::EventTime, timer.clone())
                    .unwrap();
                expected.push((TimeDomain::EventTime, timer));
            }
        }
        service
            .register(
                TimeDomain::ProcessingTime,
                Timer::keyed(5, 3, b"p".to_vec()),
            )
            .unwrap();
        expected.push((
            TimeDomain::ProcessingTime,
            Timer::keyed(5, 3, b"p".to_vec()),
        ));
        expected.sort();
        let snapshot = service.snapshot().unwrap();

        // After the barrier: new timers, deleted ones, and fired ones.
        for key_group in 0..100u16 {
            (service.register(TimeDomain::EventTime, window_timer(60, key_group, "new"))).unwrap();
        }
        (service.delete(TimeDomain::EventTime, &window_timer(120, 7, "k"))).unwrap();
        let fired = service.pop_due(TimeDomain::EventTime, 60, 150).unwrap();
        assert_eq!(fired.len(), 150);
        assert_eq!(fired[0], window_timer(60, 0, "k"));
        assert_eq!(fired[1], window_timer(60, 0, "new"));
        (service.register(
            TimeDomain::ProcessingTime,
            Timer::keyed(9, 0, b"q".to_vec()),
        ))
        .unwrap();

        let taken: Vec<_> = snapshot.into_timers().collect();
        assert_eq!(taken, expected);
        assert_eq!(service.len(TimeDomain::EventTime), 200 + 100 - 1 - 150);

        // Timestamp 60 is half fired (key groups 75..100 are left): a timer
        // added there fires in its place, a deleted one does not fire, and
        // a snapshot taken now keeps what was left.
        let register = |service: &mut TimerService, timer| {
            service.register(TimeDomain::EventTime, timer).unwrap();
        };
        register(&mut service, window_timer(60, 0, "a"));
        register(&mut service, window_timer(60, 80, "k"));
        (service.delete(TimeDomain::EventTime, &window_timer(60, 80, "new"))).unwrap();
        assert_eq!(service.len(TimeDomain::EventTime), 149);
        let half_fired = service.snapshot().unwrap();
        let rest = service.pop_due(TimeDomain::EventTime, 60, 1000).unwrap();
        let mut expected_rest = vec![window_timer(60, 0, "a")];
        for key_group in 75..100 {
            expected_rest.push(window_timer(60, key_group, "k"));
            if key_group != 80 {
                expected_rest.push(window_timer(60, key_group, "new"));
            }
        }
        assert_eq!(rest, expected_rest);
        assert_eq!(service.len(TimeDomain::EventTime), 99);
        let taken: Vec<_> = (half_fired.into_timers())
            .filter(|(domain, timer)| *domain == TimeDomain::EventTime && timer.timestamp == 60)
            .map(|(_, timer)| timer)
            .collect();
        assert_eq!(taken, expected_rest);
    }
}
