//! Stateless guest functions (map, filter, flat-map): one guest call per batch.

use std::ops::Range;

use super::poison::{self, OnFailure, Retry};
use crate::runtime::operator::{Collector, FunctionReplacement, Operator, OperatorError};
use crate::runtime::record::Record;
use crate::time::processing_time_now;
use crate::wasm::GuestInstance;
use crate::wasm::layout::{BatchEncoder, NO_KEY, OutputEntry, output_entries};

/// A map, filter or flat-map implemented by a guest of the `transform` world.
pub struct WasmTransform {
    guest: TransformGuest,
    on_failure: OnFailure,
}

/// The guest and what one call needs.
struct TransformGuest {
    instance: GuestInstance,
    encoder: BatchEncoder,
    side_outputs: Vec<String>,
}

impl WasmTransform {
    pub fn new(guest: GuestInstance, side_outputs: Vec<String>, on_failure: OnFailure) -> Self {
        WasmTransform {
            guest: TransformGuest {
                instance: guest,
                encoder: BatchEncoder::default(),
                side_outputs,
            },
            on_failure,
        }
    }
}

impl TransformGuest {
    /// One guest call on `input`, its output added to `out`. A guest
    /// failure leaves `input` and `out` as they were.
    fn call(&mut self, input: &mut [Record], out: &mut Collector) -> Result<(), OperatorError> {
        self.encoder.begin(i64::MIN, processing_time_now());
        for record in input.iter() {
            self.encoder.record(NO_KEY, record.timestamp, &record.value);
        }
        let output = self.instance.process_batch(self.encoder.finish())?;
        out.main.reserve(input.len());
        for entry in output_entries(&output) {
            match entry.map_err(crate::wasm::GuestFailure::from)? {
                OutputEntry::Emit { event, value } => {
                    // Reuse the input's buffer: a map emits once per event,
                    // so most emits cost no allocation.
                    let source = event_record_mut(input, event)?;
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
                    let source = event_record_mut(input, event)?;
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
                    let source = event_record(input, event)?;
                    let (timestamp, watermark) = (source.timestamp, source.watermark);
                    out.guest_side_output(side_output, self.side_outputs.len())?
                        .push(Record::at_watermark(value.to_vec(), timestamp, watermark));
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
}

/// Parts of one batch run again to set aside the records the guest fails on.
struct TransformRetry<'a> {
    guest: &'a mut TransformGuest,
    input: &'a mut [Record],
}

impl Retry for TransformRetry<'_> {
    fn attempt(&mut self, range: Range<usize>, out: &mut Collector) -> Result<(), OperatorError> {
        self.guest.call(&mut self.input[range], out)
    }

    fn respawn(&mut self) -> Result<(), OperatorError> {
        Ok(self.guest.instance.respawn()?)
    }

    fn record(&self, index: usize) -> &Record {
        &self.input[index]
    }
}

impl Operator for WasmTransform {
    fn replace_function(&mut self, replacement: FunctionReplacement) -> Result<(), OperatorError> {
        if replacement.descriptor.side_outputs != self.guest.side_outputs {
            return Err(OperatorError::Record(format!(
                "the new version declares side outputs {:?} and the running one {:?}; a swap cannot rewire the job",
                replacement.descriptor.side_outputs, self.guest.side_outputs
            )));
        }
        self.guest.instance = replacement.instance;
        Ok(())
    }

    fn process(
        &mut self,
        mut input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        match &self.on_failure {
            OnFailure::Fail => match self.guest.call(&mut input, out) {
                Ok(()) => Ok(()),
                Err(error) => Err(poison::name_record(error, &input)),
            },
            OnFailure::DeadLetter(letters) => {
                let len = input.len();
                let mut retry = TransformRetry {
                    guest: &mut self.guest,
                    input: &mut input,
                };
                poison::run_isolating(&mut retry, len, letters, out)
            }
        }
    }

    fn side_outputs(&self) -> &[String] {
        &self.guest.side_outputs
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
