//! The operators: what runs inside a chain, apart from the engine that runs
//! chains (`runtime`: tasks, exchanges, the executor). Each implements
//! `runtime::operator::Operator`; `runtime::plan` builds them from the job.
//!
//! - `transform`: WASM map, filter and flat-map functions;
//! - `keyed` and `keyed_guest`: WASM keyed process, co-process and
//!   broadcast-process functions, and the host side of a keyed-process
//!   world call (shared with full-window functions);
//! - `window`: window assigners and the window operator (aggregate and
//!   full-window functions, lateness, late side output);
//! - `join`: joins the host runs without a guest (the interval join);
//! - `poison`: `on_failure = "dead-letter"`, setting aside the records a
//!   guest fails on.

pub mod join;
pub mod keyed;
pub mod keyed_guest;
pub mod poison;
pub mod transform;
pub mod window;
