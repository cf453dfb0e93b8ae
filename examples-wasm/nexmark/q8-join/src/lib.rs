//! Nexmark q8 (monitor new users): persons who registered and opened at
//! least one auction within the same 10 s tumbling window. Over the union of
//! `{"id","name"}` (persons) and `{"id"}` (an auction's seller), keyed by
//! `id`, in tumbling windows (in the job file): when a window holds a
//! person and at least one auction of theirs, `{"id","name","starttime"}`
//! with the window's start.
//!
//! The peer uses an aggregate (`Q8Agg`: the person's name and whether an
//! auction came) that emits only when both came; an eddy aggregate emits
//! exactly one result per window, so this is a window function over the
//! window's records, of which there are a handful per person and window.

use eddy_sdk::{Encode, Json, OpenContext, ProcessWindow, Window, WindowContext};
use nexmark_records::{Obj, key_i64};
use serde::Deserialize;

/// A person (with a name) or an auction by seller `id` (without).
#[derive(Deserialize)]
struct Q8In {
    name: Option<String>,
}

/// The result (the peer's `Q8Out`).
struct Q8Out {
    id: i64,
    name: String,
    starttime: i64,
}

impl Encode for Q8Out {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        Obj::new(out)
            .int("id", self.id)
            .str("name", &self.name)
            .int("starttime", self.starttime)
            .end();
        Ok(())
    }
}

struct Q8Join;

impl ProcessWindow for Q8Join {
    type In = Json<Q8In>;
    type Out = Q8Out;

    fn open(_: &mut OpenContext) -> Result<Self, String> {
        Ok(Q8Join)
    }

    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, Json<Q8In>)>,
        ctx: &mut WindowContext<'_, Q8Out>,
    ) -> Result<(), String> {
        // As `Q8Agg.add` in arrival order: the last person's name wins.
        let mut name = None;
        let mut auction = false;
        for (_, Json(record)) in elements {
            match record.name {
                Some(person) => name = Some(person),
                None => auction = true,
            }
        }
        if let (Some(name), true) = (name, auction) {
            ctx.emit(Q8Out {
                id: key_i64(window.key)?,
                name,
                starttime: window.start,
            });
        }
        Ok(())
    }
}

eddy_sdk::export_process_window!(Q8Join);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedJsonl, WindowHarness, Windows, sorted_lines};

    use super::Q8Join;

    #[test]
    fn a_person_with_an_auction_in_the_same_window() {
        // 1: person and auction in [0, 10s); 2: person only; 3: auction
        // only; 4: person in [0, 10s), auction in [10s, 20s); 5: auctions
        // before and after the person, in one window.
        let records = KeyedJsonl::parse(
            r#"
{"id":1,"name":"Ann \"A\"","t":1}
{"id":3,"t":2}
{"id":1,"t":3}
{"id":2,"name":"Bo","t":4}
{"id":4,"name":"Cy","t":9999}
{"id":5,"t":10001}
{"id":4,"t":10000}
{"id":5,"name":"Di","t":15000}
{"id":5,"t":19999}
"#,
            "id",
            "t",
        );
        for batch_size in [1, 3, 100] {
            let windows = Windows::Tumbling { size: 10_000 };
            let mut harness = WindowHarness::<Q8Join>::open("", windows).unwrap();
            let output = harness
                .run_with_watermarks(&records.records(), batch_size, 0)
                .unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"id":1,"name":"Ann \"A\"","starttime":0}"#,
                    r#"{"id":5,"name":"Di","starttime":10000}"#,
                ],
                "batch size {batch_size}"
            );
        }
    }
}
