//! Host side of the flat batch layout specified in `wit/README.md`: the
//! encoder for input batches and the decoder for output buffers.

use thiserror::Error;

use crate::time::TimeDomain;

pub use eddy_layout::{ABSENT, LAYOUT_VERSION, NO_KEY};
use eddy_layout::{
    DOMAIN_EVENT_TIME, DOMAIN_PROCESSING_TIME, EVENT_RECORD, EVENT_RECORD_BROADCAST,
    EVENT_RECORD_SECOND, EVENT_TIMER, EVENT_WINDOW, OUT_CLEAR_VALUE, OUT_DELETE_TIMER, OUT_EMIT,
    OUT_EMIT_SIDE, OUT_FORWARD, OUT_SET_TIMER, OUT_SET_VALUE,
};

/// Append a `u32`-length-prefixed byte string.
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// `[u32 len][bytes]...` for a list of elements.
pub fn join_length_prefixed(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(elements.iter().map(|e| e.len() + 4).sum());
    for element in elements {
        put_bytes(&mut out, element);
    }
    out
}

/// The elements of a `[u32 len][bytes]...` buffer.
pub fn split_length_prefixed(buf: &[u8]) -> Result<Vec<Vec<u8>>, LayoutError> {
    let mut reader = Reader::new(buf);
    let mut elements = Vec::new();
    while !reader.at_end() {
        elements.push(reader.bytes()?.to_vec());
    }
    Ok(elements)
}

fn domain_byte(domain: TimeDomain) -> u8 {
    match domain {
        TimeDomain::EventTime => DOMAIN_EVENT_TIME,
        TimeDomain::ProcessingTime => DOMAIN_PROCESSING_TIME,
    }
}

/// Builds one input batch in a reusable buffer.
#[derive(Debug, Default)]
pub struct BatchEncoder {
    buf: Vec<u8>,
    key_count_at: usize,
    key_count: u32,
    event_count_at: usize,
    event_count: u32,
}

impl BatchEncoder {
    /// Start a batch; keys, then events, follow.
    pub fn begin(&mut self, watermark: i64, processing_time: i64) {
        self.buf.clear();
        self.buf.push(LAYOUT_VERSION);
        self.buf.extend_from_slice(&watermark.to_le_bytes());
        self.buf.extend_from_slice(&processing_time.to_le_bytes());
        self.key_count_at = self.buf.len();
        self.key_count = 0;
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.event_count_at = usize::MAX;
        self.event_count = 0;
    }

