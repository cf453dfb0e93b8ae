//! The Nexmark benchmark's events, generated exactly as the Flink peer's
//! `NexmarkGen.java` generates them (`shared/peers/flink/nexmark/GENERATOR.md`),
//! so that eddy and the peer run their queries over the same bytes.
//!
//! The crate is std-only so that the host (which generates) and WASM guests
//! (which decode) share one definition of the events and of their layouts:
//! [`binary`] is the compact layout records carry inside eddy, [`json`] the
//! peer's JSON-lines dump, the format both sides can be compared in.

pub mod binary;
pub mod generator;
pub mod json;
pub mod model;

pub use generator::GeneratorConfig;
pub use model::{Auction, Bid, Event, Person};
