//! Loading a guest component: every check a module must pass before
//! anything runs (is it a component, which world, do its types match the
//! operator, what does it declare), so bad modules fail at deploy time.

use std::path::{Path, PathBuf};

use sha2::Digest;
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker};

use super::bindings::{self, Descriptor, FunctionKind, WitStateKind, WitTtlUpdate};
use super::context::{GuestContext, GuestTag};
use super::engine::GuestEngine;
use super::instance::{GuestFailure, GuestInstance};
use crate::job::{GuestLimits, OperatorKind};
use crate::state::{StateDescriptor, StateKind, StateTtl, TtlUpdate};

/// The WIT world a component implements, known from the interface it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Transform,
    KeyedProcess,
    Aggregate,
}

impl World {
    pub const ALL: [World; 3] = [World::Transform, World::KeyedProcess, World::Aggregate];

    /// The world's name in `wit/dataflow.wit`.
    pub fn name(self) -> &'static str {
        match self {
            World::Transform => "transform",
            World::KeyedProcess => "keyed-process",
            World::Aggregate => "aggregate",
        }
    }

    /// The fully qualified name of the interface this world exports.
    pub fn export_name(self) -> &'static str {
        match self {
            World::Transform => "eddy:dataflow/transform-function@0.1.0",
            World::KeyedProcess => "eddy:dataflow/keyed-process-function@0.1.0",
            World::Aggregate => "eddy:dataflow/aggregate-function@0.1.0",
        }
    }

    /// The world a function of `kind` must implement.
    pub fn for_kind(kind: FunctionKind) -> World {
        match kind {
            FunctionKind::Map
            | FunctionKind::Filter
            | FunctionKind::FlatMap
            | FunctionKind::KeySelector => World::Transform,
            FunctionKind::KeyedProcess
            | FunctionKind::WindowProcess
            | FunctionKind::CoProcess
            | FunctionKind::BroadcastProcess => World::KeyedProcess,
            FunctionKind::Aggregate => World::Aggregate,
        }
    }
}

/// The function kind a job-file operator kind requires; `None` for kinds
/// the host runs without a guest.
pub fn function_kind_of(kind: OperatorKind) -> Option<FunctionKind> {
    Some(match kind {
        OperatorKind::Map => FunctionKind::Map,
        OperatorKind::Filter => FunctionKind::Filter,
        OperatorKind::FlatMap => FunctionKind::FlatMap,
        OperatorKind::KeyedProcess => FunctionKind::KeyedProcess,
        OperatorKind::Aggregate => FunctionKind::Aggregate,
        OperatorKind::WindowProcess => FunctionKind::WindowProcess,
        OperatorKind::CoProcess => FunctionKind::CoProcess,
        OperatorKind::BroadcastProcess => FunctionKind::BroadcastProcess,
        OperatorKind::IntervalJoin => return None,
    })
}

/// The name of a function kind as written in job files.
pub fn function_kind_name(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Map => "map",
        FunctionKind::Filter => "filter",
        FunctionKind::FlatMap => "flat-map",
        FunctionKind::KeySelector => "key-selector",
        FunctionKind::KeyedProcess => "keyed-process",
        FunctionKind::Aggregate => "aggregate",
        FunctionKind::WindowProcess => "window-process",
        FunctionKind::CoProcess => "co-process",
        FunctionKind::BroadcastProcess => "broadcast-process",
    }
}

