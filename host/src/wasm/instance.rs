//! One live guest instance: a store with its limits, and calls bounded in
//! time, with every way a call can fail turned into a [`GuestFailure`].

use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use thiserror::Error;
use wasmtime::{Store, Trap};

use super::bindings;
use super::context::{GuestContext, GuestTag};
use super::engine::deadline_ticks;
use super::layout::LayoutError;
use super::module::{FunctionDescriptor, GuestModule, WorldPre};
use crate::job::GuestLimits;

/// How a call into a guest failed. After any of these but `Returned`, the
/// instance is dead and must be replaced.
#[derive(Debug, Error)]
pub enum GuestFailure {
    #[error("guest panicked: {message}")]
    Panic {
        message: String,
        /// The batch event being processed, if the guest said (the Rust
        /// SDK does), so the host can name the record.
        event: Option<u32>,
    },
    #[error("guest call exceeded the time limit of {} (it was interrupted)", humantime::format_duration(*limit))]
    Timeout { limit: Duration },
    #[error("guest exceeded its memory limit of {limit} ({detail})")]
    OutOfMemory { limit: ByteSize, detail: String },
    #[error("guest trapped: {message}")]
    Trap { message: String },
    #[error("guest returned an error: {message}")]
    Returned { message: String },
    #[error("guest broke the batch layout: {0}")]
    Layout(#[from] LayoutError),
    #[error("guest could not be instantiated: {message}")]
    Instantiate { message: String },
}

/// Which way a guest failed on its input, as dead letters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Panic,
    Timeout,
    OutOfMemory,
    Trap,
    Error,
}

impl FailureKind {
    /// The name in dead letters and documentation.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfMemory => "out-of-memory",
            FailureKind::Trap => "trap",
            FailureKind::Error => "error",
        }
    }
}

impl GuestFailure {
    /// The kind of a failure that the input of a call can cause: a panic,
    /// a trap, a time-out, the memory limit or an error result. `None` for
    /// a broken batch layout or a failed instantiation, which are faults of
    /// the function or the host whatever the input.
    pub fn input_failure(&self) -> Option<FailureKind> {
        match self {
            GuestFailure::Panic { .. } => Some(FailureKind::Panic),
            GuestFailure::Timeout { .. } => Some(FailureKind::Timeout),
            GuestFailure::OutOfMemory { .. } => Some(FailureKind::OutOfMemory),
            GuestFailure::Trap { .. } => Some(FailureKind::Trap),
            GuestFailure::Returned { .. } => Some(FailureKind::Error),
            GuestFailure::Layout(_) | GuestFailure::Instantiate { .. } => None,
        }
    }

    /// What the guest itself said (its panic or error message), or what
    /// the sandbox saw (the trap, the limit), without the prefix of the
    /// failure's display.
    pub fn guest_message(&self) -> String {
        match self {
            GuestFailure::Panic { message, .. }
            | GuestFailure::Trap { message }
            | GuestFailure::Returned { message }
            | GuestFailure::Instantiate { message } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The batch event the guest was processing when it panicked, if known.
    pub fn event(&self) -> Option<u32> {
        match self {
            GuestFailure::Panic { event, .. } => *event,
            _ => None,
        }
    }
}

enum WorldInstance {
    Transform(bindings::transform::Transform),
    KeyedProcess(bindings::keyed::KeyedProcess),
    Aggregate(bindings::aggregate::Aggregate),
}

/// How often and how long a subtask called its guest, and how many of
/// those calls failed: written by the instance, read by `/metrics`.
/// Aligned to its own cache lines: the stats of different subtasks are
/// allocated side by side and written by different threads.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct GuestCallStats {
    calls: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
}

impl GuestCallStats {
    /// Calls made.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Time spent inside the guest's calls.
    pub fn time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
    /// Calls that trapped, panicked, timed out or returned an error.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn record(&self, took: std::time::Duration, failed: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        self.nanos.fetch_add(took.as_nanos() as u64, Relaxed);
        if failed {
            self.failures.fetch_add(1, Relaxed);
        }
    }
}

/// A guest instance in its own store.
pub struct GuestInstance {
    store: Store<GuestContext>,
    instance: WorldInstance,
    limits: GuestLimits,
    deadline: u64,
    /// Where its calls are counted (its own until [`GuestInstance::count_calls_in`]).
    calls: Arc<GuestCallStats>,
    /// What [`GuestInstance::respawn`] makes a new instance from (boxed:
    /// instances are embedded in operators, and this is rarely used).
    origin: Box<Origin>,
}

/// The module of an instance and the configuration it was initialised with.
struct Origin {
    module: GuestModule,
    /// The configuration `init` was called with, if it was.
    config: Option<String>,
}

