//! Live swap, the executor's side: from a user's request to a swap the
//! coordinator can start at a barrier. Everything that can refuse a swap
//! happens here, before any task is touched: the operator must run a guest
//! function; the new module must compile, be of the same world and kind,
//! declare the same side outputs, and be able to take over the state (the
//! rules of `wasm::versions`); and its `init` must succeed on a fresh
//! instance for every subtask. The coordinator then only has to deliver
//! the instances with the barrier.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::Digest;

use crate::checkpoint::coordinator::PreparedSwapParts;
use crate::checkpoint::{FunctionRecord, StateRecord};
use crate::job::Job;
use crate::state::StateKind;
use crate::wasm::versions::{DroppedState, HeldState, StateChange, Takeover, check_compatibility};
use crate::wasm::{
    FunctionDescriptor, GuestEngine, GuestInstance, GuestModule, GuestTag, function_kind_name,
    function_kind_of,
};

/// What a user asks to swap.
#[derive(Debug, Clone)]
pub struct SwapOrder {
    /// The operator's uid.
    pub operator: String,
    /// The new module, a file the host can read.
    pub module: PathBuf,
    /// The config to initialise it with; the operator's current one if none.
    pub config: Option<String>,
    pub dropped: DroppedState,
}

/// Check `order` against the running job and make the new instances:
/// `running` is what checkpoints record of the operator's function now,
/// `declared_side_outputs` what the job was planned with. An error is the
/// message the user sees; nothing has changed then.
pub(super) fn prepare(
    order: &SwapOrder,
    job: &Job,
    running: Option<&FunctionRecord>,
    declared_side_outputs: Option<&[String]>,
    engine: &GuestEngine,
) -> Result<PreparedSwapParts, String> {
    let uid = &order.operator;
    let refuse = |cause: String| format!("cannot swap operator `{uid}`: {cause}");
    let Some(op) = job.operators.iter().find(|o| &o.uid == uid) else {
        let with_functions: Vec<String> = (job.operators.iter())
            .filter(|o| o.module.is_some())
            .map(|o| format!("`{}`", o.uid))
            .collect();
        return Err(format!(
            "cannot swap: job `{}` has no operator `{uid}` (operators with a function: {})",
            job.name,
            if with_functions.is_empty() {
                "none".into()
            } else {
                with_functions.join(", ")
            }
        ));
    };
    let (Some(kind), Some(running)) = (function_kind_of(op.kind), running) else {
        return Err(refuse(
            "it runs no guest function (an interval join, or a native benchmark twin)".into(),
        ));
    };
    let bytes = std::fs::read(&order.module)
        .map_err(|error| refuse(format!("cannot read {}: {error}", order.module.display())))?;
    let module = GuestModule::load(engine, &order.module, kind)
        .map_err(|error| refuse(error.to_string()))?;
    if hex::encode(sha2::Sha256::digest(&bytes)) != module.sha256 {
        return Err(refuse(format!(
            "{} changed while it was being loaded; try again",
            order.module.display()
        )));
    }
    if let Some(declared) = declared_side_outputs
        && declared != module.descriptor.side_outputs.as_slice()
    {
        return Err(refuse(format!(
            "{} declares side outputs {:?}, and the running version {:?}; a swap cannot rewire the job's streams",
            order.module.display(),
            module.descriptor.side_outputs,
            declared
        )));
    }
    let held = held_states(running).map_err(refuse)?;
    let changes = check_compatibility(
        &held,
        Takeover::Swap,
        module.descriptor.kind,
        &module.descriptor.states,
        order.dropped,
    )
    .map_err(|incompatible| refuse(incompatible.to_string()))?;
    let config = order
        .config
        .clone()
        .or_else(|| running.config.clone())
        .unwrap_or_else(|| op.config.clone());
    let mut instances = Vec::with_capacity(op.parallelism as usize);
    for subtask in 0..op.parallelism {
        let tag = GuestTag {
            operator: uid.clone(),
            subtask,
            parallelism: op.parallelism,
        };
        let mut instance = GuestInstance::new(&module, tag, op.limits).map_err(|failure| {
            refuse(format!(
                "the new version cannot be instantiated for subtask {}/{}: {failure}",
                subtask + 1,
                op.parallelism
            ))
        })?;
        instance.init(&config).map_err(|failure| {
            refuse(format!(
                "the new version's init failed on subtask {}/{}: {failure}; nothing changed, every subtask runs the old version",
                subtask + 1,
                op.parallelism
            ))
        })?;
        instances.push(instance);
    }
    let record = FunctionRecord {
        uid: uid.clone(),
        module_sha256: module.sha256.clone(),
        kind: function_kind_name(module.descriptor.kind).to_string(),
        states: state_records(&module.descriptor),
        config: (config != op.config).then_some(config),
        swaps: Vec::new(),
    };
    Ok(PreparedSwapParts {
        operator: uid.clone(),
        descriptor: module.descriptor.clone(),
        instances,
        record,
        module: Arc::new(bytes),
        module_path: order.module.clone(),
        state_changes: changes.iter().map(describe_change).collect(),
    })
}

/// How checkpoints record the states `descriptor` declares.
pub fn state_records(descriptor: &FunctionDescriptor) -> Vec<StateRecord> {
    descriptor
        .states
        .iter()
        .map(|s| StateRecord {
            name: s.name.clone(),
            kind: s.kind.name().to_string(),
            ttl_ms: s.ttl.map(|t| t.millis),
            version: s.version,
        })
        .collect()
}

/// The states a function record says are held.
pub fn held_states(record: &FunctionRecord) -> Result<Vec<HeldState>, String> {
    record
        .states
        .iter()
        .map(|s| {
            let kind = StateKind::from_name(&s.kind)
                .ok_or_else(|| format!("state `{}` has an unknown kind `{}`", s.name, s.kind))?;
            Ok(HeldState {
                name: s.name.clone(),
                kind,
                version: s.version,
            })
        })
        .collect()
}

fn describe_change((name, change): &(String, StateChange)) -> String {
    match change {
        StateChange::Kept => format!("{name}: kept"),
        StateChange::Migrated { from } => {
            format!("{name}: migrated from version {from}, key by key as keys come")
        }
        StateChange::New => format!("{name}: new, starts empty"),
        StateChange::Dropped => format!("{name}: dropped"),
    }
}
