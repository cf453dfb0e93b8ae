//! The host's windowing, emulated in memory so that window functions can be
//! tested natively: records are assigned to windows (merging session
//! windows), each window keeps its contents, and windows fire when the
//! watermark passes their last millisecond. What a window keeps and how it
//! fires is the [`WindowBackend`]: accumulators through the `aggregate`
//! runtime, or buffered elements through the `keyed-process` runtime.

use std::collections::BTreeMap;

use super::host::{add_batch_input, get_results_input};
use super::keyed::{KeyedOperator, Record};
use super::{Output, RecordOperator, run_bounded};
use crate::export::keyed::ProcessWindowFunction;
use crate::export::{Instance, aggregate};
use crate::function::{Aggregate, ProcessWindow};
use crate::layout::{NO_TIMESTAMP, length_prefixed};

/// How records are assigned to windows, as the operator's `window` in the
/// job file. Event time only, without allowed lateness; sizes in
/// milliseconds, windows aligned to the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// `{ type = "tumbling", size }`: `[start, start + size)` with `start` a multiple of `size`.
    Tumbling {
        /// Window length.
        size: i64,
    },
    /// `{ type = "sliding", size, slide }`: every window of length `size`
    /// starting at a multiple of `slide` that contains the record.
    Sliding {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
    },
    /// `{ type = "session", gap }`: `[ts, ts + gap)` per record, merged with
    /// every window of the key it overlaps or touches.
    Session {
        /// Inactivity that ends a session.
        gap: i64,
    },
    /// `{ type = "count", size }`: one global window per key (`i64::MIN` to
    /// `i64::MAX`) that fires and is purged at every `size`-th record; its
    /// results take that record's timestamp. A partly filled count window
    /// never fires, as in Flink.
    Count {
        /// Records per firing.
        size: u64,
    },
}

impl Windows {
    /// The windows `[start, end)` a record at `timestamp` belongs to (before
    /// session windows merge).
    fn assign(&self, timestamp: i64) -> Vec<(i64, i64)> {
        match *self {
            Windows::Tumbling { size } => {
                let start = timestamp - timestamp.rem_euclid(size);
                vec![(start, start + size)]
            }
            Windows::Sliding { size, slide } => {
                let last_start = timestamp - timestamp.rem_euclid(slide);
                let mut windows: Vec<_> = (0..)
                    .map(|n| last_start - n * slide)
                    .take_while(|start| *start > timestamp - size)
                    .map(|start| (start, start + size))
                    .collect();
                windows.reverse();
                windows
            }
            Windows::Session { gap } => vec![(timestamp, timestamp + gap)],
            Windows::Count { .. } => vec![(i64::MIN, i64::MAX)],
        }
    }
}

/// A fired window: `(key, start, end, contents)`.
pub type FiredWindow<C> = (Vec<u8>, i64, i64, C);

/// What a window keeps and what it emits when it fires, per window function
/// kind. Implemented by the SDK for [`Aggregate`] and [`ProcessWindow`].
pub trait WindowBackend: Sized {
    /// What one window holds.
    type Contents;

    /// Open the function with `config`.
    fn open(config: &str) -> Result<Self, String>;

    /// The contents of a new window.
    fn create(&mut self) -> Result<Self::Contents, String>;

    /// Add one record to a window.
    fn add(
        &mut self,
        contents: &mut Self::Contents,
        timestamp: i64,
        value: &[u8],
    ) -> Result<(), String>;

    /// Combine the contents of two merging session windows.
    fn merge(&mut self, a: Self::Contents, b: Self::Contents) -> Result<Self::Contents, String>;

    /// Emit the results of fired windows at `watermark`.
    fn fire(
        &mut self,
        watermark: i64,
        windows: Vec<FiredWindow<Self::Contents>>,
    ) -> Result<Vec<Output>, String>;
}

/// One window of one key.
struct Pane<C> {
    start: i64,
    end: i64,
    /// Records added, for count windows.
    count: u64,
    contents: C,
}

