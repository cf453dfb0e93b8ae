//! Logging into the host's tracing, tagged there with operator and subtask.
//!
//! ```
//! eddy_sdk::log::info!("opened with {} rules", 3);
//! eddy_sdk::log::warn!("record without timestamp");
//! ```
//!
//! Outside a WebAssembly host (native unit tests) messages go to stderr.

use std::fmt;

use crate::bindings::log_import;

/// How important a log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Diagnostics for developers.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the function can live with.
    Warn,
    /// Something failed.
    Error,
}

impl From<Level> for log_import::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => log_import::Level::Trace,
            Level::Debug => log_import::Level::Debug,
            Level::Info => log_import::Level::Info,
            Level::Warn => log_import::Level::Warn,
            Level::Error => log_import::Level::Error,
        }
    }
}

/// Send one message to the host's log; the macros below call this.
pub fn write(level: Level, message: fmt::Arguments<'_>) {
    let message = match message.as_str() {
        Some(text) => std::borrow::Cow::Borrowed(text),
        None => std::borrow::Cow::Owned(message.to_string()),
    };
    if cfg!(target_arch = "wasm32") {
        log_import::log(level.into(), &message);
    } else {
        eprintln!("[{level:?}] {message}");
    }
}

/// Hand a panic message to the host just before the panic traps.
pub(crate) fn record_panic(message: &str) {
    if cfg!(target_arch = "wasm32") {
        log_import::record_panic(message);
    }
}

/// As [`record_panic`], for a panic while processing event `event` of the batch.
pub(crate) fn record_panic_at(event: u32, message: &str) {
    if cfg!(target_arch = "wasm32") {
        log_import::record_panic_at(event, message);
    }
}

/// Log at trace level, with `format!` arguments.
#[macro_export]
#[doc(hidden)]
macro_rules! __eddy_log_trace {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Trace, format_args!($($arg)+)) };
}

/// Log at debug level, with `format!` arguments.
#[macro_export]
#[doc(hidden)]
macro_rules! __eddy_log_debug {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)+)) };
}

/// Log at info level, with `format!` arguments.
#[macro_export]
#[doc(hidden)]
macro_rules! __eddy_log_info {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)+)) };
}

/// Log at warn level, with `format!` arguments.
#[macro_export]
#[doc(hidden)]
macro_rules! __eddy_log_warn {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)+)) };
}

/// Log at error level, with `format!` arguments.
#[macro_export]
#[doc(hidden)]
macro_rules! __eddy_log_error {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)+)) };
}

#[doc(inline)]
pub use crate::__eddy_log_debug as debug;
#[doc(inline)]
pub use crate::__eddy_log_error as error;
#[doc(inline)]
pub use crate::__eddy_log_info as info;
#[doc(inline)]
pub use crate::__eddy_log_trace as trace;
#[doc(inline)]
pub use crate::__eddy_log_warn as warn;
