//! Nexmark q4 (average closing price per category), second step: the peer's
//! `Q4Avg`. Keyed by `category`, over the winners `{"auction","category",
//! "price"}` of `nexmark-q4-winners`: the running sum and count of the
//! winning prices, and per winner the category's new average
//! `{"category","avg"}` with `avg = sum / count` in integers (Flink SQL's
//! AVG on BIGINT). The last update of a category is the query's result.

use eddy_sdk::{Context, Decode, Encode, KeyedProcess, OpenContext, ValueState};
use nexmark_records::{Obj, read_ints};

/// A closed auction's winning price, as `nexmark-q4-winners` writes it.
struct Winner {
    category: i64,
    price: i64,
}

impl Decode for Winner {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let [category, price] = read_ints(bytes, ["category", "price"])?;
        Ok(Winner { category, price })
    }
}

struct Average {
    category: i64,
    avg: i64,
}

impl Encode for Average {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        Obj::new(out)
            .int("category", self.category)
            .int("avg", self.avg)
            .end();
        Ok(())
    }
}

struct Q4Average {
    /// `[sum, count]` of the category's winning prices.
    sum_count: ValueState<[i64; 2]>,
}

impl KeyedProcess for Q4Average {
    type In = Winner;
    type Out = Average;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Q4Average {
            sum_count: ctx.value_state("sum-count"),
        })
    }

    fn process(&mut self, w: Winner, ctx: &mut Context<'_, Average>) -> Result<(), String> {
        let [sum, count] = self.sum_count.value()?.unwrap_or([0, 0]);
        let (sum, count) = (sum + w.price, count + 1);
        self.sum_count.update(&[sum, count])?;
        ctx.emit(Average {
            category: w.category,
            avg: sum / count,
        });
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(Q4Average);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, KeyedJsonl};

    use super::Q4Average;

    #[test]
    fn running_integer_average_per_category() {
        let winners = KeyedJsonl::parse(
            r#"
{"auction":1,"category":10,"price":5,"t":0}
{"auction":2,"category":11,"price":100,"t":1}
{"auction":3,"category":10,"price":6,"t":2}
{"auction":4,"category":10,"price":10,"t":3}
"#,
            "category",
            "t",
        );
        for batch_size in [1, 10] {
            let mut harness = KeyedHarness::<Q4Average>::open("").unwrap();
            let output = harness
                .run_with_watermarks(&winners.records(), batch_size, 0)
                .unwrap();
            let lines: Vec<_> = output
                .iter()
                .map(|o| String::from_utf8(o.value.clone()).unwrap())
                .collect();
            assert_eq!(
                lines,
                [
                    r#"{"category":10,"avg":5}"#,
                    r#"{"category":11,"avg":100}"#,
                    r#"{"category":10,"avg":5}"#,
                    r#"{"category":10,"avg":7}"#,
                ]
            );
        }
    }
}
