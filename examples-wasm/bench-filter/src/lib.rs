//! Benchmark filter: keeps events whose amount is even.

use bench_event::Amount;
use eddy_sdk::{Filter, OpenContext};

struct EvenAmounts;

impl Filter for EvenAmounts {
    type In = Amount;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(EvenAmounts)
    }

    fn filter(&mut self, Amount(amount): Amount) -> Result<bool, String> {
        Ok(amount % 2 == 0)
    }
}

eddy_sdk::export_filter!(EvenAmounts);
