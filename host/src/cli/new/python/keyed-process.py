"""`{{name}}`: a `keyed-process` function (Flink's `KeyedProcessFunction`):
records arrive grouped by the operator's `key_by` (here the click's `user`),
with state kept by eddy per key, timers and side outputs. This one counts
each user's clicks and emits the running count on every click."""

from eddy_sdk import KeyedProcess


class CountClicks(KeyedProcess):
    def open(self, ctx):
        """Runs once per instance: declare states (and side outputs, with
        `ctx.side_output("name")`) here. State always reads and writes the
        value of the key being processed; eddy keeps it (and checkpoints
        it), not the instance. Also available: `ctx.list_state`,
        `ctx.map_state`, with `ttl=eddy_sdk.Ttl(ms)` and `version=`. The
        operator's `config` is `ctx.config`."""
        self.clicks = ctx.value_state("clicks")

    def process(self, click, ctx):
        """One record of the current key. `ctx` emits records, reads the key,
        timestamp and watermark, and registers timers
        (`ctx.register_event_time_timer(ts)`, answered by `on_timer`)."""
        clicks = self.clicks.value(0) + 1
        self.clicks.update(clicks)
        ctx.emit({"user": click["user"], "clicks": clicks})

    # def on_timer(self, timestamp, domain, ctx):   # a timer of the current key fired
    #     ...