/// Why a module cannot be used; every message names the file.
#[derive(Debug, Error)]
pub enum ModuleError {
    #[error("cannot read module {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a WebAssembly file (it does not start with `\\0asm`)", path.display())]
    NotWasm { path: PathBuf },
    #[error(
        "{} is a core WebAssembly module, not a component; build guests with `cargo build --target wasm32-wasip2` (or `cargo component build`)",
        path.display()
    )]
    CoreModule { path: PathBuf },
    #[error("{} could not be compiled: {message}", path.display())]
    Compile { path: PathBuf, message: String },
    #[error(
        "{} is not an eddy function: it exports none of the eddy worlds' interfaces (it exports: {exports})",
        path.display()
    )]
    NotEddy { path: PathBuf, exports: String },
    #[error(
        "{} is a component of world `{}`, but a `{}` function needs world `{}`",
        path.display(), actual.name(), function_kind_name(*kind), expected.name()
    )]
    WrongWorld {
        path: PathBuf,
        kind: FunctionKind,
        expected: World,
        actual: World,
    },
    #[error("{} does not link against world `{}`: {message}", path.display(), world.name())]
    Link {
        path: PathBuf,
        world: World,
        message: String,
    },
    #[error("{}", wrong_kind_message(path, *expected, *actual))]
    WrongKind {
        path: PathBuf,
        expected: FunctionKind,
        actual: FunctionKind,
    },
    #[error(
        "{}: state `{state}` is broadcast state, which only `broadcast-process` functions have (this is a `{}` function)",
        path.display(), function_kind_name(*kind)
    )]
    BroadcastStateInKeyedFunction {
        path: PathBuf,
        state: String,
        kind: FunctionKind,
    },
    #[error("{}: calling `describe` failed: {failure}", path.display())]
    Describe {
        path: PathBuf,
        failure: GuestFailure,
    },
}

/// Why a module of kind `actual` cannot serve where `expected` is needed,
/// in the terms of the job file: the kind the module says it is (its world
/// alone would not tell a window-process function from a keyed-process one)
/// and the `kind` that would take it.
fn wrong_kind_message(path: &Path, expected: FunctionKind, actual: FunctionKind) -> String {
    let module = format!(
        "{} is a function of kind `{}` (world `{}`)",
        path.display(),
        function_kind_name(actual),
        World::for_kind(actual).name()
    );
    let expected_name = function_kind_name(expected);
    match (expected, actual) {
        (FunctionKind::KeySelector, _) => format!(
            "{module}, but `key_by = {{ selector = ... }}` needs a `key-selector` function (exported with `eddy_sdk::export_key_selector!`)"
        ),
        (_, FunctionKind::KeySelector) => format!(
            "{module}, but the operator is declared `kind = \"{expected_name}\"`; a key selector is used as an operator's `key_by = {{ selector = \"...\" }}`"
        ),
        _ => format!(
            "{module}, but the operator is declared `kind = \"{expected_name}\"`; for this module write `kind = \"{}\"`",
            function_kind_name(actual)
        ),
    }
}

/// What a function told the host about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDescriptor {
    pub kind: FunctionKind,
    pub states: Vec<DeclaredState>,
    pub side_outputs: Vec<String>,
}

/// One state as a function declares it: what its backend stores (name,
/// kind, time-to-live) and the schema version of its values, which a live
/// swap or a restore compares with the version already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredState {
    pub state: StateDescriptor,
    /// Schema version of the values (1 for a state's first form).
    pub version: u32,
    /// Older versions the function's `migrate-state` turns into this one.
    pub migrates_from: Vec<u32>,
}

impl std::ops::Deref for DeclaredState {
    type Target = StateDescriptor;

    fn deref(&self) -> &StateDescriptor {
        &self.state
    }
}

impl DeclaredState {
    /// A state at version 1 that migrates from nothing.
    pub fn first_version(state: StateDescriptor) -> Self {
        DeclaredState {
            state,
            version: 1,
            migrates_from: Vec::new(),
        }
    }
}

