//! The traits a user function implements, one per operator kind.
//!
//! Each trait mirrors its Flink counterpart. A function is constructed once
//! per instance by `open` with the operator's config, then called per record.
//! Input and output types are named as associated types and decoded/encoded
//! by the SDK ([`Decode`], [`Encode`]); returning `Err` fails the task with
//! the message, like throwing from a Flink function.
//!
//! `open` takes `&OpenContext` in the stateless kinds ([`Map`], [`Filter`],
//! [`FlatMap`], [`KeySelector`]) and in [`Aggregate`] (whose state is the
//! accumulator the host keeps), and `&mut OpenContext` in the keyed kinds
//! ([`KeyedProcess`], [`ProcessWindow`], [`CoProcess`],
//! [`KeyedBroadcastProcess`]), which register their states and side outputs
//! there. A function without configuration or state writes
//! `fn open(_: &OpenContext) -> Result<Self, String> { Ok(Self) }`, or
//! `fn open(_: &mut OpenContext)` in a keyed kind; the operator's config is
//! [`OpenContext::config`] (or [`OpenContext::config_json_or_default`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Decode, Encode};
use crate::context::{BroadcastContext, Collector, Context, WindowContext};
use crate::layout::TimeDomain;
use crate::open::OpenContext;
use crate::window::Window;

/// One record in, one record out (Flink's `MapFunction`). Export with [`export_map!`](crate::export_map).
pub trait Map: Sized {
    /// Input record type.
    type In: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// Transform one record.
    fn map(&mut self, input: Self::In) -> Result<Self::Out, String>;
}

/// Keep or drop each record (Flink's `FilterFunction`). Export with [`export_filter!`](crate::export_filter).
///
/// Kept records are forwarded as they came in, so they are never re-encoded.
pub trait Filter: Sized {
    /// Input record type.
    type In: Decode;

    /// Build the function from the operator's config.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// Whether to keep the record.
    fn filter(&mut self, input: Self::In) -> Result<bool, String>;
}

/// One record in, any number out (Flink's `FlatMapFunction`). Export with [`export_flat_map!`](crate::export_flat_map).
pub trait FlatMap: Sized {
    /// Input record type.
    type In: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// Emit zero or more records for `input` with `out.emit(..)`.
    fn flat_map(
        &mut self,
        input: Self::In,
        out: &mut Collector<'_, Self::Out>,
    ) -> Result<(), String>;
}

/// Computes the key a record is partitioned by (Flink's `KeySelector`).
/// Export with [`export_key_selector!`](crate::export_key_selector).
pub trait KeySelector: Sized {
    /// Input record type.
    type In: Decode;
    /// The key; its encoded bytes are the key the host partitions by.
    type Key: Encode;

    /// Build the function from the operator's config.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// The key of one record.
    fn key(&mut self, input: Self::In) -> Result<Self::Key, String>;
}

/// Per-key processing with state and timers (Flink's `KeyedProcessFunction`).
/// Export with [`export_keyed_process!`](crate::export_keyed_process).
///
/// States and side outputs are registered in `open` through the context and
/// kept as fields; they are scoped to the key of the record or timer being
/// processed. `open` also runs once with an empty config when the host asks
/// the function to describe itself, so register states before anything that
/// depends on the config.
pub trait KeyedProcess: Sized {
    /// Input record type.
    type In: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config and register its states.
    fn open(ctx: &mut OpenContext) -> Result<Self, String>;

    /// Process one record of the current key.
    fn process(&mut self, input: Self::In, ctx: &mut Context<'_, Self::Out>) -> Result<(), String>;

    /// A timer of the current key fired at `timestamp`.
    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String> {
        let _ = (timestamp, domain, ctx);
        Ok(())
    }
}

/// Incremental aggregation of the windows of a key (Flink's
/// `AggregateFunction`, with the window passed to `get_result` as Flink's
/// `aggregate(aggregateFunction, windowFunction)` would).
/// Export with [`export_aggregate!`](crate::export_aggregate).
///
/// The host assigns records to windows (the operator's `window` in the job
/// file) and keeps one accumulator per key and window; when a window fires,
/// its result is emitted with timestamp `end - 1` (for count windows, the
/// timestamp of the record that completed the window). The accumulator is stored
/// by the host as JSON, so it survives savepoints and new versions of the
/// function as long as it deserializes.
pub trait Aggregate: Sized {
    /// Input record type.
    type In: Decode;
    /// The running state of one group.
    type Acc: Serialize + DeserializeOwned;
    /// The result type.
    type Out: Encode;

    /// Build the function from the operator's config.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// A fresh, empty accumulator.
    fn create_accumulator(&self) -> Self::Acc;

    /// Add one input to an accumulator.
    fn add(&self, acc: &mut Self::Acc, input: Self::In);

