"""How failures of user code become messages for the host."""

from __future__ import annotations

import os
import traceback


class FunctionError(Exception):
    """Raise to fail the task with a plain message, like returning ``Err``
    from a Rust function: ``process-batch`` returns ``err(message)``.

    Any other exception is reported like a Rust panic: its type, message and
    the line that raised it go to ``log.record-panic-at`` (so eddy names the
    record being processed) and the call traps.
    """


class GuestFailure(Exception):
    """Internal: a failure on its way to the host.

    ``panic`` is true for an unexpected exception (reported with
    ``record-panic-at`` and a trap), false for an error result.
    """

    def __init__(self, message: str, event=None, panic: bool = False):
        super().__init__(message)
        self.message = message
        self.event = event
        self.panic = panic


def describe_exception(error: BaseException) -> str:
    """``Type: message (at file.py:line in function)``, the last frame of the
    traceback being the line that raised."""
    if isinstance(error, FunctionError):
        return str(error)
    kind = type(error).__name__
    text = str(error)
    message = f"{kind}: {text}" if text else kind
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        message += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return message
