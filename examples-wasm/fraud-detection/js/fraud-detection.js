// Fraud detection (keyed process, keyed by `user`, event time from `ts`):
// alert when a user fails to log in `threshold` times within `window_ms` of
// event time. The JavaScript twin of ../src/lib.rs (same state, same output).
//
// Failed logins are kept in list state `failures`. On a failure at `t`, the
// kept failures with a timestamp in `(t - window_ms, t]` plus this one are
// counted; at `threshold` an alert is emitted and the list cleared, otherwise
// `t` is added. A timer at `t + window_ms` drops failures that can no longer
// count. Successful logins are ignored.
import { keyedProcess } from 'eddy-sdk';

export default keyedProcess((ctx) => {
  const failures = ctx.listState('failures');
  const config = ctx.configJsonOr({ threshold: 3, window_ms: 5 * 60 * 1000 });
  if (!(config.threshold > 0) || !(config.window_ms > 0)) {
    throw new Error(`threshold and window_ms must be positive, got ${JSON.stringify(config)}`);
  }
  const { threshold, window_ms: windowMs } = config;

  return {
    process(login, out) {
      if (login.success) return;
      const t = login.ts;
      const windowStart = t - windowMs;
      const inWindow = failures.get().filter((failure) => failure > windowStart && failure <= t);
      inWindow.push(t);
      if (inWindow.length >= threshold) {
        out.emit({
          user: login.user,
          failures: inWindow.length,
          first_ts: Math.min(...inWindow),
          last_ts: t,
        });
        failures.clear();
      } else {
        failures.add(t);
      }
      out.registerEventTimeTimer(t + windowMs);
    },

    onTimer(timestamp) {
      const expiredUntil = timestamp - windowMs;
      const all = failures.get();
      const kept = all.filter((failure) => failure > expiredUntil);
      if (kept.length === 0) failures.clear();
      else if (kept.length !== all.length) failures.update(kept);
    },
  };
});