    /// Add the next key of the key table with its value-state slots.
    pub fn key(&mut self, key: &[u8], value_slots: &[Option<Vec<u8>>]) {
        debug_assert_eq!(self.event_count_at, usize::MAX, "keys come before events");
        put_bytes(&mut self.buf, key);
        for slot in value_slots {
            match slot {
                Some(value) => put_bytes(&mut self.buf, value),
                None => self.buf.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
        self.key_count += 1;
    }

    fn start_events(&mut self) {
        if self.event_count_at == usize::MAX {
            self.event_count_at = self.buf.len();
            self.buf.extend_from_slice(&0u32.to_le_bytes());
        }
    }

    /// Add a record event.
    #[inline]
    pub fn record(&mut self, key_ref: u32, timestamp: i64, value: &[u8]) {
        self.tagged_record(EVENT_RECORD, key_ref, timestamp, value);
    }

    /// Add a record of a co-process function's second input.
    pub fn second_record(&mut self, key_ref: u32, timestamp: i64, value: &[u8]) {
        self.tagged_record(EVENT_RECORD_SECOND, key_ref, timestamp, value);
    }

    /// Add a record of a broadcast-process function's broadcast input (no key).
    pub fn broadcast_record(&mut self, timestamp: i64, value: &[u8]) {
        self.tagged_record(EVENT_RECORD_BROADCAST, NO_KEY, timestamp, value);
    }

    /// Add a fired window `[start, end)` with its elements (timestamp, value).
    pub fn window<'a>(
        &mut self,
        key_ref: u32,
        start: i64,
        end: i64,
        elements: impl ExactSizeIterator<Item = (i64, &'a [u8])>,
    ) {
        self.start_events();
        self.buf.push(EVENT_WINDOW);
        self.buf.extend_from_slice(&key_ref.to_le_bytes());
        self.buf.extend_from_slice(&start.to_le_bytes());
        self.buf.extend_from_slice(&end.to_le_bytes());
        self.buf
            .extend_from_slice(&(elements.len() as u32).to_le_bytes());
        for (timestamp, value) in elements {
            self.buf.extend_from_slice(&timestamp.to_le_bytes());
            put_bytes(&mut self.buf, value);
        }
        self.event_count += 1;
    }

    #[inline]
    fn tagged_record(&mut self, tag: u8, key_ref: u32, timestamp: i64, value: &[u8]) {
        self.start_events();
        self.buf.reserve(17 + value.len());
        self.buf.push(tag);
        self.buf.extend_from_slice(&key_ref.to_le_bytes());
        self.buf.extend_from_slice(&timestamp.to_le_bytes());
        put_bytes(&mut self.buf, value);
        self.event_count += 1;
    }

    /// Add a timer firing.
    pub fn timer(&mut self, key_ref: u32, timestamp: i64, domain: TimeDomain) {
        self.start_events();
        self.buf.push(EVENT_TIMER);
        self.buf.extend_from_slice(&key_ref.to_le_bytes());
        self.buf.extend_from_slice(&timestamp.to_le_bytes());
        self.buf.push(domain_byte(domain));
        self.event_count += 1;
    }

    /// The finished batch.
    pub fn finish(&mut self) -> &[u8] {
        self.start_events();
        let (k, e) = (self.key_count_at, self.event_count_at);
        self.buf[k..k + 4].copy_from_slice(&self.key_count.to_le_bytes());
        self.buf[e..e + 4].copy_from_slice(&self.event_count.to_le_bytes());
        &self.buf
    }

    /// Events added since `begin`.
    pub fn event_count(&self) -> u32 {
        self.event_count
    }
}

/// One entry of a guest's output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputEntry<'a> {
    Emit {
        event: u32,
        value: &'a [u8],
    },
    Forward {
        event: u32,
    },
    EmitSide {
        side_output: u32,
        event: u32,
        value: &'a [u8],
    },
    SetTimer {
        key: u32,
        domain: TimeDomain,
        timestamp: i64,
    },
    DeleteTimer {
        key: u32,
        domain: TimeDomain,
        timestamp: i64,
    },
    SetValue {
        state: u32,
        key: u32,
        value: &'a [u8],
    },
    ClearValue {
        state: u32,
        key: u32,
    },
}

/// A guest broke the layout; names the byte offset for whoever debugs the SDK.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("malformed buffer from guest at byte {offset}: {problem}")]
pub struct LayoutError {
    pub offset: usize,
    pub problem: String,
}

/// Reads little-endian fields from a buffer with bounds checks.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn error(&self, problem: impl Into<String>) -> LayoutError {
        LayoutError {
            offset: self.pos,
            problem: problem.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], LayoutError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        let end = end.ok_or_else(|| {
            self.error(format!(
                "needs {n} more bytes, {} left",
                self.buf.len() - self.pos
            ))
        })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, LayoutError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, LayoutError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn i64(&mut self) -> Result<i64, LayoutError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], LayoutError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn domain(&mut self) -> Result<TimeDomain, LayoutError> {
        match self.u8()? {
            DOMAIN_EVENT_TIME => Ok(TimeDomain::EventTime),
            DOMAIN_PROCESSING_TIME => Ok(TimeDomain::ProcessingTime),
            other => Err(self.error(format!("unknown time domain {other}"))),
        }
    }
}

/// Iterates over the entries of an output buffer.
pub struct OutputEntries<'a> {
    reader: Reader<'a>,
}

/// Decode an output buffer lazily.
pub fn output_entries(buf: &[u8]) -> OutputEntries<'_> {
    OutputEntries {
        reader: Reader::new(buf),
    }
}

impl<'a> OutputEntries<'a> {
    fn entry(&mut self) -> Result<OutputEntry<'a>, LayoutError> {
        let r = &mut self.reader;
        Ok(match r.u8()? {
            OUT_EMIT => OutputEntry::Emit {
                event: r.u32()?,
                value: r.bytes()?,
            },
            OUT_FORWARD => OutputEntry::Forward { event: r.u32()? },
            OUT_EMIT_SIDE => OutputEntry::EmitSide {
                side_output: r.u32()?,
                event: r.u32()?,
                value: r.bytes()?,
            },
            OUT_SET_TIMER => OutputEntry::SetTimer {
                key: r.u32()?,
                domain: r.domain()?,
                timestamp: r.i64()?,
            },
            OUT_DELETE_TIMER => OutputEntry::DeleteTimer {
                key: r.u32()?,
                domain: r.domain()?,
                timestamp: r.i64()?,
            },
            OUT_SET_VALUE => OutputEntry::SetValue {
                state: r.u32()?,
                key: r.u32()?,
                value: r.bytes()?,
            },
            OUT_CLEAR_VALUE => OutputEntry::ClearValue {
                state: r.u32()?,
                key: r.u32()?,
            },
            tag => {
                r.pos -= 1;
                return Err(r.error(format!("unknown output entry tag {tag}")));
            }
        })
    }
}

impl<'a> Iterator for OutputEntries<'a> {
    type Item = Result<OutputEntry<'a>, LayoutError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.at_end() {
            return None;
        }
        let entry = self.entry();
        if entry.is_err() {
            // Stop after the first error: the rest cannot be framed.
            self.reader.pos = self.reader.buf.len();
        }
        Some(entry)
    }
}

