//! Word count, step 1 (flat-map): `{"line": "..."}` in, one `{"word": "..."}`
//! out per word, lowercased. Words are runs of alphanumeric characters.

use eddy_sdk::{Collector, FlatMap, Json, OpenContext};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Line {
    line: String,
}

#[derive(Serialize)]
struct Word {
    word: String,
}

struct SplitWords;

impl FlatMap for SplitWords {
    type In = Json<Line>;
    type Out = Json<Word>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(SplitWords)
    }

    fn flat_map(
        &mut self,
        Json(input): Json<Line>,
        out: &mut Collector<Self::Out>,
    ) -> Result<(), String> {
        for word in input.line.split(|c: char| !c.is_alphanumeric()) {
            if !word.is_empty() {
                out.emit(Json(Word {
                    word: word.to_lowercase(),
                }));
            }
        }
        Ok(())
    }
}

eddy_sdk::export_flat_map!(SplitWords);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_flat_map};

    #[test]
    fn sample_lines_split_into_the_expected_words() {
        let lines = include_str!("../../data/lines.jsonl");
        let words = run_flat_map::<super::SplitWords>("", &jsonl(lines)).unwrap();
        assert_jsonl_eq(&words, include_str!("../../data/expected-words.jsonl"));
    }
}
