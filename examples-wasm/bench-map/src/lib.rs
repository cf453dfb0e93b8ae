//! Benchmark map: `amount = amount * 3 + 7`, payload upper-cased, same length.

use bench_event::BinaryEvent;
use eddy_sdk::{Map, OpenContext};

struct BenchMap;

impl Map for BenchMap {
    type In = BinaryEvent;
    type Out = BinaryEvent;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(BenchMap)
    }

    fn map(&mut self, mut event: BinaryEvent) -> Result<BinaryEvent, String> {
        event.set_amount(event.amount().wrapping_mul(3).wrapping_add(7));
        event.payload_mut().make_ascii_uppercase();
        Ok(event)
    }
}

eddy_sdk::export_map!(BenchMap);
