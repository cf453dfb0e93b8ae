//! Dead letters: records set aside, with why, as the JSON lines a
//! dead-letter sink receives. Sources set aside records they cannot decode
//! (`dead_letter` of a source); operators, records their guest fails on
//! (`on_failure = "dead-letter"`). Both write letters of one shape, built
//! here, so a sink that takes both can be read the same way.

use serde_json::{Map, Value, json};

use super::record::Record;
use crate::wasm::GuestFailure;

/// Where a record was set aside, and what is known there about it.
#[derive(Debug)]
pub enum LetterOrigin<'a> {
    /// A source could not decode the record.
    Source {
        name: &'a str,
        /// The reader's input (`file in.jsonl`).
        origin: String,
        /// The record's position in that input (`line 3 (byte 120)`).
        position: String,
    },
    /// An operator's guest failed on the record.
    Operator {
        uid: &'a str,
        /// 1-based, as in messages.
        subtask: u32,
        failure: &'a GuestFailure,
    },
}

/// One record set aside.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub origin: LetterOrigin<'a>,
    /// Why, in words (the failure as the job's error would show it).
    pub reason: String,
    /// The record's value as it came, shown as text (lossily if not UTF-8).
    pub record: &'a [u8],
    /// The record's event time, if it has one.
    pub timestamp: Option<i64>,
}

impl DeadLetter<'_> {
    /// The letter as a JSON object: the origin's fields (`source`,
    /// `origin`, `position`, or `operator`, `subtask`, `failure`,
    /// `message`), `reason`, `timestamp` when known, and `record`.
    pub fn to_json(&self) -> Value {
        let mut letter = Map::new();
        match &self.origin {
            LetterOrigin::Source {
                name,
                origin,
                position,
            } => {
                letter.insert("source".into(), json!(name));
                letter.insert("origin".into(), json!(origin));
                letter.insert("position".into(), json!(position));
            }
            LetterOrigin::Operator {
                uid,
                subtask,
                failure,
            } => {
                letter.insert("operator".into(), json!(uid));
                letter.insert("subtask".into(), json!(subtask));
                let kind = failure.input_failure().map(|kind| kind.as_str());
                letter.insert("failure".into(), json!(kind));
                letter.insert("message".into(), json!(failure.guest_message()));
            }
        }
        letter.insert("reason".into(), json!(self.reason));
        if let Some(timestamp) = self.timestamp {
            letter.insert("timestamp".into(), json!(timestamp));
        }
        letter.insert("record".into(), json!(String::from_utf8_lossy(self.record)));
        Value::Object(letter)
    }

    /// The letter as a record for the dead-letter sink (one JSON line,
    /// without event time: it is not an event of the job).
    pub fn into_record(self) -> Record {
        Record::new(
            self.to_json().to_string().into_bytes(),
            super::record::NO_TIMESTAMP,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_letter_names_operator_failure_and_record() {
        let failure = GuestFailure::Panic {
            message: "panicked at src/lib.rs:3:5:\nbad".into(),
            event: Some(0),
        };
        let letter = DeadLetter {
            origin: LetterOrigin::Operator {
                uid: "op",
                subtask: 2,
                failure: &failure,
            },
            reason: failure.to_string(),
            record: br#"{"id":1}"#,
            timestamp: Some(7),
        };
        assert_eq!(
            letter.to_json(),
            json!({
                "operator": "op",
                "subtask": 2,
                "failure": "panic",
                "message": "panicked at src/lib.rs:3:5:\nbad",
                "reason": "guest panicked: panicked at src/lib.rs:3:5:\nbad",
                "timestamp": 7,
                "record": "{\"id\":1}",
            })
        );
    }

    #[test]
    fn source_letter_keeps_its_fields() {
        let letter = DeadLetter {
            origin: LetterOrigin::Source {
                name: "src",
                origin: "file in.jsonl".into(),
                position: "line 2".into(),
            },
            reason: "not valid JSON".into(),
            record: b"{",
            timestamp: None,
        };
        assert_eq!(
            letter.to_json(),
            json!({
                "source": "src",
                "origin": "file in.jsonl",
                "position": "line 2",
                "reason": "not valid JSON",
                "record": "{",
            })
        );
    }
}
