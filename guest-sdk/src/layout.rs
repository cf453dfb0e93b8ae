//! The flat byte layout of batches, as specified in `wit/README.md`.
//!
//! Everything that crosses the boundary on the hot path is one `list<u8>`
//! per call; this module is the only place that knows how those bytes are
//! arranged. It does not depend on the generated bindings, so it is unit
//! tested natively.
//!
//! Reading is zero-copy: [`Reader`] hands out slices of the input buffer.
//! Writing goes into one reusable [`OutputWriter`] per batch.

use std::fmt;

pub use eddy_layout::{ABSENT, LAYOUT_VERSION, NO_KEY, NO_TIMESTAMP};
use eddy_layout::{
    DOMAIN_EVENT_TIME, DOMAIN_PROCESSING_TIME, EVENT_RECORD, EVENT_RECORD_BROADCAST,
    EVENT_RECORD_SECOND, EVENT_TIMER, EVENT_WINDOW, OUT_CLEAR_VALUE, OUT_DELETE_TIMER, OUT_EMIT,
    OUT_EMIT_SIDE, OUT_FORWARD, OUT_SET_TIMER, OUT_SET_VALUE,
};

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeDomain {
    /// Fires when the watermark passes the timestamp.
    EventTime,
    /// Fires when the host's wall clock passes the timestamp.
    ProcessingTime,
}

impl TimeDomain {
    fn from_byte(byte: u8) -> Result<Self, LayoutError> {
        match byte {
            DOMAIN_EVENT_TIME => Ok(TimeDomain::EventTime),
            DOMAIN_PROCESSING_TIME => Ok(TimeDomain::ProcessingTime),
            other => Err(LayoutError(format!("unknown time domain {other}"))),
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            TimeDomain::EventTime => DOMAIN_EVENT_TIME,
            TimeDomain::ProcessingTime => DOMAIN_PROCESSING_TIME,
        }
    }
}

/// A buffer that does not follow the layout (a host/SDK version mismatch or a bug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed batch buffer: {}", self.0)
    }
}

impl std::error::Error for LayoutError {}

impl From<LayoutError> for String {
    fn from(error: LayoutError) -> String {
        error.to_string()
    }
}

/// A cursor over a little-endian buffer; every read checks bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Start reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], LayoutError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len());
        let Some(end) = end else {
            return Err(LayoutError(format!(
                "needs {len} bytes at offset {} but the buffer has {}",
                self.pos,
                self.buf.len()
            )));
        };
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The bytes read since the reader was at `start` (a position it had before).
    fn read_since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LayoutError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, LayoutError> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, LayoutError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self) -> Result<i64, LayoutError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A `u32`-length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], LayoutError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// A `u32`-length-prefixed byte string, or `None` for the [`ABSENT`] length.
    pub fn optional_bytes(&mut self) -> Result<Option<&'a [u8]>, LayoutError> {
        match self.u32()? {
            ABSENT => Ok(None),
            len => self.take(len as usize).map(Some),
        }
    }
}

/// Append a `u32`-length-prefixed byte string.
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Append a `u32`-length-prefixed value that `encode` writes in place, so the
/// value is never built in a buffer of its own. On error nothing is appended.
#[inline]
pub fn put_bytes_with<E>(
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(error) = encode(out) {
        out.truncate(start);
        return Err(error);
    }
    let len = len_u32(out.len() - start - 4);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a value crossing the boundary is larger than 4 GiB")
}

/// The elements of a `[u32 len][bytes]...` buffer (list state, aggregate results).
pub fn length_prefixed(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], LayoutError>> {
    let mut reader = Reader::new(buf);
    std::iter::from_fn(move || (!reader.at_end()).then(|| reader.bytes()))
}

/// The `(key, value)` pairs of a `[u32 klen][key][u32 vlen][value]...` buffer (map state).
pub fn length_prefixed_pairs(
    buf: &[u8],
) -> impl Iterator<Item = Result<(&[u8], &[u8]), LayoutError>> {
    let mut reader = Reader::new(buf);
    std::iter::from_fn(move || (!reader.at_end()).then(|| Ok((reader.bytes()?, reader.bytes()?))))
}

/// `(i64 timestamp, bytes value)` pairs preceded by their `u32` count: the
/// inputs of an `add-batch` group and the elements of a fired window. Read
/// (and bounds-checked) once, then iterated without further checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedValues<'a> {
    /// The pairs, without the count.
    bytes: &'a [u8],
    count: u32,
}