impl From<Descriptor> for FunctionDescriptor {
    fn from(d: Descriptor) -> Self {
        FunctionDescriptor {
            kind: d.kind,
            states: d
                .states
                .into_iter()
                .map(|s| DeclaredState {
                    state: StateDescriptor {
                        name: s.name,
                        kind: match s.kind {
                            WitStateKind::Value => StateKind::Value,
                            WitStateKind::List => StateKind::List,
                            WitStateKind::Map => StateKind::Map,
                            WitStateKind::BroadcastMap => StateKind::BroadcastMap,
                        },
                        ttl: s.ttl.map(|t| StateTtl {
                            millis: t.millis,
                            update: match t.update {
                                WitTtlUpdate::OnCreateAndWrite => TtlUpdate::OnCreateAndWrite,
                                WitTtlUpdate::OnReadAndWrite => TtlUpdate::OnReadAndWrite,
                            },
                        }),
                    },
                    version: s.version,
                    migrates_from: s.migrates_from,
                })
                .collect(),
            side_outputs: d.side_outputs,
        }
    }
}

/// A pre-linked instance factory of one of the worlds.
#[derive(Clone)]
pub(crate) enum WorldPre {
    Transform(bindings::transform::TransformPre<GuestContext>),
    KeyedProcess(bindings::keyed::KeyedProcessPre<GuestContext>),
    Aggregate(bindings::aggregate::AggregatePre<GuestContext>),
}

/// A compiled, linked and described guest component, ready to instantiate
/// many times (one instance per subtask, and again after a failure).
#[derive(Clone)]
pub struct GuestModule {
    pub path: PathBuf,
    /// SHA-256 of the module's bytes, hex: which version of a function
    /// state was written by (recorded in checkpoints and savepoints).
    pub sha256: String,
    pub world: World,
    pub descriptor: FunctionDescriptor,
    pub size: u64,
    pub(crate) engine: GuestEngine,
    pub(crate) pre: WorldPre,
    component: Component,
}

impl GuestModule {
    /// Load `path` and check it is a function of `expected` kind.
    pub fn load(
        engine: &GuestEngine,
        path: &Path,
        expected: FunctionKind,
    ) -> Result<GuestModule, ModuleError> {
        let module = GuestModule::load_checked(engine, path, Some(expected))?;
        if module.descriptor.kind != expected {
            return Err(ModuleError::WrongKind {
                path: path.to_path_buf(),
                expected,
                actual: module.descriptor.kind,
            });
        }
        Ok(module)
    }

    /// Load `path` whatever eddy world it implements (for `eddy inspect`).
    pub fn load_any(engine: &GuestEngine, path: &Path) -> Result<GuestModule, ModuleError> {
        GuestModule::load_checked(engine, path, None)
    }

    fn load_checked(
        engine: &GuestEngine,
        path: &Path,
        expected_kind: Option<FunctionKind>,
    ) -> Result<GuestModule, ModuleError> {
        let bytes = std::fs::read(path).map_err(|source| ModuleError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        check_header(path, &bytes)?;
        let component = engine
            .load_component(&bytes)
            .map_err(|error| ModuleError::Compile {
                path: path.to_path_buf(),
                message: format!("{error:#}"),
            })?;
        let exports = export_names(engine, &component);
        let actual = World::ALL
            .into_iter()
            .find(|w| exports.iter().any(|e| e == w.export_name()))
            .ok_or_else(|| ModuleError::NotEddy {
                path: path.to_path_buf(),
                exports: if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                },
            })?;
        // A module of another world is still described, so that the error
        // can say which kind of function it is; only if that fails is the
        // world all there is to say.
        let wrong_world = expected_kind
            .filter(|kind| World::for_kind(*kind) != actual)
            .map(|kind| ModuleError::WrongWorld {
                path: path.to_path_buf(),
                kind,
                expected: World::for_kind(kind),
                actual,
            });
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        GuestModule::link_and_describe(engine, path, component, actual, bytes.len() as u64)
            .map(|module| GuestModule { sha256, ..module })
            .map_err(|error| wrong_world.unwrap_or(error))
    }

