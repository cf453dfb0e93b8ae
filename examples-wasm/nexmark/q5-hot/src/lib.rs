//! Nexmark q5 (hot items), second step: the peer's `Q5Max`. Keyed by
//! `endtime`, over the bid counts `{"auction","num","starttime","endtime"}`
//! of `nexmark-q5-count`: the window's highest count and every count equal
//! to it (ties included, as the SQL's join on `num >= maxn`), emitted when
//! the watermark reaches `endtime - 1`, by which time every count of the
//! window has arrived (the window operator emits them before it passes on
//! the watermark that fired them).

use eddy_sdk::{Context, Json, KeyedProcess, ListState, OpenContext, TimeDomain, ValueState};
use nexmark_records::AuctionCount;

struct Q5Hot {
    max: ValueState<i64>,
    best: ListState<AuctionCount>,
}

impl KeyedProcess for Q5Hot {
    type In = Json<AuctionCount>;
    type Out = AuctionCount;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Q5Hot {
            max: ctx.value_state("max"),
            best: ctx.list_state("best"),
        })
    }

    fn process(
        &mut self,
        Json(count): Json<AuctionCount>,
        ctx: &mut Context<'_, AuctionCount>,
    ) -> Result<(), String> {
        let max = self.max.value()?;
        if max.is_none() {
            ctx.register_event_time_timer(count.endtime - 1);
        }
        match max {
            Some(max) if count.num < max => {}
            Some(max) if count.num == max => self.best.add(&count)?,
            _ => {
                self.max.update(&count.num)?;
                self.best.update(&[count])?;
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        ctx: &mut Context<'_, AuctionCount>,
    ) -> Result<(), String> {
        for count in self.best.get()? {
            ctx.emit(count);
        }
        self.best.clear()?;
        self.max.clear()
    }
}

eddy_sdk::export_keyed_process!(Q5Hot);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, KeyedJsonl, sorted_lines};

    use super::Q5Hot;

    const COUNTS: &str = r#"
{"auction":1,"num":2,"starttime":0,"endtime":10000,"t":9999}
{"auction":2,"num":5,"starttime":0,"endtime":10000,"t":9999}
{"auction":3,"num":5,"starttime":0,"endtime":10000,"t":9999}
{"auction":4,"num":4,"starttime":0,"endtime":10000,"t":9999}
{"auction":1,"num":1,"starttime":2000,"endtime":12000,"t":11999}
{"auction":5,"num":9,"starttime":2000,"endtime":12000,"t":11999}
"#;

    #[test]
    fn every_auction_at_the_windows_maximum_is_emitted() {
        let counts = KeyedJsonl::parse(COUNTS, "endtime", "t");
        for batch_size in [1, 3, 100] {
            let mut harness = KeyedHarness::<Q5Hot>::open("").unwrap();
            let output = harness
                .run_with_watermarks(&counts.records(), batch_size, 0)
                .unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"auction":2,"num":5,"starttime":0,"endtime":10000}"#,
                    r#"{"auction":3,"num":5,"starttime":0,"endtime":10000}"#,
                    r#"{"auction":5,"num":9,"starttime":2000,"endtime":12000}"#,
                ],
                "batch size {batch_size}"
            );
            assert!(
                output
                    .iter()
                    .all(|o| o.timestamp == 9999 || o.timestamp == 11999)
            );
        }
    }

    #[test]
    fn a_higher_count_replaces_the_ties_and_the_timer_clears() {
        let mut harness = KeyedHarness::<Q5Hot>::open("").unwrap();
        let records = [
            r#"{"auction":1,"num":3,"starttime":0,"endtime":10000}"#,
            r#"{"auction":2,"num":3,"starttime":0,"endtime":10000}"#,
            r#"{"auction":3,"num":4,"starttime":0,"endtime":10000}"#,
        ];
        for record in records {
            assert!(
                harness
                    .process(&[(b"10000", 9999, record.as_bytes())])
                    .unwrap()
                    .is_empty()
            );
        }
        let fired = harness.advance_watermark(9999).unwrap();
        assert_eq!(sorted_lines(&fired, None), [records[2]]);
        // Cleared: a count arriving now starts afresh, with a new timer.
        assert!(
            harness
                .process(&[(b"10000", 9999, records[0].as_bytes())])
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            sorted_lines(&harness.advance_watermark(10_000).unwrap(), None),
            [records[0]]
        );
        assert!(harness.advance_watermark(i64::MAX).unwrap().is_empty());
    }
}
