"""`{{name}}`: a `map` function (one record in, one record out, Flink's
`MapFunction`). This one normalises the page of each click: lower case,
without the query string, so that `/Home?ref=ad` and `/home` count as one
page downstream.

Records are JSON here (decoded to dicts, lists, str, numbers); set
`input_codec` / `output_codec` to `eddy_sdk.BYTES` or `eddy_sdk.TEXT` for
raw bytes or text.
"""

from eddy_sdk import Map


class NormalisePage(Map):
    """The function. Its attributes live as long as the instance (one per
    parallel subtask): configuration, caches. Keyed state belongs in a
    `keyed-process` function instead."""

    def open(self, ctx):
        """Runs once per instance, with the operator's `config` from the job
        file in `ctx.config` (here: none)."""

    def map(self, click):
        # Raising fails the job with the exception, this line and the record.
        click["page"] = click["page"].split("?")[0].lower()
        return click
