"""`{{name}}`: a `flat-map` function (one record in, any number out, Flink's
`FlatMapFunction`). This one splits the page of each click into its path
segments, one record per segment: `/products/42?ref=ad` gives `products`
and `42`."""

from eddy_sdk import FlatMap


class PageSegments(FlatMap):
    def flat_map(self, click, out):
        """Emit zero or more records with `out.emit(...)` (or yield them)."""
        path = click["page"].split("?")[0]
        for segment in path.split("/"):
            if segment:
                out.emit({"user": click["user"], "segment": segment})
