//! Orders joined with their payments (co-process, keyed by `order_id`;
//! orders are the first input, payments the second, both with event time
//! `ts`), Flink's `KeyedCoProcessFunction` pattern for an event-time join
//! with timeouts.
//!
//! An order and a payment match when their timestamps are at most 15 minutes
//! apart, whichever arrives first: the match is emitted once as
//! `{"order": ..., "payment": ...}`. A side left waiting has an event-time
//! timer 15 minutes after its own `ts`; when it fires, an order becomes
//! `{"alert": "unpaid", "order_id", "order_ts"}` on side output `unpaid` and a
//! payment goes as it is to side output `orphan-payments`. Each outcome
//! clears what it used.
//!
//! Because the match is decided by the two timestamps, not by which record or
//! timer happens to come first, the outputs are the same however the inputs
//! interleave (as long as neither input is late for the watermark): a timer at
//! `ts + 15m` fires only after every record with a timestamp up to then arrived.

use eddy_sdk::{CoProcess, Context, Json, OpenContext, SideOutput, TimeDomain, ValueState};
use serde::{Deserialize, Serialize};

/// How far apart an order and its payment may be, in event time.
const TIMEOUT_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    order_id: String,
    customer: String,
    amount: u64,
    ts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    payment_id: String,
    order_id: String,
    amount: u64,
    ts: i64,
}

/// The main output: an order with its payment.
#[derive(Serialize)]
struct Joined {
    order: Order,
    payment: Payment,
}

/// An order without a payment within the timeout.
#[derive(Serialize)]
struct Unpaid {
    alert: &'static str,
    order_id: String,
    order_ts: i64,
}

/// Orders and payments alike: a record with an event time.
trait Timed: Serialize + serde::de::DeserializeOwned {
    fn ts(&self) -> i64;
}

impl Timed for Order {
    fn ts(&self) -> i64 {
        self.ts
    }
}

impl Timed for Payment {
    fn ts(&self) -> i64 {
        self.ts
    }
}

/// Whether an order and a payment at these times belong together.
fn matches(order_ts: i64, payment_ts: i64) -> bool {
    (order_ts - payment_ts).abs() <= TIMEOUT_MS
}

/// A record of either input arrives: it matches the waiting record of the
/// other input (emitting `join(arrived, waiting)` and clearing that side), or
/// it waits in `mine` with a timer at its timeout.
fn arrive<A: Timed, B: Timed>(
    arrived: A,
    mine: &ValueState<A>,
    other: &ValueState<B>,
    join: impl FnOnce(A, B) -> Joined,
    ctx: &mut Context<Json<Joined>>,
) -> Result<(), String> {
    if let Some(waiting) = other.value()?
        && matches(arrived.ts(), waiting.ts())
    {
        ctx.delete_event_time_timer(waiting.ts() + TIMEOUT_MS);
        other.clear()?;
        ctx.emit(Json(join(arrived, waiting)));
        return Ok(());
    }
    ctx.register_event_time_timer(arrived.ts() + TIMEOUT_MS);
    mine.update(&arrived)
}

struct OrderPaymentJoin {
    /// An order waiting for its payment.
    order: ValueState<Order>,
    /// A payment waiting for its order.
    payment: ValueState<Payment>,
    unpaid: SideOutput<Json<Unpaid>>,
    orphans: SideOutput<Json<Payment>>,
}

