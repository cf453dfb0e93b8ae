//! What a function sees while it processes one event, and where its output goes.
//!
//! Output is written straight into the batch's output buffer. An encoding
//! failure in `emit` is kept and returned as the function's error once the
//! call returns, so emitting reads like Flink's `out.collect(x)`.

use std::fmt;
use std::marker::PhantomData;

use crate::codec::Encode;
use crate::layout::{NO_TIMESTAMP, OutputWriter, TimeDomain};

/// Where emitted records of one event go, shared by [`Context`] and [`Collector`].
pub(crate) struct Emitter<'a> {
    output: &'a mut OutputWriter,
    event: u32,
    /// First encoding error; the event fails with it.
    error: Option<String>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(output: &'a mut OutputWriter, event: u32) -> Self {
        Emitter {
            output,
            event,
            error: None,
        }
    }

    /// `Err` with the first encoding error, if any.
    pub(crate) fn finish(self) -> Result<(), String> {
        self.error.map_or(Ok(()), Err)
    }

    fn keep_error(&mut self, result: Result<(), String>) {
        if let Err(error) = result {
            self.error.get_or_insert(error);
        }
    }

    fn emit(&mut self, value: &impl Encode) {
        let result = self.output.emit_with(self.event, |buf| value.encode(buf));
        self.keep_error(result);
    }

    fn emit_side(&mut self, side_output: u32, value: &impl Encode) {
        let result = self
            .output
            .emit_side_with(side_output, self.event, |buf| value.encode(buf));
        self.keep_error(result);
    }
}

/// Receives the records a [`FlatMap`](crate::FlatMap) emits (Flink's `Collector`).
pub struct Collector<'a, Out> {
    emitter: Emitter<'a>,
    _out: PhantomData<fn(Out)>,
}

impl<'a, Out: Encode> Collector<'a, Out> {
    pub(crate) fn new(emitter: Emitter<'a>) -> Self {
        Collector {
            emitter,
            _out: PhantomData,
        }
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        self.emitter.finish()
    }

    /// Send one record downstream; it takes the input record's timestamp.
    pub fn emit(&mut self, value: Out) {
        self.emitter.emit(&value);
    }
}

/// A typed handle to a side output declared in `open` (Flink's `OutputTag`).
pub struct SideOutput<T> {
    pub(crate) index: u32,
    pub(crate) _value: PhantomData<fn(T)>,
}

impl<T> Clone for SideOutput<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SideOutput<T> {}

impl<T> fmt::Debug for SideOutput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideOutput")
            .field("index", &self.index)
            .finish()
    }
}

/// Key bytes as text, with the error message every key accessor shares.
pub(crate) fn key_text(key: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(key).map_err(|error| format!("the current key is not UTF-8 text: {error}"))
}

/// The event being processed by a [`KeyedProcess`](crate::KeyedProcess) or
/// [`CoProcess`](crate::CoProcess) function, or a keyed record or timer of a
/// [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess): its key and
/// time, output, and timers (Flink's `Context` and `TimerService` in one).
pub struct Context<'a, Out> {
    emitter: Emitter<'a>,
    key_ref: u32,
    key: &'a [u8],
    timestamp: i64,
    watermark: i64,
    processing_time: i64,
    _out: PhantomData<fn(Out)>,
}

/// Where an event sits in its batch, for building a [`Context`].
pub(crate) struct EventPosition<'a> {
    pub key_ref: u32,
    pub key: &'a [u8],
    pub timestamp: i64,
    pub watermark: i64,
    pub processing_time: i64,
}

impl<'a, Out: Encode> Context<'a, Out> {
    pub(crate) fn new(emitter: Emitter<'a>, position: EventPosition<'a>) -> Self {
        Context {
            emitter,
            key_ref: position.key_ref,
            key: position.key,
            timestamp: position.timestamp,
            watermark: position.watermark,
            processing_time: position.processing_time,
            _out: PhantomData,
        }
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        self.emitter.finish()
    }

