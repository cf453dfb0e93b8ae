//! Event time and processing time: watermarks and timers.

pub mod source_watermarks;
pub mod timers;
pub mod watermark;

pub use source_watermarks::SourceWatermarks;
pub use timers::{TimeDomain, Timer, TimerService};
pub use watermark::{InputWatermarks, WatermarkGenerator};

/// Nanoseconds on a monotonic clock shared by the whole process (its zero
/// is the first call), so one thread can stamp a record and another
/// measure how long it took to arrive: the latency probe's clock.
pub fn monotonic_nanos() -> u64 {
    static ZERO: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    ZERO.elapsed().as_nanos() as u64
}

/// Current wall-clock time in ms since the Unix epoch (processing time).
pub fn processing_time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
