//! eddy: a stream processor in the spirit of Apache Flink whose user functions
//! are sandboxed WebAssembly components.
//!
//! The host owns everything that must be correct and fast (sources, key
//! partitioning, event time, state, sinks); guests only transform batches of
//! records. Start reading at [`runtime`] for the data path, [`wasm`] for the
//! sandbox, and [`job`] for what users write.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod connectors;
pub mod control;
pub mod features;
pub mod job;
pub mod operators;
pub mod runtime;
pub mod serve;
pub mod snapshot;
pub mod state;
pub mod time;
pub mod wasm;

pub use runtime::record::{NO_TIMESTAMP, Record};
