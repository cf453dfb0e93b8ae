//! The task of one source reader: adaptive batches, record decoding, event
//! timestamps, watermarks, and malformed records (fail or dead-letter).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::dead_letter::{DeadLetter, LetterOrigin};
use super::fields::{FieldError, key_field, timestamp_field, validate_json};
use super::metrics::NodeMetrics;
use super::operator::OperatorError;
use super::record::{NO_TIMESTAMP, Record};
use super::task::{Chain, Stop, TaskError};
use crate::checkpoint::protocol::{SourceState, SplitState};
use crate::checkpoint::{Barrier, StopVerdict};
use crate::connectors::{RawRecord, ReadStatus, SourceReader, SplitPosition};
use crate::job::{BatchConfig, RecordFormat, SourceDef, TimestampSource};
use crate::time::SourceWatermarks;

/// How a source decodes its values.
pub struct RecordDecoder {
    pub format: RecordFormat,
    pub timestamp: TimestampSource,
    /// JSON fields that keyed consumers of this source partition by; a record
    /// without one is malformed here, where its position is known.
    pub key_fields: Vec<Vec<String>>,
}

impl RecordDecoder {
    /// The record, or why it is malformed (boxed: the rare path).
    #[allow(clippy::type_complexity)]
    pub fn decode(&self, raw: RawRecord) -> Result<Record, Box<(RawRecord, String)>> {
        let timestamp = match (&self.timestamp, self.format) {
            (TimestampSource::Field(path), RecordFormat::Json) => {
                match timestamp_field(&raw.value, path) {
                    Ok(ts) => ts,
                    Err(error) => {
                        let reason = field_reason("timestamp", path, &error);
                        return Err(Box::new((raw, reason)));
                    }
                }
            }
            (TimestampSource::Source, _) => raw.timestamp.unwrap_or(NO_TIMESTAMP),
            (_, RecordFormat::Json) => {
                if let Err(error) = validate_json(&raw.value) {
                    return Err(Box::new((raw, error.to_string())));
                }
                NO_TIMESTAMP
            }
            _ => NO_TIMESTAMP,
        };
        for path in &self.key_fields {
            if let Err(error) = key_field(&raw.value, path) {
                let reason = field_reason("key", path, &error);
                return Err(Box::new((raw, reason)));
            }
        }
        Ok(Record {
            value: raw.value,
            timestamp,
            key: raw.key,
            watermark: crate::time::watermark::NO_WATERMARK,
        })
    }
}

fn field_reason(what: &str, path: &[String], error: &FieldError) -> String {
    match error {
        FieldError::NotJson(e) => format!("not valid JSON: {e}"),
        FieldError::Missing => format!("{what} field `{}` is missing", path.join(".")),
        FieldError::WrongType(e) => format!("{what} field `{}`: {e}", path.join(".")),
    }
}

/// What a source does after injecting a barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterBarrier {
    ReadOn,
    /// Its stopping savepoint is complete.
    Stop,
}

/// One subtask of a source.
pub struct SourceTask {
    pub source: SourceDef,
    pub reader: Box<dyn SourceReader>,
    pub decoder: RecordDecoder,
    /// Per-split watermarks and idleness.
    pub watermarks: SourceWatermarks,
    pub chain: Chain,
    /// Index of the dead-letter sink in the chain's sinks.
    pub dead_letter: Option<usize>,
    pub batch: BatchConfig,
    pub metrics: Arc<NodeMetrics>,
    pub cancelled: Arc<AtomicBool>,
    /// The last checkpoint barrier this source injected.
    pub last_barrier: u64,
    /// Positions at barriers whose checkpoints have not completed yet,
    /// oldest first, to tell the reader when they do.
    pub uncompleted: VecDeque<(u64, Vec<SplitPosition>)>,
}

