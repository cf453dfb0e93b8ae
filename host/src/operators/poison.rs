//! Poison records: what an operator does when its guest fails on a batch
//! (`on_failure` in the job file, Kafka Streams' exception handlers).
//!
//! With `fail` the task fails, and the error names the record the guest
//! was processing when it panicked, if the guest said which (the Rust SDK
//! does). With `dead-letter` the batch runs again on a fresh instance to
//! find the records that fail: a panic names its record, so the records
//! before it run again, it is set aside, and the rest go on; a trap, a
//! time-out or an error result names none, so the batch is halved until
//! each failing record is alone. Failed records go to the dead-letter sink
//! as [`DeadLetter`]s, and every other record produces exactly the output
//! it would have produced had the failed ones never come.
//!
//! That holds only if a failed attempt changes nothing: its output is
//! collected apart and dropped, and keyed operators buffer the state writes
//! of a call until it returns (`state::overlay`). The operators say how to
//! run part of a batch ([`Retry`]); this module decides which parts.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::runtime::dead_letter::{DeadLetter, LetterOrigin};
use crate::runtime::exchange::preview;
use crate::runtime::metrics::NodeMetrics;
use crate::runtime::operator::{Collector, OperatorError};
use crate::runtime::record::Record;
use crate::wasm::GuestFailure;

/// Where one operator subtask sends the records its guest fails on.
pub struct DeadLetterOutput {
    /// The operator's uid, for the letters.
    pub uid: String,
    /// 1-based.
    pub subtask: u32,
    /// Index of the side output wired to the dead-letter sink: the one
    /// after the guest's own side outputs.
    pub side_output: usize,
    /// The operator's metrics, which count dead letters for the summary.
    pub metrics: Arc<NodeMetrics>,
}

/// How an operator subtask handles a batch its guest fails on.
pub enum OnFailure {
    /// The task fails.
    Fail,
    /// Failing records go to the dead-letter output; the rest go on.
    DeadLetter(DeadLetterOutput),
}

/// How to run part of a batch, for [`run_isolating`].
pub trait Retry {
    /// Run the guest on records `range` of the batch (in order), adding
    /// what they produce to `out`. When it fails with a guest failure it
    /// must leave no trace: no state or timer changed (the caller drops
    /// `out`).
    fn attempt(&mut self, range: Range<usize>, out: &mut Collector) -> Result<(), OperatorError>;

    /// Replace the guest after a failed attempt; a trapped instance is dead.
    fn respawn(&mut self) -> Result<(), OperatorError>;

    /// Record `index` of the batch, as it came.
    fn record(&self, index: usize) -> &Record;
}

/// Run the `len` records of a batch through `op`, sending every record the
/// guest fails on to `letters` (a side output of `out`) and the output of
/// every other record to `out`, in input order. Failures that no record
/// causes (a broken batch layout, a host error) fail the operator.
pub fn run_isolating(
    op: &mut impl Retry,
    len: usize,
    letters: &DeadLetterOutput,
    out: &mut Collector,
) -> Result<(), OperatorError> {
    // Ranges still to run, the next on top.
    let mut pending: Vec<Range<usize>> = Vec::new();
    pending.push(0..len);
    while let Some(range) = pending.pop() {
        if range.is_empty() {
            continue;
        }
        let mut part = Collector::with_side_outputs(out.side.len());
        let failure = match op.attempt(range.clone(), &mut part) {
            Ok(()) => {
                append(out, part);
                continue;
            }
            Err(OperatorError::Guest(failure)) if failure.input_failure().is_some() => failure,
            Err(other) => return Err(other),
        };
        op.respawn()?;
        let culprit = failure
            .event()
            .map(|event| range.start + event as usize)
            .filter(|index| range.contains(index));
        match culprit {
            // The guest failed on this record after the ones before it in
            // the range: run those again, set it aside, go on after it.
            Some(index) => {
                pending.push(index + 1..range.end);
                set_aside(op.record(index), &failure, letters, out);
                pending.push(range.start..index);
            }
            None if range.len() == 1 => set_aside(op.record(range.start), &failure, letters, out),
            None => {
                let middle = range.start + range.len() / 2;
                pending.push(middle..range.end);
                pending.push(range.start..middle);
            }
        }
    }
    Ok(())
}

/// Send `record` to the dead-letter output with why.
fn set_aside(
    record: &Record,
    failure: &GuestFailure,
    letters: &DeadLetterOutput,
    out: &mut Collector,
) {
    tracing::warn!(
        operator = %letters.uid,
        subtask = letters.subtask,
        "record sent to the dead-letter sink: {failure}; record: {}",
        preview(&record.value)
    );
    let letter = DeadLetter {
        origin: LetterOrigin::Operator {
            uid: &letters.uid,
            subtask: letters.subtask,
            failure,
        },
        reason: failure.to_string(),
        record: &record.value,
        timestamp: record.event_time(),
    };
    out.side[letters.side_output].push(letter.into_record());
    letters.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
}

/// Move what `part` collected to the end of `out`.
fn append(out: &mut Collector, part: Collector) {
    out.main.extend(part.main);
    for (side, records) in out.side.iter_mut().zip(part.side) {
        side.extend(records);
    }
}

