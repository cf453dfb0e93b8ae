//! The watermark of one source subtask that reads several splits (Kafka
//! partitions): a generator per split, combined as the minimum over the
//! splits that are not idle, as Flink's per-split watermarks are.

use std::time::{Duration, Instant};

use super::watermark::{NO_WATERMARK, WatermarkGenerator};
use crate::job::{WatermarkEmission, WatermarkStrategy};

/// One split's watermark generator and whether it has gone idle.
#[derive(Debug, Clone)]
struct SplitClock {
    generator: WatermarkGenerator,
    last_record: Instant,
    /// Whether a record came from the split since the last batch ended.
    read_in_batch: bool,
    idle: bool,
}

/// Per-split watermarks and idleness of one source subtask.
///
/// A split that reads nothing for the idle timeout stops holding the
/// watermark back (Flink's `withIdleness`); when it reads again it counts
/// again, but cannot pull the combined watermark back. A split that has
/// read nothing yet holds it at the start until it reads or goes idle.
/// When every split is idle, or the subtask has no split at all, the
/// subtask is idle.
#[derive(Debug, Clone)]
pub struct SourceWatermarks {
    strategy: WatermarkStrategy,
    emission: WatermarkEmission,
    idle_timeout: Option<Duration>,
    splits: Vec<SplitClock>,
    /// The watermark records read now travel at.
    current: i64,
    /// The last watermark sent on as an element of its own.
    announced: i64,
    /// Whether the subtask announced that it is idle.
    idle: bool,
}

impl SourceWatermarks {
    pub fn new(
        strategy: WatermarkStrategy,
        emission: WatermarkEmission,
        idle_timeout: Option<Duration>,
        splits: usize,
    ) -> Self {
        let mut watermarks = SourceWatermarks {
            strategy,
            emission,
            idle_timeout,
            splits: Vec::new(),
            current: NO_WATERMARK,
            announced: NO_WATERMARK,
            idle: false,
        };
        watermarks.ensure_splits(splits);
        watermarks
    }

    /// Track `splits` splits: the reader found new ones, which start active.
    pub fn ensure_splits(&mut self, splits: usize) {
        while self.splits.len() < splits {
            self.splits.push(SplitClock {
                generator: WatermarkGenerator::new(self.strategy, self.emission),
                last_record: Instant::now(),
                read_in_batch: false,
                idle: false,
            });
        }
    }

    /// How many splits are tracked.
    pub fn split_count(&self) -> usize {
        self.splits.len()
    }

    /// The largest timestamp split `split` has read, for checkpoints.
    pub fn max_timestamp(&self, split: usize) -> i64 {
        self.splits[split].generator.max_timestamp()
    }

    /// Go on from split `split`'s checkpointed [`Self::max_timestamp`].
    pub fn restore(&mut self, split: usize, max_timestamp: i64) {
        self.splits[split].generator.restore(max_timestamp);
        self.combine();
    }

    /// The watermark of the subtask now: what the next record travels at.
    #[inline]
    pub fn current(&self) -> i64 {
        self.current
    }

    /// Note a record of split `split`, and its timestamp if it has one
    /// (after the record took [`Self::current`]).
    #[inline]
    pub fn observe(&mut self, split: usize, timestamp: Option<i64>) {
        let clock = &mut self.splits[split];
        clock.read_in_batch = true;
        let Some(timestamp) = timestamp else {
            return;
        };
        let before = clock.generator.current();
        clock.generator.observe(timestamp);
        let after = clock.generator.current();
        if after == before {
            return;
        }
        if self.splits.len() == 1 {
            self.current = self.current.max(after);
        } else {
            self.combine();
        }
    }

    /// After a batch: splits that read records are active, splits that
    /// read nothing for the idle timeout go idle. True when the subtask
    /// just became idle (every split idle, or no split at all).
    pub fn after_batch(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for clock in &mut self.splits {
            if std::mem::take(&mut clock.read_in_batch) {
                clock.last_record = now;
                changed |= std::mem::take(&mut clock.idle);
            } else if let Some(timeout) = self.idle_timeout
                && !clock.idle
                && now.duration_since(clock.last_record) >= timeout
            {
                clock.idle = true;
                changed = true;
            }
        }
        if changed {
            self.combine();
        }
        let idle = self.splits.iter().all(|clock| clock.idle);
        let became_idle = idle && !self.idle;
        self.idle = idle;
        became_idle
    }

    /// The watermark to send on after a batch, if it moved since the last
    /// one sent (periodic emission: once its interval has passed).
    pub fn advance(&mut self) -> Option<i64> {
        if matches!(self.emission, WatermarkEmission::Periodic(_)) {
            for clock in &mut self.splits {
                clock.generator.advance();
            }
            self.combine();
        }
        (self.current > self.announced).then(|| {
            self.announced = self.current;
            self.current
        })
    }

    /// The minimum over active splits; never backwards.
    fn combine(&mut self) {
        let active = (self.splits.iter())
            .filter(|clock| !clock.idle)
            .map(|clock| clock.generator.current())
            .min();
        if let Some(minimum) = active {
            self.current = self.current.max(minimum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(splits: usize, idle: Option<Duration>) -> SourceWatermarks {
        SourceWatermarks::new(
            WatermarkStrategy::BoundedOutOfOrderness(Duration::ZERO),
            WatermarkEmission::PerRecord,
            idle,
            splits,
        )
    }

    #[test]
    fn the_slowest_active_split_holds_the_watermark() {
        let mut w = bounded(2, None);
        w.observe(0, Some(100));
        assert_eq!(w.current(), NO_WATERMARK, "split 1 has read nothing yet");
        w.observe(1, Some(50));
        assert_eq!(w.current(), 49);
        w.observe(1, Some(300));
        assert_eq!(w.current(), 99);
        assert_eq!(w.advance(), Some(99));
        assert_eq!(w.advance(), None);
    }

    #[test]
    fn an_idle_split_stops_holding_the_watermark_and_cannot_pull_it_back() {
        let mut w = bounded(2, Some(Duration::ZERO));
        w.observe(0, Some(100));
        assert!(!w.after_batch(), "split 0 read, so the subtask is active");
        assert_eq!(w.current(), 99, "split 1 read nothing and went idle");
        w.observe(1, Some(10));
        w.after_batch();
        assert_eq!(w.current(), 99, "split 1 is back, behind: no step back");
        assert!(w.after_batch(), "nothing read: every split idle");
        assert!(!w.after_batch(), "told once");
    }

    #[test]
    fn a_subtask_without_splits_is_idle_at_once() {
        let mut w = bounded(0, None);
        assert!(w.after_batch());
        w.ensure_splits(1);
        w.observe(0, Some(5));
        assert!(!w.after_batch());
        assert_eq!(w.current(), 4);
    }
}