impl SourceTask {
    /// Read until the input ends, the job is cancelled, or something fails.
    pub fn run(mut self) -> Result<(), Stop> {
        let mut raw = Vec::with_capacity(self.batch.max_records);
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(Stop::Cancelled);
            }
            if let Some(barrier) = self
                .chain
                .checkpoints
                .as_ref()
                .and_then(|c| c.due(self.last_barrier))
                && self.inject_barrier(barrier)? == AfterBarrier::Stop
            {
                self.metrics.subtask(self.chain.subtask).end();
                return self.chain.stop();
            }
            raw.clear();
            let status = self.fill(&mut raw)?;
            self.notify_completed();
            self.watermarks.ensure_splits(self.reader.split_count());
            let mut records = Vec::with_capacity(raw.len());
            for item in raw.drain(..) {
                let split = item.split as usize;
                match self.decoder.decode(item) {
                    Ok(mut record) => {
                        // Judged by the watermark after the record before
                        // it, wherever the batch happens to start.
                        record.watermark = self.watermarks.current();
                        let timestamp =
                            (record.timestamp != NO_TIMESTAMP).then_some(record.timestamp);
                        self.watermarks.observe(split, timestamp);
                        records.push(record);
                    }
                    Err(malformed) => {
                        let (item, reason) = *malformed;
                        self.malformed(item, reason)?
                    }
                }
            }
            self.metrics.add_out(self.chain.subtask, records.len());
            if self.watermarks.after_batch() {
                self.chain.idle()?;
            }
            if !records.is_empty() {
                self.chain.records(records)?;
            }
            if let Some(watermark) = self.watermarks.advance() {
                self.metrics.set_watermark(self.chain.subtask, watermark);
                self.chain.watermark(watermark)?;
            }
            let blocked = self.chain.account_backpressure();
            (self.metrics.subtask(self.chain.subtask)).add_backpressured(blocked);
            if status == ReadStatus::Finished {
                let position = self.state();
                self.metrics.subtask(self.chain.subtask).end();
                return self.chain.end(position);
            }
        }
    }

    /// Where the reader is now, for a checkpoint; `None` if its input
    /// cannot be read again.
    fn state(&self) -> Option<SourceState> {
        let positions = self.reader.positions()?;
        let splits = (positions.into_iter().enumerate())
            .map(|(index, position)| SplitState {
                position,
                max_timestamp: if index < self.watermarks.split_count() {
                    self.watermarks.max_timestamp(index)
                } else {
                    i64::MIN
                },
            })
            .collect();
        Some(SourceState {
            source: self.source.name.clone(),
            subtask: self.chain.subtask,
            parallelism: self.chain.parallelism,
            splits,
        })
    }

    /// Tell the reader of checkpoints that completed since the last batch.
    fn notify_completed(&mut self) {
        let Some(handle) = &self.chain.checkpoints else {
            return;
        };
        let completed = handle.requests.completed();
        let mut newest = None;
        while self
            .uncompleted
            .front()
            .is_some_and(|(id, _)| *id <= completed)
        {
            newest = self.uncompleted.pop_front();
        }
        if let Some((_, positions)) = newest {
            self.reader.checkpoint_completed(&positions);
        }
    }

    /// Send `barrier` after every record read so far, with the position
    /// of the record after them. An input that cannot be read again cannot
    /// be in a checkpoint: it declines, and the checkpoint times out.
    ///
    /// After the barrier of a stopping savepoint the source waits for the
    /// savepoint's fate: complete, it stops; failed, it reads on.
    fn inject_barrier(&mut self, barrier: Barrier) -> Result<AfterBarrier, Stop> {
        let id = barrier.id;
        self.last_barrier = id;
        match self.state() {
            Some(state) => {
                if barrier.snapshots() {
                    let positions = state.splits.iter().map(|s| s.position.clone()).collect();
                    self.uncompleted.push_back((id, positions));
                }
                self.chain.barrier(barrier, Some(state), Duration::ZERO)?
            }
            // A swap without a checkpoint needs no position to come back to.
            None if !barrier.snapshots() => self.chain.barrier(barrier, None, Duration::ZERO)?,
            None => {
                tracing::warn!(
                    source = %self.source.name,
                    "checkpoint {id} declined: {} cannot be read again from a position",
                    self.reader.describe()
                );
            }
        }
        if !barrier.stops() {
            return Ok(AfterBarrier::ReadOn);
        }
        let Some(handle) = self.chain.checkpoints.as_ref() else {
            return Ok(AfterBarrier::ReadOn);
        };
        match handle.requests.await_verdict(id, &self.cancelled) {
            Some(StopVerdict::Stop(_)) => Ok(AfterBarrier::Stop),
            Some(StopVerdict::ReadOn(_)) => Ok(AfterBarrier::ReadOn),
            None => Err(Stop::Cancelled),
        }
    }

    /// Read one batch: until it is full, input pauses, or the flush interval passes.
    fn fill(&mut self, raw: &mut Vec<RawRecord>) -> Result<ReadStatus, Stop> {
        let started = Instant::now();
        loop {
            let room = self.batch.max_records - raw.len();
            let (before, reading) = (raw.len(), Instant::now());
            let status = self.reader.read(room, raw).map_err(|error| {
                self.failure(format!("cannot read {}: {error}", self.reader.describe()))
            })?;
            if status == ReadStatus::Idle && raw.len() == before {
                // The reader had nothing (it may have waited for input,
                // or for its rate limit): idle time.
                let waited = reading.elapsed();
                self.chain.add_idle(waited);
                self.metrics.subtask(self.chain.subtask).add_idle(waited);
            }
            let full = raw.len() >= self.batch.max_records;
            let waited = started.elapsed() >= self.batch.flush_interval;
            match status {
                ReadStatus::Finished => return Ok(status),
                ReadStatus::Idle if !raw.is_empty() || waited => return Ok(status),
                ReadStatus::Idle => {
                    if self.cancelled.load(Ordering::Relaxed) {
                        return Err(Stop::Cancelled);
                    }
                }
                ReadStatus::More if full || waited => return Ok(status),
                ReadStatus::More => {}
            }
        }
    }

    fn failure(&self, message: String) -> Stop {
        Stop::Failed(Box::new(TaskError {
            node: format!("source `{}`", self.source.name),
            subtask: self.chain.subtask + 1,
            parallelism: self.chain.parallelism,
            error: OperatorError::Record(message),
        }))
    }

    /// Route a malformed record to the dead-letter sink, or fail the job.
    fn malformed(&mut self, item: RawRecord, reason: String) -> Result<(), Stop> {
        let origin = self.reader.describe();
        let Some(sink) = self.dead_letter else {
            return Err(self.failure(format!(
                "malformed record at {origin} {}: {reason} (record: {}); set `dead_letter` on the source to route such records to a sink instead",
                item.position,
                super::exchange::preview(&item.value)
            )));
        };
        let record = DeadLetter {
            origin: LetterOrigin::Source {
                name: &self.source.name,
                origin,
                position: item.position.to_string(),
            },
            reason,
            record: &item.value,
            timestamp: None,
        }
        .into_record();
        let sink = &self.chain.sinks[sink];
        sink.metrics.add_in(self.chain.subtask, 1);
        self.metrics
            .dead_letters
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sink.writer
            .write(std::slice::from_ref(&record))
            .map_err(|error| self.failure(format!("cannot write to dead-letter sink: {error}")))
    }
}
