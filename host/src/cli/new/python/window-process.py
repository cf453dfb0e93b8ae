"""`{{name}}`: a `window-process` function (Flink's `ProcessWindowFunction`):
eddy assigns records to the windows of the operator's `window` (here
tumbling windows of one minute, per `user`), buffers them, and hands over
every element of a window when it fires. This one lists the distinct pages
each user visited per minute.

Buffering every element costs memory; when the result can be computed one
record at a time, an `aggregate` function is cheaper."""

from eddy_sdk import ProcessWindow


class DistinctPages(ProcessWindow):
    def open(self, ctx):
        """Keyed states shared by all windows of a key, and side outputs,
        are declared here; the operator's `config` is `ctx.config`."""

    def process(self, window, elements, ctx):
        """A window fired: `elements` are its `(timestamp, record)` pairs in
        arrival order. Emitted records take the timestamp `window.end - 1`."""
        pages = sorted({click["page"] for _, click in elements})
        ctx.emit({"user": window.key_str, "start": window.start, "end": window.end, "pages": pages})
