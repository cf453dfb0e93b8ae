//! The host's half of the byte layout (input encoder, output decoder),
//! written from `wit/README.md` independently of the SDK's half so that each
//! checks the other.

use crate::layout::{ABSENT, LAYOUT_VERSION, Reader, TimeDomain, put_bytes};

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

    fn event_head(&mut self, tag: u8, key_ref: u32, timestamp: i64) {
        self.events.push(tag);
        self.events.extend_from_slice(&key_ref.to_le_bytes());
        self.events.extend_from_slice(&timestamp.to_le_bytes());
        self.event_count += 1;
    }

    pub fn record(mut self, key_ref: u32, timestamp: i64, value: &[u8]) -> Self {
        self.event_head(0, key_ref, timestamp);
        put_bytes(&mut self.events, value);
        self
    }

    pub fn timer(mut self, key_ref: u32, timestamp: i64, domain: TimeDomain) -> Self {
        self.event_head(1, key_ref, timestamp);
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
