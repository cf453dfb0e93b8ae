//! The generator's binary event value, shared by the benchmark guests:
//!
//! ```text
//! u64 key LE | i64 ts LE | u64 amount LE | payload bytes (the rest, ASCII lowercase)
//! ```
//!
//! Benchmarks measure the boundary, not serde, so these guests read the bytes
//! in place.

use eddy_sdk::Decode;

const AMOUNT: std::ops::Range<usize> = 16..24;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 24;

/// A whole binary event, owned so a map can change it in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryEvent(pub Vec<u8>);

impl BinaryEvent {
    /// The `amount` field.
    pub fn amount(&self) -> u64 {
        read_amount(&self.0)
    }

    /// Replace the `amount` field.
    pub fn set_amount(&mut self, amount: u64) {
        self.0[AMOUNT].copy_from_slice(&amount.to_le_bytes());
    }

    /// The payload after the fixed fields.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.0[HEADER_LEN..]
    }
}

impl Decode for BinaryEvent {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        check_len(bytes)?;
        Ok(BinaryEvent(bytes.to_vec()))
    }
}

impl eddy_sdk::Encode for BinaryEvent {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// Only the `amount` of an event, read without copying the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub u64);

impl Decode for Amount {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        check_len(bytes)?;
        Ok(Amount(read_amount(bytes)))
    }
}

/// Any event, not even looked at (for functions that only count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyEvent;

impl Decode for AnyEvent {
    fn decode(_: &[u8]) -> Result<Self, String> {
        Ok(AnyEvent)
    }
}

fn read_amount(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[AMOUNT].try_into().expect("8 bytes"))
}

fn check_len(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "binary event is {} bytes, expected at least {HEADER_LEN} (key, ts, amount)",
            bytes.len()
        ));
    }
    Ok(())
}