/// `error`, naming the record the guest was processing when it failed if
/// it said which (`records` are the batch's record events, in order).
pub fn name_record(error: OperatorError, records: &[Record]) -> OperatorError {
    match error {
        OperatorError::Guest(failure) => {
            match failure
                .event()
                .and_then(|event| records.get(event as usize))
            {
                Some(record) => OperatorError::GuestOnRecord {
                    record: describe(record),
                    failure,
                },
                None => OperatorError::Guest(failure),
            }
        }
        other => other,
    }
}

/// A record in an error: a preview of its value, and its event time.
fn describe(record: &Record) -> String {
    match record.event_time() {
        Some(timestamp) => format!("{} (event time {timestamp})", preview(&record.value)),
        None => preview(&record.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::metrics::NodeRole;

    /// A guest that doubles numbers and fails on the ones in `poison`,
    /// panicking with the event index when `names_event`, trapping otherwise;
    /// counts attempts and respawns.
    struct Doubler {
        records: Vec<Record>,
        poison: Vec<u8>,
        names_event: bool,
        attempts: usize,
        respawns: usize,
    }

    impl Retry for Doubler {
        fn attempt(
            &mut self,
            range: Range<usize>,
            out: &mut Collector,
        ) -> Result<(), OperatorError> {
            self.attempts += 1;
            for (i, record) in self.records[range.clone()].iter().enumerate() {
                let n = record.value[0];
                if self.poison.contains(&n) {
                    return Err(OperatorError::Guest(if self.names_event {
                        GuestFailure::Panic {
                            message: format!("poison {n}"),
                            event: Some(i as u32),
                        }
                    } else {
                        GuestFailure::Trap {
                            message: "wasm trap: unreachable".into(),
                        }
                    }));
                }
                out.main.push(Record::new(vec![n * 2], record.timestamp));
            }
            Ok(())
        }

        fn respawn(&mut self) -> Result<(), OperatorError> {
            self.respawns += 1;
            Ok(())
        }

        fn record(&self, index: usize) -> &Record {
            &self.records[index]
        }
    }

    fn run(poison: &[u8], names_event: bool) -> (Vec<u8>, Vec<serde_json::Value>, Doubler) {
        let mut op = Doubler {
            records: (0..20u8)
                .map(|n| Record::new(vec![n], i64::from(n)))
                .collect(),
            poison: poison.to_vec(),
            names_event,
            attempts: 0,
            respawns: 0,
        };
        let metrics =
            crate::runtime::metrics::JobMetrics::default().add("op", NodeRole::Operator, 1);
        let letters = DeadLetterOutput {
            uid: "op".into(),
            subtask: 1,
            side_output: 0,
            metrics,
        };
        let mut out = Collector::with_side_outputs(1);
        run_isolating(&mut op, 20, &letters, &mut out).unwrap();
        let main = out.main.iter().map(|r| r.value[0]).collect();
        let letters = out.side[0]
            .iter()
            .map(|r| serde_json::from_slice(&r.value).unwrap())
            .collect();
        (main, letters, op)
    }

    fn expected_main(poison: &[u8]) -> Vec<u8> {
        (0..20u8)
            .filter(|n| !poison.contains(n))
            .map(|n| n * 2)
            .collect()
    }

    #[test]
    fn a_clean_batch_runs_once() {
        let (main, letters, op) = run(&[], true);
        assert_eq!(main, expected_main(&[]));
        assert!(letters.is_empty());
        assert_eq!((op.attempts, op.respawns), (1, 0));
    }

    #[test]
    fn named_events_isolate_each_poison_record_in_two_attempts() {
        let poison = [3, 4, 17];
        let (main, letters, op) = run(&poison, true);
        assert_eq!(main, expected_main(&poison));
        let records: Vec<_> = letters.iter().map(|l| l["record"].clone()).collect();
        assert_eq!(records, ["\u{3}", "\u{4}", "\u{11}"]);
        assert_eq!(letters[0]["message"], "poison 3");
        assert_eq!(letters[0]["timestamp"], 3);
        // Per poison record: the failing attempt and the one before it.
        assert_eq!((op.attempts, op.respawns), (6, 3));
    }

    #[test]
    fn unnamed_failures_are_found_by_halving() {
        let poison = [0, 9, 19];
        let (main, letters, op) = run(&poison, false);
        assert_eq!(main, expected_main(&poison));
        assert_eq!(letters.len(), 3);
        assert!(letters.iter().all(|l| l["failure"] == "trap"));
        // At most two attempts per level of halving per poison record, and
        // the first: log2(20) < 5 levels.
        let bound = 1 + 2 * poison.len() * 5;
        assert!(
            op.attempts <= bound,
            "halving took {} attempts",
            op.attempts
        );
    }

    #[test]
    fn every_record_failing_sends_every_record_to_dead_letters() {
        let poison: Vec<u8> = (0..20).collect();
        let (main, letters, _) = run(&poison, false);
        assert!(main.is_empty());
        assert_eq!(letters.len(), 20);
    }
}
