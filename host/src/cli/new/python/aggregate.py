"""`{{name}}`: an `aggregate` function (Flink's `AggregateFunction`): eddy
assigns records to the windows of the operator's `window` (here tumbling
windows of one minute, per `user`), keeps one accumulator per key and
window, and asks for the result when a window fires. This one counts each
user's clicks per minute.

The accumulator is stored by eddy as JSON, so it survives checkpoints and
new versions of the function as long as it stays readable."""

from eddy_sdk import Aggregate


class CountPerWindow(Aggregate):
    def create_accumulator(self):
        return 0

    def add(self, clicks, click):
        """Returns the new accumulator."""
        return clicks + 1

    def merge(self, a, b):
        """Two windows became one (session windows)."""
        return a + b

    def get_result(self, clicks, window):
        """A window fired: its key and bounds are in `window`. The result
        takes the timestamp `window.end - 1`."""
        return {"user": window.key_str, "start": window.start, "end": window.end, "clicks": clicks}
