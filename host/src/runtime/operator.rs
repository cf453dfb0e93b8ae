//! The operator interface every chained step of a task implements, whether
//! it calls a guest or is native Rust (benchmark twins).

use thiserror::Error;

use std::path::Path;

use super::record::Record;
use crate::snapshot::{OperatorSnapshot, RestoredOperatorState};
use crate::state::StateBackend;
use crate::time::TimerService;
use crate::wasm::{FunctionDescriptor, GuestFailure, GuestInstance};

/// Output of one operator call: the main output and the named side outputs.
#[derive(Debug, Default)]
pub struct Collector {
    pub main: Vec<Record>,
    /// One list per side output, by index into [`Operator::side_outputs`].
    pub side: Vec<Vec<Record>>,
}

impl Collector {
    /// An empty collector for an operator with `side_outputs` side outputs.
    pub fn with_side_outputs(side_outputs: usize) -> Self {
        Collector {
            main: Vec::new(),
            side: (0..side_outputs).map(|_| Vec::new()).collect(),
        }
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.main.is_empty() && self.side.iter().all(Vec::is_empty)
    }

    /// Side output `index` of a guest that declared `declared` of them.
    /// The collector may hold more (the dead-letter output comes after the
    /// guest's own), which the guest may not write to.
    pub fn guest_side_output(
        &mut self,
        index: u32,
        declared: usize,
    ) -> Result<&mut Vec<Record>, OperatorError> {
        self.side
            .get_mut(index as usize)
            .filter(|_| (index as usize) < declared)
            .ok_or_else(|| {
                OperatorError::Record(format!(
                    "guest emitted to side output {index}, but declared {declared}"
                ))
            })
    }

    /// How much has been collected so far, to [`Self::stamp_since`] later.
    pub fn mark(&self) -> CollectorMark {
        CollectorMark {
            main: self.main.len(),
            side: self.side.iter().map(Vec::len).collect(),
        }
    }

    /// Put every record collected since `mark` at `watermark` of the
    /// operator's output stream (see [`Record::watermark`]).
    pub fn stamp_since(&mut self, mark: &CollectorMark, watermark: i64) {
        let sides = self.side.iter_mut().zip(&mark.side);
        for (records, from) in std::iter::once((&mut self.main, &mark.main)).chain(sides) {
            for record in &mut records[*from..] {
                record.watermark = watermark;
            }
        }
    }
}

/// The lengths of a [`Collector`]'s lists at one moment.
pub struct CollectorMark {
    main: usize,
    side: Vec<usize>,
}

/// Why an operator failed; the task adds which operator and subtask.
#[derive(Debug, Error)]
pub enum OperatorError {
    #[error(transparent)]
    Guest(#[from] GuestFailure),
    /// A guest failure while processing a known record.
    #[error("{failure}\non record: {record}")]
    GuestOnRecord {
        failure: GuestFailure,
        /// A preview of the record's value, with its event time if it has one.
        record: String,
    },
    #[error("state backend: {0}")]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    Record(String),
    #[error("cannot restore its state: {0}")]
    Restore(String),
}

/// A new version of an operator's guest function for one subtask,
/// instantiated and initialised before the swap barrier came, so that the
/// swap itself is only the exchange of instances.
pub struct FunctionReplacement {
    pub instance: GuestInstance,
    pub descriptor: FunctionDescriptor,
}

/// One step of a dataflow, driven by its task.
pub trait Operator: Send {
    /// Process a batch of input records in order.
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError>;

    /// Process a batch of records of the second input (two-input operators).
    fn process_second(
        &mut self,
        _input: Vec<Record>,
        _out: &mut Collector,
    ) -> Result<(), OperatorError> {
        Err(OperatorError::Record(
            "this operator has one input, but received records on a second".into(),
        ))
    }

    /// The input watermark advanced to `watermark`; fire due event-time timers.
    ///
    /// What timers emit goes out *before* `watermark` in the output stream,
    /// so it carries the watermark from before the advance. Operators with
    /// event-time timers also advance inside `process`, before each record
    /// whose [`Record::watermark`] is ahead of theirs; the chain calls this
    /// only with watermarks ahead of the last one it gave.
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Collector) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Processing time is now `now`; fire due processing-time timers.
    fn on_processing_time(&mut self, _now: i64, _out: &mut Collector) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Every input ended (after the final watermark).
    fn on_end_of_input(&mut self, _out: &mut Collector) -> Result<(), OperatorError> {
        Ok(())
    }

    /// When `on_processing_time` next has work, if ever.
    fn next_processing_time(&self) -> Option<i64> {
        None
    }

    /// Names of the side outputs, in index order.
    fn side_outputs(&self) -> &[String] {
        &[]
    }

    /// Take this operator's part of a checkpoint at a barrier, on the task
    /// thread: quick (a copy or a RocksDB checkpoint into `scratch`, a
    /// folder that does not exist yet); written out elsewhere. `None` for
    /// operators without state.
    fn snapshot_state(
        &mut self,
        _scratch: &Path,
    ) -> Result<Option<OperatorSnapshot>, OperatorError> {
        Ok(None)
    }

    /// Go on with a new version of the guest function (a live swap, at a
    /// barrier: everything before it went to the old version). State stays
    /// where it is. Operators without a guest refuse.
    fn replace_function(&mut self, _replacement: FunctionReplacement) -> Result<(), OperatorError> {
        Err(OperatorError::Record(
            "this operator runs no guest function to replace".into(),
        ))
    }

    /// Put back the state of a checkpoint, before the first record.
    fn restore_state(&mut self, state: RestoredOperatorState) -> Result<(), OperatorError> {
        if state.entries.is_empty() && state.timers.is_empty() && state.broadcast.is_empty() {
            Ok(())
        } else {
            Err(OperatorError::Restore(
                "the checkpoint holds state for it, but it keeps none".into(),
            ))
        }
    }
}

/// The snapshot of a keyed operator: its backend's state and its timers.
pub fn keyed_snapshot(
    backend: &mut dyn StateBackend,
    timers: &TimerService,
    watermark: i64,
    scratch: &Path,
) -> Result<OperatorSnapshot, OperatorError> {
    Ok(OperatorSnapshot {
        keyed: Some(backend.snapshot(scratch)?),
        timers: timers.snapshot(),
        broadcast: None,
        watermark: Some(watermark),
    })
}
