//! Exchanges between tasks: partition records (by key group, or round
//! robin) into bounded channels, so a slow consumer back-pressures its producers.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::fields::key_field;
use super::operator::OperatorError;
use super::record::Record;
use crate::checkpoint::Barrier;
use crate::state::{key_group_of, subtask_for_key_group};
use crate::time::processing_time_now;
use crate::wasm::GuestInstance;
use crate::wasm::layout::{BatchEncoder, NO_KEY, OutputEntry, output_entries};

/// What flows through a channel, in order.
#[derive(Debug)]
pub enum Element {
    Records(Vec<Record>),
    Watermark(i64),
    /// The producer has no input for now and holds no watermark back until
    /// it sends something again (Flink's idle watermark status).
    Idle,
    /// A checkpoint or savepoint barrier: the producer's records before it
    /// are in that snapshot, those after it are not.
    Barrier(Barrier),
    /// The producer finished; nothing follows.
    End,
    /// The producer stopped after a savepoint (`eddy stop --savepoint`):
    /// nothing follows, but its input did not end, so no end-of-input
    /// watermark fires timers (they are in the savepoint).
    Stop,
}

/// An element with the index of the producer that sent it, so the consumer
/// can track watermarks per input channel.
#[derive(Debug)]
pub struct Message {
    pub input: usize,
    pub element: Element,
}

/// Messages in flight per consumer subtask before producers block.
pub const CHANNEL_CAPACITY: usize = 32;

/// A consumer subtask's inbox.
pub fn channel() -> (Sender<Message>, Receiver<Message>) {
    crossbeam_channel::bounded(CHANNEL_CAPACITY)
}

/// How a keyed exchange finds each record's key.
pub enum KeySelector {
    /// The key the connector attached.
    RecordKey,
    /// A JSON field of the value.
    Field(Vec<String>),
    /// A guest function of kind `key-selector`.
    Guest(Box<GuestKeySelector>),
}

/// A key-selector guest, called once per batch.
pub struct GuestKeySelector {
    guest: GuestInstance,
    encoder: BatchEncoder,
}

impl GuestKeySelector {
    pub fn new(guest: GuestInstance) -> Self {
        GuestKeySelector {
            guest,
            encoder: BatchEncoder::default(),
        }
    }

    fn assign(&mut self, records: &mut [Record]) -> Result<(), OperatorError> {
        self.encoder.begin(i64::MIN, processing_time_now());
        for record in records.iter() {
            self.encoder.record(NO_KEY, record.timestamp, &record.value);
        }
        let output = self.guest.process_batch(self.encoder.finish())?;
        for entry in output_entries(&output) {
            match entry.map_err(crate::wasm::GuestFailure::from)? {
                OutputEntry::Emit { event, value } => {
                    let record = records.get_mut(event as usize).ok_or_else(|| {
                        OperatorError::Record(format!(
                            "key selector returned a key for unknown event {event}"
                        ))
                    })?;
                    record.key = Some(value.to_vec());
                }
                other => {
                    return Err(OperatorError::Record(format!(
                        "a key selector may only emit keys, it returned {other:?}"
                    )));
                }
            }
        }
        if let Some(record) = records.iter().find(|r| r.key.is_none()) {
            return Err(OperatorError::Record(format!(
                "key selector returned no key for record {}",
                preview(&record.value)
            )));
        }
        Ok(())
    }
}

impl KeySelector {
    /// Set `key` on every record.
    pub fn assign(&mut self, records: &mut [Record]) -> Result<(), OperatorError> {
        match self {
            KeySelector::RecordKey => match records.iter().find(|r| r.key.is_none()) {
                Some(record) => Err(OperatorError::Record(format!(
                    "key_by = \"record-key\", but this record has no key: {}",
                    preview(&record.value)
                ))),
                None => Ok(()),
            },
            KeySelector::Field(path) => {
                for record in records.iter_mut() {
                    let key = key_field(&record.value, path).map_err(|error| {
                        OperatorError::Record(format!(
                            "cannot read key field `{}`: {error}; record: {}",
                            path.join("."),
                            preview(&record.value)
                        ))
                    })?;
                    record.key = Some(key);
                }
                Ok(())
            }
            KeySelector::Guest(selector) => selector.assign(records),
        }
    }
}

/// The start of a value, for error messages.
pub fn preview(value: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&value[..value.len().min(MAX)]);
    if value.len() > MAX {
        format!("{text}…")
    } else {
        text.into_owned()
    }
}

/// How records are spread over the consumer's subtasks.
pub enum Partitioning {
    /// By key group, so every record of a key reaches the same subtask.
    Keyed {
        selector: KeySelector,
        max_parallelism: u32,
    },
    /// Round robin, for a change of parallelism without keys.
    Rebalance { next: usize },
    /// Every record to every consumer subtask (broadcast inputs).
    Broadcast,
}

