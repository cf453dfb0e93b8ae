//! Windows: assigning records to time windows, merging session windows,
//! and the window operator that keeps window contents in keyed state under
//! the window's namespace ([`TimeWindow::namespace`]) and fires them with
//! timers at [`TimeWindow::max_timestamp`].

pub mod assigner;
pub mod merging;
pub mod operator;

pub use assigner::{TimeWindow, WindowAssigner, window_start};
pub use merging::{MergingWindowSet, WindowMerge};
pub use operator::{AggregateCalls, AggregateGuest, WindowFunction, WindowOperator};