impl GuestInstance {
    /// Instantiate `module` for one operator subtask.
    pub fn new(
        module: &GuestModule,
        tag: GuestTag,
        limits: GuestLimits,
    ) -> Result<GuestInstance, GuestFailure> {
        let context = GuestContext::new(Arc::new(tag), limits.memory_bytes);
        let mut store = Store::new(module.engine.engine(), context);
        store.limiter(|context| &mut context.limits);
        let deadline = deadline_ticks(limits.call_timeout);
        store.set_epoch_deadline(deadline);
        let instantiate_error = |error: wasmtime::Error| GuestFailure::Instantiate {
            message: format!("{error:#}"),
        };
        let instance = match &module.pre {
            WorldPre::Transform(pre) => {
                WorldInstance::Transform(pre.instantiate(&mut store).map_err(instantiate_error)?)
            }
            WorldPre::KeyedProcess(pre) => {
                WorldInstance::KeyedProcess(pre.instantiate(&mut store).map_err(instantiate_error)?)
            }
            WorldPre::Aggregate(pre) => {
                WorldInstance::Aggregate(pre.instantiate(&mut store).map_err(instantiate_error)?)
            }
        };
        Ok(GuestInstance {
            store,
            instance,
            limits,
            deadline,
            calls: Arc::default(),
            origin: Box::new(Origin {
                module: module.clone(),
                config: None,
            }),
        })
    }

    /// Replace this instance with a fresh one of the same module (from its
    /// pre-linked `InstancePre`), initialised with the same configuration,
    /// keeping the keyed state access of the store. After a trap, panic or
    /// time-out the old instance must not run again: its memory may be half
    /// updated, and an interrupted call cannot be resumed.
    pub fn respawn(&mut self) -> Result<(), GuestFailure> {
        let tag = (*self.store.data().tag).clone();
        let mut fresh = GuestInstance::new(&self.origin.module, tag, self.limits)?;
        if let Some(config) = &self.origin.config {
            fresh.init(config)?;
        }
        fresh.store.data_mut().keyed = self.store.data_mut().keyed.take();
        fresh.calls = self.calls.clone();
        *self = fresh;
        Ok(())
    }

    /// Count this instance's calls in `stats` (its subtask's metrics).
    pub fn count_calls_in(&mut self, stats: Arc<GuestCallStats>) {
        self.calls = stats;
    }

    /// Bytes of linear memory the instance holds, over all its memories.
    pub fn linear_memory_bytes(&self) -> usize {
        self.store.data().limits.linear_memory_bytes()
    }

    /// The store data: keyed state access and the guest's tag.
    pub fn context_mut(&mut self) -> &mut GuestContext {
        self.store.data_mut()
    }

