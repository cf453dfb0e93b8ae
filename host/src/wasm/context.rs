//! The data of every guest store: the sandbox (WASI without capabilities,
//! memory limits), log tagging, and the host side of the `log` and `state` imports.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::keyed::eddy::dataflow::{log, state, types};
use super::output::GuestOutput;
use crate::state::{
    BroadcastAccess, BroadcastEntries, BroadcastState, Overlay, PendingWrites, StateBackend,
    StateError, StateId, StateKey,
};

/// The tracing target of everything a guest says: its `log` calls and its
/// stdout and stderr lines, so that one filter (`EDDY_LOG=eddy::guest=debug`)
/// shows or hides all of it apart from the host's own lines.
pub const GUEST_TARGET: &str = "eddy::guest";

/// Which operator subtask a guest belongs to, for logs and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestTag {
    pub operator: String,
    pub subtask: u32,
    pub parallelism: u32,
}

impl std::fmt::Display for GuestTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "operator `{}` (subtask {}/{})",
            self.operator,
            self.subtask + 1,
            self.parallelism
        )
    }
}

/// Keyed state reachable from a guest during one `process-batch` call.
pub struct KeyedStateAccess {
    pub backend: Box<dyn StateBackend>,
    /// Backend id of each state, by its index in the guest's descriptor.
    pub state_ids: Vec<StateId>,
    /// The key table of the batch in flight: key group and key bytes.
    pub keys: Vec<(u16, Vec<u8>)>,
    /// The guest's `broadcast-map` states (none for most functions).
    pub broadcast: BroadcastState,
    /// Whether the writes of a call reach the backend at once.
    pub writes: StateWrites,
}

/// When the keyed state writes of a guest call reach the backend.
pub enum StateWrites {
    /// As the guest makes them.
    Direct,
    /// When the call returns successfully; a failed call's are dropped
    /// (operators that set aside records the guest fails on).
    Buffered(PendingWrites),
}

