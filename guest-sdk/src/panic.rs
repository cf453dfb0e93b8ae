//! Reports panics to the host before they trap.
//!
//! A panic in a guest aborts the instance with a bare `unreachable` trap; the
//! hook installed here first passes the message and location to
//! `log.record-panic` so the host can say why the task failed.

use std::sync::Once;

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
            crate::log::record_panic(&info.to_string());
        }));
    });
}
