"""Top ``k`` items per category per window (window-process, keyed by
``category``): the Python twin of ``top-k/src/lib.rs`` (see NOTES.md).
Items are ranked by count, ties by item name; config ``{"k": 10}``."""

from collections import Counter

from eddy_sdk import FunctionError, ProcessWindow


class TopK(ProcessWindow):
    def open(self, ctx):
        config = ctx.config_json(default={})
        unknown = set(config) - {"k"}
        if unknown:
            raise FunctionError(f"unknown config fields {sorted(unknown)}; known: k")
        self.k = config.get("k", 10)
        if self.k < 1:
            raise FunctionError("k must be at least 1")

    def process(self, window, elements, ctx):
        counts = Counter(event["item"] for _, event in elements)
        # By item name, then (stably) by count, highest first: as the Rust
        # version's BTreeMap order and stable sort.
        ranked = sorted(sorted(counts.items()), key=lambda entry: -entry[1])[: self.k]
        ctx.emit(
            {
                "category": window.key_str,
                "window_start": window.start,
                "window_end": window.end,
                "top": [{"item": item, "count": count} for item, count in ranked],
            }
        )
