//! The control API (Flink's REST API): what `eddy list / status /
//! savepoint / stop / swap / cancel / deploy`, Prometheus and the web
//! dashboard talk to, served by a single `eddy run` for its job and by
//! `eddy serve` for all of its jobs.
//!
//! - [`api`]: the requests and answers, shared by server and client so the
//!   two cannot drift (described for other clients in
//!   `docs/control-api.openapi.json`);
//! - [`jobs`]: the jobs a server answers for, and the trait through which
//!   `eddy serve` takes new ones;
//! - [`server`]: the HTTP server, every request authenticated with a bearer
//!   token;
//! - [`metrics`]: `GET /metrics`, the jobs' counters for Prometheus;
//! - [`dashboard`]: the web dashboard's page, login and sessions;
//! - [`registry`]: the per-user run directory where each run (and each
//!   server) leaves its address and token (mode 0600), so the CLI can find it;
//! - [`client`]: the blocking client of the CLI verbs.

pub mod api;
pub mod client;
pub mod dashboard;
pub mod jobs;
pub mod metrics;
pub mod registry;
pub mod server;

/// `count` random bytes as hex, from the operating system: job ids and tokens.
pub fn random_hex(count: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}
