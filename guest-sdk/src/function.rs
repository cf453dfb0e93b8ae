//! The traits a user function implements, one per operator kind.
//!
//! Each trait mirrors its Flink counterpart. A function is constructed once
//! per instance by `open` with the operator's config, then called per record.
//! Input and output types are named as associated types and decoded/encoded
//! by the SDK ([`Decode`], [`Encode`]); returning `Err` fails the task with
//! the message, like throwing from a Flink function.
//!
//! Functions without configuration write
//! `fn open(_: &OpenContext) -> Result<Self, String> { Ok(Self) }`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Decode, Encode};
use crate::context::{Collector, Context};
use crate::layout::TimeDomain;
use crate::open::OpenContext;

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

/// Incremental aggregation (Flink's `AggregateFunction`).
/// Export with [`export_aggregate!`](crate::export_aggregate).
///
/// The accumulator is stored by the host as JSON, so it survives savepoints
/// and new versions of the function as long as it deserializes.
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

    /// The result for an accumulator.
    fn get_result(&self, acc: &Self::Acc) -> Self::Out;
}
