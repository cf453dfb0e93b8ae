//! Runtime of the `keyed-process` world.
//!
//! A batch holds records and timers of many keys. The key table is loaded
//! into the value-state slots (see `state::scope`), each event runs with its
//! key as the current key, and changed value states are written back once at
//! the end of the batch.

use crate::bindings::types::{Descriptor, FunctionKind};
use crate::codec::Decode;
use crate::context::{Context, Emitter, EventPosition};
use crate::function::KeyedProcess;
use crate::layout::{BatchReader, Event, OutputWriter};
use crate::log::{self, Level};
use crate::open::{OpenContext, Registrations};
use crate::panic::install_hook;
use crate::state::scope;

use super::Instance;

/// `describe`: run `open` with an empty config to learn the registered states
/// and side outputs. If `open` fails on the empty config, what was registered
/// before the failure is reported.
pub fn describe<P: KeyedProcess>() -> Descriptor {
    install_hook();
    let mut ctx = OpenContext::new(String::new());
    if let Err(error) = P::open(&mut ctx) {
        log::write(
            Level::Debug,
            format_args!(
                "describe: `open` with an empty config failed ({error}); describing the states registered before that"
            ),
        );
    }
    ctx.registrations().descriptor(FunctionKind::KeyedProcess)
}

/// `init`: build the function and prepare the value-state slots.
pub fn init<P: KeyedProcess>(instance: &Instance<P>, config: String) -> Result<(), String> {
    install_hook();
    open(instance, config).map(drop)
}

/// Open the function into `instance`; what it registered.
pub(crate) fn open<P: KeyedProcess>(
    instance: &Instance<P>,
    config: String,
) -> Result<Registrations, String> {
    let mut ctx = OpenContext::new(config);
    let function = P::open(&mut ctx)?;
    let registrations = ctx.finish()?;
    scope::configure(
        registrations
            .states
            .iter()
            .map(|spec| spec.name.clone())
            .collect(),
        registrations.value_state_indices(),
    );
    instance.set(function);
    Ok(registrations)
}

/// `process-batch`: records and timers of many keys, in order.
pub fn process_batch<P: KeyedProcess>(
    instance: &Instance<P>,
    batch: Vec<u8>,
) -> Result<Vec<u8>, String> {
    instance.with(|function| {
        let (header, mut reader) = BatchReader::new(&batch)?;
        let value_states = scope::value_state_count();
        scope::begin_batch();
        let mut keys = Vec::with_capacity(header.key_count as usize);
        while let Some(entry) = reader.next_key(value_states)? {
            scope::load_key(entry.slots());
            keys.push(entry.key);
        }

        let mut output = OutputWriter::with_capacity(instance.output_capacity());
        let mut event = 0;
        while let Some(next) = reader.next_event()? {
            let (Event::Record {
                key_ref, timestamp, ..
            }
            | Event::Timer {
                key_ref, timestamp, ..
            }) = next;
            let key = keys.get(key_ref as usize).copied().ok_or_else(|| {
                format!(
                    "event {event} refers to key {key_ref}, but the key table has {} keys",
                    keys.len()
                )
            })?;
            scope::set_current_key(key_ref);
            let position = EventPosition {
                key_ref,
                key,
                timestamp,
                watermark: header.watermark,
                processing_time: header.processing_time,
            };
            let mut ctx = Context::new(Emitter::new(&mut output, event), position);
            match next {
                Event::Record { value, .. } => function.process(P::In::decode(value)?, &mut ctx)?,
                Event::Timer { domain, .. } => function.on_timer(timestamp, domain, &mut ctx)?,
            }
            ctx.finish()?;
            event += 1;
        }
        scope::flush(&mut output);
        instance.remember_output_len(output.len());
        Ok(output.into_bytes())
    })
}