impl CoProcess for OrderPaymentJoin {
    type In1 = Json<Order>;
    type In2 = Json<Payment>;
    type Out = Json<Joined>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(OrderPaymentJoin {
            order: ctx.value_state("order"),
            payment: ctx.value_state("payment"),
            unpaid: ctx.side_output("unpaid"),
            orphans: ctx.side_output("orphan-payments"),
        })
    }

    fn process_element1(
        &mut self,
        Json(order): Json<Order>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let join = |order, payment| Joined { order, payment };
        arrive(order, &self.order, &self.payment, join, ctx)
    }

    fn process_element2(
        &mut self,
        Json(payment): Json<Payment>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let join = |payment, order| Joined { order, payment };
        arrive(payment, &self.payment, &self.order, join, ctx)
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        // A waiting order and a waiting payment that did not match have
        // timers of their own; each timer settles only its side.
        if let Some(order) = self.order.value()?
            && order.ts + TIMEOUT_MS == timestamp
        {
            self.order.clear()?;
            ctx.emit_to(
                &self.unpaid,
                Json(Unpaid {
                    alert: "unpaid",
                    order_id: order.order_id,
                    order_ts: order.ts,
                }),
            );
        }
        if let Some(payment) = self.payment.value()?
            && payment.ts + TIMEOUT_MS == timestamp
        {
            self.payment.clear()?;
            ctx.emit_to(&self.orphans, Json(payment));
        }
        Ok(())
    }
}

eddy_sdk::export_co_process!(OrderPaymentJoin);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{CoProcessHarness, Input, KeyedJsonl, interleavings, sorted_lines};

    fn expected(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    /// Every interleaving gives the same three outputs.
    #[test]
    fn sample_gives_the_expected_outputs_however_the_inputs_interleave() {
        let orders = KeyedJsonl::parse(include_str!("../data/orders.jsonl"), "order_id", "ts");
        let payments = KeyedJsonl::parse(include_str!("../data/payments.jsonl"), "order_id", "ts");
        let (orders, payments) = (orders.input(Input::First), payments.input(Input::Second));
        for (name, records) in interleavings(&orders, &payments) {
            for batch_size in [1, 3, 100] {
                let mut harness = CoProcessHarness::<super::OrderPaymentJoin>::open("").unwrap();
                let output = harness
                    .run_with_watermarks(&records, batch_size, 5_000)
                    .unwrap();
                let case = format!("{name}, batch size {batch_size}");
                assert_eq!(
                    sorted_lines(&output, None),
                    expected(include_str!("../data/expected-joined.jsonl")),
                    "{case}"
                );
                assert_eq!(
                    sorted_lines(&output, Some("unpaid")),
                    expected(include_str!("../data/expected-unpaid.jsonl")),
                    "{case}"
                );
                assert_eq!(
                    sorted_lines(&output, Some("orphan-payments")),
                    expected(include_str!("../data/expected-orphan-payments.jsonl")),
                    "{case}"
                );
                assert_eq!(output.len(), 13, "{case}");
            }
        }
    }

    #[test]
    fn a_payment_after_the_timeout_is_an_orphan_even_before_the_timer_fires() {
        let order: &[u8] = br#"{"order_id":"o","customer":"c","amount":1,"ts":0}"#;
        let late = r#"{"payment_id":"p","order_id":"o","amount":1,"ts":900001}"#;
        let mut harness = CoProcessHarness::<super::OrderPaymentJoin>::open("").unwrap();
        // No watermark yet: the order's timer has not fired when the payment comes.
        let output = harness
            .process(&[
                (Input::First, b"o", 0, order),
                (Input::Second, b"o", 900_001, late.as_bytes()),
            ])
            .unwrap();
        assert!(output.is_empty());
        let output = harness.advance_watermark(i64::MAX).unwrap();
        assert_eq!(
            sorted_lines(&output, Some("unpaid")),
            [r#"{"alert":"unpaid","order_id":"o","order_ts":0}"#]
        );
        assert_eq!(output[0].timestamp, 900_000);
        assert_eq!(sorted_lines(&output, Some("orphan-payments")), [late]);

        // Exactly 15 minutes apart still matches.
        let on_time: &[u8] = br#"{"payment_id":"p","order_id":"o","amount":1,"ts":900000}"#;
        let mut harness = CoProcessHarness::<super::OrderPaymentJoin>::open("").unwrap();
        let output = harness
            .process(&[
                (Input::Second, b"o", 900_000, on_time),
                (Input::First, b"o", 0, order),
            ])
            .unwrap();
        assert_eq!(sorted_lines(&output, None).len(), 1);
        let output = harness.advance_watermark(i64::MAX).unwrap();
        assert!(output.is_empty(), "state and timers were cleared");
    }
}
