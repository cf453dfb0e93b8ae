//! The numbers of the flat batch layout specified in `wit/README.md`: the
//! one definition that the host (which writes input batches and reads
//! output) and the guest SDK (which reads input and writes output) share,
//! so the two sides cannot drift apart. Each side keeps its own half of the
//! encoding; only the protocol's constants live here.
#![no_std]

/// Version byte at the start of every input batch.
pub const LAYOUT_VERSION: u8 = 1;
/// Key ref of events without a key (stateless operators).
pub const NO_KEY: u32 = u32::MAX;
/// Length that marks an empty value-state slot in the key table.
pub const ABSENT: u32 = u32::MAX;
/// Timestamp meaning "none" (no event time, or no watermark yet).
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// Input event tag: a record.
pub const EVENT_RECORD: u8 = 0;
/// Input event tag: a timer firing.
pub const EVENT_TIMER: u8 = 1;
/// Input event tag: a record of a co-process function's second input.
pub const EVENT_RECORD_SECOND: u8 = 2;
/// Input event tag: a fired window of a full-window function, with its elements.
pub const EVENT_WINDOW: u8 = 3;
/// Input event tag: a record of a broadcast-process function's broadcast input.
pub const EVENT_RECORD_BROADCAST: u8 = 4;

/// Output entry tag: emit a new record to the main output.
pub const OUT_EMIT: u8 = 0;
/// Output entry tag: forward an input record unchanged.
pub const OUT_FORWARD: u8 = 1;
/// Output entry tag: emit to a side output.
pub const OUT_EMIT_SIDE: u8 = 2;
/// Output entry tag: set a timer.
pub const OUT_SET_TIMER: u8 = 3;
/// Output entry tag: delete a timer.
pub const OUT_DELETE_TIMER: u8 = 4;
/// Output entry tag: set a value state.
pub const OUT_SET_VALUE: u8 = 5;
/// Output entry tag: clear a value state.
pub const OUT_CLEAR_VALUE: u8 = 6;

/// Time-domain byte of event-time timers.
pub const DOMAIN_EVENT_TIME: u8 = 0;
/// Time-domain byte of processing-time timers.
pub const DOMAIN_PROCESSING_TIME: u8 = 1;
