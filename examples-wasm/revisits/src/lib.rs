//! Revisits: for every key, the number of times it has been seen and its
//! latest payload, in value state; a record whose key was seen before emits
//! the new count (8 bytes LE), a first visit emits nothing.
//!
//! With many distinct keys this is the shape of state that outgrows memory
//! (deduplication, "last value per key"): each key holds ~120 bytes, so 20
//! million keys are gigabytes of state. The larger-than-memory test runs it
//! on RocksDB with a small block cache.

use bench_event::{BinaryEvent, HEADER_LEN};
use eddy_sdk::{Context, KeyedProcess, OpenContext, ValueState};
use serde::{Deserialize, Serialize};

/// What a key keeps between its records.
#[derive(Serialize, Deserialize)]
struct Seen {
    visits: u64,
    /// The latest record's payload (ASCII), as a "last value" job keeps it.
    payload: String,
}

struct Revisits {
    seen: ValueState<Seen>,
}

impl KeyedProcess for Revisits {
    type In = BinaryEvent;
    type Out = [u8; 8];

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Revisits {
            seen: ctx.value_state("seen"),
        })
    }

    fn process(&mut self, event: BinaryEvent, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let visits = self.seen.value()?.map_or(0, |seen| seen.visits) + 1;
        let payload = String::from_utf8_lossy(&event.0[HEADER_LEN..]).into_owned();
        self.seen.update(&Seen { visits, payload })?;
        if visits > 1 {
            ctx.emit(visits.to_le_bytes());
        }
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(Revisits);
