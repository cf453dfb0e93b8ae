// Top items per category per window (window-process, keyed by `category`):
// the JavaScript twin of ../src/lib.rs. Counts the items of a fired window
// and emits the `k` most frequent (count descending, then item ascending).
// Config (optional): {"k": 10} (the default).
import { windowProcess } from 'eddy-sdk';

export default windowProcess((ctx) => {
  const { k } = ctx.configJsonOr({ k: 10 });
  if (!Number.isInteger(k) || k < 1) throw new Error('k must be at least 1');
  return {
    process(window, elements, out) {
      const counts = new Map();
      for (const { value } of elements) counts.set(value.item, (counts.get(value.item) ?? 0) + 1);
      // Items in ascending order (as Rust's BTreeMap of Strings: by UTF-8
      // bytes, which for these keys is code-unit order), then a stable sort
      // by count descending.
      const top = [...counts.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([item, count]) => ({ item, count }))
        .sort((a, b) => b.count - a.count)
        .slice(0, k);
      out.emit({ category: window.keyStr(), window_start: window.start, window_end: window.end, top });
    },
  };
});