/// The producing side of an exchange, held by one producer subtask.
pub struct Exchange {
    partitioning: Partitioning,
    outboxes: Vec<Sender<Message>>,
    buffers: Vec<Vec<Record>>,
    /// This producer's input index at every consumer subtask.
    input: usize,
    batch_size: usize,
    /// Time spent waiting for room in full channels since it was last
    /// taken ([`Exchange::take_blocked`]): the producer's back pressure.
    blocked: std::cell::Cell<std::time::Duration>,
}

impl Exchange {
    pub fn new(
        partitioning: Partitioning,
        outboxes: Vec<Sender<Message>>,
        input: usize,
        batch_size: usize,
    ) -> Self {
        Exchange {
            partitioning,
            buffers: outboxes.iter().map(|_| Vec::new()).collect(),
            outboxes,
            input,
            batch_size: batch_size.max(1),
            blocked: std::cell::Cell::default(),
        }
    }

    /// Partition `records`; full buffers are sent at once.
    pub fn push(&mut self, mut records: Vec<Record>) -> Result<(), ExchangeError> {
        let consumers = self.outboxes.len() as u32;
        match &mut self.partitioning {
            Partitioning::Keyed {
                selector,
                max_parallelism,
            } => {
                selector.assign(&mut records).map_err(ExchangeError::Key)?;
                for record in records {
                    let key = record.key.as_deref().expect("assigned above");
                    let group = key_group_of(key, *max_parallelism);
                    let target = subtask_for_key_group(group, consumers, *max_parallelism);
                    self.buffers[target as usize].push(record);
                }
            }
            Partitioning::Rebalance { next } => {
                for record in records {
                    self.buffers[*next].push(record);
                    *next = (*next + 1) % consumers as usize;
                }
            }
            Partitioning::Broadcast => {
                if let Some((last, others)) = self.buffers.split_last_mut() {
                    for buffer in others {
                        buffer.extend(records.iter().cloned());
                    }
                    last.append(&mut records);
                }
            }
        }
        for target in 0..self.buffers.len() {
            if self.buffers[target].len() >= self.batch_size {
                self.send_buffer(target)?;
            }
        }
        Ok(())
    }

    fn send_buffer(&mut self, target: usize) -> Result<(), ExchangeError> {
        let records = std::mem::take(&mut self.buffers[target]);
        self.send(target, Element::Records(records))
    }

    /// Send to consumer `target`, waiting for room if its channel is full
    /// (and counting the wait).
    fn send(&self, target: usize, element: Element) -> Result<(), ExchangeError> {
        let message = Message {
            input: self.input,
            element,
        };
        let full = match self.outboxes[target].try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(ExchangeError::ConsumerGone),
            Err(TrySendError::Full(message)) => message,
        };
        let waiting = std::time::Instant::now();
        let sent = self.outboxes[target].send(full);
        self.blocked.set(self.blocked.get() + waiting.elapsed());
        sent.map_err(|_| ExchangeError::ConsumerGone)
    }

    /// The time spent waiting for room since the last call.
    pub fn take_blocked(&self) -> std::time::Duration {
        self.blocked.take()
    }

    /// Send every buffered record.
    pub fn flush(&mut self) -> Result<(), ExchangeError> {
        for target in 0..self.buffers.len() {
            if !self.buffers[target].is_empty() {
                self.send_buffer(target)?;
            }
        }
        Ok(())
    }

    /// Flush, then tell every consumer subtask the watermark.
    pub fn watermark(&mut self, watermark: i64) -> Result<(), ExchangeError> {
        self.flush_then_tell_all(|| Element::Watermark(watermark))
    }

    /// Flush, then tell every consumer subtask this producer is idle.
    pub fn idle(&mut self) -> Result<(), ExchangeError> {
        self.flush_then_tell_all(|| Element::Idle)
    }

    /// Flush, then send `barrier` to every consumer subtask: everything
    /// before it belongs to its snapshot, nothing after it.
    pub fn barrier(&mut self, barrier: Barrier) -> Result<(), ExchangeError> {
        self.flush_then_tell_all(|| Element::Barrier(barrier))
    }

    /// Flush, then tell every consumer subtask this producer stopped after
    /// a savepoint.
    pub fn stop(&mut self) -> Result<(), ExchangeError> {
        self.flush_then_tell_all(|| Element::Stop)
    }

    /// Flush, then tell every consumer subtask this producer ended.
    pub fn end(&mut self) -> Result<(), ExchangeError> {
        self.flush_then_tell_all(|| Element::End)
    }

    /// Send the buffered records, then `element` to every consumer subtask,
    /// so it arrives after every record sent before it.
    fn flush_then_tell_all(&mut self, element: impl Fn() -> Element) -> Result<(), ExchangeError> {
        self.flush()?;
        (0..self.outboxes.len()).try_for_each(|t| self.send(t, element()))
    }
}

/// Why an exchange could not take records.
#[derive(Debug)]
pub enum ExchangeError {
    /// A record's key could not be determined.
    Key(OperatorError),
    ConsumerGone,
}
