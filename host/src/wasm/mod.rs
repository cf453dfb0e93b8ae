//! The sandbox: wasmtime engine, bindings of `wit/dataflow.wit`, limits, and
//! the compiled-module cache.
//!
//! A [`GuestModule`] is checked and compiled once per deployment; each
//! operator subtask runs its own [`GuestInstance`] with its own memory limit
//! and a time limit per call. Data crosses as flat buffers ([`layout`]).

pub mod bindings;
pub mod context;
pub mod engine;
pub mod instance;
pub mod language;
pub mod layout;
pub mod module;
mod output;
pub mod versions;

pub use context::{GuestContext, GuestPanic, GuestTag, KeyedStateAccess, StateWrites};
pub use engine::GuestEngine;
pub use instance::{FailureKind, GuestCallStats, GuestFailure, GuestInstance};
pub use language::GuestLanguage;
pub use module::{
    DeclaredState, FunctionDescriptor, GuestModule, ModuleError, World, function_kind_name,
    function_kind_of,
};
