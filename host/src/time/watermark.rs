//! Watermarks: generated at sources from timestamps, combined at operators
//! as the minimum over their inputs.

use crate::job::WatermarkStrategy;

/// Watermark before anything is known.
pub const NO_WATERMARK: i64 = i64::MIN;
/// Watermark at the end of a bounded input: every event-time timer fires.
pub const END_OF_TIME: i64 = i64::MAX;

/// Derives watermarks from the timestamps one source reader has seen.
#[derive(Debug, Clone)]
pub struct WatermarkGenerator {
    strategy: WatermarkStrategy,
    max_timestamp: i64,
    emitted: i64,
}

impl WatermarkGenerator {
    pub fn new(strategy: WatermarkStrategy) -> Self {
        WatermarkGenerator {
            strategy,
            max_timestamp: i64::MIN,
            emitted: NO_WATERMARK,
        }
    }

    /// Note a record's timestamp.
    #[inline]
    pub fn observe(&mut self, timestamp: i64) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// A new watermark if it advanced since the last one, as Flink computes
    /// it: largest timestamp minus the bound minus one millisecond.
    pub fn advance(&mut self) -> Option<i64> {
        if self.max_timestamp == i64::MIN {
            return None;
        }
        let bound = match self.strategy {
            WatermarkStrategy::None => return None,
            WatermarkStrategy::Monotonous => 0,
            WatermarkStrategy::BoundedOutOfOrderness(d) => d.as_millis() as i64,
        };
        let watermark = self.max_timestamp.saturating_sub(bound).saturating_sub(1);
        (watermark > self.emitted).then(|| {
            self.emitted = watermark;
            watermark
        })
    }
}

/// The watermark of an operator with several input channels: the minimum
/// over the channels that have not ended.
#[derive(Debug, Clone)]
pub struct InputWatermarks {
    per_input: Vec<i64>,
    ended: Vec<bool>,
    current: i64,
}

impl InputWatermarks {
    pub fn new(inputs: usize) -> Self {
        InputWatermarks {
            per_input: vec![NO_WATERMARK; inputs],
            ended: vec![false; inputs],
            current: NO_WATERMARK,
        }
    }

    /// Record a watermark from `input`; returns the combined watermark if it advanced.
    pub fn update(&mut self, input: usize, watermark: i64) -> Option<i64> {
        let slot = &mut self.per_input[input];
        *slot = (*slot).max(watermark);
        self.recompute()
    }

    /// An input ended: it no longer holds the watermark back.
    pub fn end(&mut self, input: usize) -> Option<i64> {
        self.ended[input] = true;
        self.per_input[input] = END_OF_TIME;
        self.recompute()
    }

    /// Whether every input ended.
    pub fn all_ended(&self) -> bool {
        self.ended.iter().all(|e| *e)
    }

    pub fn current(&self) -> i64 {
        self.current
    }

    fn recompute(&mut self) -> Option<i64> {
        let min = self.per_input.iter().copied().min().unwrap_or(END_OF_TIME);
        (min > self.current).then(|| {
            self.current = min;
            min
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bounded_out_of_orderness_trails_the_maximum() {
        let mut generator = WatermarkGenerator::new(WatermarkStrategy::BoundedOutOfOrderness(
            Duration::from_secs(5),
        ));
        assert_eq!(generator.advance(), None);
        generator.observe(10_000);
        generator.observe(8_000);
        assert_eq!(generator.advance(), Some(4_999));
        assert_eq!(generator.advance(), None, "no advance, no new watermark");
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
}
