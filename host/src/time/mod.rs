//! Event time and processing time: watermarks and timers.

pub mod source_watermarks;
pub mod timers;
pub mod watermark;

pub use source_watermarks::SourceWatermarks;
pub use timers::{TimeDomain, Timer, TimerService};
pub use watermark::{InputWatermarks, WatermarkGenerator};

/// Current wall-clock time in ms since the Unix epoch (processing time).
pub fn processing_time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
