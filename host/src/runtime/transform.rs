//! Stateless guest functions (map, filter, flat-map): one guest call per batch.

use super::operator::{Collector, Operator, OperatorError};
use super::record::Record;
use crate::time::processing_time_now;
use crate::wasm::GuestInstance;
use crate::wasm::layout::{BatchEncoder, NO_KEY, OutputEntry, output_entries};

/// A map, filter or flat-map implemented by a guest of the `transform` world.
pub struct WasmTransform {
    guest: GuestInstance,
    encoder: BatchEncoder,
    side_outputs: Vec<String>,
}

impl WasmTransform {
    pub fn new(guest: GuestInstance, side_outputs: Vec<String>) -> Self {
        WasmTransform {
            guest,
            encoder: BatchEncoder::default(),
            side_outputs,
        }
    }
}

impl Operator for WasmTransform {
    fn process(
        &mut self,
        mut input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        self.encoder.begin(i64::MIN, processing_time_now());
        for record in &input {
            self.encoder.record(NO_KEY, record.timestamp, &record.value);
        }
        let output = self.guest.process_batch(self.encoder.finish())?;
        out.main.reserve(input.len());
        for entry in output_entries(&output) {
            match entry.map_err(crate::wasm::GuestFailure::from)? {
                OutputEntry::Emit { event, value } => {
                    // Reuse the input's buffer: a map emits once per event,
                    // so most emits cost no allocation.
                    let source = event_record_mut(&mut input, event)?;
                    let mut buffer = std::mem::take(&mut source.value);
                    buffer.clear();
                    buffer.extend_from_slice(value);
                    out.main.push(Record::at_watermark(
                        buffer,
                        source.timestamp,
                        source.watermark,
                    ));
                }
                OutputEntry::Forward { event } => {
                    let source = event_record_mut(&mut input, event)?;
                    out.main.push(Record::at_watermark(
                        std::mem::take(&mut source.value),
                        source.timestamp,
                        source.watermark,
                    ));
                }
                OutputEntry::EmitSide {
                    side_output,
                    event,
                    value,
                } => {
                    let source = event_record(&input, event)?;
                    let (timestamp, watermark) = (source.timestamp, source.watermark);
                    let side = out.side.get_mut(side_output as usize).ok_or_else(|| {
                        OperatorError::Record(format!(
                            "guest emitted to side output {side_output}, but declared {}",
                            self.side_outputs.len()
                        ))
                    })?;
                    side.push(Record::at_watermark(value.to_vec(), timestamp, watermark));
                }
                other => {
                    return Err(OperatorError::Record(format!(
                        "a stateless function returned a keyed entry: {other:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }
}

fn event_record(input: &[Record], event: u32) -> Result<&Record, OperatorError> {
    input
        .get(event as usize)
        .ok_or_else(|| bad_event(event, input.len()))
}

fn event_record_mut(input: &mut [Record], event: u32) -> Result<&mut Record, OperatorError> {
    let len = input.len();
    input
        .get_mut(event as usize)
        .ok_or_else(|| bad_event(event, len))
}

fn bad_event(event: u32, len: usize) -> OperatorError {
    OperatorError::Record(format!(
        "guest referred to event {event}, but the batch has {len} events"
    ))
}
