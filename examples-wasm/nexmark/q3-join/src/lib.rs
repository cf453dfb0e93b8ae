//! Nexmark q3 (local item suggestion), the peer's `Q3Join`: an unwindowed
//! inner join of auctions of category 10 (first input, `{"seller","id"}`
//! keyed by `seller`) with their sellers among the persons of OR, ID or CA
//! (second input, `{"id","name","city","state"}` keyed by `id`); result
//! `{"name","city","state","id"}` with the auction's id.
//!
//! Person ids are unique, so a person arrives at most once: an auction whose
//! seller is known joins at once, otherwise its id waits in `pending-auctions`
//! until the person arrives (and forever if the person is not from one of
//! the three states, as in an inner join). The peer's deviation from the SQL,
//! shared here: the person is kept, auctions only until their seller arrives.

use eddy_sdk::{CoProcess, Context, Encode, Json, ListState, OpenContext, ValueState};
use nexmark_records::Obj;
use serde::{Deserialize, Serialize};

/// An auction of category 10; its seller is the key.
#[derive(Deserialize)]
struct Auction {
    id: i64,
}

/// A person of OR, ID or CA (`id`, the key, is not needed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Person {
    name: String,
    city: String,
    state: String,
}

/// The result: a person with one of their auctions, written as the peer's
/// `Q3Out.json`.
struct Q3Out {
    person: Person,
    id: i64,
}

impl Encode for Q3Out {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let p = &self.person;
        Obj::new(out)
            .str("name", &p.name)
            .str("city", &p.city)
            .str("state", &p.state)
            .int("id", self.id)
            .end();
        Ok(())
    }
}

struct Q3Join {
    person: ValueState<Person>,
    pending: ListState<i64>,
}

impl CoProcess for Q3Join {
    type In1 = Json<Auction>;
    type In2 = Json<Person>;
    type Out = Q3Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Q3Join {
            person: ctx.value_state("person"),
            pending: ctx.list_state("pending-auctions"),
        })
    }

    fn process_element1(
        &mut self,
        Json(auction): Json<Auction>,
        ctx: &mut Context<'_, Q3Out>,
    ) -> Result<(), String> {
        match self.person.value()? {
            None => self.pending.add(&auction.id),
            Some(person) => {
                ctx.emit(Q3Out {
                    person,
                    id: auction.id,
                });
                Ok(())
            }
        }
    }

    fn process_element2(
        &mut self,
        Json(person): Json<Person>,
        ctx: &mut Context<'_, Q3Out>,
    ) -> Result<(), String> {
        self.person.update(&person)?;
        let ids = self.pending.get()?;
        for &id in &ids {
            ctx.emit(Q3Out {
                person: person.clone(),
                id,
            });
        }
        if !ids.is_empty() {
            self.pending.clear()?;
        }
        Ok(())
    }
}

eddy_sdk::export_co_process!(Q3Join);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{CoProcessHarness, Input, KeyedJsonl, interleavings, sorted_lines};

    use super::Q3Join;

    const AUCTIONS: &str = r#"
{"seller":1,"id":100,"t":0}
{"seller":2,"id":101,"t":1}
{"seller":1,"id":102,"t":5}
{"seller":3,"id":103,"t":6}
"#;
    const PERSONS: &str = r#"
{"id":1,"name":"Ann \"A\" Lee","city":"Boise","state":"ID","t":2}
{"id":2,"name":"Bo","city":"Bend","state":"OR","t":9}
"#;

    #[test]
    fn auctions_join_their_seller_whichever_comes_first() {
        let auctions = KeyedJsonl::parse(AUCTIONS, "seller", "t");
        let persons = KeyedJsonl::parse(PERSONS, "id", "t");
        let (auctions, persons) = (auctions.input(Input::First), persons.input(Input::Second));
        for (name, records) in interleavings(&auctions, &persons) {
            for batch_size in [1, 2, 100] {
                let mut harness = CoProcessHarness::<Q3Join>::open("").unwrap();
                let output = harness
                    .run_with_watermarks(&records, batch_size, 0)
                    .unwrap();
                assert_eq!(
                    sorted_lines(&output, None),
                    [
                        r#"{"name":"Ann \"A\" Lee","city":"Boise","state":"ID","id":100}"#,
                        r#"{"name":"Ann \"A\" Lee","city":"Boise","state":"ID","id":102}"#,
                        r#"{"name":"Bo","city":"Bend","state":"OR","id":101}"#,
                    ],
                    "{name}, batch size {batch_size}"
                );
            }
        }
    }

    #[test]
    fn a_pending_auction_is_emitted_once() {
        let mut harness = CoProcessHarness::<Q3Join>::open("").unwrap();
        let auction: &[u8] = br#"{"seller":1,"id":100}"#;
        let person: &[u8] = br#"{"id":1,"name":"A","city":"C","state":"CA"}"#;
        assert!(
            harness
                .process(&[(Input::First, b"1", 0, auction)])
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            harness
                .process(&[(Input::Second, b"1", 1, person)])
                .unwrap()
                .len(),
            1
        );
        // The person came again (never in Nexmark): the auction is not pending any more.
        assert!(
            harness
                .process(&[(Input::Second, b"1", 2, person)])
                .unwrap()
                .is_empty()
        );
    }
}
