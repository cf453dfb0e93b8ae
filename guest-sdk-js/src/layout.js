// The flat batch layout of wit/README.md: readers and writers of
// little-endian integers, i64 timestamps and u32-length-prefixed bytes.
//
// Timestamps are JavaScript numbers (milliseconds since the epoch). i64::MIN
// ("none") reads as MIN_TIMESTAMP (-2^63, exact as a double); i64::MAX reads as
// 2^63 (the nearest double) and both are written back exactly.

/** Layout version written in the first byte of every batch. */
export const LAYOUT_VERSION = 1;
/** `i64::MIN`: no timestamp / no watermark yet. */
export const MIN_TIMESTAMP = -9223372036854775808;
/** `i64::MAX` as the nearest double (2^63): the end of a count window. */
export const MAX_TIMESTAMP = 9223372036854775807;
/** Key reference of stateless events and broadcast records. */
export const NO_KEY = 0xffffffff;
/** Value-state slot length meaning "nothing stored". */
export const ABSENT = 0xffffffff;

export const EVENT_RECORD = 0;
export const EVENT_TIMER = 1;
export const EVENT_SECOND_RECORD = 2;
export const EVENT_WINDOW = 3;
export const EVENT_BROADCAST_RECORD = 4;

export const OUT_EMIT = 0;
export const OUT_FORWARD = 1;
export const OUT_SIDE = 2;
export const OUT_SET_TIMER = 3;
export const OUT_DELETE_TIMER = 4;
export const OUT_SET_VALUE = 5;
export const OUT_CLEAR_VALUE = 6;

const TWO_32 = 4294967296;

/** Reads a buffer front to back; every read checks the bounds. */
export class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  get remaining() {
    return this.bytes.length - this.pos;
  }
  need(n, what) {
    if (this.pos + n > this.bytes.length) {
      throw new LayoutError(
        `truncated buffer: ${what} needs ${n} bytes at offset ${this.pos}, ${this.bytes.length - this.pos} left`,
      );
    }
  }
  u8(what = 'u8') {
    this.need(1, what);
    return this.bytes[this.pos++];
  }
  u32(what = 'u32') {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i64(what = 'i64') {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getInt32(this.pos + 4, true);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }
  /** u32 length then that many bytes, as a view into the buffer (no copy). */
  bytesField(what = 'bytes') {
    const len = this.u32(what + ' length');
    this.need(len, what);
    const out = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

/** A growable output buffer. */
export class Writer {
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  reserve(n) {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v) {
    this.reserve(1);
    this.buf[this.len++] = v;
  }
  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  i64(v) {
    this.reserve(8);
    let lo;
    let hi;
    if (!(v < MAX_TIMESTAMP)) {
      // 2^63 and above (and NaN) saturate to i64::MAX.
      lo = 0xffffffff;
      hi = 0x7fffffff;
    } else if (v <= MIN_TIMESTAMP) {
      lo = 0;
      hi = -0x80000000;
    } else {
      v = Math.trunc(v);
      hi = Math.floor(v / TWO_32);
      lo = v - hi * TWO_32;
    }
    this.view.setUint32(this.len, lo, true);
    this.view.setInt32(this.len + 4, hi, true);
    this.len += 8;
  }
  /** Raw bytes without a length. */
  raw(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  /** u32 length then the bytes. */
  bytesField(bytes) {
    this.u32(bytes.length);
    this.raw(bytes);
  }
  /** An entry `u8 tag, u32 index, bytes value` in one call (emit, the hot path). */
  entry(tag, index, bytes) {
    const n = bytes.length;
    this.reserve(9 + n);
    const at = this.len;
    this.buf[at] = tag;
    this.view.setUint32(at + 1, index, true);
    this.view.setUint32(at + 5, n, true);
    this.buf.set(bytes, at + 9);
    this.len = at + 9 + n;
  }
  /** An entry `u8 tag, u32 index` in one call (forward). */
  entryIndex(tag, index) {
    this.reserve(5);
    this.buf[this.len] = tag;
    this.view.setUint32(this.len + 1, index, true);
    this.len += 5;
  }
  /** The written bytes (a view of the buffer). */
  finish() {
    return this.buf.subarray(0, this.len);
  }
}

/** A buffer that breaks the layout. */
export class LayoutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LayoutError';
  }
}

/** `[u32 len][bytes]...` as a list of byte arrays (list state). */
export function splitLengthPrefixed(bytes) {
  const r = new Reader(bytes);
  const out = [];
  while (r.remaining > 0) out.push(r.bytesField('list element'));
  return out;
}

/** A list of byte arrays as `[u32 len][bytes]...`. */
export function joinLengthPrefixed(items) {
  const w = new Writer(16);
  for (const item of items) w.bytesField(item);
  return w.finish().slice();
}

/** `[u32 klen][key][u32 vlen][value]...` as `[key, value]` byte pairs (map state). */
export function splitMapEntries(bytes) {
  const r = new Reader(bytes);
  const out = [];
  while (r.remaining > 0) {
    const k = r.bytesField('map key');
    const v = r.bytesField('map value');
    out.push([k, v]);
  }
  return out;
}
