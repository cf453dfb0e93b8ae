//! `{{name}}`: a `map` function (one record in, one record out, Flink's
//! `MapFunction`). This one normalises the page of each click: lower case,
//! without the query string, so that `/Home?ref=ad` and `/home` count as
//! one page downstream.
//!
//! Records are JSON here (`Json<T>` decodes and encodes them with serde);
//! use `Vec<u8>` or `String` as `In`/`Out` for raw bytes or text.

use eddy_sdk::{Json, Map, OpenContext};
use serde::{Deserialize, Serialize};

/// A click as the source reads it (`data/clicks.jsonl`). Fields the function
/// does not name are dropped; add them here to keep them.
#[derive(Debug, Deserialize, Serialize)]
struct Click {
    user: String,
    page: String,
    ts: i64,
}

/// The function. Its fields live as long as the instance (one per parallel
/// subtask): configuration, caches. Keyed state belongs in a
/// `keyed-process` function instead.
struct NormalisePage;

impl Map for NormalisePage {
    type In = Json<Click>;
    type Out = Json<Click>;

    /// Runs once per instance, with the operator's `config` from the job
    /// file in `ctx.config()` (here: none).
    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(NormalisePage)
    }

    /// Returning `Err` fails the job with this message, naming the operator.
    fn map(&mut self, Json(mut click): Json<Click>) -> Result<Json<Click>, String> {
        let path = click.page.split('?').next().unwrap_or_default();
        click.page = path.to_lowercase();
        Ok(Json(click))
    }
}

// Makes the component export the `transform` world with this function.
eddy_sdk::export_map!(NormalisePage);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_map};

    #[test]
    fn pages_of_the_sample_are_normalised() {
        let clicks = include_str!("../data/clicks.jsonl");
        let output = run_map::<super::NormalisePage>("", &jsonl(clicks)).unwrap();
        assert_jsonl_eq(
            &output,
            r#"
            {"user":"alice","page":"/home","ts":1700000000000}
            {"user":"bob","page":"/products/42","ts":1700000005000}
            {"user":"alice","page":"/products/42","ts":1700000012000}
            {"user":"carol","page":"/home","ts":1700000030000}
            {"user":"alice","page":"/checkout","ts":1700000041000}
            {"user":"bob","page":"/products/7","ts":1700000059000}
            {"user":"bob","page":"/checkout","ts":1700000075000}
            {"user":"carol","page":"/products/42","ts":1700000090000}
            "#,
        );
    }
}
