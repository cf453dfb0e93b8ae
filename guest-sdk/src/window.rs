//! The window a fired result belongs to, shared by [`Aggregate`](crate::Aggregate)
//! results and [`ProcessWindow`](crate::ProcessWindow) functions so that a
//! result can name its key and bounds.

use crate::context::key_text;

/// A fired window of one key: the half-open interval `[start, end)` in event
/// (or processing) time milliseconds, as Flink's `TimeWindow`.
///
/// Count windows (a global window with a count trigger) have no bounds:
/// `start` is `i64::MIN` and `end` is `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window<'a> {
    /// The key's bytes (for `key_by = { field = ... }`, the field's text).
    pub key: &'a [u8],
    /// First millisecond in the window.
    pub start: i64,
    /// First millisecond after the window.
    pub end: i64,
}

impl<'a> Window<'a> {
    /// The key as text; an error if it is not UTF-8, like
    /// [`Context::key_str`](crate::Context::key_str). In
    /// [`Aggregate::get_result`](crate::Aggregate::get_result), which cannot
    /// fail, use `String::from_utf8_lossy(window.key)` instead.
    pub fn key_str(&self) -> Result<&'a str, String> {
        key_text(self.key)
    }

    /// The last millisecond in the window (`end - 1`, Flink's
    /// `maxTimestamp`): the timestamp of what a time window emits. (A count
    /// window's results take the timestamp of the record that completed it.)
    pub fn max_timestamp(&self) -> i64 {
        self.end.saturating_sub(1)
    }

    /// Whether this is a count window, which has no time bounds.
    pub fn is_count_window(&self) -> bool {
        self.start == i64::MIN && self.end == i64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_and_bounds() {
        let window = Window {
            key: b"u1",
            start: 60_000,
            end: 120_000,
        };
        assert_eq!(window.key_str(), Ok("u1"));
        assert_eq!(window.max_timestamp(), 119_999);
        assert!(!window.is_count_window());

        let count = Window {
            key: b"\xff",
            start: i64::MIN,
            end: i64::MAX,
        };
        assert!(count.is_count_window());
        assert!(count.key_str().unwrap_err().contains("not UTF-8"));
    }
}
