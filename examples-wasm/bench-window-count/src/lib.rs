//! Benchmark window aggregate: counts inputs without looking at them; the
//! accumulator is a `u64` (a JSON number, like every accumulator) and the
//! result the count as 8 bytes LE, so the benchmark measures windowing and
//! the boundary rather than serde.

use bench_event::AnyEvent;
use eddy_sdk::{Aggregate, OpenContext, Window};

struct WindowCount;

impl Aggregate for WindowCount {
    type In = AnyEvent;
    type Acc = u64;
    type Out = [u8; 8];

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(WindowCount)
    }

    fn create_accumulator(&self) -> u64 {
        0
    }

    fn add(&self, count: &mut u64, _: AnyEvent) {
        *count += 1;
    }

    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }

    fn get_result(&self, count: &u64, _: &Window<'_>) -> [u8; 8] {
        count.to_le_bytes()
    }
}

eddy_sdk::export_aggregate!(WindowCount);
