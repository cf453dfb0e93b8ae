//! User sessions: visits of a user belong to one session until the user is
//! inactive for 30 minutes (event-time session windows, keyed by `user`).
//!
//! An incremental aggregate whose accumulator is the session's visit count
//! and first and last visit time. Session windows merge whenever a visit
//! overlaps or touches two of them (possibly a visit that arrives out of
//! order and bridges two sessions seen so far), so `merge` combines two
//! accumulators into the merged session's.

use eddy_sdk::{Aggregate, Json, OpenContext, Window};
use serde::{Deserialize, Serialize};

/// A visit; the user is the key.
#[derive(Deserialize)]
struct Visit {
    ts: i64,
}

/// What a session has seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Activity {
    count: u64,
    /// Earliest visit (`i64::MAX` while empty).
    first_ts: i64,
    /// Latest visit (`i64::MIN` while empty).
    last_ts: i64,
}

/// One finished session.
#[derive(Serialize)]
struct Session {
    user: String,
    session_start: i64,
    session_end: i64,
    events: u64,
    duration_ms: i64,
}

struct Sessions;

impl Aggregate for Sessions {
    type In = Json<Visit>;
    type Acc = Activity;
    type Out = Json<Session>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Sessions)
    }

    fn create_accumulator(&self) -> Activity {
        Activity {
            count: 0,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
        }
    }

    fn add(&self, activity: &mut Activity, Json(visit): Json<Visit>) {
        activity.count += 1;
        activity.first_ts = activity.first_ts.min(visit.ts);
        activity.last_ts = activity.last_ts.max(visit.ts);
    }

    fn merge(&self, a: Activity, b: Activity) -> Activity {
        Activity {
            count: a.count + b.count,
            first_ts: a.first_ts.min(b.first_ts),
            last_ts: a.last_ts.max(b.last_ts),
        }
    }

    fn get_result(&self, activity: &Activity, window: &Window<'_>) -> Json<Session> {
        Json(Session {
            // `get_result` cannot fail; keys of `key_by = { field = "user" }` are text.
            user: String::from_utf8_lossy(window.key).into_owned(),
            session_start: window.start,
            session_end: window.end,
            events: activity.count,
            duration_ms: activity.last_ts.saturating_sub(activity.first_ts).max(0),
        })
    }
}

eddy_sdk::export_aggregate!(Sessions);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Windows, sorted_lines};
    use eddy_sdk::{Aggregate, Json, Window};

    use super::{Activity, Sessions, Visit};

    const GAP: i64 = 30 * 60_000;
    const WINDOWS: Windows = Windows::Session { gap: GAP };

    /// Sorted output lines for the visits of `text` keyed by user.
    fn run(text: &str, batch_size: usize) -> Vec<String> {
        let visits = KeyedJsonl::parse(text, "user", "ts");
        let mut harness = AggregateHarness::<Sessions>::open("", WINDOWS).unwrap();
        let output = harness
            .run_with_watermarks(&visits.records(), batch_size, 5_000)
            .unwrap();
        assert!(sorted_lines(&output, Some("late")).is_empty());
        sorted_lines(&output, None)
    }

    #[test]
    fn sample_visits_give_the_expected_sessions() {
        let expected: Vec<&str> = include_str!("../data/expected-sessions.jsonl")
            .lines()
            .collect();
        for batch_size in [1, 3, 100] {
            let lines = run(include_str!("../data/visits.jsonl"), batch_size);
            assert_eq!(lines, expected, "batch size {batch_size}");
        }
    }

    #[test]
    fn a_late_visit_bridges_two_sessions() {
        let visits = [
            r#"{"user":"u","ts":0}"#,
            r#"{"user":"u","ts":1800002}"#,
            r#"{"user":"u","ts":1800000}"#,
        ];
        // Without the bridge, [0, 1800000) and [1800002, 3600002) stay apart.
        assert_eq!(run(&visits[..2].join("\n"), 1).len(), 2);
        // The bridge, 2 ms out of order, touches the first ([1800000, 3600000)
        // starts where it ends) and overlaps the second: one session.
        assert_eq!(
            run(&visits.join("\n"), 1),
            [
                r#"{"user":"u","session_start":0,"session_end":3600002,"events":3,"duration_ms":1800002}"#
            ]
        );
    }

    #[test]
    fn merge_combines_counts_and_bounds() {
        let sessions = Sessions;
        let mut a = sessions.create_accumulator();
        sessions.add(&mut a, Json(Visit { ts: 50 }));
        sessions.add(&mut a, Json(Visit { ts: 10 }));
        let mut b = sessions.create_accumulator();
        sessions.add(&mut b, Json(Visit { ts: 70 }));
        let merged = sessions.merge(a, b);
        assert_eq!(
            merged,
            Activity {
                count: 3,
                first_ts: 10,
                last_ts: 70
            }
        );
        assert_eq!(
            sessions.merge(merged, sessions.create_accumulator()),
            merged
        );
        let window = Window {
            key: b"u",
            start: 10,
            end: 70 + GAP,
        };
        let Json(session) = sessions.get_result(&merged, &window);
        assert_eq!((session.events, session.duration_ms), (3, 60));
    }
}
