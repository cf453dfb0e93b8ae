"""Split lines into lowercase words (flat-map): the Python twin of
``word-count/word-split``. ``{"line": "The fox."}`` becomes ``{"word": "the"}``
and ``{"word": "fox"}``: words are the runs of alphanumeric characters."""

import re

from eddy_sdk import FlatMap

# Rust's `char::is_alphanumeric` is Unicode letters and numbers, as `\w`
# without the underscore.
WORD = re.compile(r"[^\W_]+")


class SplitWords(FlatMap):
    def flat_map(self, line, out):
        for word in WORD.findall(line["line"]):
            out.emit({"word": word.lower()})
