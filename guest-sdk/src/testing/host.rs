//! The host's half of the byte layout (input encoder, output decoder),
//! written from `wit/README.md` independently of the SDK's half so that each
//! checks the other.

use crate::layout::{ABSENT, LAYOUT_VERSION, NO_KEY, Reader, TimeDomain, put_bytes};

/// Input event tags, spelled out here rather than taken from `eddy-layout`
/// so that a wrong constant there shows up as a failing test.
const RECORD: u8 = 0;
const TIMER: u8 = 1;
const SECOND_RECORD: u8 = 2;
const WINDOW: u8 = 3;
const BROADCAST_RECORD: u8 = 4;

/// Builds one input batch: keys first, then events.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    header: Vec<u8>,
    keys: Vec<u8>,
    key_count: u32,
    events: Vec<u8>,
    event_count: u32,
}

impl BatchBuilder {
    pub fn new(watermark: i64, processing_time: i64) -> Self {
        let mut header = vec![LAYOUT_VERSION];
        header.extend_from_slice(&watermark.to_le_bytes());
        header.extend_from_slice(&processing_time.to_le_bytes());
        BatchBuilder {
            header,
            keys: Vec::new(),
            key_count: 0,
            events: Vec::new(),
            event_count: 0,
        }
    }

    /// Add a key table entry with its value-state slots.
    pub fn key(mut self, key: &[u8], slots: &[Option<&[u8]>]) -> Self {
        put_bytes(&mut self.keys, key);
        for slot in slots {
            match slot {
                Some(value) => put_bytes(&mut self.keys, value),
                None => self.keys.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
        self.key_count += 1;
        self
    }

    /// Tag, key ref and the first `i64` (a timestamp or a window's start).
    fn event_head(&mut self, tag: u8, key_ref: u32, time: i64) {
        self.events.push(tag);
        self.events.extend_from_slice(&key_ref.to_le_bytes());
        self.events.extend_from_slice(&time.to_le_bytes());
        self.event_count += 1;
    }

    /// An event with a value: `tag, key ref, timestamp, bytes value`.
    fn valued(mut self, tag: u8, key_ref: u32, timestamp: i64, value: &[u8]) -> Self {
        self.event_head(tag, key_ref, timestamp);
        put_bytes(&mut self.events, value);
        self
    }

    pub fn record(self, key_ref: u32, timestamp: i64, value: &[u8]) -> Self {
        self.valued(RECORD, key_ref, timestamp, value)
    }

    /// A record of a co-process function's second input.
    pub fn second_record(self, key_ref: u32, timestamp: i64, value: &[u8]) -> Self {
        self.valued(SECOND_RECORD, key_ref, timestamp, value)
    }

    /// A record of a broadcast-process function's broadcast input (no key).
    pub fn broadcast_record(self, timestamp: i64, value: &[u8]) -> Self {
        self.valued(BROADCAST_RECORD, NO_KEY, timestamp, value)
    }

    /// A fired window `[start, end)` with its `(timestamp, value)` elements.
    pub fn window<V: AsRef<[u8]>>(
        mut self,
        key_ref: u32,
        start: i64,
        end: i64,
        elements: &[(i64, V)],
    ) -> Self {
        self.event_head(WINDOW, key_ref, start);
        self.events.extend_from_slice(&end.to_le_bytes());
        put_timestamped(&mut self.events, elements);
        self
    }

    pub fn timer(mut self, key_ref: u32, timestamp: i64, domain: TimeDomain) -> Self {
        self.event_head(TIMER, key_ref, timestamp);
        self.events.push(match domain {
            TimeDomain::EventTime => 0,
            TimeDomain::ProcessingTime => 1,
        });
        self
    }

    pub fn build(self) -> Vec<u8> {
        let mut batch = self.header;
        batch.extend_from_slice(&self.key_count.to_le_bytes());
        batch.extend_from_slice(&self.keys);
        batch.extend_from_slice(&self.event_count.to_le_bytes());
        batch.extend_from_slice(&self.events);
        batch
    }
}

/// One entry of an output buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutputEntry {
    Emit {
        event: u32,
        value: Vec<u8>,
    },
    Forward {
        event: u32,
    },
    EmitSide {
        side_output: u32,
        event: u32,
        value: Vec<u8>,
    },
    SetTimer {
        key_ref: u32,
        domain: TimeDomain,
        timestamp: i64,
    },
    DeleteTimer {
        key_ref: u32,
        domain: TimeDomain,
        timestamp: i64,
    },
    SetValue {
        state: u32,
        key_ref: u32,
        value: Vec<u8>,
    },
    ClearValue {
        state: u32,
        key_ref: u32,
    },
}

/// Every entry of an output buffer; panics on a malformed one.
pub(crate) fn decode_output(buf: &[u8]) -> Vec<OutputEntry> {
    let mut reader = Reader::new(buf);
    let mut entries = Vec::new();
    let domain = |byte: u8| match byte {
        0 => TimeDomain::EventTime,
        1 => TimeDomain::ProcessingTime,
        other => panic!("unknown time domain {other}"),
    };
    while !reader.at_end() {
        let tag = reader.u8().expect("tag");
        let entry = match tag {
            0 => OutputEntry::Emit {
                event: reader.u32().unwrap(),
                value: reader.bytes().unwrap().to_vec(),
            },
            1 => OutputEntry::Forward {
                event: reader.u32().unwrap(),
            },
            2 => OutputEntry::EmitSide {
                side_output: reader.u32().unwrap(),
                event: reader.u32().unwrap(),
                value: reader.bytes().unwrap().to_vec(),
            },
            3 | 4 => {
                let key_ref = reader.u32().unwrap();
                let domain = domain(reader.u8().unwrap());
                let timestamp = reader.i64().unwrap();
                if tag == 3 {
                    OutputEntry::SetTimer {
                        key_ref,
                        domain,
                        timestamp,
                    }
                } else {
                    OutputEntry::DeleteTimer {
                        key_ref,
                        domain,
                        timestamp,
                    }
                }
            }
            5 => OutputEntry::SetValue {
                state: reader.u32().unwrap(),
                key_ref: reader.u32().unwrap(),
                value: reader.bytes().unwrap().to_vec(),
            },
            6 => OutputEntry::ClearValue {
                state: reader.u32().unwrap(),
                key_ref: reader.u32().unwrap(),
            },
            other => panic!("unknown output tag {other}"),
        };
        entries.push(entry);
    }
    entries
}

/// A `get-results` input: `u32 count, count × (bytes key, i64 start, i64 end, bytes accumulator)`.
pub(crate) fn get_results_input<K: AsRef<[u8]>, A: AsRef<[u8]>>(
    windows: &[(K, i64, i64, A)],
) -> Vec<u8> {
    let count = u32::try_from(windows.len()).expect("fewer than 2^32 windows");
    let mut out = count.to_le_bytes().to_vec();
    for (key, start, end, accumulator) in windows {
        put_bytes(&mut out, key.as_ref());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&end.to_le_bytes());
        put_bytes(&mut out, accumulator.as_ref());
    }
    out
}

/// An `add-batch` input: `u32 G, G × (bytes accumulator, u32 M, M × (i64 timestamp, bytes value))`.
pub(crate) fn add_batch_input<A: AsRef<[u8]>, V: AsRef<[u8]>>(
    groups: &[(A, &[(i64, V)])],
) -> Vec<u8> {
    let count = u32::try_from(groups.len()).expect("fewer than 2^32 groups");
    let mut out = count.to_le_bytes().to_vec();
    for (accumulator, values) in groups {
        put_bytes(&mut out, accumulator.as_ref());
        put_timestamped(&mut out, values);
    }
    out
}

/// `u32 M, M × (i64 timestamp, bytes value)`: window elements and group inputs.
fn put_timestamped<V: AsRef<[u8]>>(out: &mut Vec<u8>, values: &[(i64, V)]) {
    let count = u32::try_from(values.len()).expect("fewer than 2^32 values");
    out.extend_from_slice(&count.to_le_bytes());
    for (timestamp, value) in values {
        out.extend_from_slice(&timestamp.to_le_bytes());
        put_bytes(out, value.as_ref());
    }
}
