//! Per-key timers, deduplicated per timestamp and fired in timestamp order.
//!
//! Where timers are kept follows the job's state backend: in memory with the
//! memory backend, in RocksDB with the RocksDB backend (so that, as in
//! Flink, a job with many keys and windows does not keep its timers on the
//! heap). Operators see only [`TimerService`].

use std::collections::BTreeSet;

use crate::snapshot::TimerSnapshot;
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
    /// A copy of every timer, in order, for a checkpoint, if this queue
    /// keeps them on the heap; `None` if they are in the backend's storage,
    /// whose own snapshot then holds them (RocksDB's checkpoint does).
    fn heap_copy(&self) -> Option<Vec<Timer>>;
    /// Whether no timer is queued.
    fn is_empty(&self) -> bool {
        self.first_timestamp().is_none()
    }
}

/// Timers kept on the heap.
#[derive(Debug, Default)]
pub struct HeapTimerQueue {
    timers: BTreeSet<Timer>,
}

impl TimerQueue for HeapTimerQueue {
    fn insert(&mut self, timer: Timer) -> Result<(), StateError> {
        self.timers.insert(timer);
        Ok(())
    }

    fn remove(&mut self, timer: &Timer) -> Result<(), StateError> {
        self.timers.remove(timer);
        Ok(())
    }

    fn pop_due(&mut self, time: i64, limit: usize) -> Result<Vec<Timer>, StateError> {
        let mut due = Vec::new();
        while due.len() < limit {
            match self.timers.first() {
                Some(first) if first.timestamp <= time => {
                    due.extend(self.timers.pop_first());
                }
                _ => break,
            }
        }
        Ok(due)
    }

    fn first_timestamp(&self) -> Option<i64> {
        self.timers.first().map(|t| t.timestamp)
    }

    fn len(&self) -> usize {
        self.timers.len()
    }

    fn heap_copy(&self) -> Option<Vec<Timer>> {
        Some(self.timers.iter().cloned().collect())
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

    /// A copy of the timers for a checkpoint, if they are kept on the heap
    /// (`None` when the backend's own snapshot holds them, as RocksDB's does).
    pub fn snapshot(&self) -> Option<TimerSnapshot> {
        let event_time = self.event_time.heap_copy();
        let processing_time = self.processing_time.heap_copy();
        if event_time.is_none() && processing_time.is_none() {
            return None;
        }
        let timers = (event_time.into_iter().flatten())
            .map(|timer| (TimeDomain::EventTime, timer))
            .chain(
                (processing_time.into_iter().flatten())
                    .map(|timer| (TimeDomain::ProcessingTime, timer)),
            )
            .collect();
        Some(TimerSnapshot { timers })
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
}
