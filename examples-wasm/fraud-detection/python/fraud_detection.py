"""Fraud detection (keyed process, keyed by ``user``, event time from ``ts``):
alert when a user fails to log in ``threshold`` times within ``window_ms`` of
event time. The Python twin of ``fraud-detection/src/lib.rs`` (see NOTES.md).

Failed logins are kept in list state ``failures``. On a failure at ``t``, the
kept failures with a timestamp in ``(t - window_ms, t]`` plus this one are
counted; at ``threshold`` an alert is emitted and the list cleared, otherwise
``t`` is added. A timer at ``t + window_ms`` drops failures that can no
longer count. Successful logins are ignored.
"""

from eddy_sdk import FunctionError, KeyedProcess

DEFAULTS = {"threshold": 3, "window_ms": 5 * 60 * 1000}


class FraudDetection(KeyedProcess):
    def open(self, ctx):
        # Register states first: `open` also runs with an empty config to describe.
        self.failures = ctx.list_state("failures")
        config = ctx.config_json(default={})
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise FunctionError(f"unknown config fields {sorted(unknown)}; known: threshold, window_ms")
        config = {**DEFAULTS, **config}
        self.threshold = config["threshold"]
        self.window_ms = config["window_ms"]
        if self.threshold <= 0 or self.window_ms <= 0:
            raise FunctionError(f"threshold and window_ms must be positive, got {config}")

    def process(self, login, ctx):
        if login["success"]:
            return
        t = login["ts"]
        window_start = t - self.window_ms
        in_window = [failure for failure in self.failures.get() if window_start < failure <= t]
        in_window.append(t)
        if len(in_window) >= self.threshold:
            ctx.emit(
                {
                    "user": login["user"],
                    "failures": len(in_window),
                    "first_ts": min(in_window),
                    "last_ts": t,
                }
            )
            self.failures.clear()
        else:
            self.failures.add(t)
        ctx.register_event_time_timer(t + self.window_ms)

    def on_timer(self, timestamp, domain, ctx):
        expired_until = timestamp - self.window_ms
        failures = self.failures.get()
        kept = [failure for failure in failures if failure > expired_until]
        if not kept:
            self.failures.clear()
        elif len(kept) != len(failures):
            self.failures.update(kept)
