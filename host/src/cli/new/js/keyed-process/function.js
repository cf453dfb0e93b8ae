// `{{name}}`: a `keyed-process` function (Flink's KeyedProcessFunction):
// records arrive grouped by the operator's `key_by` (here the click's
// `user`), with state kept by eddy per key, timers and side outputs. This
// one counts each user's clicks and emits the running count on every click.
import { keyedProcess } from 'eddy-sdk';

export default keyedProcess((ctx) => {
  // Declare states (and side outputs, ctx.sideOutput('name')) here. A state
  // always reads and writes the value of the key being processed; eddy keeps
  // it (and checkpoints it) as JSON. Also: ctx.listState, ctx.mapState, and
  // options { ttl: { millis, update }, version, migrate }.
  const clicks = ctx.valueState('clicks');

  return {
    // One record of the current key. `out` emits records, reads the key
    // (out.keyStr()), timestamp and watermark, and registers timers
    // (out.registerEventTimeTimer(ts), answered by onTimer).
    process(click, out) {
      const count = (clicks.value() ?? 0) + 1;
      clicks.update(count);
      out.emit({ user: click.user, clicks: count });
    },

    // A timer of the current key fired.
    // onTimer(timestamp, domain, out) {},
  };
});
