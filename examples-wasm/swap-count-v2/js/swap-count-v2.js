// Swap count, version 2, in JavaScript (keyed process, keyed by `key`, event
// time from `ts`): the JavaScript twin of ../src/lib.rs.
//
// It keeps the state of the Rust `swap-count-v1` unchanged (value state
// `count`, version 1, a JSON integer, cleared at the end of each period of
// event time) and emits once a key has been seen at least twice in the
// period, as `{"key", "total", "rule": "v2"}`. Swapped in for the Rust
// version 1 mid-run (`eddy swap`), it continues every key's count where Rust
// left it: state is portable between languages (tests/tests/swap.rs).
//
// Config (optional): `{"period_ms": 1000}`; other fields are ignored, since
// a swap keeps the operator's config for the new guest.
import { keyedProcess } from 'eddy-sdk';

const MIN_TOTAL = 2;

export default keyedProcess((ctx) => {
  const count = ctx.valueState('count');
  // Not `configJsonOr`, which refuses fields it does not know.
  const config = ctx.config.trim() === '' ? {} : ctx.configJson();
  const periodMs = config.period_ms ?? 1000;
  if (!(periodMs > 0)) {
    throw new Error(`period_ms must be positive, got ${JSON.stringify(periodMs)}`);
  }
  return {
    process(event, out) {
      const total = (count.value() ?? 0) + 1;
      count.update(total);
      if (total >= MIN_TOTAL) {
        out.emit({ key: event.key, total, rule: 'v2' });
      }
      out.registerEventTimeTimer((Math.floor(event.ts / periodMs) + 1) * periodMs);
    },
    onTimer() {
      count.clear();
    },
  };
});
