//! State time-to-live, as Flink's `StateTtlConfig`: entries of a state with
//! a TTL expire a fixed processing time after they were written (or last
//! read), are never returned once expired, and are cleaned up so that state
//! does not grow without bound.
//!
//! [`TtlStates`] wraps any backend and does the part that is the same for
//! all of them: it stamps every value, list element and map value it writes
//! with the processing time at which it expires (`[i64 expires at, BE][value]`),
//! hides expired entries on read and removes them as it meets them. The
//! backends only add cleanup in the background, each in its own way: the
//! memory backend sweeps a key group now and then as its states are used,
//! and RocksDB drops expired entries in a compaction filter. Both read the
//! stamp through [`expires_at`].

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::{
    KeyGroupRange, MapEntry, StateBackend, StateDescriptor, StateError, StateId, StateKey,
    StateTtl, TtlUpdate,
};
use crate::snapshot::{KeyedStateSnapshot, StoredEntry};
use crate::time::TimerService;

/// Length of the expiry stamp in front of every value of a state with a TTL.
pub const STAMP_LEN: usize = 8;

/// The processing-time clock TTL is measured on: the system clock in jobs,
/// a hand-moved one in tests.
#[derive(Debug, Clone, Default)]
pub enum TtlClock {
    /// Milliseconds since the Unix epoch.
    #[default]
    System,
    /// A clock that moves only when told to.
    Manual(Arc<AtomicI64>),
}

impl TtlClock {
    /// A clock standing at `millis` until moved with [`TtlClock::advance`].
    pub fn manual(millis: i64) -> Self {
        TtlClock::Manual(Arc::new(AtomicI64::new(millis)))
    }

    /// Current time in milliseconds.
    pub fn now(&self) -> i64 {
        match self {
            TtlClock::System => crate::time::processing_time_now(),
            TtlClock::Manual(millis) => millis.load(Ordering::Relaxed),
        }
    }

    /// Move a manual clock forward by `millis`; the system clock cannot be moved.
    pub fn advance(&self, millis: i64) {
        match self {
            TtlClock::System => panic!("the system clock cannot be moved"),
            TtlClock::Manual(now) => {
                now.fetch_add(millis, Ordering::Relaxed);
            }
        }
    }
}

/// When a stamped value expires, or `None` if it is too short to hold a stamp.
pub fn expires_at(stored: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(
        stored.get(..STAMP_LEN)?.try_into().ok()?,
    ))
}

/// Whether a stamped value has expired at `now`. A value too short to be
/// stamped counts as live, so cleanup never drops what it cannot read.
pub fn is_expired(stored: &[u8], now: i64) -> bool {
    expires_at(stored).is_some_and(|at| at <= now)
}

/// `value` stamped to expire at `expires`.
fn stamp(expires: i64, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(STAMP_LEN + value.len());
    stored.extend_from_slice(&expires.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

/// The value behind the stamp, if it is live at `now`.
fn unstamp(stored: &[u8], now: i64) -> Result<Option<&[u8]>, StateError> {
    let expires = expires_at(stored).ok_or_else(|| {
        StateError::Storage(format!(
            "a stored value of a state with a time-to-live has {} bytes, fewer than its {STAMP_LEN}-byte expiry stamp",
            stored.len()
        ))
    })?;
    Ok((expires > now).then(|| &stored[STAMP_LEN..]))
}

/// A backend whose states with a TTL expire: every operator's backend is
/// wrapped in one, and states without a TTL pass straight through.
pub struct TtlStates {
    inner: Box<dyn StateBackend>,
    clock: TtlClock,
    /// By state id.
    ttls: Vec<Option<StateTtl>>,
}

impl TtlStates {
    /// Enforce TTLs on `inner`, measured on `clock` (the clock the backend's
    /// own background cleanup uses).
    pub fn new(inner: Box<dyn StateBackend>, clock: TtlClock) -> Self {
        TtlStates {
            inner,
            clock,
            ttls: Vec::new(),
        }
    }

    fn ttl(&self, state: StateId) -> Option<StateTtl> {
        self.ttls.get(state.0 as usize).copied().flatten()
    }

    /// `value` as `state` stores it: stamped with its expiry if the state has a TTL.
    fn stored_form<'v>(&self, state: StateId, value: &'v [u8]) -> Cow<'v, [u8]> {
        match self.ttl(state) {
            None => Cow::Borrowed(value),
            Some(ttl) => Cow::Owned(stamp(ttl.expiry(self.clock.now()), value)),
        }
    }
}

impl StateTtl {
    /// When a value written (or, with [`TtlUpdate::OnReadAndWrite`], read) at `now` expires.
    fn expiry(&self, now: i64) -> i64 {
        now.saturating_add(self.millis.min(i64::MAX as u64) as i64)
    }

    fn refreshed_on_read(&self) -> bool {
        self.update == TtlUpdate::OnReadAndWrite
    }
}

