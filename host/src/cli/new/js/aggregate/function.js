// `{{name}}`: an `aggregate` function (Flink's AggregateFunction): eddy
// assigns records to windows (the operator's `window`, here one-minute
// tumbling windows per `user`) and keeps one accumulator per key and window,
// stored as JSON. This one counts clicks per user and minute.
import { aggregate } from 'eddy-sdk';

export default aggregate(() => ({
  createAccumulator: () => 0,
  // Returns the new accumulator (accumulators are plain JSON values).
  add: (clicks, click) => clicks + 1,
  // Session windows merge accumulators.
  merge: (a, b) => a + b,
  // The window's key and bounds name the result.
  getResult: (clicks, window) => ({ user: window.keyStr(), start: window.start, end: window.end, clicks }),
}));
