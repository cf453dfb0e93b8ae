"""Count each word (keyed process, keyed by ``word``): the Python twin of
``word-count/word-count``. The count is value state ``count`` (version 1, a
JSON integer), exactly as the Rust function keeps it, so one can be swapped
for the other mid-run and the counts go on."""

from eddy_sdk import KeyedProcess


class CountWords(KeyedProcess):
    def open(self, ctx):
        self.count = ctx.value_state("count")

    def process(self, word, ctx):
        count = self.count.value(0) + 1
        self.count.update(count)
        ctx.emit({"word": word["word"], "count": count})
