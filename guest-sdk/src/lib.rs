//! Write eddy user functions in Rust.
//!
//! A user function is a struct implementing one trait per operator kind
//! ([`Map`], [`Filter`], [`FlatMap`], [`KeySelector`], [`KeyedProcess`],
//! [`CoProcess`], [`KeyedBroadcastProcess`], [`Aggregate`], [`ProcessWindow`])
//! and one `export_*!` line that turns the crate into a WebAssembly component. This keyed process function counts clicks per user:
//!
//! ```
//! use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, ValueState};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Click { user: String, url: String }
//!
//! #[derive(Serialize)]
//! struct Clicks { user: String, clicks: u64 }
//!
//! struct CountClicks { clicks: ValueState<u64> }
//!
//! impl KeyedProcess for CountClicks {
//!     type In = Json<Click>;
//!     type Out = Json<Clicks>;
//!
//!     fn open(ctx: &mut OpenContext) -> Result<Self, String> {
//!         Ok(CountClicks { clicks: ctx.value_state("clicks") })
//!     }
//!
//!     fn process(&mut self, Json(click): Json<Click>, ctx: &mut Context<Self::Out>) -> Result<(), String> {
//!         let clicks = self.clicks.value()?.unwrap_or(0) + 1; // state of the current key
//!         self.clicks.update(&clicks)?;
//!         ctx.emit(Json(Clicks { user: click.user, clicks }));
//!         Ok(())
//!     }
//! }
//!
//! eddy_sdk::export_keyed_process!(CountClicks);
//! ```
//!
//! The guest crate is a `cdylib` that depends on `eddy-sdk` and `serde`;
//! `cargo build --release --target wasm32-wasip2` turns it into the `.wasm`
//! component the job file points to.
//!
//! | implement | export with | world | operator `kind` |
//! |---|---|---|---|
//! | [`Map`] | [`export_map!`] | `transform` | `map` |
//! | [`Filter`] | [`export_filter!`] | `transform` | `filter` |
//! | [`FlatMap`] | [`export_flat_map!`] | `transform` | `flat-map` |
//! | [`KeySelector`] | [`export_key_selector!`] | `transform` | `key-selector` |
//! | [`KeyedProcess`] | [`export_keyed_process!`] | `keyed-process` | `keyed-process` |
//! | [`CoProcess`] | [`export_co_process!`] | `keyed-process` | `co-process` |
//! | [`KeyedBroadcastProcess`] | [`export_broadcast_process!`] | `keyed-process` | `broadcast-process` |
//! | [`Aggregate`] | [`export_aggregate!`] | `aggregate` | `aggregate` |
//! | [`ProcessWindow`] | [`export_process_window!`] | `keyed-process` | `window-process` |
//!
//! The host does the windowing (the operator's `window` in the job file): an
//! [`Aggregate`] keeps one accumulator per key and window and its
//! `get_result` sees the fired [`Window`]; a [`ProcessWindow`] gets all
//! elements of a fired window at once.
//!
//! A [`KeyedBroadcastProcess`] gets a second, broadcast input that reaches
//! every parallel instance (rules, thresholds): it keeps what that input
//! carries in [`BroadcastMapState`], which keyed records read and only
//! broadcast records change, so every instance holds the same copy.
//!
//! State outlives the code that wrote it: a savepoint or a live swap
//! (`eddy swap`) hands it to a new version of the function. Each state has
//! a schema version (1 unless registered with a [`StateVersion`], e.g.
//! `ctx.value_state_versioned("count", StateVersion::new(2).migrate_from(1, |old: u64| ...))`),
//! and typed migrations that turn an older version's values into the
//! current one's when the host asks (`docs/state-versions.md`).
//!
//! Record values are decoded into the function's `In` type and encoded from
//! its `Out` type by [`Decode`] and [`Encode`]: raw bytes (`Vec<u8>`), text
//! (`String`) or JSON ([`Json<T>`](Json)). A record that does not decode
//! fails the task with a message naming the expected type.
//!
//! # How it works
//!
//! The host calls a function with whole batches of records as one flat byte
//! buffer (see [`layout`] and `wit/README.md`); the SDK decodes each record,
//! calls the function, and writes what it emits into one output buffer.
//! State lives in the host: value state travels with the batch (no host call
//! per record), list, map and broadcast state call the host's `state` interface. Panics
//! are reported to the host (`log.record-panic`) before they trap; [`log`]
//! writes to the host's log.
//!
//! Each component exports exactly its own world and imports only what it
//! uses: the generated bindings for all three worlds live in this crate, but
//! a world's exports are only described by the export macro the guest invokes.
//!
//! # Testing
//!
//! Natively (not on wasm), the `testing` module runs functions through the
//! same batch runtime with an in-memory host: `testing::run_map` and friends
//! for stateless functions, `testing::KeyedHarness`,
//! `testing::CoProcessHarness` and `testing::BroadcastProcessHarness` for
//! keyed, co-process and broadcast-process functions with state, timers and
//! watermarks, and `testing::AggregateHarness` and
//! `testing::WindowHarness` for window functions, with the host's windowing
//! (`testing::Windows`) emulated in memory.

pub mod codec;
pub mod context;
pub mod function;
pub mod layout;
pub mod log;
pub mod open;
pub mod state;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod version;
pub mod window;

#[doc(hidden)]
pub mod bindings;
#[doc(hidden)]
pub mod export;
mod panic;

pub use codec::{Decode, Encode, Json};
pub use context::{BroadcastContext, Collector, Context, SideOutput, WindowContext};
pub use function::{
    Aggregate, CoProcess, Filter, FlatMap, KeySelector, KeyedBroadcastProcess, KeyedProcess, Map,
    ProcessWindow,
};
pub use layout::TimeDomain;
pub use open::{OpenContext, Ttl, TtlUpdate};
pub use state::{BroadcastMapState, ListState, MapState, ValueState};
pub use version::StateVersion;
pub use window::Window;

/// Used by the export macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::export::{Instance, aggregate, keyed, transform};
}
