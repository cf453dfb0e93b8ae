// The map of bench job A (the JavaScript twin of ../src/lib.rs): on each
// binary event (8-byte key, i64 ts, u64 amount, payload; little-endian),
// amount = amount * 3 + 7 (wrapping u64) and the payload upper-cased (ASCII).
import { map } from 'eddy-sdk';

const HEADER_LEN = 24;

/**
 * ASCII `a`-`z` of the u32 words `from..` to upper case, in place. Four
 * bytes at a time (as Rust's make_ascii_uppercase is vectorised): a byte
 * b < 0x80 is a lower-case letter when b + 0x1f has its top bit set
 * (b >= 0x61) and b + 0x05 has not (b <= 0x7a); bytes >= 0x80 stay.
 */
function upperWords(words, from) {
  for (let w = from; w < words.length; w++) {
    const x = words[w];
    const h = x & 0x7f7f7f7f;
    const lower = (h + 0x1f1f1f1f) & ~(h + 0x05050505) & ~x & 0x80808080;
    if (lower !== 0) words[w] = x ^ (lower >>> 2);
  }
}

export default map(
  () => (input) => {
    if (input.length < HEADER_LEN) {
      throw new Error(`binary event is ${input.length} bytes, expected at least ${HEADER_LEN} (key, ts, amount)`);
    }
    // A copy (the input is a view into the batch) whose words are aligned:
    // WebAssembly is little-endian, so word 4 and 5 are the amount's low and
    // high halves and the payload starts at word 6.
    const event = input.slice();
    const words = new Uint32Array(event.buffer, 0, event.length >>> 2);
    // u64 arithmetic on two u32 halves, wrapping like Rust's wrapping_mul/add.
    const lo = words[4] * 3 + 7;
    words[5] = words[5] * 3 + Math.floor(lo / 4294967296);
    words[4] = lo;
    upperWords(words, HEADER_LEN / 4);
    for (let i = words.length * 4; i < event.length; i++) {
      const c = event[i];
      if (c >= 0x61 && c <= 0x7a) event[i] = c - 32;
    }
    return event;
  },
  { input: 'bytes', output: 'bytes' },
);
