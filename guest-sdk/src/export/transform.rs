//! Runtime of the `transform` world: map, filter, flat-map and key-selector.
//!
//! All four share one batch loop; they differ only in what one record turns
//! into, which [`RecordFunction`] captures.

use crate::bindings::types::{Descriptor, FunctionKind};
use crate::codec::{Decode, Encode};
use crate::context::{Collector, Emitter};
use crate::function::{Filter, FlatMap, KeySelector, Map};
use crate::layout::{BatchReader, Event, OutputWriter};
use crate::open::{OpenContext, Registrations};
use crate::panic::{EventGuard, install_hook};

use super::Instance;

/// What one record turns into, per operator kind.
pub trait RecordFunction: Sized {
    /// The kind reported by `describe`.
    const KIND: FunctionKind;

    /// Build the user's function.
    fn open(ctx: &OpenContext) -> Result<Self, String>;

    /// Process the record of event `event`, writing output entries.
    fn on_record(
        &mut self,
        event: u32,
        value: &[u8],
        output: &mut OutputWriter,
    ) -> Result<(), String>;
}

/// A [`Map`] as a [`RecordFunction`]: one emit entry per record.
pub struct MapFunction<F>(F);

impl<F: Map> RecordFunction for MapFunction<F> {
    const KIND: FunctionKind = FunctionKind::Map;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        F::open(ctx).map(MapFunction)
    }

    #[inline]
    fn on_record(
        &mut self,
        event: u32,
        value: &[u8],
        output: &mut OutputWriter,
    ) -> Result<(), String> {
        let result = self.0.map(F::In::decode(value)?)?;
        output.emit_with(event, |buf| result.encode(buf))
    }
}

/// A [`Filter`] as a [`RecordFunction`]: a forward entry for kept records, so
/// nothing is copied back.
pub struct FilterFunction<F>(F);

impl<F: Filter> RecordFunction for FilterFunction<F> {
    const KIND: FunctionKind = FunctionKind::Filter;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        F::open(ctx).map(FilterFunction)
    }

    #[inline]
    fn on_record(
        &mut self,
        event: u32,
        value: &[u8],
        output: &mut OutputWriter,
    ) -> Result<(), String> {
        if self.0.filter(F::In::decode(value)?)? {
            output.forward(event);
        }
        Ok(())
    }
}

/// A [`FlatMap`] as a [`RecordFunction`]: one emit entry per collected record.
pub struct FlatMapFunction<F>(F);

impl<F: FlatMap> RecordFunction for FlatMapFunction<F> {
    const KIND: FunctionKind = FunctionKind::FlatMap;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        F::open(ctx).map(FlatMapFunction)
    }

    #[inline]
    fn on_record(
        &mut self,
        event: u32,
        value: &[u8],
        output: &mut OutputWriter,
    ) -> Result<(), String> {
        let input = F::In::decode(value)?;
        let mut collector = Collector::new(Emitter::new(output, event));
        self.0.flat_map(input, &mut collector)?;
        collector.finish()
    }
}

/// A [`KeySelector`] as a [`RecordFunction`]: exactly one emit entry per
/// record, holding the key bytes.
pub struct KeySelectorFunction<F>(F);

impl<F: KeySelector> RecordFunction for KeySelectorFunction<F> {
    const KIND: FunctionKind = FunctionKind::KeySelector;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        F::open(ctx).map(KeySelectorFunction)
    }

    #[inline]
    fn on_record(
        &mut self,
        event: u32,
        value: &[u8],
        output: &mut OutputWriter,
    ) -> Result<(), String> {
        let key = self.0.key(F::In::decode(value)?)?;
        output.emit_with(event, |buf| key.encode(buf))
    }
}

/// `describe`: stateless functions have no states or side outputs.
pub fn describe<F: RecordFunction>() -> Descriptor {
    install_hook();
    Registrations::default().descriptor(F::KIND)
}

/// `init`: build the function from the operator's config.
pub fn init<F: RecordFunction>(instance: &Instance<F>, config: String) -> Result<(), String> {
    install_hook();
    let ctx = OpenContext::new(config);
    let function = F::open(&ctx)?;
    ctx.finish()?;
    instance.set(function);
    Ok(())
}

/// `process-batch`: every record event through the function, in order.
pub fn process_batch<F: RecordFunction>(
    instance: &Instance<F>,
    batch: Vec<u8>,
) -> Result<Vec<u8>, String> {
    instance.with(|function| {
        let (_, mut reader) = BatchReader::new(&batch)?;
        reader.skip_keys(0)?;
        let mut output = OutputWriter::with_capacity(instance.output_capacity());
        let mut event = 0;
        while let Some(next) = reader.next_event()? {
            match next {
                Event::Record { value, .. } => {
                    let _event = EventGuard::enter(event);
                    function.on_record(event, value, &mut output)?
                }
                other => {
                    return Err(format!(
                        "event {event} is {}, but stateless functions take records only",
                        other.describe()
                    ));
                }
            }
            event += 1;
        }
        instance.remember_output_len(output.len());
        Ok(output.into_bytes())
    })
}
