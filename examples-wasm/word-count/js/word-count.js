// Count each word (keyed process, keyed by `word`): emits `{"word", "count"}`
// with the running count. The JavaScript twin of ../word-count/src/lib.rs:
// value state `count` (version 1) holds the count as a JSON integer, so a
// savepoint of either one restores into the other.
import { keyedProcess } from 'eddy-sdk';

export default keyedProcess((ctx) => {
  const count = ctx.valueState('count');
  return {
    process(input, out) {
      const next = (count.value() ?? 0) + 1;
      count.update(next);
      out.emit({ word: input.word, count: next });
    },
  };
});
