//! Which windows a record belongs to, with Flink's arithmetic (window starts
//! aligned to the epoch plus an offset; a window `[start, end)` fires when the
//! watermark reaches `end - 1`).

use std::time::Duration;

/// A time window `[start, end)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeWindow {
    pub start: i64,
    pub end: i64,
}

impl TimeWindow {
    pub fn new(start: i64, end: i64) -> Self {
        TimeWindow { start, end }
    }

    /// The last timestamp inside the window; its timer fires at this time.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }

    /// Whether the windows overlap or touch (Flink merges touching session windows).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The state namespace of the window: start and end, big-endian with the
    /// sign bit flipped, so namespaces sort like windows.
    pub fn namespace(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&((self.start as u64) ^ (1 << 63)).to_be_bytes());
        out[8..].copy_from_slice(&((self.end as u64) ^ (1 << 63)).to_be_bytes());
        out
    }

    /// The window of a namespace written by [`TimeWindow::namespace`].
    pub fn from_namespace(bytes: &[u8]) -> Option<TimeWindow> {
        let start = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?) ^ (1 << 63);
        let end = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?) ^ (1 << 63);
        Some(TimeWindow::new(start as i64, end as i64))
    }
}

/// The start of the window of `size` (shifted by `offset`) containing `timestamp`,
/// as Flink's `TimeWindow.getWindowStartWithOffset`.
pub fn window_start(timestamp: i64, offset: i64, size: i64) -> i64 {
    let remainder = (timestamp - offset).rem_euclid(size);
    timestamp - remainder
}

/// How records are assigned to windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed-size, non-overlapping windows.
    Tumbling { size: i64, offset: i64 },
    /// Fixed-size windows starting every `slide`; a record is in `size / slide` of them.
    Sliding { size: i64, slide: i64, offset: i64 },
    /// A window per activity burst: records closer than `gap` share one.
    Session { gap: i64 },
}

impl WindowAssigner {
    pub fn tumbling(size: Duration) -> Self {
        WindowAssigner::Tumbling {
            size: size.as_millis() as i64,
            offset: 0,
        }
    }

    pub fn sliding(size: Duration, slide: Duration) -> Self {
        WindowAssigner::Sliding {
            size: size.as_millis() as i64,
            slide: slide.as_millis() as i64,
            offset: 0,
        }
    }

    pub fn session(gap: Duration) -> Self {
        WindowAssigner::Session {
            gap: gap.as_millis() as i64,
        }
    }

    /// Whether windows of this assigner merge (sessions).
    pub fn is_merging(&self) -> bool {
        matches!(self, WindowAssigner::Session { .. })
    }

    /// The windows `timestamp` belongs to, latest start first (as Flink).
    pub fn assign(&self, timestamp: i64, out: &mut Vec<TimeWindow>) {
        match *self {
            WindowAssigner::Tumbling { size, offset } => {
                let start = window_start(timestamp, offset, size);
                out.push(TimeWindow::new(start, start + size));
            }
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
            } => {
                let last_start = window_start(timestamp, offset, slide);
                let mut start = last_start;
                while start > timestamp - size {
                    out.push(TimeWindow::new(start, start + size));
                    start -= slide;
                }
            }
            WindowAssigner::Session { gap } => {
                out.push(TimeWindow::new(timestamp, timestamp + gap))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(assigner: WindowAssigner, ts: i64) -> Vec<TimeWindow> {
        let mut out = Vec::new();
        assigner.assign(ts, &mut out);
        out
    }

    #[test]
    fn tumbling_windows_align_to_the_epoch() {
        let minute = WindowAssigner::tumbling(Duration::from_secs(60));
        assert_eq!(assign(minute, 59_999), vec![TimeWindow::new(0, 60_000)]);
        assert_eq!(
            assign(minute, 60_000),
            vec![TimeWindow::new(60_000, 120_000)]
        );
        assert_eq!(assign(minute, -1), vec![TimeWindow::new(-60_000, 0)]);
        assert_eq!(TimeWindow::new(0, 60_000).max_timestamp(), 59_999);
    }

    #[test]
    fn sliding_windows_cover_size_over_slide_windows() {
        // 5-minute windows sliding every minute, as the clicks-per-user example.
        let sliding = WindowAssigner::sliding(Duration::from_secs(300), Duration::from_secs(60));
        let windows = assign(sliding, 130_000);
        assert_eq!(windows.len(), 5);
        assert_eq!(windows[0], TimeWindow::new(120_000, 420_000));
        assert_eq!(windows[4], TimeWindow::new(-120_000, 180_000));
        assert!(
            windows
                .iter()
                .all(|w| w.start <= 130_000 && 130_000 < w.end)
        );
    }

    #[test]
    fn session_windows_start_at_the_record_and_merge_when_touching() {
        let session = WindowAssigner::session(Duration::from_secs(30));
        assert!(session.is_merging());
        let a = assign(session, 1_000)[0];
        let b = assign(session, 31_000)[0];
        let c = assign(session, 62_000)[0];
        assert_eq!(a, TimeWindow::new(1_000, 31_000));
        assert!(a.intersects(&b), "touching windows merge, as in Flink");
        assert!(!a.intersects(&c));
        assert_eq!(a.cover(&b), TimeWindow::new(1_000, 61_000));
    }

    #[test]
    fn namespaces_round_trip_and_sort_like_windows() {
        let windows = [
            TimeWindow::new(-120_000, -60_000),
            TimeWindow::new(-1, 5),
            TimeWindow::new(0, 60_000),
            TimeWindow::new(0, 120_000),
            TimeWindow::new(60_000, 120_000),
        ];
        for w in windows {
            assert_eq!(TimeWindow::from_namespace(&w.namespace()), Some(w));
        }
        let namespaces: Vec<_> = windows.iter().map(TimeWindow::namespace).collect();
        let mut sorted = namespaces.clone();
        sorted.sort();
        assert_eq!(namespaces, sorted);
    }
}
