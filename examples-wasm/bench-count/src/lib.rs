//! Benchmark keyed count: value state `count`, emits the new count as 8 bytes LE.

use bench_event::AnyEvent;
use eddy_sdk::{Context, KeyedProcess, OpenContext, ValueState};

struct CountPerKey {
    /// Stored as a JSON number, like every state value.
    count: ValueState<u64>,
}

impl KeyedProcess for CountPerKey {
    type In = AnyEvent;
    type Out = [u8; 8];

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(CountPerKey {
            count: ctx.value_state("count"),
        })
    }

    fn process(&mut self, _: AnyEvent, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let count = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&count)?;
        ctx.emit(count.to_le_bytes());
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(CountPerKey);