    /// The current key's bytes.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The current key as text; an error if it is not UTF-8.
    pub fn key_str(&self) -> Result<&'a str, String> {
        key_text(self.key)
    }

    /// Event time of the current record, or the firing time of the current timer.
    pub fn timestamp(&self) -> Option<i64> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }

    /// The operator's watermark; `i64::MIN` before the first one (as in Flink).
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }

    /// The host's processing time when the batch was built, in epoch milliseconds.
    pub fn current_processing_time(&self) -> i64 {
        self.processing_time
    }

    /// Send one record to the main output; it takes the event's timestamp.
    pub fn emit(&mut self, value: Out) {
        self.emitter.emit(&value);
    }

    /// Send one record to a side output.
    pub fn emit_to<T: Encode>(&mut self, side_output: &SideOutput<T>, value: T) {
        self.emitter.emit_side(side_output.index, &value);
    }

    /// Call `on_timer` for the current key when the watermark passes `timestamp`.
    /// Setting the same timer twice fires it once.
    pub fn register_event_time_timer(&mut self, timestamp: i64) {
        self.emitter
            .output
            .set_timer(self.key_ref, TimeDomain::EventTime, timestamp);
    }

    /// Call `on_timer` for the current key when processing time passes `timestamp`.
    pub fn register_processing_time_timer(&mut self, timestamp: i64) {
        self.emitter
            .output
            .set_timer(self.key_ref, TimeDomain::ProcessingTime, timestamp);
    }

    /// Remove an event-time timer of the current key.
    pub fn delete_event_time_timer(&mut self, timestamp: i64) {
        self.emitter
            .output
            .delete_timer(self.key_ref, TimeDomain::EventTime, timestamp);
    }

    /// Remove a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, timestamp: i64) {
        self.emitter
            .output
            .delete_timer(self.key_ref, TimeDomain::ProcessingTime, timestamp);
    }
}

/// The methods of the contexts that wrap a [`Context`] to offer less of it
/// ([`WindowContext`], [`BroadcastContext`]): time and output, no timers.
macro_rules! time_and_output_methods {
    () => {
        pub(crate) fn finish(self) -> Result<(), String> {
            self.context.finish()
        }

        /// The operator's watermark; `i64::MIN` before the first one.
        pub fn current_watermark(&self) -> i64 {
            self.context.current_watermark()
        }

        /// The host's processing time when the batch was built, in epoch milliseconds.
        pub fn current_processing_time(&self) -> i64 {
            self.context.current_processing_time()
        }

        /// Send one record to the main output.
        pub fn emit(&mut self, value: Out) {
            self.context.emit(value);
        }

        /// Send one record to a side output.
        pub fn emit_to<T: Encode>(&mut self, side_output: &SideOutput<T>, value: T) {
            self.context.emit_to(side_output, value);
        }
    };
}

/// What a [`ProcessWindow`](crate::ProcessWindow) function sees while it
/// processes a fired window (Flink's `ProcessWindowFunction.Context`): the
/// key, the time, and the main and side outputs. Unlike [`Context`] it has no
/// timers, because window functions are called only when a window fires.
///
/// Everything emitted takes the window's last millisecond (`end - 1`) as its
/// timestamp (for count windows, the timestamp of the record that completed
/// the window). Keyed state registered in `open` is scoped to the window's key
/// and shared by all windows of that key (Flink's `globalState`).
pub struct WindowContext<'a, Out> {
    context: Context<'a, Out>,
}

impl<'a, Out: Encode> WindowContext<'a, Out> {
    pub(crate) fn new(context: Context<'a, Out>) -> Self {
        WindowContext { context }
    }

    /// The window's key bytes.
    pub fn key(&self) -> &'a [u8] {
        self.context.key()
    }

    /// The window's key as text; an error if it is not UTF-8.
    pub fn key_str(&self) -> Result<&'a str, String> {
        self.context.key_str()
    }

    time_and_output_methods!();
}

/// What a [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess) function
/// sees while it processes a broadcast record (Flink's
/// `KeyedBroadcastProcessFunction.Context`): the time and the main and side
/// outputs, and nothing keyed.
///
/// A broadcast record reaches every parallel instance of the operator and
/// belongs to no key, so there is no current key, no keyed state and no
/// timers here; this is where broadcast state may be changed. Whatever is
/// emitted is emitted by every instance, once each.
pub struct BroadcastContext<'a, Out> {
    context: Context<'a, Out>,
}

impl<'a, Out: Encode> BroadcastContext<'a, Out> {
    pub(crate) fn new(context: Context<'a, Out>) -> Self {
        BroadcastContext { context }
    }

    /// Event time of the broadcast record.
    pub fn timestamp(&self) -> Option<i64> {
        self.context.timestamp()
    }

    time_and_output_methods!();
}