    /// Combine two accumulators (merging session windows).
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;

    /// The result of a fired window from its accumulator; `window` names the
    /// key and bounds so the result can carry them.
    fn get_result(&self, acc: &Self::Acc, window: &Window<'_>) -> Self::Out;
}

/// A full-window function (Flink's `ProcessWindowFunction`): gets every
/// element of a fired window at once, with the window's key and bounds.
/// Export with [`export_process_window!`](crate::export_process_window);
/// the operator kind is `window-process`.
///
/// The host assigns records to windows and buffers them; use an
/// [`Aggregate`] instead when the result can be computed incrementally.
/// `open` may register keyed states (shared by all windows of a key, Flink's
/// `globalState`) and side outputs, as for [`KeyedProcess`].
pub trait ProcessWindow: Sized {
    /// Input record type.
    type In: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config and register its states
    /// and side outputs.
    fn open(ctx: &mut OpenContext) -> Result<Self, String>;

    /// A window fired: `elements` are its `(timestamp, record)` pairs in
    /// arrival order. Emitted records take the timestamp `window.end - 1`
    /// (for count windows, that of the record that completed the window).
    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, Self::In)>,
        ctx: &mut WindowContext<'_, Self::Out>,
    ) -> Result<(), String>;
}

/// Two keyed inputs processed together (Flink's `KeyedCoProcessFunction`),
/// e.g. a join or enrichment from a second stream.
/// Export with [`export_co_process!`](crate::export_co_process); the operator
/// kind is `co-process`, its second input is the job file's `connect`.
///
/// Both inputs are keyed the same way and share the keyed states, timers and
/// side outputs registered in `open`; the [`Context`] is the one of
/// [`KeyedProcess`]. The watermark is the smaller of the two inputs'.
pub trait CoProcess: Sized {
    /// Record type of the first input (`input` in the job file).
    type In1: Decode;
    /// Record type of the second input (`connect`).
    type In2: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config and register its states.
    fn open(ctx: &mut OpenContext) -> Result<Self, String>;

    /// Process one record of the first input, for the current key.
    fn process_element1(
        &mut self,
        input: Self::In1,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String>;

    /// Process one record of the second input, for the current key.
    fn process_element2(
        &mut self,
        input: Self::In2,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String>;

    /// A timer of the current key fired at `timestamp`.
    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String> {
        let _ = (timestamp, domain, ctx);
        Ok(())
    }
}

/// A keyed input processed together with a broadcast input that reaches
/// every parallel instance (Flink's `KeyedBroadcastProcessFunction`, the
/// broadcast state pattern): rules, thresholds or a model that every key
/// needs, delivered as a stream rather than as config.
/// Export with [`export_broadcast_process!`](crate::export_broadcast_process);
/// the operator kind is `broadcast-process`, its broadcast input is the job
/// file's `broadcast`.
///
/// Broadcast records go to [`process_broadcast_element`](Self::process_broadcast_element),
/// which keeps what they carry in
/// [`BroadcastMapState`](crate::BroadcastMapState) (registered in `open`);
/// keyed records go to [`process_element`](Self::process_element) with the
/// usual keyed [`Context`], keyed states and timers, and may only read the
/// broadcast state. That asymmetry is what keeps the instances consistent:
/// each changes its copy of the broadcast state with the same records.
///
/// The two inputs are not ordered relative to each other, so a result that
/// must not depend on whether a broadcast record came before a keyed one
/// waits for the watermark (the smaller of the two inputs'), e.g. by
/// buffering keyed records until an event-time timer at their timestamp.
pub trait KeyedBroadcastProcess: Sized {
    /// Record type of the keyed input (`input` in the job file).
    type In: Decode;
    /// Record type of the broadcast input (`broadcast`).
    type Broadcast: Decode;
    /// Output record type.
    type Out: Encode;

    /// Build the function from the operator's config and register its keyed
    /// and broadcast states and side outputs.
    fn open(ctx: &mut OpenContext) -> Result<Self, String>;

    /// Process one record of the keyed input, for the current key; broadcast
    /// state is read-only here.
    fn process_element(
        &mut self,
        input: Self::In,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String>;

    /// Process one broadcast record; every parallel instance gets it. There
    /// is no current key, so keyed state and timers are out of reach;
    /// broadcast state is writable.
    fn process_broadcast_element(
        &mut self,
        input: Self::Broadcast,
        ctx: &mut BroadcastContext<'_, Self::Out>,
    ) -> Result<(), String>;

    /// A timer of the current key fired at `timestamp`; broadcast state is
    /// read-only here.
    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut Context<'_, Self::Out>,
    ) -> Result<(), String> {
        let _ = (timestamp, domain, ctx);
        Ok(())
    }
}