/// Encodes aggregate `add-batch` groups: accumulator plus inputs.
#[derive(Debug, Default)]
pub struct AggregateBatchEncoder {
    buf: Vec<u8>,
    groups: u32,
    inputs_at: usize,
    inputs: u32,
}

impl AggregateBatchEncoder {
    pub fn begin(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.groups = 0;
        self.inputs_at = usize::MAX;
    }

    /// Start a group with its current accumulator.
    pub fn group(&mut self, accumulator: &[u8]) {
        self.close_group();
        put_bytes(&mut self.buf, accumulator);
        self.inputs_at = self.buf.len();
        self.inputs = 0;
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.groups += 1;
    }

    /// Add an input to the open group.
    pub fn input(&mut self, timestamp: i64, value: &[u8]) {
        self.buf.extend_from_slice(&timestamp.to_le_bytes());
        put_bytes(&mut self.buf, value);
        self.inputs += 1;
    }

    fn close_group(&mut self) {
        if self.inputs_at != usize::MAX {
            let at = self.inputs_at;
            self.buf[at..at + 4].copy_from_slice(&self.inputs.to_le_bytes());
            self.inputs_at = usize::MAX;
        }
    }

    pub fn finish(&mut self) -> &[u8] {
        self.close_group();
        self.buf[0..4].copy_from_slice(&self.groups.to_le_bytes());
        &self.buf
    }
}

/// Encodes the fired windows of one `get-results` call.
#[derive(Debug, Default)]
pub struct WindowResultsEncoder {
    buf: Vec<u8>,
    count: u32,
}

impl WindowResultsEncoder {
    pub fn begin(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.count = 0;
    }

    /// Add a window `[start, end)` of `key` with its accumulator.
    pub fn window(&mut self, key: &[u8], start: i64, end: i64, accumulator: &[u8]) {
        put_bytes(&mut self.buf, key);
        self.buf.extend_from_slice(&start.to_le_bytes());
        self.buf.extend_from_slice(&end.to_le_bytes());
        put_bytes(&mut self.buf, accumulator);
        self.count += 1;
    }

    /// Whether no window was added since `begin`.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn finish(&mut self) -> &[u8] {
        self.buf[0..4].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_header_keys_and_events_follow_the_spec() {
        let mut encoder = BatchEncoder::default();
        encoder.begin(7, 9);
        encoder.key(b"k", &[Some(b"v".to_vec()), None]);
        encoder.record(0, 42, b"rec");
        encoder.timer(0, 50, TimeDomain::ProcessingTime);
        let buf = encoder.finish().to_vec();
        let mut expected = vec![1u8];
        expected.extend(7i64.to_le_bytes());
        expected.extend(9i64.to_le_bytes());
        expected.extend(1u32.to_le_bytes());
        expected.extend(1u32.to_le_bytes());
        expected.extend(b"k");
        expected.extend(1u32.to_le_bytes());
        expected.extend(b"v");
        expected.extend(u32::MAX.to_le_bytes());
        expected.extend(2u32.to_le_bytes());
        expected.push(0);
        expected.extend(0u32.to_le_bytes());
        expected.extend(42i64.to_le_bytes());
        expected.extend(3u32.to_le_bytes());
        expected.extend(b"rec");
        expected.push(1);
        expected.extend(0u32.to_le_bytes());
        expected.extend(50i64.to_le_bytes());
        expected.push(1);
        assert_eq!(buf, expected);
    }

    #[test]
    fn output_entries_decode_and_truncation_is_reported() {
        let mut buf = vec![OUT_FORWARD];
        buf.extend(3u32.to_le_bytes());
        buf.push(OUT_SET_TIMER);
        buf.extend(1u32.to_le_bytes());
        buf.push(0);
        buf.extend(99i64.to_le_bytes());
        buf.push(OUT_EMIT);
        buf.extend(0u32.to_le_bytes());
        buf.extend(10u32.to_le_bytes());
        buf.extend(b"short");
        let entries: Vec<_> = output_entries(&buf).collect();
        assert_eq!(entries[0], Ok(OutputEntry::Forward { event: 3 }));
        assert_eq!(
            entries[1],
            Ok(OutputEntry::SetTimer {
                key: 1,
                domain: TimeDomain::EventTime,
                timestamp: 99
            })
        );
        let error = entries[2].clone().unwrap_err();
        assert!(error.problem.contains("needs 10 more bytes"), "{error}");
        assert_eq!(entries.len(), 3);
    }

    #[test]
    fn length_prefixed_lists_round_trip() {
        let elements = vec![b"a".to_vec(), Vec::new(), b"ccc".to_vec()];
        let joined = join_length_prefixed(&elements);
        assert_eq!(split_length_prefixed(&joined).unwrap(), elements);
        assert!(split_length_prefixed(&joined[..joined.len() - 1]).is_err());
    }
}