/// Runs a window function like the host's window operator does: records are
/// assigned to [`Windows`] per key, windows fire when the watermark reaches
/// `end - 1` (results take that timestamp), records whose windows all fired
/// already go to the side output `late`. Used as [`AggregateHarness`] and
/// [`WindowHarness`]. Not emulated: processing-time windows, window
/// offsets, allowed lateness (late firings).
pub struct WindowOperator<B: WindowBackend> {
    function: B,
    windows: Windows,
    panes: BTreeMap<Vec<u8>, Vec<Pane<B::Contents>>>,
    watermark: i64,
}

/// Runs an [`Aggregate`] over windows:
/// `AggregateHarness::<MyAggregate>::open(config, windows)`.
pub type AggregateHarness<A> = WindowOperator<AggregateBackend<A>>;

/// Runs a [`ProcessWindow`] function over windows:
/// `WindowHarness::<MyWindowFunction>::open(config, windows)`.
pub type WindowHarness<W> = WindowOperator<ProcessWindowBackend<W>>;

impl<B: WindowBackend> WindowOperator<B> {
    /// Open the function with `config`, with no windows yet.
    pub fn open(config: &str, windows: Windows) -> Result<Self, String> {
        let valid = match windows {
            Windows::Tumbling { size } => size > 0,
            Windows::Sliding { size, slide } => size > 0 && slide > 0,
            Windows::Session { gap } => gap > 0,
            Windows::Count { size } => size > 0,
        };
        if !valid {
            return Err(format!("{windows:?} needs positive sizes"));
        }
        Ok(WindowOperator {
            function: B::open(config)?,
            windows,
            panes: BTreeMap::new(),
            watermark: NO_TIMESTAMP,
        })
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Add `(key, timestamp, value)` records to their windows, in order;
    /// what fires right away (count windows) and late records.
    pub fn process(&mut self, records: &[Record<'_>]) -> Result<Vec<Output>, String> {
        let mut outputs = Vec::new();
        for &(key, timestamp, value) in records {
            outputs.extend(self.add(key, timestamp, value)?);
        }
        Ok(outputs)
    }

    /// Advance the watermark and fire every time window whose last
    /// millisecond it reached, ordered by `(end, key, start)`.
    pub fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<Output>, String> {
        self.watermark = self.watermark.max(watermark);
        let watermark = self.watermark;
        let mut due = Vec::new();
        for (key, panes) in &mut self.panes {
            let fired = panes.extract_if(.., |pane| {
                pane.end != i64::MAX && pane.end.saturating_sub(1) <= watermark
            });
            due.extend(fired.map(|pane| (key.clone(), pane.start, pane.end, pane.contents)));
        }
        self.panes.retain(|_, panes| !panes.is_empty());
        if due.is_empty() {
            return Ok(Vec::new());
        }
        due.sort_by(|a, b| (a.2, &a.0, a.1).cmp(&(b.2, &b.0, b.1)));
        self.function.fire(watermark, due)
    }

    /// Process `(key, timestamp, value)` records like a bounded source with a
    /// bounded-out-of-orderness watermark: in batches of `batch_size`, the
    /// watermark after each batch at `max timestamp - out_of_orderness - 1`,
    /// and at the end of input at `i64::MAX`, firing every time window.
    pub fn run_with_watermarks(
        &mut self,
        records: &[Record<'_>],
        batch_size: usize,
        out_of_orderness: i64,
    ) -> Result<Vec<Output>, String> {
        run_bounded(self, 1, records, batch_size, out_of_orderness)
    }

    /// Add one record to the windows of its key.
    fn add(&mut self, key: &[u8], timestamp: i64, value: &[u8]) -> Result<Vec<Output>, String> {
        let WindowOperator {
            function,
            windows,
            panes,
            watermark,
        } = self;
        let is_late = |end: i64| end != i64::MAX && end.saturating_sub(1) <= *watermark;
        let panes = panes.entry(key.to_vec()).or_default();
        let mut targets = Vec::new();
        if let Windows::Session { gap } = *windows {
            let (mut start, mut end) = (timestamp, timestamp.saturating_add(gap));
            let overlapping: Vec<usize> = (0..panes.len())
                .filter(|&index| panes[index].start <= end && panes[index].end >= start)
                .collect();
            for &index in &overlapping {
                start = start.min(panes[index].start);
                end = end.max(panes[index].end);
            }
            if !is_late(end) {
                let mut merged = Pane {
                    start,
                    end,
                    count: 0,
                    contents: function.create()?,
                };
                for index in overlapping.into_iter().rev() {
                    let pane = panes.remove(index);
                    merged.count += pane.count;
                    merged.contents = function.merge(merged.contents, pane.contents)?;
                }
                panes.push(merged);
                targets.push(panes.len() - 1);
            }
        } else {
            for (start, end) in windows.assign(timestamp) {
                if is_late(end) {
                    continue;
                }
                let existing = panes
                    .iter()
                    .position(|pane| pane.start == start && pane.end == end);
                let index = match existing {
                    Some(index) => index,
                    None => {
                        panes.push(Pane {
                            start,
                            end,
                            count: 0,
                            contents: function.create()?,
                        });
                        panes.len() - 1
                    }
                };
                targets.push(index);
            }
        }
        if targets.is_empty() {
            return Ok(vec![Output {
                side_output: Some("late".to_owned()),
                timestamp,
                value: value.to_vec(),
            }]);
        }
        for &index in &targets {
            let pane = &mut panes[index];
            function.add(&mut pane.contents, timestamp, value)?;
            pane.count += 1;
        }
        let Windows::Count { size } = *windows else {
            return Ok(Vec::new());
        };
        let full = panes.extract_if(.., |pane| pane.count >= size);
        let fired: Vec<_> = full
            .map(|pane| (key.to_vec(), pane.start, pane.end, pane.contents))
            .collect();
        if fired.is_empty() {
            return Ok(Vec::new());
        }
        let mut outputs = function.fire(*watermark, fired)?;
        for output in &mut outputs {
            output.timestamp = timestamp;
        }
        Ok(outputs)
    }
}

impl<'r, B: WindowBackend> RecordOperator<Record<'r>> for WindowOperator<B> {
    fn input_and_timestamp(record: &Record<'r>) -> (usize, i64) {
        (0, record.1)
    }

    fn run_records(&mut self, records: &[Record<'r>]) -> Result<Vec<Output>, String> {
        self.process(records)
    }

    fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<Output>, String> {
        WindowOperator::advance_watermark(self, watermark)
    }
}

/// Windows of an [`Aggregate`]: each holds an accumulator, kept in the
/// encoding the host stores (JSON) and changed only through the `aggregate`
/// runtime (`add-batch`, `merge`, `get-results`).
pub struct AggregateBackend<A> {
    instance: Instance<A>,
}

impl<A: Aggregate> WindowBackend for AggregateBackend<A> {
    type Contents = Vec<u8>;

    fn open(config: &str) -> Result<Self, String> {
        let instance = Instance::new();
        aggregate::init(&instance, config.to_owned())?;
        Ok(AggregateBackend { instance })
    }

    fn create(&mut self) -> Result<Vec<u8>, String> {
        Ok(aggregate::create_accumulator(&self.instance))
    }

    fn add(&mut self, contents: &mut Vec<u8>, timestamp: i64, value: &[u8]) -> Result<(), String> {
        let input = add_batch_input(&[(contents.as_slice(), &[(timestamp, value)][..])]);
        let output = aggregate::add_batch(&self.instance, input)?;
        let mut accumulators = length_prefixed(&output);
        *contents = accumulators
            .next()
            .ok_or("add-batch returned no accumulator")??
            .to_vec();
        Ok(())
    }

    fn merge(&mut self, a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, String> {
        aggregate::merge(&self.instance, a, b)
    }

    fn fire(
        &mut self,
        _watermark: i64,
        windows: Vec<FiredWindow<Vec<u8>>>,
    ) -> Result<Vec<Output>, String> {
        let output = aggregate::get_results(&self.instance, get_results_input(&windows))?;
        let results = length_prefixed(&output).collect::<Result<Vec<_>, _>>()?;
        if results.len() != windows.len() {
            return Err(format!(
                "get-results returned {} results for {} windows",
                results.len(),
                windows.len()
            ));
        }
        Ok(windows
            .iter()
            .zip(results)
            .map(|((_, _, end, _), result)| Output {
                side_output: None,
                timestamp: end.saturating_sub(1),
                value: result.to_vec(),
            })
            .collect())
    }
}

/// Windows of a [`ProcessWindow`] function: each buffers its elements (with
/// their arrival number, so that merged session windows keep arrival order)
/// and fires as a window event through the `keyed-process` runtime.
pub struct ProcessWindowBackend<W> {
    operator: KeyedOperator<ProcessWindowFunction<W>>,
    arrivals: u64,
}

impl<W: ProcessWindow> WindowBackend for ProcessWindowBackend<W> {
    /// `(arrival, timestamp, value)` of each element.
    type Contents = Vec<(u64, i64, Vec<u8>)>;

    fn open(config: &str) -> Result<Self, String> {
        Ok(ProcessWindowBackend {
            operator: KeyedOperator::open(config)?,
            arrivals: 0,
        })
    }

    fn create(&mut self) -> Result<Self::Contents, String> {
        Ok(Vec::new())
    }

    fn add(
        &mut self,
        contents: &mut Self::Contents,
        timestamp: i64,
        value: &[u8],
    ) -> Result<(), String> {
        self.arrivals += 1;
        contents.push((self.arrivals, timestamp, value.to_vec()));
        Ok(())
    }

    fn merge(
        &mut self,
        mut a: Self::Contents,
        b: Self::Contents,
    ) -> Result<Self::Contents, String> {
        a.extend(b);
        a.sort_by_key(|(arrival, _, _)| *arrival);
        Ok(a)
    }

    fn fire(
        &mut self,
        watermark: i64,
        windows: Vec<FiredWindow<Self::Contents>>,
    ) -> Result<Vec<Output>, String> {
        // Window functions set no timers, so this only moves the watermark
        // the function sees.
        let mut outputs = self.operator.advance_watermark(watermark)?;
        let windows: Vec<_> = windows
            .into_iter()
            .map(|(key, start, end, elements)| {
                let elements = elements
                    .into_iter()
                    .map(|(_, timestamp, value)| (timestamp, value))
                    .collect();
                (key, start, end, elements)
            })
            .collect();
        outputs.extend(self.operator.fire_windows(&windows)?);
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::Windows;

    #[test]
    fn assigns_windows_aligned_to_the_epoch() {
        let tumbling = Windows::Tumbling { size: 60 };
        assert_eq!(tumbling.assign(59), [(0, 60)]);
        assert_eq!(tumbling.assign(60), [(60, 120)]);
        assert_eq!(tumbling.assign(-1), [(-60, 0)]);

        let sliding = Windows::Sliding {
            size: 300,
            slide: 60,
        };
        assert_eq!(
            sliding.assign(130),
            [(-120, 180), (-60, 240), (0, 300), (60, 360), (120, 420)]
        );
        assert_eq!(sliding.assign(120).len(), 5);
        assert_eq!(
            Windows::Sliding {
                size: 60,
                slide: 120
            }
            .assign(70),
            Vec::<(i64, i64)>::new()
        );

        assert_eq!(Windows::Session { gap: 30 }.assign(5), [(5, 35)]);
        assert_eq!(Windows::Count { size: 3 }.assign(5), [(i64::MIN, i64::MAX)]);
    }
}
