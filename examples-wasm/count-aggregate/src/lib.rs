//! Aggregate that counts its inputs, whatever they are; the result is `{"count": n}`.

use eddy_sdk::{Aggregate, Json, OpenContext};
use serde::Serialize;

/// The result of one group.
#[derive(Serialize)]
struct Count {
    count: u64,
}

struct CountAggregate;

impl Aggregate for CountAggregate {
    type In = Vec<u8>;
    type Acc = u64;
    type Out = Json<Count>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(CountAggregate)
    }

    fn create_accumulator(&self) -> u64 {
        0
    }

    fn add(&self, count: &mut u64, _: Vec<u8>) {
        *count += 1;
    }

    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }

    fn get_result(&self, count: &u64) -> Json<Count> {
        Json(Count { count: *count })
    }
}

eddy_sdk::export_aggregate!(CountAggregate);
