//! `{{name}}`: a `flat-map` function (one record in, any number out,
//! Flink's `FlatMapFunction`). This one splits the page of each click into
//! its path segments, one record per segment: `/products/42?ref=ad` gives
//! `products` and `42`.

use eddy_sdk::{Collector, FlatMap, Json, OpenContext};
use serde::{Deserialize, Serialize};

/// The fields of a click the function reads.
#[derive(Debug, Deserialize)]
struct Click {
    user: String,
    page: String,
}

/// One output record.
#[derive(Debug, Serialize)]
struct Segment {
    user: String,
    segment: String,
}

struct PageSegments;

impl FlatMap for PageSegments {
    type In = Json<Click>;
    type Out = Json<Segment>;

    /// Runs once per instance, with the operator's `config` in `ctx.config()`.
    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(PageSegments)
    }

    /// Emit zero or more records with `out.emit(..)`.
    fn flat_map(
        &mut self,
        Json(click): Json<Click>,
        out: &mut Collector<'_, Json<Segment>>,
    ) -> Result<(), String> {
        let path = click.page.split('?').next().unwrap_or_default();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            out.emit(Json(Segment {
                user: click.user.clone(),
                segment: segment.to_owned(),
            }));
        }
        Ok(())
    }
}

// Makes the component export the `transform` world with this function.
eddy_sdk::export_flat_map!(PageSegments);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_flat_map};

    #[test]
    fn every_segment_of_the_sample_pages_is_a_record() {
        let clicks = include_str!("../data/clicks.jsonl");
        let output = run_flat_map::<super::PageSegments>("", &jsonl(clicks)).unwrap();
        assert_jsonl_eq(
            &output,
            r#"
            {"user":"alice","segment":"home"}
            {"user":"bob","segment":"products"}
            {"user":"bob","segment":"42"}
            {"user":"alice","segment":"products"}
            {"user":"alice","segment":"42"}
            {"user":"carol","segment":"Home"}
            {"user":"alice","segment":"checkout"}
            {"user":"bob","segment":"products"}
            {"user":"bob","segment":"7"}
            {"user":"bob","segment":"checkout"}
            {"user":"carol","segment":"products"}
            {"user":"carol","segment":"42"}
            "#,
        );
    }
}
