"""`{{name}}`: a `co-process` function (Flink's `KeyedCoProcessFunction`):
two inputs keyed the same way (here clicks and purchases, both by `user`)
share one set of keyed state and timers. This one reports each user's
activity per minute: clicks, purchases and money spent, emitted when the
watermark of both inputs has passed the end of the minute.

The two inputs are not ordered relative to each other; waiting for the
watermark (an event-time timer) is what makes the result independent of
how they interleave."""

from eddy_sdk import CoProcess, FunctionError

MINUTE = 60_000


class ActivityPerMinute(CoProcess):
    def open(self, ctx):
        """Declare states and side outputs here; the operator's `config` is
        `ctx.config`. A map from the start of a minute to that minute's
        activity, because records of the next minute may come before the
        watermark closes this one."""
        self.minutes = ctx.map_state("minutes")

    def record(self, ctx, clicks=0, purchases=0, spent=0):
        """Count one record of the current user into its minute, and make sure
        a timer reports that minute once the watermark passes its end."""
        if ctx.timestamp is None:
            raise FunctionError("a record without timestamp; set `timestamp` on the sources")
        start = ctx.timestamp - ctx.timestamp % MINUTE
        activity = self.minutes.get(start, {"clicks": 0, "purchases": 0, "spent": 0})
        activity["clicks"] += clicks
        activity["purchases"] += purchases
        activity["spent"] += spent
        self.minutes.put(start, activity)
        ctx.register_event_time_timer(start + MINUTE - 1)

    def process_element1(self, click, ctx):
        self.record(ctx, clicks=1)

    def process_element2(self, purchase, ctx):
        self.record(ctx, purchases=1, spent=purchase["amount"])

    def on_timer(self, timestamp, domain, ctx):
        """The watermark passed the end of a minute of the current user
        (registering the same timer twice fires it once)."""
        start = timestamp + 1 - MINUTE
        activity = self.minutes.get(start)
        if activity is not None:
            self.minutes.remove(start)
            ctx.emit({"user": ctx.key_str, "start": start, **activity})
