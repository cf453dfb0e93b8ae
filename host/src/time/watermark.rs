//! Watermarks: generated at sources from timestamps, combined at operators
//! as the minimum over their inputs.

use std::time::Instant;

use crate::job::{WatermarkEmission, WatermarkStrategy};

/// Watermark before anything is known.
pub const NO_WATERMARK: i64 = i64::MIN;
/// Watermark at the end of a bounded input: every event-time timer fires.
pub const END_OF_TIME: i64 = i64::MAX;

/// Derives watermarks from the timestamps one source reader has seen.
///
/// With [`WatermarkEmission::PerRecord`] (the default) the watermark moves
/// after every record, as Flink's punctuated generators do: a record is
/// judged by the watermark as it stood after the record before it, so
/// results do not depend on how records were grouped into batches or on
/// timing. With [`WatermarkEmission::Periodic`] it moves at most once per
/// interval of processing time (Flink's auto-watermark interval), so which
/// records count as late depends on how fast they were read.
#[derive(Debug, Clone)]
pub struct WatermarkGenerator {
    strategy: WatermarkStrategy,
    emission: WatermarkEmission,
    max_timestamp: i64,
    /// The watermark records read now travel at.
    current: i64,
    /// The last watermark sent on as an element of its own.
    announced: i64,
    last_periodic: Instant,
}

impl WatermarkGenerator {
    pub fn new(strategy: WatermarkStrategy, emission: WatermarkEmission) -> Self {
        WatermarkGenerator {
            strategy,
            emission,
            max_timestamp: i64::MIN,
            current: NO_WATERMARK,
            announced: NO_WATERMARK,
            last_periodic: Instant::now(),
        }
    }

    /// The largest timestamp seen (`i64::MIN` before any), for checkpoints.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Go on from a checkpointed [`Self::max_timestamp`]: the next record
    /// meets the watermark the source had then, and the next
    /// [`Self::advance`] announces it.
    pub fn restore(&mut self, max_timestamp: i64) {
        self.max_timestamp = max_timestamp;
        self.current = self.derived();
    }

    /// The watermark of the stream now: what the next record travels at
    /// (see `Record::watermark`).
    #[inline]
    pub fn current(&self) -> i64 {
        self.current
    }

    /// Note a record's timestamp (after the record took [`Self::current`]).
    #[inline]
    pub fn observe(&mut self, timestamp: i64) {
        if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
            if self.emission == WatermarkEmission::PerRecord {
                self.current = self.current.max(self.derived());
            }
        }
    }

    /// The watermark to send on after a batch, if it moved since the last
    /// one sent (periodic emission: once its interval has passed).
    pub fn advance(&mut self) -> Option<i64> {
        if let WatermarkEmission::Periodic(interval) = self.emission
            && self.last_periodic.elapsed() >= interval
        {
            self.last_periodic = Instant::now();
            self.current = self.current.max(self.derived());
        }
        (self.current > self.announced).then(|| {
            self.announced = self.current;
            self.current
        })
    }

    /// The watermark the timestamps seen so far allow, as Flink computes it:
    /// largest timestamp minus the bound minus one millisecond.
    fn derived(&self) -> i64 {
        if self.max_timestamp == i64::MIN {
            return NO_WATERMARK;
        }
        let bound = match self.strategy {
            WatermarkStrategy::None => return NO_WATERMARK,
            WatermarkStrategy::Monotonous => 0,
            WatermarkStrategy::BoundedOutOfOrderness(d) => d.as_millis() as i64,
        };
        self.max_timestamp.saturating_sub(bound).saturating_sub(1)
    }
}

/// The watermark of an operator with several input channels: the minimum
/// over the channels that are active (neither idle nor ended).
///
/// As Flink's status valve: an idle channel is left out until it sends
/// again; a channel that comes back behind the combined watermark cannot
/// pull it back, and holds it only once it has caught up.
#[derive(Debug, Clone)]
pub struct InputWatermarks {
    per_input: Vec<i64>,
    status: Vec<ChannelStatus>,
    current: i64,
}

/// Whether a channel's watermark counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelStatus {
    Active,
    Idle,
    Ended,
}

impl InputWatermarks {
    pub fn new(inputs: usize) -> Self {
        InputWatermarks {
            per_input: vec![NO_WATERMARK; inputs],
            status: vec![ChannelStatus::Active; inputs],
            current: NO_WATERMARK,
        }
    }

    /// Record a watermark from `input`; returns the combined watermark if it advanced.
    pub fn update(&mut self, input: usize, watermark: i64) -> Option<i64> {
        self.activate(input);
        let slot = &mut self.per_input[input];
        *slot = (*slot).max(watermark);
        self.recompute()
    }

    /// A record came from `input` at that channel's `watermark` (see
    /// `Record::watermark`); returns the combined watermark the record
    /// travels at from here on.
    #[inline]
    pub fn at_record(&mut self, input: usize, watermark: i64) -> i64 {
        self.activate(input);
        if watermark > self.per_input[input] {
            self.per_input[input] = watermark;
            self.recompute();
        }
        self.current
    }

    /// `input` sent records: it counts again if it was idle.
    pub fn activate(&mut self, input: usize) {
        if self.status[input] == ChannelStatus::Idle {
            self.status[input] = ChannelStatus::Active;
            // It cannot pull the combined watermark back.
            self.per_input[input] = self.per_input[input].max(self.current);
        }
    }

