//! The unit of data flowing between operators.

/// Timestamp of a record that has none (processing-time jobs).
pub use eddy_layout::NO_TIMESTAMP;

use crate::time::watermark::NO_WATERMARK;

/// One record: opaque value bytes, its event time, the key it was
/// partitioned by (set by a keyed exchange or by the connector), and the
/// watermark of its stream just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: Vec<u8>,
    /// Event time in ms since the Unix epoch, or [`NO_TIMESTAMP`].
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    /// The watermark of the stream this record travels in, as it stood just
    /// before the record ([`NO_WATERMARK`] when none is known yet).
    ///
    /// Batches are only transport: a source advances its watermark after
    /// every record, and this field carries that progress inside a batch, so
    /// an operator judges each record (late or not, timers due first) by the
    /// watermark it would have met had records travelled one by one. Across
    /// a channel it is the producer's watermark; an inbox task turns it into
    /// its own (the minimum over its inputs) before its chain sees it.
    pub watermark: i64,
}

impl Record {
    /// A record without key.
    pub fn new(value: Vec<u8>, timestamp: i64) -> Self {
        Record {
            value,
            timestamp,
            key: None,
            watermark: NO_WATERMARK,
        }
    }

    /// A record without key, at `watermark` of its stream.
    pub fn at_watermark(value: Vec<u8>, timestamp: i64, watermark: i64) -> Self {
        Record {
            watermark,
            ..Record::new(value, timestamp)
        }
    }

    /// The timestamp, if the record has one.
    pub fn event_time(&self) -> Option<i64> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }
}