/// Why a guest's state reference could not be served.
#[derive(Debug, thiserror::Error)]
pub enum StateAccessError {
    #[error("guest used state index {state}, but it declared {declared} states")]
    UnknownState { state: u32, declared: usize },
    #[error("guest used key ref {key}, but the batch has {keys} keys")]
    UnknownKey { key: u32, keys: usize },
    #[error("state backend: {0}")]
    Backend(#[from] StateError),
}

impl KeyedStateAccess {
    /// Run `op` on the backend at the location of (`state`, `key`) of the
    /// batch in flight; the one place guest state references are resolved,
    /// for imports during a call and for updates in its output.
    pub fn at<R>(
        &mut self,
        state: u32,
        key: u32,
        op: impl FnOnce(&mut dyn StateBackend, StateId, StateKey<'_>) -> Result<R, StateError>,
    ) -> Result<R, StateAccessError> {
        let id = *self
            .state_ids
            .get(state as usize)
            .ok_or(StateAccessError::UnknownState {
                state,
                declared: self.state_ids.len(),
            })?;
        let (key_group, key_bytes) =
            self.keys
                .get(key as usize)
                .ok_or(StateAccessError::UnknownKey {
                    key,
                    keys: self.keys.len(),
                })?;
        let at = StateKey {
            key_group: *key_group,
            key: key_bytes,
            namespace: b"",
        };
        Ok(match &mut self.writes {
            StateWrites::Direct => op(self.backend.as_mut(), id, at)?,
            StateWrites::Buffered(pending) => {
                let mut overlay = Overlay {
                    base: self.backend.as_mut(),
                    pending,
                };
                op(&mut overlay, id, at)?
            }
        })
    }

    /// The call succeeded: apply the writes it buffered, if any.
    pub fn commit_writes(&mut self) -> Result<(), StateError> {
        match &mut self.writes {
            StateWrites::Direct => Ok(()),
            StateWrites::Buffered(pending) => pending.commit(self.backend.as_mut()),
        }
    }

    /// The call failed: drop the writes it buffered, if any.
    pub fn discard_writes(&mut self) {
        if let StateWrites::Buffered(pending) = &mut self.writes {
            pending.discard();
        }
    }
}

/// A panic a guest reported through `log.record-panic(-at)` before trapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPanic {
    /// The panic message with its location (`panicked at src/lib.rs:3:5:\n...`).
    pub message: String,
    /// Index of the batch event being processed, if the guest said.
    pub event: Option<u32>,
}

/// The store's limits, and how much linear memory its instance holds (the
/// sum over its memories: a Python or JavaScript guest has several), so
/// that `eddy inspect` can say what an instance of a language costs.
pub(crate) struct MeteredLimits {
    limits: StoreLimits,
    linear_memory_bytes: usize,
}

impl MeteredLimits {
    /// Bytes of linear memory of every memory of the store.
    pub(crate) fn linear_memory_bytes(&self) -> usize {
        self.linear_memory_bytes
    }
}

impl ResourceLimiter for MeteredLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.linear_memory_bytes += desired.saturating_sub(current);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Store data of one guest instance.
pub struct GuestContext {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: MeteredLimits,
    pub tag: Arc<GuestTag>,
    /// The last panic the guest reported, kept for the error.
    pub last_panic: Option<GuestPanic>,
    /// Present for keyed operators.
    pub keyed: Option<KeyedStateAccess>,
}

impl GuestContext {
    /// A sandbox with no filesystem, network or arguments, and nothing in
    /// the environment but the subtask's index and the parallelism;
    /// guest stdout/stderr go to tracing.
    pub fn new(tag: Arc<GuestTag>, memory_bytes: u64) -> Self {
        // Which subtask this is (Flink's RuntimeContext), the only thing
        // in the environment; the SDK's `OpenContext` reads it.
        let wasi = WasiCtx::builder()
            .stdout(GuestOutput::new(tag.clone(), "stdout"))
            .stderr(GuestOutput::new(tag.clone(), "stderr"))
            .env("EDDY_SUBTASK_INDEX", tag.subtask.to_string())
            .env("EDDY_PARALLELISM", tag.parallelism.to_string())
            .build();
        GuestContext {
            wasi,
            table: ResourceTable::new(),
            limits: MeteredLimits {
                limits: StoreLimitsBuilder::new()
                    .memory_size(memory_bytes.try_into().unwrap_or(usize::MAX))
                    .trap_on_grow_failure(true)
                    .build(),
                linear_memory_bytes: 0,
            },
            tag,
            last_panic: None,
            keyed: None,
        }
    }

    /// [`KeyedStateAccess::at`] for a state import, with errors as traps.
    fn keyed_at<R>(
        &mut self,
        state: u32,
        key: u32,
        op: impl FnOnce(&mut dyn StateBackend, StateId, StateKey<'_>) -> Result<R, StateError>,
    ) -> wasmtime::Result<R> {
        let access = self
            .keyed
            .as_mut()
            .ok_or_else(|| wasmtime::format_err!("state is only available to keyed operators"))?;
        access
            .at(state, key, op)
            .map_err(|error| wasmtime::format_err!("{error}"))
    }
}

impl GuestContext {
    /// The entries of `state` if it is a broadcast map (`None` for keyed
    /// states), with misuse as a trap.
    fn broadcast_map(
        &mut self,
        state: u32,
        key: u32,
        access: BroadcastAccess,
    ) -> wasmtime::Result<Option<&mut BroadcastEntries>> {
        match self.keyed.as_mut() {
            Some(keyed) => keyed
                .broadcast
                .map(state, key, access)
                .map_err(|error| wasmtime::format_err!("{error}")),
            None => Ok(None),
        }
    }
}

impl WasiView for GuestContext {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for GuestContext {}

impl log::Host for GuestContext {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let tag = &self.tag;
        let (operator, subtask) = (tag.operator.as_str(), tag.subtask);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: GUEST_TARGET, operator, subtask, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: GUEST_TARGET, operator, subtask, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: GUEST_TARGET, operator, subtask, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: GUEST_TARGET, operator, subtask, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: GUEST_TARGET, operator, subtask, "{message}")
            }
        }
        Ok(())
    }

    fn record_panic(&mut self, message: String) -> wasmtime::Result<()> {
        self.last_panic = Some(GuestPanic {
            message,
            event: None,
        });
        Ok(())
    }

    fn record_panic_at(&mut self, event: u32, message: String) -> wasmtime::Result<()> {
        self.last_panic = Some(GuestPanic {
            message,
            event: Some(event),
        });
        Ok(())
    }
}