    /// `input` is idle: it no longer holds the watermark back.
    pub fn idle(&mut self, input: usize) -> Option<i64> {
        if self.status[input] == ChannelStatus::Active {
            self.status[input] = ChannelStatus::Idle;
        }
        self.recompute()
    }

    /// An input ended: it no longer holds the watermark back.
    pub fn end(&mut self, input: usize) -> Option<i64> {
        self.status[input] = ChannelStatus::Ended;
        self.per_input[input] = END_OF_TIME;
        self.recompute()
    }

    /// Whether every input ended.
    pub fn all_ended(&self) -> bool {
        self.status.iter().all(|s| *s == ChannelStatus::Ended)
    }

    /// Whether no input is active while some have not ended.
    pub fn all_idle(&self) -> bool {
        !self.all_ended() && !self.status.contains(&ChannelStatus::Active)
    }

    pub fn current(&self) -> i64 {
        self.current
    }

    fn recompute(&mut self) -> Option<i64> {
        let channels = self.per_input.iter().zip(&self.status);
        let candidate = if self.all_idle() {
            // As Flink's valve: with every live channel idle, the one
            // furthest ahead leads (nothing else will move it).
            channels
                .filter(|(_, status)| **status == ChannelStatus::Idle)
                .map(|(watermark, _)| *watermark)
                .max()?
        } else {
            channels
                .filter(|(_, status)| **status != ChannelStatus::Idle)
                .map(|(watermark, _)| *watermark)
                .min()?
        };
        (candidate > self.current).then(|| {
            self.current = candidate;
            candidate
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bounded_out_of_orderness_trails_the_maximum() {
        let mut generator = WatermarkGenerator::new(
            WatermarkStrategy::BoundedOutOfOrderness(Duration::from_secs(5)),
            WatermarkEmission::PerRecord,
        );
        assert_eq!(generator.advance(), None);
        assert_eq!(generator.current(), NO_WATERMARK);
        generator.observe(10_000);
        assert_eq!(generator.current(), 4_999, "moves after every record");
        generator.observe(8_000);
        assert_eq!(generator.current(), 4_999);
        generator.observe(12_000);
        assert_eq!(generator.current(), 6_999);
        assert_eq!(generator.advance(), Some(6_999));
        assert_eq!(generator.advance(), None, "no advance, no new watermark");
    }

    #[test]
    fn periodic_emission_moves_only_when_its_interval_passed() {
        let mut generator = WatermarkGenerator::new(
            WatermarkStrategy::Monotonous,
            WatermarkEmission::Periodic(Duration::from_secs(3600)),
        );
        generator.observe(10_000);
        assert_eq!(generator.current(), NO_WATERMARK, "records do not move it");
        assert_eq!(generator.advance(), None, "the interval has not passed");
        let mut generator = WatermarkGenerator::new(
            WatermarkStrategy::Monotonous,
            WatermarkEmission::Periodic(Duration::ZERO),
        );
        generator.observe(10_000);
        generator.observe(11_000);
        assert_eq!(generator.current(), NO_WATERMARK);
        assert_eq!(generator.advance(), Some(10_999));
        assert_eq!(generator.current(), 10_999);
    }

    #[test]
    fn a_restored_generator_goes_on_at_the_checkpointed_watermark() {
        let mut generator = WatermarkGenerator::new(
            WatermarkStrategy::BoundedOutOfOrderness(Duration::from_secs(1)),
            WatermarkEmission::PerRecord,
        );
        generator.restore(5_000);
        assert_eq!(generator.current(), 3_999);
        assert_eq!(generator.advance(), Some(3_999));
    }

    #[test]
    fn operator_watermark_is_the_minimum_of_live_inputs() {
        let mut inputs = InputWatermarks::new(2);
        assert_eq!(inputs.update(0, 100), None);
        assert_eq!(inputs.update(1, 50), Some(50));
        assert_eq!(inputs.update(1, 150), Some(100));
        assert_eq!(inputs.end(0), Some(150));
        assert!(!inputs.all_ended());
        assert_eq!(inputs.end(1), Some(END_OF_TIME));
        assert!(inputs.all_ended());
    }

    #[test]
    fn a_record_moves_its_channel_to_the_watermark_it_carries() {
        let mut inputs = InputWatermarks::new(2);
        assert_eq!(inputs.at_record(0, 100), NO_WATERMARK, "input 1 is unknown");
        assert_eq!(inputs.update(1, 50), Some(50));
        assert_eq!(inputs.at_record(1, 120), 100);
        assert_eq!(inputs.at_record(0, 90), 100, "a channel never goes back");
        assert_eq!(inputs.at_record(0, 130), 120);
    }

    #[test]
    fn an_idle_input_does_not_hold_the_watermark_back() {
        let mut inputs = InputWatermarks::new(2);
        assert_eq!(inputs.update(0, 100), None, "input 1 has said nothing yet");
        assert_eq!(inputs.idle(1), Some(100), "input 1 went quiet");
        assert_eq!(inputs.update(0, 200), Some(200));
        // Input 1 comes back behind: it cannot pull the watermark back,
        // and holds it only once it catches up.
        inputs.activate(1);
        assert_eq!(inputs.update(1, 150), None);
        assert_eq!(inputs.update(0, 300), None, "input 1 is at 200 now");
        assert_eq!(inputs.update(1, 250), Some(250));
        assert!(!inputs.all_idle());
        assert_eq!(inputs.idle(0), None, "input 1 (250) is still active");
        assert_eq!(
            inputs.idle(1),
            Some(300),
            "all idle: the input furthest ahead leads"
        );
        assert!(inputs.all_idle());
    }
}
