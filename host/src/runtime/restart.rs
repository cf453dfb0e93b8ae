//! Restart strategies (Flink's): after a task failure, whether the job
//! restarts from its latest checkpoint, and after how long.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};

use crate::job::RestartStrategy;

/// Decides, failure after failure, whether to restart.
pub struct RestartTracker {
    strategy: RestartStrategy,
    /// The waits of `fixed-delay` and `exponential-backoff`, in order; the
    /// strategy gives up when it runs out.
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    /// Failure times within the `failure-rate` window.
    recent: VecDeque<Instant>,
    failures: u32,
}

impl RestartTracker {
    pub fn new(strategy: &RestartStrategy) -> Self {
        let delays: Box<dyn Iterator<Item = Duration> + Send> = match *strategy {
            RestartStrategy::None | RestartStrategy::FailureRate { .. } => {
                Box::new(std::iter::empty())
            }
            RestartStrategy::FixedDelay { attempts, delay } => Box::new(
                ConstantBuilder::new()
                    .with_delay(delay)
                    .with_max_times(attempts as usize)
                    .build(),
            ),
            RestartStrategy::ExponentialBackoff {
                initial,
                max,
                multiplier,
                attempts,
            } => {
                let builder = ExponentialBuilder::new()
                    .with_min_delay(initial)
                    .with_max_delay(max)
                    .with_factor(multiplier as f32);
                let delays = match attempts {
                    Some(attempts) => builder.with_max_times(attempts as usize).build(),
                    None => builder.without_max_times().build(),
                };
                // backon multiplies in f32; whole milliseconds read better.
                Box::new(delays.map(|d| Duration::from_millis(d.as_millis() as u64)))
            }
        };
        RestartTracker {
            strategy: strategy.clone(),
            delays,
            recent: VecDeque::new(),
            failures: 0,
        }
    }

    /// A failure happened at `now`: the wait before restarting, or `None`
    /// when the strategy gives up.
    pub fn after_failure(&mut self, now: Instant) -> Option<Duration> {
        self.failures += 1;
        match self.strategy {
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                delay,
            } => {
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|&t| now.duration_since(t) > interval)
                {
                    self.recent.pop_front();
                }
                (self.recent.len() <= max_failures as usize).then_some(delay)
            }
            _ => self.delays.next(),
        }
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The strategy as a user wrote it, for the message when it gives up.
    pub fn describe(&self) -> String {
        match &self.strategy {
            RestartStrategy::None => "`none`".into(),
            RestartStrategy::FixedDelay { attempts, .. } => {
                format!("`fixed-delay` ({attempts} attempts)")
            }
            RestartStrategy::ExponentialBackoff { attempts, .. } => match attempts {
                Some(attempts) => format!("`exponential-backoff` ({attempts} attempts)"),
                None => "`exponential-backoff`".into(),
            },
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                ..
            } => format!(
                "`failure-rate` (at most {max_failures} failures in {})",
                humantime::format_duration(*interval)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_gives_up_after_its_attempts() {
        let mut tracker = RestartTracker::new(&RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(5),
        });
        let now = Instant::now();
        assert_eq!(tracker.after_failure(now), Some(Duration::from_millis(5)));
        assert_eq!(tracker.after_failure(now), Some(Duration::from_millis(5)));
        assert_eq!(tracker.after_failure(now), None);
        assert_eq!(tracker.failures(), 3);
    }

    #[test]
    fn exponential_backoff_grows_to_its_maximum() {
        let mut tracker = RestartTracker::new(&RestartStrategy::ExponentialBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            multiplier: 2.0,
            attempts: Some(4),
        });
        let now = Instant::now();
        let waits: Vec<_> = (0..5).map(|_| tracker.after_failure(now)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(waits, [ms(100), ms(200), ms(350), ms(350), None]);
    }

    #[test]
    fn failure_rate_counts_failures_within_its_interval() {
        let two_a_minute = || {
            RestartTracker::new(&RestartStrategy::FailureRate {
                max_failures: 2,
                interval: Duration::from_secs(60),
                delay: Duration::ZERO,
            })
        };
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut tracker = two_a_minute();
        assert!(tracker.after_failure(at(0)).is_some());
        assert!(tracker.after_failure(at(10)).is_some());
        // Two failures in the last minute already: a third gives up ...
        assert!(tracker.after_failure(at(20)).is_none());
        // ... but once the first ones are older than the interval, it restarts.
        let mut tracker = two_a_minute();
        assert!(tracker.after_failure(at(0)).is_some());
        assert!(tracker.after_failure(at(10)).is_some());
        assert!(tracker.after_failure(at(100)).is_some());
    }

    #[test]
    fn none_never_restarts() {
        let mut tracker = RestartTracker::new(&RestartStrategy::None);
        assert_eq!(tracker.after_failure(Instant::now()), None);
    }
}