impl state::Host for GuestContext {
    fn value_get(&mut self, state: u32, key: u32) -> wasmtime::Result<Option<Vec<u8>>> {
        self.keyed_at(state, key, |b, id, at| b.value_get(id, at))
    }

    fn value_set(&mut self, state: u32, key: u32, value: Vec<u8>) -> wasmtime::Result<()> {
        self.keyed_at(state, key, |b, id, at| b.value_set(id, at, &value))
    }

    fn list_get(&mut self, state: u32, key: u32) -> wasmtime::Result<Vec<u8>> {
        let elements = self.keyed_at(state, key, |b, id, at| b.list_get(id, at))?;
        Ok(super::layout::join_length_prefixed(&elements))
    }

    fn list_add(&mut self, state: u32, key: u32, element: Vec<u8>) -> wasmtime::Result<()> {
        self.keyed_at(state, key, |b, id, at| b.list_add(id, at, &element))
    }

    fn list_update(&mut self, state: u32, key: u32, elements: Vec<u8>) -> wasmtime::Result<()> {
        let elements = super::layout::split_length_prefixed(&elements)
            .map_err(|e| wasmtime::format_err!("list-update: {e}"))?;
        self.keyed_at(state, key, |b, id, at| b.list_update(id, at, elements))
    }

    fn map_get(
        &mut self,
        state: u32,
        key: u32,
        map_key: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        if let Some(map) = self.broadcast_map(state, key, BroadcastAccess::Read)? {
            return Ok(map.get(&map_key).cloned());
        }
        self.keyed_at(state, key, |b, id, at| b.map_get(id, at, &map_key))
    }

    fn map_put(
        &mut self,
        state: u32,
        key: u32,
        map_key: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        if let Some(map) = self.broadcast_map(state, key, BroadcastAccess::Write)? {
            map.insert(map_key, value);
            return Ok(());
        }
        self.keyed_at(state, key, |b, id, at| b.map_put(id, at, &map_key, &value))
    }

    fn map_remove(&mut self, state: u32, key: u32, map_key: Vec<u8>) -> wasmtime::Result<()> {
        if let Some(map) = self.broadcast_map(state, key, BroadcastAccess::Write)? {
            map.remove(&map_key);
            return Ok(());
        }
        self.keyed_at(state, key, |b, id, at| b.map_remove(id, at, &map_key))
    }

    fn map_entries(&mut self, state: u32, key: u32) -> wasmtime::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut put = |k: &[u8], v: &[u8]| {
            super::layout::put_bytes(&mut out, k);
            super::layout::put_bytes(&mut out, v);
        };
        if let Some(map) = self.broadcast_map(state, key, BroadcastAccess::Read)? {
            map.iter().for_each(|(k, v)| put(k, v));
        } else {
            let entries = self.keyed_at(state, key, |b, id, at| b.map_entries(id, at))?;
            entries.iter().for_each(|(k, v)| put(k, v));
        }
        Ok(out)
    }

    fn clear(&mut self, state: u32, key: u32) -> wasmtime::Result<()> {
        if let Some(map) = self.broadcast_map(state, key, BroadcastAccess::Write)? {
            map.clear();
            return Ok(());
        }
        self.keyed_at(state, key, |b, id, at| b.clear(id, at))
    }
}
