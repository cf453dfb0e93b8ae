// The keyed count of `eddy bench --pipeline keyed` (the JavaScript twin of
// ../src/lib.rs): counts the records of each key in value state `count` (a
// JSON integer, as the Rust u64) and emits the running count as 8 bytes,
// u64 little-endian.
import { keyedProcess } from 'eddy-sdk';

export default keyedProcess(
  (ctx) => {
    const count = ctx.valueState('count');
    return {
      process(_event, out) {
        const next = (count.value() ?? 0) + 1;
        count.update(next);
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(next), true);
        out.emit(bytes);
      },
    };
  },
  { input: 'bytes', output: 'bytes' },
);
