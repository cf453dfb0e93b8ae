//! Word count, step 2 (keyed process, keyed by `word`): counts each word in
//! value state and emits `{"word": w, "count": n}` on every update.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, ValueState};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Word {
    word: String,
}

#[derive(Serialize)]
struct WordCount {
    word: String,
    count: u64,
}

struct CountWords {
    count: ValueState<u64>,
}

impl KeyedProcess for CountWords {
    type In = Json<Word>;
    type Out = Json<WordCount>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(CountWords {
            count: ctx.value_state("count"),
        })
    }

    fn process(
        &mut self,
        Json(input): Json<Word>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let count = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&count)?;
        ctx.emit(Json(WordCount {
            word: input.word,
            count,
        }));
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(CountWords);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq, jsonl};

    #[test]
    fn sample_words_give_the_expected_counts() {
        let words = jsonl(include_str!("../../data/expected-words.jsonl"));
        let keys: Vec<String> = words
            .iter()
            .map(|word| {
                serde_json::from_slice::<serde_json::Value>(word).unwrap()["word"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let records: Vec<_> = (0..)
            .zip(keys.iter().zip(&words))
            .map(|(ts, (key, word))| (key.as_bytes(), ts, *word))
            .collect();
        let mut harness = KeyedHarness::<super::CountWords>::open("").unwrap();
        let output = harness.run_with_watermarks(&records, 16, 0).unwrap();
        let values: Vec<_> = output.into_iter().map(|output| output.value).collect();
        assert_jsonl_eq(&values, include_str!("../../data/expected-counts.jsonl"));
    }
}
