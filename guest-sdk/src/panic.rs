//! Reports panics to the host before they trap.
//!
//! A panic in a guest aborts the instance with a bare `unreachable` trap; the
//! hook installed here first passes the message and location to the host so
//! it can say why the task failed. While a batch is processed, the dispatch
//! loops note the index of the event in hand ([`EventGuard`]), and the hook
//! passes it along (`log.record-panic-at`), so the host can name the record
//! that caused the panic.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// Index of the batch event being processed, if any.
    static CURRENT_EVENT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Install the hook once; every export calls this on entry.
#[inline]
pub(crate) fn install_hook() {
    if !cfg!(target_arch = "wasm32") {
        return; // native tests keep the default hook and its output
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            // `PanicHookInfo`'s Display is "panicked at file:line:col:\nmessage".
            let message = info.to_string();
            match CURRENT_EVENT.with(Cell::get) {
                Some(event) => crate::log::record_panic_at(event, &message),
                None => crate::log::record_panic(&message),
            }
        }));
    });
}

/// Notes which event of a batch is being processed, for the panic hook;
/// forgets it when dropped, so a panic after the event is not blamed on it.
pub(crate) struct EventGuard(());

impl EventGuard {
    /// Event `event` of the batch in flight is being processed.
    #[inline]
    pub(crate) fn enter(event: u32) -> EventGuard {
        CURRENT_EVENT.with(|current| current.set(Some(event)));
        EventGuard(())
    }
}

impl Drop for EventGuard {
    #[inline]
    fn drop(&mut self) {
        CURRENT_EVENT.with(|current| current.set(None));
    }
}
