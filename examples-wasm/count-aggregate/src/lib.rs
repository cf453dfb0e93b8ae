//! Test guest: a window aggregate that counts its inputs, whatever they are;
//! the result is `{"key", "start", "end", "count"}` with the key as text
//! (lossy UTF-8) and the window's bounds.

use eddy_sdk::{Aggregate, Json, OpenContext, Window};
use serde::Serialize;

/// The result of one window.
#[derive(Serialize)]
struct Count {
    key: String,
    start: i64,
    end: i64,
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

    fn get_result(&self, count: &u64, window: &Window<'_>) -> Json<Count> {
        Json(Count {
            key: String::from_utf8_lossy(window.key).into_owned(),
            start: window.start,
            end: window.end,
            count: *count,
        })
    }
}

eddy_sdk::export_aggregate!(CountAggregate);
