// The filter of bench job A (the JavaScript twin of ../src/lib.rs): keeps
// binary events whose u64 `amount` (bytes 16..24, little-endian) is even.
import { filter } from 'eddy-sdk';

const HEADER_LEN = 24;

export default filter(
  () => (event) => {
    if (event.length < HEADER_LEN) {
      throw new Error(`binary event is ${event.length} bytes, expected at least ${HEADER_LEN} (key, ts, amount)`);
    }
    return (event[16] & 1) === 0;
  },
  { input: 'bytes' },
);
