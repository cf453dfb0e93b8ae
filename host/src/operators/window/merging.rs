//! Session windows merge as records arrive. As in Flink's
//! `MergingWindowSet`, each live window keeps the *state window* its
//! accumulator is stored under, so a merge only folds the other windows'
//! accumulators into one of them instead of moving state around.

use std::collections::BTreeMap;

use super::assigner::TimeWindow;

/// The live windows of one key, none of them intersecting another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergingWindowSet {
    /// Window → the state window holding its accumulator.
    windows: BTreeMap<TimeWindow, TimeWindow>,
}

/// What adding a window did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMerge {
    /// The window the new record is now in (after merging).
    pub window: TimeWindow,
    /// Where that window's accumulator lives.
    pub state_window: TimeWindow,
    /// State windows whose accumulators must be merged into `state_window`, then cleared.
    pub merged_state_windows: Vec<TimeWindow>,
    /// Windows that no longer exist (their timers must be deleted).
    pub replaced_windows: Vec<TimeWindow>,
}

impl MergingWindowSet {
    /// Add the window of a new record, merging it with every window it touches.
    pub fn add(&mut self, new: TimeWindow) -> WindowMerge {
        let touching: Vec<(TimeWindow, TimeWindow)> = self
            .windows
            .iter()
            .filter(|(window, _)| window.intersects(&new))
            .map(|(w, s)| (*w, *s))
            .collect();
        let Some(&(_, state_window)) = touching.first() else {
            self.windows.insert(new, new);
            return WindowMerge {
                window: new,
                state_window: new,
                merged_state_windows: Vec::new(),
                replaced_windows: Vec::new(),
            };
        };
        let merged = touching.iter().fold(new, |cover, (w, _)| cover.cover(w));
        for (window, _) in &touching {
            self.windows.remove(window);
        }
        self.windows.insert(merged, state_window);
        WindowMerge {
            window: merged,
            state_window,
            merged_state_windows: touching.iter().skip(1).map(|(_, s)| *s).collect(),
            replaced_windows: touching
                .iter()
                .map(|(w, _)| *w)
                .filter(|w| *w != merged)
                .collect(),
        }
    }

    /// The state window of a live window.
    pub fn state_window(&self, window: &TimeWindow) -> Option<TimeWindow> {
        self.windows.get(window).copied()
    }

    /// Forget a window (after it fired and its lateness passed).
    pub fn remove(&mut self, window: &TimeWindow) -> Option<TimeWindow> {
        self.windows.remove(window)
    }

    /// Live windows in start order.
    pub fn windows(&self) -> impl Iterator<Item = (&TimeWindow, &TimeWindow)> {
        self.windows.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The set as stored in keyed state: (window, state window) namespaces.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.windows.len() * 32);
        for (window, state_window) in &self.windows {
            out.extend_from_slice(&window.namespace());
            out.extend_from_slice(&state_window.namespace());
        }
        out
    }

    /// A set written by [`MergingWindowSet::encode`]; `None` if malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) {
            return None;
        }
        let mut windows = BTreeMap::new();
        for entry in bytes.chunks_exact(32) {
            let window = TimeWindow::from_namespace(&entry[..16])?;
            let state_window = TimeWindow::from_namespace(&entry[16..])?;
            windows.insert(window, state_window);
        }
        Some(MergingWindowSet { windows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> TimeWindow {
        TimeWindow::new(start, end)
    }

    #[test]
    fn separate_sessions_stay_apart() {
        let mut set = MergingWindowSet::default();
        assert_eq!(set.add(w(0, 10)).merged_state_windows, vec![]);
        let second = set.add(w(20, 30));
        assert_eq!((second.window, second.state_window), (w(20, 30), w(20, 30)));
        assert_eq!(set.windows().count(), 2);
    }

    #[test]
    fn a_late_record_bridging_two_sessions_merges_all_three() {
        let mut set = MergingWindowSet::default();
        set.add(w(0, 10));
        set.add(w(20, 30));
        // Out of order: a record at 10 with gap 10 touches both sessions.
        let merge = set.add(w(10, 20));
        assert_eq!(merge.window, w(0, 30));
        assert_eq!(
            merge.state_window,
            w(0, 10),
            "the first session's state is kept"
        );
        assert_eq!(merge.merged_state_windows, vec![w(20, 30)]);
        assert_eq!(merge.replaced_windows, vec![w(0, 10), w(20, 30)]);
        assert_eq!(
            set.windows().collect::<Vec<_>>(),
            vec![(&w(0, 30), &w(0, 10))]
        );
    }

    #[test]
    fn a_record_inside_a_session_extends_nothing_but_keeps_its_state() {
        let mut set = MergingWindowSet::default();
        set.add(w(0, 10));
        let merge = set.add(w(2, 8));
        assert_eq!((merge.window, merge.state_window), (w(0, 10), w(0, 10)));
        assert!(merge.replaced_windows.is_empty());
        assert_eq!(set.remove(&w(0, 10)), Some(w(0, 10)));
        assert!(set.is_empty());
    }

    #[test]
    fn the_set_round_trips_through_its_encoding() {
        let mut set = MergingWindowSet::default();
        set.add(w(-5, 10));
        set.add(w(20, 30));
        set.add(w(10, 20));
        assert_eq!(MergingWindowSet::decode(&set.encode()), Some(set));
        assert_eq!(MergingWindowSet::decode(&[1, 2, 3]), None);
    }
}
