//! Windows (issue 3, in progress): assigning records to time windows and
//! merging session windows. Not yet wired into the runtime; the window
//! operator will keep window contents and accumulators in keyed state under
//! the window's namespace ([`TimeWindow::namespace`]) and fire with timers at
//! [`TimeWindow::max_timestamp`].

pub mod assigner;
pub mod merging;

pub use assigner::{TimeWindow, WindowAssigner, window_start};
pub use merging::{MergingWindowSet, WindowMerge};
