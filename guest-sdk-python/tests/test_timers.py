"""Event-time and processing-time timers, watermarks and side outputs."""

import eddy_sdk
from eddy_sdk import EVENT_TIME, PROCESSING_TIME
from eddy_sdk.testing import KeyedHarness


class Reminder(eddy_sdk.KeyedProcess):
    """Sets an event-time timer 10 ms after each record (deduplicated by
    timestamp), deletes it on {"cancel": true}, and a processing-time timer
    on {"later": t}; late records go to side output "late"."""

    def open(self, ctx):
        self.late = ctx.side_output("late")

    def process(self, record, ctx):
        if record.get("cancel"):
            ctx.delete_event_time_timer(record["at"])
        elif "later" in record:
            ctx.register_processing_time_timer(record["later"])
        elif ctx.timestamp <= ctx.current_watermark():
            ctx.emit_to(self.late, record)
        else:
            ctx.register_event_time_timer(ctx.timestamp + 10)

    def on_timer(self, timestamp, domain, ctx):
        ctx.emit(
            {
                "key": ctx.key_str,
                "at": timestamp,
                "ts": ctx.timestamp,
                "domain": "event" if domain == EVENT_TIME else "processing",
                "wm": ctx.current_watermark(),
                "pt": ctx.current_processing_time(),
            }
        )


def test_event_time_timers_fire_when_the_watermark_passes_them_in_order_and_once():
    harness = KeyedHarness(Reminder)
    assert harness.process([("a", 100, {}), ("b", 95, {}), ("a", 100, {})]) == []
    assert harness.advance_watermark(104) == []
    fired = harness.advance_watermark(110)
    assert [o.json()["key"] for o in fired] == ["b", "a"]
    assert [o.timestamp for o in fired] == [105, 110]
    assert fired[1].json() == {"key": "a", "at": 110, "ts": 110, "domain": "event", "wm": 110, "pt": 0}
    assert harness.advance_watermark(1000) == [], "each timer fires once"


def test_a_deleted_timer_does_not_fire():
    harness = KeyedHarness(Reminder)
    harness.process([("a", 100, {}), ("a", 101, {"cancel": True, "at": 110})])
    assert harness.advance_watermark(200) == []


def test_processing_time_timers_fire_with_processing_time():
    harness = KeyedHarness(Reminder)
    harness.set_processing_time(1_000)
    harness.process([("a", 1, {"later": 1_500})])
    assert harness.advance_processing_time(1_499) == []
    fired = harness.advance_processing_time(1_500)
    assert fired[0].json()["domain"] == "processing" and fired[0].json()["pt"] == 1_500


def test_records_behind_the_watermark_go_to_the_side_output():
    harness = KeyedHarness(Reminder)
    harness.advance_watermark(500)
    out = harness.process([("a", 400, {"n": 1})])
    assert [(o.side_output, o.json(), o.timestamp) for o in out] == [("late", {"n": 1}, 400)]
