//! Runtime of the `keyed-process` world, shared by keyed process,
//! window-process, co-process and broadcast-process functions.
//!
//! A batch holds events of many keys. The key table is loaded into the
//! value-state slots (see `state::scope`), each event runs with its key as
//! the current key, and changed value states are written back once at the
//! end of the batch. Broadcast records have no key: they run in broadcast
//! mode instead, where only broadcast state is reachable. The function kinds
//! differ only in which events they take and how they hand them to the
//! user's function, which [`KeyedFunction`] captures.

use crate::bindings::types::{Descriptor, FunctionKind};
use crate::codec::{Decode, Encode};
use crate::context::{BroadcastContext, Context, Emitter, EventPosition, WindowContext};
use crate::function::{CoProcess, KeyedBroadcastProcess, KeyedProcess, ProcessWindow};
use crate::layout::{BatchReader, Event, NO_KEY, OutputWriter};
use crate::log::{self, Level};
use crate::open::{OpenContext, Registrations};
use crate::panic::{EventGuard, install_hook};
use crate::state::scope;
use crate::window::Window;

use super::Instance;

/// What one event of a keyed batch turns into, per function kind.
pub trait KeyedFunction: Sized {
    /// The kind reported by `describe`.
    const KIND: FunctionKind;
    /// Output record type.
    type Out: Encode;

    /// Build the user's function, registering its states and side outputs.
    fn open(ctx: &mut OpenContext) -> Result<Self, String>;

    /// Handle one event with its key as the current key; `ctx` is finished
    /// (its first encoding error returned) by the implementation.
    fn on_event(&mut self, event: Event<'_>, ctx: Context<'_, Self::Out>) -> Result<(), String>;
}

/// The error for an event the function kind never gets (a host bug).
fn unexpected(kind: FunctionKind, event: &Event<'_>) -> String {
    format!(
        "a {} function got {}, which the host sends to other function kinds only",
        super::kind_name(kind),
        event.describe()
    )
}

/// A [`KeyedProcess`]: records of one input and timers.
pub struct KeyedProcessFunction<P>(P);

impl<P: KeyedProcess> KeyedFunction for KeyedProcessFunction<P> {
    const KIND: FunctionKind = FunctionKind::KeyedProcess;
    type Out = P::Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        P::open(ctx).map(KeyedProcessFunction)
    }

    #[inline]
    fn on_event(&mut self, event: Event<'_>, mut ctx: Context<'_, P::Out>) -> Result<(), String> {
        match event {
            Event::Record { value, .. } => self.0.process(P::In::decode(value)?, &mut ctx)?,
            Event::Timer {
                timestamp, domain, ..
            } => self.0.on_timer(timestamp, domain, &mut ctx)?,
            other => return Err(unexpected(Self::KIND, &other)),
        }
        ctx.finish()
    }
}

/// A [`CoProcess`]: records of two inputs and timers.
pub struct CoProcessFunction<C>(C);

impl<C: CoProcess> KeyedFunction for CoProcessFunction<C> {
    const KIND: FunctionKind = FunctionKind::CoProcess;
    type Out = C::Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        C::open(ctx).map(CoProcessFunction)
    }

    #[inline]
    fn on_event(&mut self, event: Event<'_>, mut ctx: Context<'_, C::Out>) -> Result<(), String> {
        match event {
            Event::Record { value, .. } => {
                self.0.process_element1(C::In1::decode(value)?, &mut ctx)?
            }
            Event::SecondRecord { value, .. } => {
                self.0.process_element2(C::In2::decode(value)?, &mut ctx)?
            }
            Event::Timer {
                timestamp, domain, ..
            } => self.0.on_timer(timestamp, domain, &mut ctx)?,
            other => return Err(unexpected(Self::KIND, &other)),
        }
        ctx.finish()
    }
}

/// A [`KeyedBroadcastProcess`]: keyed records and timers, and broadcast
/// records (without a key) that may change broadcast state.
pub struct BroadcastProcessFunction<B>(B);

impl<B: KeyedBroadcastProcess> KeyedFunction for BroadcastProcessFunction<B> {
    const KIND: FunctionKind = FunctionKind::BroadcastProcess;
    type Out = B::Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        B::open(ctx).map(BroadcastProcessFunction)
    }

    #[inline]
    fn on_event(&mut self, event: Event<'_>, mut ctx: Context<'_, B::Out>) -> Result<(), String> {
        match event {
            Event::Record { value, .. } => {
                self.0.process_element(B::In::decode(value)?, &mut ctx)?
            }
            Event::BroadcastRecord { value, .. } => {
                let mut ctx = BroadcastContext::new(ctx);
                self.0
                    .process_broadcast_element(B::Broadcast::decode(value)?, &mut ctx)?;
                return ctx.finish();
            }
            Event::Timer {
                timestamp, domain, ..
            } => self.0.on_timer(timestamp, domain, &mut ctx)?,
            other => return Err(unexpected(Self::KIND, &other)),
        }
        ctx.finish()
    }
}

