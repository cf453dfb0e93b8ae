"""`{{name}}`: a `broadcast-process` function (Flink's
`KeyedBroadcastProcessFunction`, the broadcast state pattern): a keyed input
(here clicks, by `user`) and a broadcast input that every parallel instance
receives in full (here labels for pages). Broadcast records update
*broadcast state*, which keyed records may only read. This one labels each
click with the label of its page; clicks on pages without a label go to the
side output `unlabelled`.

The two inputs are not ordered relative to each other, so a click waits (in
keyed state, for an event-time timer at its own time) until the watermark of
both inputs has passed it: by then every label up to its time has arrived,
whatever the interleaving."""

from eddy_sdk import KeyedBroadcastProcess


class LabelClicks(KeyedBroadcastProcess):
    def open(self, ctx):
        # Page -> label, the same in every instance because only broadcast
        # records, which every instance gets, change it.
        self.labels = ctx.broadcast_map_state("labels")
        # The current user's clicks waiting for their timer, by timestamp.
        self.waiting = ctx.map_state("waiting")
        self.unlabelled = ctx.side_output("unlabelled")

    def process_element(self, click, ctx):
        """A click: park it until the watermark passes its time."""
        ts = click["ts"]
        self.waiting.put(ts, self.waiting.get(ts, []) + [click])
        ctx.register_event_time_timer(ts)

    def process_broadcast_element(self, label, ctx):
        """A label: every instance stores it (no key here, no keyed state)."""
        self.labels.put(label["page"], label["label"])

    def on_timer(self, timestamp, domain, ctx):
        """The watermark passed `timestamp`: label the clicks waiting for it."""
        clicks = self.waiting.get(timestamp)
        if clicks is None:
            return
        self.waiting.remove(timestamp)
        for click in clicks:
            label = self.labels.get(click["page"])
            if label is None:
                ctx.emit_to(self.unlabelled, click)
            else:
                ctx.emit({**click, "label": label})
