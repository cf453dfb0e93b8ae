//! The unit of data flowing between operators.

/// Timestamp of a record that has none (processing-time jobs).
pub use eddy_layout::NO_TIMESTAMP;

/// One record: opaque value bytes, its event time, and the key it was
/// partitioned by (set by a keyed exchange or by the connector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: Vec<u8>,
    /// Event time in ms since the Unix epoch, or [`NO_TIMESTAMP`].
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
}

impl Record {
    /// A record without key.
    pub fn new(value: Vec<u8>, timestamp: i64) -> Self {
        Record {
            value,
            timestamp,
            key: None,
        }
    }

    /// The timestamp, if the record has one.
    pub fn event_time(&self) -> Option<i64> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }
}
