//! The control API of a running job (Flink's REST API, for one process):
//! what `eddy list / status / savepoint / stop / cancel` and, later, the
//! web dashboard talk to.
//!
//! - [`api`]: the requests and answers, shared by server and client so the
//!   two cannot drift (described for other clients in
//!   `docs/control-api.openapi.json`);
//! - [`server`]: the HTTP server `eddy run` starts on a loopback port,
//!   every request authenticated with the run's bearer token;
//! - [`registry`]: the per-user run directory where each run leaves its
//!   address and token (mode 0600), so the CLI can find it;
//! - [`client`]: the blocking client of the CLI verbs.

pub mod api;
pub mod client;
pub mod registry;
pub mod server;
