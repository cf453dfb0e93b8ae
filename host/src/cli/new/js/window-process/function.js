// `{{name}}`: a `window-process` function (Flink's ProcessWindowFunction):
// eddy assigns records to windows (the operator's `window`, here one-minute
// tumbling windows per `user`) and hands every element of a fired window at
// once, with its key and bounds. This one lists the distinct pages each user
// visited per minute, in order (as the Rust template's BTreeSet).
import { windowProcess } from 'eddy-sdk';

export default windowProcess(() => ({
  // `elements`: { timestamp, value } in arrival order.
  process(window, elements, out) {
    out.emit({
      user: window.keyStr(),
      start: window.start,
      end: window.end,
      pages: [...new Set(elements.map((e) => e.value.page))].sort(),
    });
  },
}));