    /// Run one call with a fresh deadline and classify its failure.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&WorldInstance, &mut Store<GuestContext>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, GuestFailure> {
        self.store.set_epoch_deadline(self.deadline);
        // A panic reported by an earlier call that then returned is not
        // this call's.
        self.store.data_mut().last_panic = None;
        let started = std::time::Instant::now();
        let result = f(&self.instance, &mut self.store);
        let failed = !matches!(result, Ok(Ok(_)));
        self.calls.record(started.elapsed(), failed);
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(GuestFailure::Returned { message }),
            Err(error) => Err(self.classify(error)),
        }
    }

    fn classify(&mut self, error: wasmtime::Error) -> GuestFailure {
        if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            return GuestFailure::Timeout {
                limit: self.limits.call_timeout,
            };
        }
        let detail = format!("{error:#}");
        if let Some(growth) = detail
            .lines()
            .find(|line| line.contains("forcing trap when growing memory"))
        {
            return GuestFailure::OutOfMemory {
                limit: ByteSize::b(self.limits.memory_bytes),
                detail: growth
                    .trim()
                    .trim_start_matches("Caused by:")
                    .trim()
                    .to_string(),
            };
        }
        if let Some(panic) = self.store.data_mut().last_panic.take() {
            return GuestFailure::Panic {
                message: panic.message,
                event: panic.event,
            };
        }
        // The trap itself (e.g. "wasm `unreachable` instruction executed"),
        // or the error of a host import the guest called, is a cause below
        // wasmtime's backtrace, which says nothing alone.
        let trap = error
            .downcast_ref::<Trap>()
            .map(|trap| format!("wasm trap: {trap}"));
        GuestFailure::Trap {
            message: trap.unwrap_or_else(|| trap_cause(&error)),
        }
    }

    /// Ask the function what it is.
    pub fn describe(&mut self) -> Result<FunctionDescriptor, GuestFailure> {
        let descriptor = self.call(|instance, store| {
            Ok(Ok(match instance {
                WorldInstance::Transform(i) => {
                    i.eddy_dataflow_transform_function().call_describe(store)?
                }
                WorldInstance::KeyedProcess(i) => i
                    .eddy_dataflow_keyed_process_function()
                    .call_describe(store)?,
                WorldInstance::Aggregate(i) => {
                    i.eddy_dataflow_aggregate_function().call_describe(store)?
                }
            }))
        })?;
        Ok(descriptor.into())
    }

    /// Hand the operator's configuration to the function.
    pub fn init(&mut self, config: &str) -> Result<(), GuestFailure> {
        self.origin.config = Some(config.to_string());
        self.call(|instance, store| match instance {
            WorldInstance::Transform(i) => i
                .eddy_dataflow_transform_function()
                .call_init(store, config),
            WorldInstance::KeyedProcess(i) => i
                .eddy_dataflow_keyed_process_function()
                .call_init(store, config),
            WorldInstance::Aggregate(i) => i
                .eddy_dataflow_aggregate_function()
                .call_init(store, config),
        })
    }

    /// Turn one stored value of `state`, written by schema version
    /// `from_version`, into a value of the version this function declares
    /// (keyed-process world only).
    pub fn migrate_state(
        &mut self,
        state: &str,
        from_version: u32,
        value: &[u8],
    ) -> Result<Vec<u8>, GuestFailure> {
        self.call(|instance, store| match instance {
            WorldInstance::KeyedProcess(i) => i
                .eddy_dataflow_keyed_process_function()
                .call_migrate_state(store, state, from_version, value),
            _ => Ok(Err(
                "only keyed-process world functions have state to migrate".into(),
            )),
        })
    }

    /// Process one batch (transform and keyed-process worlds).
    pub fn process_batch(&mut self, batch: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        self.call(|instance, store| match instance {
            WorldInstance::Transform(i) => i
                .eddy_dataflow_transform_function()
                .call_process_batch(store, batch),
            WorldInstance::KeyedProcess(i) => i
                .eddy_dataflow_keyed_process_function()
                .call_process_batch(store, batch),
            WorldInstance::Aggregate(_) => Ok(Err(
                "an aggregate function has no process-batch; the host called the wrong export"
                    .into(),
            )),
        })
    }

    fn aggregate(&self) -> Result<&bindings::aggregate::Aggregate, GuestFailure> {
        match &self.instance {
            WorldInstance::Aggregate(i) => Ok(i),
            _ => Err(GuestFailure::Returned {
                message: "not an aggregate function".into(),
            }),
        }
    }

    /// A fresh accumulator.
    pub fn create_accumulator(&mut self) -> Result<Vec<u8>, GuestFailure> {
        self.aggregate()?;
        self.call(|instance, store| match instance {
            WorldInstance::Aggregate(i) => Ok(Ok(i
                .eddy_dataflow_aggregate_function()
                .call_create_accumulator(store)?)),
            _ => unreachable!("checked above"),
        })
    }

    /// Add inputs to accumulators (layout in `wit/README.md`).
    pub fn add_batch(&mut self, groups: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        self.aggregate()?;
        self.call(|instance, store| match instance {
            WorldInstance::Aggregate(i) => i
                .eddy_dataflow_aggregate_function()
                .call_add_batch(store, groups),
            _ => unreachable!("checked above"),
        })
    }

    /// Merge two accumulators.
    pub fn merge(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        self.aggregate()?;
        self.call(|instance, store| match instance {
            WorldInstance::Aggregate(i) => {
                i.eddy_dataflow_aggregate_function().call_merge(store, a, b)
            }
            _ => unreachable!("checked above"),
        })
    }

    /// Results of accumulators (layout in `wit/README.md`).
    pub fn get_results(&mut self, accumulators: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        self.aggregate()?;
        self.call(|instance, store| match instance {
            WorldInstance::Aggregate(i) => i
                .eddy_dataflow_aggregate_function()
                .call_get_results(store, accumulators),
            _ => unreachable!("checked above"),
        })
    }
}

/// What a trap that is not a wasm trap says: the causes below wasmtime's
/// backtrace (an import's error, e.g. a state access the host refused),
/// whose own text is only "error while executing at wasm backtrace:" and
/// the frames.
fn trap_cause(error: &wasmtime::Error) -> String {
    let causes: Vec<String> = error
        .chain()
        .map(|cause| cause.to_string())
        .filter(|cause| !cause.starts_with("error while executing at wasm backtrace"))
        .collect();
    if causes.is_empty() {
        first_line(&format!("{error:#}"))
    } else {
        causes.join(": ")
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use wasmtime::{Engine, Store, WasmBacktrace};

    use super::trap_cause;

    #[test]
    fn the_error_of_an_import_below_the_backtrace_is_the_message() {
        let store = Store::new(&Engine::default(), ());
        let error = wasmtime::format_err!("broadcast state `rules` is read-only here")
            .context(WasmBacktrace::force_capture(&store));
        assert!(
            format!("{error:#}").starts_with("error while executing at wasm backtrace"),
            "{error:#}"
        );
        assert_eq!(
            trap_cause(&error),
            "broadcast state `rules` is read-only here"
        );
    }
}