impl StateBackend for TtlStates {
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError> {
        let id = self.inner.register(descriptor)?;
        let index = id.0 as usize;
        if self.ttls.len() <= index {
            self.ttls.resize(index + 1, None);
        }
        self.ttls[index] = descriptor.ttl;
        Ok(id)
    }

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let Some(ttl) = self.ttl(state) else {
            return self.inner.value_get(state, at);
        };
        let Some(stored) = self.inner.value_get(state, at)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(value) = unstamp(&stored, now)? else {
            self.inner.clear(state, at)?;
            return Ok(None);
        };
        if ttl.refreshed_on_read() {
            self.inner
                .value_set(state, at, &stamp(ttl.expiry(now), value))?;
        }
        Ok(Some(value.to_vec()))
    }

    fn value_get_into(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        if self.ttl(state).is_none() {
            return self.inner.value_get_into(state, at, out);
        }
        Ok(super::copy_value_into(self.value_get(state, at)?, out))
    }

    fn value_set(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        value: &[u8],
    ) -> Result<(), StateError> {
        let stored = self.stored_form(state, value);
        self.inner.value_set(state, at, &stored)
    }

    fn list_get(&mut self, state: StateId, at: StateKey<'_>) -> Result<Vec<Vec<u8>>, StateError> {
        let Some(ttl) = self.ttl(state) else {
            return self.inner.list_get(state, at);
        };
        let stored = self.inner.list_get(state, at)?;
        let now = self.clock.now();
        let mut live = Vec::with_capacity(stored.len());
        for element in &stored {
            if let Some(value) = unstamp(element, now)? {
                live.push(value.to_vec());
            }
        }
        if ttl.refreshed_on_read() && !live.is_empty() {
            let expiry = ttl.expiry(now);
            let restamped = live.iter().map(|v| stamp(expiry, v)).collect();
            self.inner.list_update(state, at, restamped)?;
        } else if live.len() < stored.len() {
            // Drop the expired elements, keeping the live ones' stamps.
            let kept = stored.into_iter().filter(|e| !is_expired(e, now)).collect();
            self.inner.list_update(state, at, kept)?;
        }
        Ok(live)
    }

    fn list_add(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        element: &[u8],
    ) -> Result<(), StateError> {
        let stored = self.stored_form(state, element);
        self.inner.list_add(state, at, &stored)
    }

    fn list_update(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        elements: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        match self.ttl(state) {
            None => self.inner.list_update(state, at, elements),
            Some(ttl) => {
                let expiry = ttl.expiry(self.clock.now());
                let stored = elements.iter().map(|e| stamp(expiry, e)).collect();
                self.inner.list_update(state, at, stored)
            }
        }
    }

    fn map_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let Some(ttl) = self.ttl(state) else {
            return self.inner.map_get(state, at, map_key);
        };
        let Some(stored) = self.inner.map_get(state, at, map_key)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(value) = unstamp(&stored, now)? else {
            self.inner.map_remove(state, at, map_key)?;
            return Ok(None);
        };
        if ttl.refreshed_on_read() {
            self.inner
                .map_put(state, at, map_key, &stamp(ttl.expiry(now), value))?;
        }
        Ok(Some(value.to_vec()))
    }

    fn map_put(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let stored = self.stored_form(state, value);
        self.inner.map_put(state, at, map_key, &stored)
    }

    fn map_remove(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<(), StateError> {
        self.inner.map_remove(state, at, map_key)
    }

    fn map_entries(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Vec<MapEntry>, StateError> {
        let Some(ttl) = self.ttl(state) else {
            return self.inner.map_entries(state, at);
        };
        let now = self.clock.now();
        let mut live = Vec::new();
        for (map_key, stored) in self.inner.map_entries(state, at)? {
            match unstamp(&stored, now)? {
                None => self.inner.map_remove(state, at, &map_key)?,
                Some(value) => {
                    if ttl.refreshed_on_read() {
                        let restamped = stamp(ttl.expiry(now), value);
                        self.inner.map_put(state, at, &map_key, &restamped)?;
                    }
                    live.push((map_key, value.to_vec()));
                }
            }
        }
        Ok(live)
    }

    fn clear(&mut self, state: StateId, at: StateKey<'_>) -> Result<(), StateError> {
        self.inner.clear(state, at)
    }

    fn key_groups(&self) -> &KeyGroupRange {
        self.inner.key_groups()
    }

    fn entry_count(&mut self) -> usize {
        self.inner.entry_count()
    }

    fn snapshot(
        &mut self,
        dir: &std::path::Path,
    ) -> Result<Box<dyn KeyedStateSnapshot>, StateError> {
        self.inner.snapshot(dir)
    }

    fn purge_expired(&mut self) -> Result<(), StateError> {
        self.inner.purge_expired()
    }

    fn restore_entry(&mut self, entry: &StoredEntry) -> Result<(), StateError> {
        // Stored entries carry their stamps already: restamping them now
        // would extend the life of every entry by the time since the checkpoint.
        self.inner.restore_entry(entry)
    }

    fn timer_service(&mut self) -> Result<TimerService, StateError> {
        self.inner.timer_service()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_hide_expired_values() {
        let stored = stamp(100, b"v");
        assert_eq!(expires_at(&stored), Some(100));
        assert_eq!(unstamp(&stored, 99).unwrap(), Some(&b"v"[..]));
        assert_eq!(
            unstamp(&stored, 100).unwrap(),
            None,
            "expired at its expiry"
        );
        assert!(unstamp(b"short", 0).is_err());
        assert!(!is_expired(b"short", i64::MAX), "unreadable means kept");
    }

    #[test]
    fn a_ttl_near_the_end_of_time_saturates() {
        let ttl = StateTtl {
            millis: u64::MAX,
            update: TtlUpdate::OnCreateAndWrite,
        };
        assert_eq!(ttl.expiry(5), i64::MAX);
    }
}
