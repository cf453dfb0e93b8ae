//! Joins that the host runs itself, without a guest: the interval join.
//! (Joins with user logic are `co-process` functions.)

pub mod interval;

pub use interval::IntervalJoin;
