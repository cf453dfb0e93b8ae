//! Deploy-time checks of a job's modules: each loaded, compiled and checked
//! against its operator's kind, and every side output the job reads
//! declared by its operator.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::RunOptions;
use crate::checkpoint::{FunctionRecord, Manifest, SwapRecord};
use crate::job::JobError;
use crate::job::{InputSide, Job, KeyBy, LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT, OperatorKind};
use crate::wasm::bindings::FunctionKind;
use crate::wasm::{GuestEngine, GuestModule, function_kind_of};

/// The modules of a job, loaded and checked.
#[derive(Clone)]
pub struct LoadedModules {
    pub(super) operators: HashMap<String, GuestModule>,
    /// Key selectors by operator uid and the input they key.
    pub(super) selectors: HashMap<(String, InputSide), GuestModule>,
    /// Operators whose function a restored snapshot had swapped live.
    pub(super) swapped: HashMap<String, SwappedFunction>,
}

/// A function a live swap put in place, as a snapshot holds it.
#[derive(Clone)]
pub struct SwappedFunction {
    /// Its config, when the swap gave it another than the job file's.
    pub config: Option<String>,
    pub swaps: Vec<SwapRecord>,
    /// The module's bytes, stored again with every snapshot.
    pub bytes: Arc<Vec<u8>>,
}

impl LoadedModules {
    /// The module of WASM operator `uid` (none for host operators and
    /// native twins).
    pub fn operator(&self, uid: &str) -> Option<&GuestModule> {
        self.operators.get(uid)
    }

    /// The swap history of operator `uid`'s function, if it was swapped.
    pub fn swapped(&self, uid: &str) -> Option<&SwappedFunction> {
        self.swapped.get(uid)
    }

    /// The config operator `uid`'s function is initialised with: what a
    /// swap gave it, else `job_file`'s.
    pub fn config_of<'a>(&'a self, uid: &str, job_file: &'a str) -> &'a str {
        match self.swapped.get(uid).and_then(|s| s.config.as_deref()) {
            Some(config) => config,
            None => job_file,
        }
    }

    /// The modules a run restored from `manifest` (a snapshot at
    /// `location`) runs: where the snapshot records live swaps of a
    /// function and the job file still names the module the job started
    /// with, the swapped module stored in the snapshot, with its config;
    /// where the job file names another module, that one (an upgrade
    /// through a savepoint; its state is checked like any restore).
    pub fn restored(
        &self,
        manifest: &Manifest,
        location: &Path,
        engine: &GuestEngine,
    ) -> Result<LoadedModules> {
        let mut modules = self.clone();
        modules.swapped.clear();
        for record in &manifest.functions {
            let (Some(first), Some(current)) =
                (record.swaps.first(), self.operators.get(&record.uid))
            else {
                continue;
            };
            if current.sha256 != first.from_sha256 {
                tracing::info!(
                    "operator `{}`: snapshot {} ran module {} after live swaps, but the job file names another module than the job started with ({}); running the job file's",
                    record.uid,
                    manifest.id,
                    short(&record.module_sha256),
                    current.path.display()
                );
                continue;
            }
            let path = location.join(FunctionRecord::module_file(&record.module_sha256));
            let context = || {
                format!(
                    "operator `{}`: the module it was swapped to, stored in snapshot {}",
                    record.uid, manifest.id
                )
            };
            let module =
                GuestModule::load(engine, &path, current.descriptor.kind).with_context(context)?;
            let bytes = std::fs::read(&path).with_context(context)?;
            tracing::info!(
                "operator `{}` runs module {} (swapped live at barrier {}), as snapshot {} records",
                record.uid,
                short(&record.module_sha256),
                record.swaps.last().map_or(0, |s| s.barrier),
                manifest.id
            );
            modules.operators.insert(record.uid.clone(), module);
            modules.swapped.insert(
                record.uid.clone(),
                SwappedFunction {
                    config: record.config.clone(),
                    swaps: record.swaps.clone(),
                    bytes: Arc::new(bytes),
                },
            );
        }
        Ok(modules)
    }
}

/// The first 12 hex digits of a SHA-256, as messages show it.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

/// Load and check every module of `job` (what `eddy validate` does), and
/// check that side outputs read by the job are declared by their operators.
pub fn load_modules(
    job: &Job,
    engine: &GuestEngine,
    options: &RunOptions,
) -> Result<LoadedModules> {
    let mut modules = LoadedModules {
        operators: HashMap::new(),
        selectors: HashMap::new(),
        swapped: HashMap::new(),
    };
    for op in &job.operators {
        if let (Some(path), Some(kind)) = (&op.module, function_kind_of(op.kind))
            && !options.native_operators.contains_key(&op.uid)
        {
            let module = GuestModule::load(engine, path, kind)
                .with_context(|| format!("operator `{}`", op.uid))?;
            modules.operators.insert(op.uid.clone(), module);
        }
        for side in [InputSide::First, InputSide::Second] {
            if let Some(KeyBy::Selector(path)) = op.key_by_of(side) {
                let module = GuestModule::load(engine, path, FunctionKind::KeySelector)
                    .with_context(|| format!("operator `{}`: key_by selector", op.uid))?;
                modules.selectors.insert((op.uid.clone(), side), module);
            }
        }
    }
    for read in &job.side_output_reads {
        let (node, side) = (&read.stream.node, read.stream.side_output.as_deref());
        let available = side_outputs_of(job, &modules, node);
        if side.is_some_and(|side| !available.iter().any(|(name, _)| name == side)) {
            let has = if available.is_empty() {
                format!(
                    "operator `{node}` has none (it has no window and its module declares none)"
                )
            } else {
                let list: Vec<String> = available
                    .iter()
                    .map(|(name, origin)| format!("`{name}` ({origin})"))
                    .collect();
                format!("operator `{node}` has: {}", list.join(", "))
            };
            let message = format!(
                "{}: input `{}` names no side output of operator `{node}`; {has}",
                read.reader, read.stream
            );
            return Err(JobError::at(&job.file, &read.at, message).into());
        }
    }
    Ok(modules)
}

/// The side outputs of operator `uid`, each with where it comes from: the
/// host's (a window's late-data output, an interval join's late records),
/// then what its module declares.
fn side_outputs_of(job: &Job, modules: &LoadedModules, uid: &str) -> Vec<(String, &'static str)> {
    let operator = job.operators.iter().find(|o| o.uid == uid);
    let window_late = operator
        .and_then(|o| o.window.as_ref())
        .map(|w| (w.late_output.clone(), "the window's `late_output`"));
    let join_late = operator
        .filter(|o| o.kind == OperatorKind::IntervalJoin)
        .map(|_| {
            [LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT]
                .map(|name| (name.to_string(), "the interval join's late records"))
        });
    let declared = modules
        .operators
        .get(uid)
        .map(|m| m.descriptor.side_outputs.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|name| (name, "declared by its module"));
    window_late
        .into_iter()
        .chain(join_late.into_iter().flatten())
        .chain(declared)
        .collect()
}
