//! Per-key timers, deduplicated per timestamp and fired in timestamp order.

use std::collections::BTreeSet;

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeDomain {
    EventTime,
    ProcessingTime,
}

/// One registered timer. Ordered by timestamp first, so a set iterates in
/// firing order; registering an equal timer again is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timer {
    pub timestamp: i64,
    pub key_group: u16,
    pub key: Vec<u8>,
    /// What the timer is for within its key: a window's namespace for
    /// window timers, empty for timers of process functions.
    pub namespace: Vec<u8>,
}

impl Timer {
    /// A timer of a process function (no namespace).
    pub fn keyed(timestamp: i64, key_group: u16, key: Vec<u8>) -> Self {
        Timer {
            timestamp,
            key_group,
            key,
            namespace: Vec::new(),
        }
    }
}

/// The timers of one keyed operator subtask.
#[derive(Debug, Default)]
pub struct TimerService {
    event_time: BTreeSet<Timer>,
    processing_time: BTreeSet<Timer>,
}

impl TimerService {
    fn set_mut(&mut self, domain: TimeDomain) -> &mut BTreeSet<Timer> {
        match domain {
            TimeDomain::EventTime => &mut self.event_time,
            TimeDomain::ProcessingTime => &mut self.processing_time,
        }
    }

    /// Register a timer; a timer already registered for the same key and timestamp is kept once.
    pub fn register(&mut self, domain: TimeDomain, timer: Timer) {
        self.set_mut(domain).insert(timer);
    }

    /// Remove a timer if it is registered.
    pub fn delete(&mut self, domain: TimeDomain, timer: &Timer) {
        self.set_mut(domain).remove(timer);
    }

    /// Remove and return, in timestamp order, every timer due at `time`
    /// (timestamp <= time), at most `limit` of them.
    pub fn pop_due(&mut self, domain: TimeDomain, time: i64, limit: usize) -> Vec<Timer> {
        let set = self.set_mut(domain);
        let mut due = Vec::new();
        while due.len() < limit {
            match set.first() {
                Some(first) if first.timestamp <= time => due.push(set.pop_first().unwrap()),
                _ => break,
            }
        }
        due
    }

    /// Earliest processing-time timer, to know when to wake up.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.processing_time.first().map(|t| t.timestamp)
    }

    /// Number of timers registered in `domain`.
    pub fn len(&self, domain: TimeDomain) -> usize {
        match domain {
            TimeDomain::EventTime => self.event_time.len(),
            TimeDomain::ProcessingTime => self.processing_time.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(ts: i64, key: &str) -> Timer {
        Timer::keyed(ts, 0, key.as_bytes().to_vec())
    }

    #[test]
    fn timers_are_deduplicated_and_fire_in_order() {
        let mut service = TimerService::default();
        service.register(TimeDomain::EventTime, timer(30, "a"));
        service.register(TimeDomain::EventTime, timer(10, "b"));
        service.register(TimeDomain::EventTime, timer(10, "b"));
        service.register(TimeDomain::EventTime, timer(20, "a"));
        service.register(TimeDomain::ProcessingTime, timer(5, "a"));
        assert_eq!(service.len(TimeDomain::EventTime), 3);
        let due = service.pop_due(TimeDomain::EventTime, 20, usize::MAX);
        assert_eq!(due, vec![timer(10, "b"), timer(20, "a")]);
        service.delete(TimeDomain::EventTime, &timer(30, "a"));
        assert!(
            service
                .pop_due(TimeDomain::EventTime, i64::MAX, usize::MAX)
                .is_empty()
        );
        assert_eq!(service.next_processing_time(), Some(5));
    }
}