impl<'a> TimestampedValues<'a> {
    /// Read the count and the pairs at the reader's position.
    fn read(reader: &mut Reader<'a>) -> Result<Self, LayoutError> {
        let count = reader.u32()?;
        let start = reader.pos;
        for _ in 0..count {
            reader.i64()?;
            reader.bytes()?;
        }
        Ok(TimestampedValues {
            bytes: reader.read_since(start),
            count,
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `(timestamp, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &'a [u8])> + use<'a> {
        let mut reader = Reader::new(self.bytes);
        (0..self.count).map(move |_| {
            let timestamp = reader.i64().expect("validated when the pairs were read");
            (
                timestamp,
                reader.bytes().expect("validated when the pairs were read"),
            )
        })
    }
}

/// Read `u32 count` and then `count` items with `item`, requiring the buffer
/// to end after the last one (the counted buffers of the aggregate world).
fn counted<'a, T>(
    buf: &'a [u8],
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, LayoutError>,
) -> Result<Vec<T>, LayoutError> {
    let mut reader = Reader::new(buf);
    let count = reader.u32()?;
    let items = (0..count)
        .map(|_| item(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    if !reader.at_end() {
        return Err(LayoutError("trailing bytes after the last element".into()));
    }
    Ok(items)
}

/// One fired window of a `get-results` buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiredWindow<'a> {
    /// The key the window belongs to.
    pub key: &'a [u8],
    /// First millisecond of the window (`i64::MIN` for count windows).
    pub start: i64,
    /// First millisecond after the window (`i64::MAX` for count windows).
    pub end: i64,
    /// The window's accumulator.
    pub accumulator: &'a [u8],
}

/// The windows of a `get-results` buffer:
/// `u32 count, count × (bytes key, i64 start, i64 end, bytes accumulator)`.
pub fn fired_windows(buf: &[u8]) -> Result<Vec<FiredWindow<'_>>, LayoutError> {
    counted(buf, |reader| {
        Ok(FiredWindow {
            key: reader.bytes()?,
            start: reader.i64()?,
            end: reader.i64()?,
            accumulator: reader.bytes()?,
        })
    })
}

/// Streams the groups of an `add-batch` buffer:
/// `u32 G, G × (bytes accumulator, u32 M, M × (i64 timestamp, bytes value))`.
#[derive(Debug)]
pub struct GroupReader<'a> {
    reader: Reader<'a>,
    groups_left: u32,
}

/// One group of an `add-batch` buffer: an accumulator and the inputs to add to it.
#[derive(Debug)]
pub struct Group<'a> {
    /// The accumulator before the inputs.
    pub accumulator: &'a [u8],
    values: TimestampedValues<'a>,
}

impl<'a> Group<'a> {
    /// The `(timestamp, value)` inputs of this group, in order.
    pub fn values(&self) -> impl Iterator<Item = (i64, &'a [u8])> + use<'a> {
        self.values.iter()
    }
}

impl<'a> GroupReader<'a> {
    /// Read the group count of `buf`.
    pub fn new(buf: &'a [u8]) -> Result<Self, LayoutError> {
        let mut reader = Reader::new(buf);
        let groups_left = reader.u32()?;
        Ok(GroupReader {
            reader,
            groups_left,
        })
    }

    /// Groups not read yet.
    pub fn remaining(&self) -> u32 {
        self.groups_left
    }

    /// The next group, or `None` after the last.
    pub fn next_group(&mut self) -> Result<Option<Group<'a>>, LayoutError> {
        if self.groups_left == 0 {
            return if self.reader.at_end() {
                Ok(None)
            } else {
                Err(LayoutError("trailing bytes after the last group".into()))
            };
        }
        self.groups_left -= 1;
        let accumulator = self.reader.bytes()?;
        let values = TimestampedValues::read(&mut self.reader)?;
        Ok(Some(Group {
            accumulator,
            values,
        }))
    }
}

/// The header of an input batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// The operator's current watermark ([`NO_TIMESTAMP`] before the first).
    pub watermark: i64,
    /// The host's processing time when the batch was built.
    pub processing_time: i64,
    /// Entries in the key table.
    pub key_count: u32,
}

/// One key table entry: the key and, per value state, its value before the batch.
#[derive(Debug, Clone)]
pub struct KeyEntry<'a> {
    /// The key's bytes.
    pub key: &'a [u8],
    slots: Reader<'a>,
    slot_count: usize,
}

impl<'a> KeyEntry<'a> {
    /// The value-state slots of this key, in descriptor order of the value states.
    pub fn slots(&self) -> impl Iterator<Item = Option<&'a [u8]>> + use<'a> {
        let mut reader = self.slots.clone();
        (0..self.slot_count).map(move |_| {
            reader
                .optional_bytes()
                .expect("slots were validated when the entry was read")
        })
    }
}

/// One event of an input batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A record to process (of the first input, for co-process functions).
    Record {
        /// Index into the key table, or [`NO_KEY`].
        key_ref: u32,
        /// Event time, or [`NO_TIMESTAMP`].
        timestamp: i64,
        /// The record value.
        value: &'a [u8],
    },
    /// A timer firing.
    Timer {
        /// Index into the key table.
        key_ref: u32,
        /// The time the timer was set for.
        timestamp: i64,
        /// The clock it followed.
        domain: TimeDomain,
    },
    /// A record of a co-process function's second input.
    SecondRecord {
        /// Index into the key table.
        key_ref: u32,
        /// Event time, or [`NO_TIMESTAMP`].
        timestamp: i64,
        /// The record value.
        value: &'a [u8],
    },
    /// A fired window of a window-process function, `[start, end)`.
    Window {
        /// Index into the key table.
        key_ref: u32,
        /// First millisecond of the window (`i64::MIN` for count windows).
        start: i64,
        /// First millisecond after the window (`i64::MAX` for count windows).
        end: i64,
        /// Every element of the window with its timestamp, in arrival order.
        elements: TimestampedValues<'a>,
    },
    /// A record of a broadcast-process function's broadcast input; it comes
    /// in a batch of its own, without a key.
    BroadcastRecord {
        /// Always [`NO_KEY`].
        key_ref: u32,
        /// Event time, or [`NO_TIMESTAMP`].
        timestamp: i64,
        /// The record value.
        value: &'a [u8],
    },
}

impl Event<'_> {
    /// The key table index of the event.
    pub fn key_ref(&self) -> u32 {
        match *self {
            Event::Record { key_ref, .. }
            | Event::Timer { key_ref, .. }
            | Event::SecondRecord { key_ref, .. }
            | Event::Window { key_ref, .. }
            | Event::BroadcastRecord { key_ref, .. } => key_ref,
        }
    }

    /// The time the event happens at, which output it emits takes: a record's
    /// own, a timer's firing time, or a window's last millisecond (`end - 1`).
    pub fn timestamp(&self) -> i64 {
        match *self {
            Event::Record { timestamp, .. }
            | Event::Timer { timestamp, .. }
            | Event::SecondRecord { timestamp, .. }
            | Event::BroadcastRecord { timestamp, .. } => timestamp,
            Event::Window { end, .. } => end.saturating_sub(1),
        }
    }

    /// What the event is, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Event::Record { .. } => "a record",
            Event::Timer { .. } => "a timer",
            Event::SecondRecord { .. } => "a record of a second input",
            Event::Window { .. } => "a fired window",
            Event::BroadcastRecord { .. } => "a broadcast record",
        }
    }
}

/// Streams an input batch in order: header, key table, then events.
///
/// The reader does not collect anything, so the caller decides what to keep
/// (the keyed runtime copies value-state slots, the stateless one skips keys).
#[derive(Debug)]
pub struct BatchReader<'a> {
    reader: Reader<'a>,
    keys_left: u32,
    events_left: Option<u32>,
}

impl<'a> BatchReader<'a> {
    /// Read the header of `buf`.
    pub fn new(buf: &'a [u8]) -> Result<(BatchHeader, Self), LayoutError> {
        let mut reader = Reader::new(buf);
        let version = reader.u8()?;
        if version != LAYOUT_VERSION {
            return Err(LayoutError(format!(
                "layout version {version}, this SDK reads version {LAYOUT_VERSION}"
            )));
        }
        let header = BatchHeader {
            watermark: reader.i64()?,
            processing_time: reader.i64()?,
            key_count: reader.u32()?,
        };
        let batch = BatchReader {
            reader,
            keys_left: header.key_count,
            events_left: None,
        };
        Ok((header, batch))
    }

    /// The next key table entry, or `None` after the last. `value_states` is
    /// the number of value states in the descriptor.
    pub fn next_key(&mut self, value_states: usize) -> Result<Option<KeyEntry<'a>>, LayoutError> {
        if self.keys_left == 0 {
            return Ok(None);
        }
        self.keys_left -= 1;
        let key = self.reader.bytes()?;
        let slots = self.reader.clone();
        for _ in 0..value_states {
            self.reader.optional_bytes()?;
        }
        Ok(Some(KeyEntry {
            key,
            slots,
            slot_count: value_states,
        }))
    }

    /// Skip what is left of the key table (stateless operators).
    pub fn skip_keys(&mut self, value_states: usize) -> Result<(), LayoutError> {
        while self.next_key(value_states)?.is_some() {}
        Ok(())
    }

    /// The next event, or `None` after the last. Call after the key table was read.
    pub fn next_event(&mut self) -> Result<Option<Event<'a>>, LayoutError> {
        if self.keys_left != 0 {
            return Err(LayoutError("events read before the key table".into()));
        }
        let left = match self.events_left {
            Some(left) => left,
            None => self.reader.u32()?,
        };
        if left == 0 {
            self.events_left = Some(0);
            return if self.reader.at_end() {
                Ok(None)
            } else {
                Err(LayoutError("trailing bytes after the last event".into()))
            };
        }
        self.events_left = Some(left - 1);
        let tag = self.reader.u8()?;
        let key_ref = self.reader.u32()?;
        let reader = &mut self.reader;
        let event = match tag {
            EVENT_RECORD | EVENT_RECORD_SECOND | EVENT_RECORD_BROADCAST => {
                let (timestamp, value) = (reader.i64()?, reader.bytes()?);
                match tag {
                    EVENT_RECORD => Event::Record {
                        key_ref,
                        timestamp,
                        value,
                    },
                    EVENT_RECORD_SECOND => Event::SecondRecord {
                        key_ref,
                        timestamp,
                        value,
                    },
                    _ => Event::BroadcastRecord {
                        key_ref,
                        timestamp,
                        value,
                    },
                }
            }
            EVENT_TIMER => Event::Timer {
                key_ref,
                timestamp: reader.i64()?,
                domain: TimeDomain::from_byte(reader.u8()?)?,
            },
            EVENT_WINDOW => Event::Window {
                key_ref,
                start: reader.i64()?,
                end: reader.i64()?,
                elements: TimestampedValues::read(reader)?,
            },
            other => {
                return Err(LayoutError(format!(
                    "unknown event tag {other} (this SDK reads tags {EVENT_RECORD} to \
                     {EVENT_RECORD_BROADCAST}; is the host newer than the SDK?)"
                )));
            }
        };
        Ok(Some(event))
    }
}

/// Builds the output buffer of one `process-batch` call.
#[derive(Debug, Default)]
pub struct OutputWriter {
    buf: Vec<u8>,
}

impl OutputWriter {
    /// An empty output with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        OutputWriter {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The finished buffer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Undo everything written after `len` (a failed entry).
    fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    fn head(&mut self, tag: u8, fields: &[u32]) {
        self.buf.push(tag);
        for field in fields {
            self.buf.extend_from_slice(&field.to_le_bytes());
        }
    }

    /// Emit a new record for `event`, its value written in place by `encode`.
    #[inline]
    pub fn emit_with<E>(
        &mut self,
        event: u32,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.len();
        self.head(OUT_EMIT, &[event]);
        put_bytes_with(&mut self.buf, encode).inspect_err(|_| self.truncate(start))
    }

    /// Emit a new record for `event` with the given value bytes.
    #[inline]
    pub fn emit(&mut self, event: u32, value: &[u8]) {
        self.head(OUT_EMIT, &[event]);
        put_bytes(&mut self.buf, value);
    }

    /// Pass the input record of `event` on unchanged.
    #[inline]
    pub fn forward(&mut self, event: u32) {
        self.head(OUT_FORWARD, &[event]);
    }

    /// Emit a record for `event` to side output `side_output`.
    pub fn emit_side_with<E>(
        &mut self,
        side_output: u32,
        event: u32,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.len();
        self.head(OUT_EMIT_SIDE, &[side_output, event]);
        put_bytes_with(&mut self.buf, encode).inspect_err(|_| self.truncate(start))
    }

    fn timer(&mut self, tag: u8, key_ref: u32, domain: TimeDomain, timestamp: i64) {
        self.head(tag, &[key_ref]);
        self.buf.push(domain.to_byte());
        self.buf.extend_from_slice(&timestamp.to_le_bytes());
    }

    /// Set a timer of `key_ref`.
    pub fn set_timer(&mut self, key_ref: u32, domain: TimeDomain, timestamp: i64) {
        self.timer(OUT_SET_TIMER, key_ref, domain, timestamp);
    }

    /// Delete a timer of `key_ref`.
    pub fn delete_timer(&mut self, key_ref: u32, domain: TimeDomain, timestamp: i64) {
        self.timer(OUT_DELETE_TIMER, key_ref, domain, timestamp);
    }

    /// Store `value` in value state `state` (descriptor index) of `key_ref`.
    pub fn set_value_state(&mut self, state: u32, key_ref: u32, value: &[u8]) {
        self.head(OUT_SET_VALUE, &[state, key_ref]);
        put_bytes(&mut self.buf, value);
    }

    /// Clear value state `state` (descriptor index) of `key_ref`.
    pub fn clear_value_state(&mut self, state: u32, key_ref: u32) {
        self.head(OUT_CLEAR_VALUE, &[state, key_ref]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::host::{BatchBuilder, OutputEntry, decode_output, get_results_input};

    #[test]
    fn reads_a_keyed_batch() {
        let batch = BatchBuilder::new(100, 200)
            .key(b"alice", &[Some(b"3"), None])
            .key(b"bob", &[None, Some(b"")])
            .record(0, 10, b"hello")
            .timer(1, 99, TimeDomain::EventTime)
            .record(NO_KEY, NO_TIMESTAMP, b"")
            .timer(0, 5, TimeDomain::ProcessingTime)
            .build();

        let (header, mut reader) = BatchReader::new(&batch).unwrap();
        assert_eq!(
            header,
            BatchHeader {
                watermark: 100,
                processing_time: 200,
                key_count: 2
            }
        );
        let alice = reader.next_key(2).unwrap().unwrap();
        assert_eq!(alice.key, b"alice");
        assert_eq!(alice.slots().collect::<Vec<_>>(), [Some(&b"3"[..]), None]);
        let bob = reader.next_key(2).unwrap().unwrap();
        assert_eq!(bob.key, b"bob");
        assert_eq!(bob.slots().collect::<Vec<_>>(), [None, Some(&b""[..])]);
        assert!(reader.next_key(2).unwrap().is_none());

        let mut events = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            events.push(event);
        }
        assert_eq!(
            events,
            [
                Event::Record {
                    key_ref: 0,
                    timestamp: 10,
                    value: b"hello"
                },
                Event::Timer {
                    key_ref: 1,
                    timestamp: 99,
                    domain: TimeDomain::EventTime
                },
                Event::Record {
                    key_ref: NO_KEY,
                    timestamp: NO_TIMESTAMP,
                    value: b""
                },
                Event::Timer {
                    key_ref: 0,
                    timestamp: 5,
                    domain: TimeDomain::ProcessingTime
                },
            ]
        );
        assert!(reader.next_event().unwrap().is_none());
    }

    #[test]
    fn skips_keys_of_a_stateless_batch() {
        let batch = BatchBuilder::new(NO_TIMESTAMP, 0)
            .key(b"k", &[])
            .record(0, 1, b"v")
            .build();
        let (_, mut reader) = BatchReader::new(&batch).unwrap();
        reader.skip_keys(0).unwrap();
        assert!(matches!(
            reader.next_event().unwrap(),
            Some(Event::Record { value: b"v", .. })
        ));
        assert!(reader.next_event().unwrap().is_none());
    }

    #[test]
    fn rejects_malformed_batches() {
        let good = BatchBuilder::new(0, 0).record(NO_KEY, 0, b"abc").build();

        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        assert!(BatchReader::new(&wrong_version).is_err());

        let truncated = &good[..good.len() - 1];
        let (_, mut reader) = BatchReader::new(truncated).unwrap();
        let error = reader.next_event().unwrap_err();
        assert!(error.to_string().contains("needs 3 bytes"), "{error}");

        let mut trailing = good.clone();
        trailing.push(0);
        let (_, mut reader) = BatchReader::new(&trailing).unwrap();
        reader.next_event().unwrap();
        assert!(reader.next_event().is_err());

        let mut bad_tag = good;
        bad_tag[25] = 7; // 17-byte header, key count, event count, then the tag
        let (_, mut reader) = BatchReader::new(&bad_tag).unwrap();
        assert!(reader.next_event().is_err());
    }

    #[test]
    fn writes_every_output_entry() {
        let mut out = OutputWriter::with_capacity(16);
        out.emit(0, b"a");
        out.emit_with(1, |buf| {
            buf.extend_from_slice(b"bc");
            Ok::<_, ()>(())
        })
        .unwrap();
        out.forward(2);
        out.emit_side_with(1, 3, |buf| {
            buf.push(b'x');
            Ok::<_, ()>(())
        })
        .unwrap();
        out.set_timer(4, TimeDomain::EventTime, -5);
        out.delete_timer(5, TimeDomain::ProcessingTime, i64::MAX);
        out.set_value_state(2, 6, b"42");
        out.clear_value_state(3, 7);

        use OutputEntry::*;
        assert_eq!(
            decode_output(&out.into_bytes()),
            [
                Emit {
                    event: 0,
                    value: b"a".to_vec()
                },
                Emit {
                    event: 1,
                    value: b"bc".to_vec()
                },
                Forward { event: 2 },
                EmitSide {
                    side_output: 1,
                    event: 3,
                    value: b"x".to_vec()
                },
                SetTimer {
                    key_ref: 4,
                    domain: TimeDomain::EventTime,
                    timestamp: -5
                },
                DeleteTimer {
                    key_ref: 5,
                    domain: TimeDomain::ProcessingTime,
                    timestamp: i64::MAX
                },
                SetValue {
                    state: 2,
                    key_ref: 6,
                    value: b"42".to_vec()
                },
                ClearValue {
                    state: 3,
                    key_ref: 7
                },
            ]
        );
    }

    #[test]
    fn a_failed_emit_leaves_no_trace() {
        let mut out = OutputWriter::default();
        out.forward(0);
        let result = out.emit_with(1, |buf| {
            buf.extend_from_slice(b"partial");
            Err("no")
        });
        assert_eq!(result, Err("no"));
        assert_eq!(
            decode_output(&out.into_bytes()),
            [OutputEntry::Forward { event: 0 }]
        );
    }

    #[test]
    fn length_prefixed_lists_round_trip() {
        let mut list = Vec::new();
        for element in [&b"one"[..], b"", b"three"] {
            put_bytes(&mut list, element);
        }
        let elements: Vec<_> = length_prefixed(&list).map(Result::unwrap).collect();
        assert_eq!(elements, [&b"one"[..], b"", b"three"]);

        let mut pairs = Vec::new();
        for (key, value) in [(&b"k1"[..], &b"v1"[..]), (b"k2", b"")] {
            put_bytes(&mut pairs, key);
            put_bytes(&mut pairs, value);
        }
        let decoded: Vec<_> = length_prefixed_pairs(&pairs).map(Result::unwrap).collect();
        assert_eq!(decoded, [(&b"k1"[..], &b"v1"[..]), (&b"k2"[..], &b""[..])]);

        assert!(length_prefixed(&[1, 0, 0, 0]).next().unwrap().is_err());
    }
    #[test]
    fn reads_aggregate_buffers() {
        let mut groups = 2u32.to_le_bytes().to_vec();
        put_bytes(&mut groups, b"{\"n\":1}");
        groups.extend_from_slice(&2u32.to_le_bytes());
        groups.extend_from_slice(&7i64.to_le_bytes());
        put_bytes(&mut groups, b"a");
        groups.extend_from_slice(&8i64.to_le_bytes());
        put_bytes(&mut groups, b"bc");
        put_bytes(&mut groups, b"0");
        groups.extend_from_slice(&0u32.to_le_bytes());

        let mut reader = GroupReader::new(&groups).unwrap();
        assert_eq!(reader.remaining(), 2);
        let first = reader.next_group().unwrap().unwrap();
        assert_eq!(first.accumulator, b"{\"n\":1}");
        assert_eq!(
            first.values().collect::<Vec<_>>(),
            [(7, &b"a"[..]), (8, &b"bc"[..])]
        );
        let second = reader.next_group().unwrap().unwrap();
        assert_eq!(second.accumulator, b"0");
        assert_eq!(second.values().count(), 0);
        assert!(reader.next_group().unwrap().is_none());

        let mut windows = get_results_input(&[
            (&b"alice"[..], 0, 60_000, &b"1"[..]),
            (b"", i64::MIN, i64::MAX, b"22"),
        ]);
        assert_eq!(
            fired_windows(&windows).unwrap(),
            [
                FiredWindow {
                    key: b"alice",
                    start: 0,
                    end: 60_000,
                    accumulator: b"1"
                },
                FiredWindow {
                    key: b"",
                    start: i64::MIN,
                    end: i64::MAX,
                    accumulator: b"22"
                },
            ]
        );
        windows.push(0);
        assert!(fired_windows(&windows).is_err());
        assert!(fired_windows(&windows[..windows.len() - 3]).is_err());
        assert_eq!(fired_windows(&0u32.to_le_bytes()).unwrap(), []);
    }

    #[test]
    fn reads_second_input_records_and_windows() {
        let elements: [(i64, &[u8]); 3] = [(5, b"a"), (3, b""), (9, b"ccc")];
        let batch = BatchBuilder::new(7, 8)
            .key(b"k", &[None])
            .second_record(0, 42, b"payment")
            .window(0, 0, 60_000, &elements)
            .record(0, 43, b"order")
            .window(0, i64::MIN, i64::MAX, &[] as &[(i64, &[u8])])
            .build();
        let (_, mut reader) = BatchReader::new(&batch).unwrap();
        reader.skip_keys(1).unwrap();

        let second = reader.next_event().unwrap().unwrap();
        assert_eq!(
            second,
            Event::SecondRecord {
                key_ref: 0,
                timestamp: 42,
                value: b"payment"
            }
        );
        assert_eq!((second.key_ref(), second.timestamp()), (0, 42));

        let window = reader.next_event().unwrap().unwrap();
        let Event::Window {
            key_ref,
            start,
            end,
            elements: values,
        } = window
        else {
            panic!("not a window: {window:?}");
        };
        assert_eq!((key_ref, start, end), (0, 0, 60_000));
        assert_eq!(values.len(), 3);
        assert_eq!(values.iter().collect::<Vec<_>>(), elements);
        assert_eq!(
            window.timestamp(),
            59_999,
            "a window's events happen at end - 1"
        );

        assert!(matches!(
            reader.next_event().unwrap(),
            Some(Event::Record {
                value: b"order",
                ..
            })
        ));
        let count_window = reader.next_event().unwrap().unwrap();
        assert!(matches!(
            count_window,
            Event::Window { elements, .. } if elements.is_empty()
        ));
        assert_eq!(count_window.timestamp(), i64::MAX - 1);
        assert!(reader.next_event().unwrap().is_none());
    }

    #[test]
    fn reads_broadcast_records_without_a_key() {
        let batch = BatchBuilder::new(3, 4)
            .broadcast_record(42, b"rule")
            .build();
        let (header, mut reader) = BatchReader::new(&batch).unwrap();
        assert_eq!(header.key_count, 0, "broadcast batches have no key table");
        reader.skip_keys(0).unwrap();
        let event = reader.next_event().unwrap().unwrap();
        assert_eq!(
            event,
            Event::BroadcastRecord {
                key_ref: NO_KEY,
                timestamp: 42,
                value: b"rule"
            }
        );
        assert_eq!(
            (event.timestamp(), event.describe()),
            (42, "a broadcast record")
        );
        assert!(reader.next_event().unwrap().is_none());

        let mut unknown = batch;
        unknown[25] = 9;
        let (_, mut reader) = BatchReader::new(&unknown).unwrap();
        let error = reader.next_event().unwrap_err().to_string();
        assert!(
            error.contains("unknown event tag 9 (this SDK reads tags 0 to 4"),
            "{error}"
        );
    }

    #[test]
    fn rejects_truncated_windows() {
        let batch = BatchBuilder::new(0, 0)
            .key(b"k", &[])
            .window(0, 0, 10, &[(1, b"abc")])
            .build();
        let (_, mut reader) = BatchReader::new(&batch[..batch.len() - 1]).unwrap();
        reader.skip_keys(0).unwrap();
        let error = reader.next_event().unwrap_err();
        assert!(error.to_string().contains("needs 3 bytes"), "{error}");
    }
}