/// A [`ProcessWindow`]: fired windows with their elements.
pub struct ProcessWindowFunction<W>(W);

impl<W: ProcessWindow> KeyedFunction for ProcessWindowFunction<W> {
    const KIND: FunctionKind = FunctionKind::WindowProcess;
    type Out = W::Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        W::open(ctx).map(ProcessWindowFunction)
    }

    fn on_event(&mut self, event: Event<'_>, ctx: Context<'_, W::Out>) -> Result<(), String> {
        let Event::Window {
            start,
            end,
            elements,
            ..
        } = event
        else {
            return Err(unexpected(Self::KIND, &event));
        };
        let window = Window {
            key: ctx.key(),
            start,
            end,
        };
        let elements = elements
            .iter()
            .map(|(timestamp, value)| Ok((timestamp, W::In::decode(value)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let mut ctx = WindowContext::new(ctx);
        self.0.process(&window, elements, &mut ctx)?;
        ctx.finish()
    }
}

/// `describe`: run `open` with an empty config to learn the registered states
/// and side outputs. If `open` fails on the empty config, what was registered
/// before the failure is reported.
pub fn describe<F: KeyedFunction>() -> Descriptor {
    install_hook();
    let mut ctx = OpenContext::new(String::new());
    if let Err(error) = F::open(&mut ctx) {
        log::write(
            Level::Debug,
            format_args!(
                "describe: `open` with an empty config failed ({error}); describing the states registered before that"
            ),
        );
    }
    ctx.registrations().descriptor(F::KIND)
}

/// `init`: build the function and prepare the value-state slots.
pub fn init<F: KeyedFunction>(instance: &Instance<F>, config: String) -> Result<(), String> {
    install_hook();
    open(instance, OpenContext::new(config)).map(drop)
}

/// Open the function into `instance` with `ctx` (which holds the config and
/// subtask); what it registered.
pub(crate) fn open<F: KeyedFunction>(
    instance: &Instance<F>,
    mut ctx: OpenContext,
) -> Result<Registrations, String> {
    let function = F::open(&mut ctx)?;
    let opened = ctx.finish()?;
    let registrations = opened.registrations;
    registrations.check_kind(F::KIND)?;
    scope::configure(
        registrations
            .states
            .iter()
            .map(|spec| spec.name.clone())
            .collect(),
        registrations.value_state_indices(),
    );
    instance.set(function);
    instance.set_migrations(opened.migrations);
    Ok(registrations)
}

/// `migrate-state`: one stored value of `state`, written by version
/// `from_version` of its schema, as a value of the version the function
/// declares, by the migration registered in `open`. Called after `init`,
/// outside any batch, so a panic in the migration is reported without an
/// event.
pub fn migrate_state<F: KeyedFunction>(
    instance: &Instance<F>,
    state: String,
    from_version: u32,
    value: Vec<u8>,
) -> Result<Vec<u8>, String> {
    install_hook();
    instance.migrate(&state, from_version, &value)
}

/// `process-batch`: the events of many keys, in order.
pub fn process_batch<F: KeyedFunction>(
    instance: &Instance<F>,
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
            let key_ref = next.key_ref();
            let key = if let Event::BroadcastRecord { .. } = next {
                if key_ref != NO_KEY {
                    return Err(format!(
                        "event {event} is a broadcast record with key {key_ref}; \
                         broadcast records have no key"
                    ));
                }
                scope::enter_broadcast();
                &[]
            } else {
                let key = keys.get(key_ref as usize).copied().ok_or_else(|| {
                    format!(
                        "event {event} refers to key {key_ref}, but the key table has {} keys",
                        keys.len()
                    )
                })?;
                scope::set_current_key(key_ref);
                key
            };
            let position = EventPosition {
                key_ref,
                key,
                timestamp: next.timestamp(),
                watermark: header.watermark,
                processing_time: header.processing_time,
            };
            let _event = EventGuard::enter(event);
            function.on_event(
                next,
                Context::new(Emitter::new(&mut output, event), position),
            )?;
            event += 1;
        }
        scope::flush(&mut output);
        instance.remember_output_len(output.len());
        Ok(output.into_bytes())
    })
}