    /// Link `component` against the imports of its world `actual` and ask
    /// it what it is.
    fn link_and_describe(
        engine: &GuestEngine,
        path: &Path,
        component: Component,
        actual: World,
        size: u64,
    ) -> Result<GuestModule, ModuleError> {
        let link_error = |error: wasmtime::Error| ModuleError::Link {
            path: path.to_path_buf(),
            world: actual,
            message: format!("{error:#}"),
        };
        let linker = world_linker(engine, actual).map_err(link_error)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = match actual {
            World::Transform => WorldPre::Transform(
                bindings::transform::TransformPre::new(instance_pre).map_err(link_error)?,
            ),
            World::KeyedProcess => WorldPre::KeyedProcess(
                bindings::keyed::KeyedProcessPre::new(instance_pre).map_err(link_error)?,
            ),
            World::Aggregate => WorldPre::Aggregate(
                bindings::aggregate::AggregatePre::new(instance_pre).map_err(link_error)?,
            ),
        };
        let mut module = GuestModule {
            path: path.to_path_buf(),
            sha256: String::new(),
            world: actual,
            descriptor: FunctionDescriptor {
                kind: FunctionKind::Map,
                states: Vec::new(),
                side_outputs: Vec::new(),
            },
            size,
            engine: engine.clone(),
            pre,
            component,
        };
        let describe_failure = |failure| ModuleError::Describe {
            path: path.to_path_buf(),
            failure,
        };
        let tag = GuestTag {
            operator: "describe".into(),
            subtask: 0,
            parallelism: 1,
        };
        let mut instance =
            GuestInstance::new(&module, tag, GuestLimits::default()).map_err(describe_failure)?;
        module.descriptor = instance.describe().map_err(describe_failure)?;
        let kind = module.descriptor.kind;
        if kind != FunctionKind::BroadcastProcess
            && let Some(state) =
                (module.descriptor.states.iter()).find(|s| s.kind == StateKind::BroadcastMap)
        {
            return Err(ModuleError::BroadcastStateInKeyedFunction {
                path: path.to_path_buf(),
                state: state.name.clone(),
                kind,
            });
        }
        Ok(module)
    }

    /// Names of the component's imports, for `eddy inspect`.
    pub fn import_names(&self) -> Vec<String> {
        let engine = self.engine.engine();
        self.component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Names of the component's exports, for `eddy inspect`.
    pub fn export_names(&self) -> Vec<String> {
        export_names(&self.engine, &self.component)
    }
}

fn export_names(engine: &GuestEngine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine.engine())
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Tell a component from a core module or a file that is not wasm at all,
/// before the compiler gives a less helpful message.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), ModuleError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(ModuleError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    // Bytes 4..8: version and layer; layer 1 is a component, layer 0 a core module.
    if bytes[6..8] == [0, 0] {
        return Err(ModuleError::CoreModule {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// A linker with WASI (no capabilities are granted by the context) and the
/// imports of `world`.
fn world_linker(engine: &GuestEngine, world: World) -> wasmtime::Result<Linker<GuestContext>> {
    let mut linker = Linker::new(engine.engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    match world {
        World::Transform => {
            bindings::transform::Transform::add_to_linker::<_, HasSelf<_>>(&mut linker, |c| c)?
        }
        World::KeyedProcess => {
            bindings::keyed::KeyedProcess::add_to_linker::<_, HasSelf<_>>(&mut linker, |c| c)?
        }
        World::Aggregate => {
            bindings::aggregate::Aggregate::add_to_linker::<_, HasSelf<_>>(&mut linker, |c| c)?
        }
    }
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_selector_in_the_wrong_place_is_sent_to_key_by_and_back() {
        let path = Path::new("f.wasm");
        assert_eq!(
            wrong_kind_message(path, FunctionKind::KeySelector, FunctionKind::Map),
            "f.wasm is a function of kind `map` (world `transform`), but `key_by = { selector = ... }` needs a `key-selector` function (exported with `eddy_sdk::export_key_selector!`)"
        );
        assert_eq!(
            wrong_kind_message(path, FunctionKind::Map, FunctionKind::KeySelector),
            "f.wasm is a function of kind `key-selector` (world `transform`), but the operator is declared `kind = \"map\"`; a key selector is used as an operator's `key_by = { selector = \"...\" }`"
        );
    }
}
