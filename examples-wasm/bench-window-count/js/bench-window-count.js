// The aggregate of bench job B (the JavaScript twin of ../src/lib.rs): counts
// the events of each window; the accumulator is a JSON integer (as the Rust
// guest's u64) and the result the count as 8 little-endian bytes.
import { aggregate } from 'eddy-sdk';

export default aggregate(
  () => ({
    createAccumulator: () => 0,
    add: (count) => count + 1,
    merge: (a, b) => a + b,
    getResult(count) {
      const out = new Uint8Array(8);
      const view = new DataView(out.buffer);
      view.setUint32(0, count % 4294967296, true);
      view.setUint32(4, Math.floor(count / 4294967296), true);
      return out;
    },
  }),
  { input: 'bytes', output: 'bytes' },
);
