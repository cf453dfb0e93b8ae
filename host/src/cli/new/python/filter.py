"""`{{name}}`: a `filter` function (keep or drop each record, Flink's
`FilterFunction`). This one keeps the clicks on pages under a prefix taken
from the operator's `config` in the job file (`config = { prefix = "/products" }`).

Kept records go on exactly as they came (never re-encoded).
"""

from eddy_sdk import Filter, FunctionError


class PagesUnder(Filter):
    def open(self, ctx):
        """Runs once per instance. A bad config fails the job before any
        record is read, with this message."""
        config = ctx.config_json(default={})  # a TOML table arrives as a JSON object
        self.prefix = config.get("prefix", "/products")
        if not self.prefix:
            raise FunctionError("config: `prefix` must not be empty")

    def filter(self, click):
        return click["page"].startswith(self.prefix)
