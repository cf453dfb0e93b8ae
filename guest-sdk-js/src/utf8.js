// UTF-8 without relying on TextEncoder/TextDecoder, which the QuickJS engine
// lacks. `encodeUtf8`/`decodeUtf8` use the native classes when present
// (StarlingMonkey, Node) and the plain-JS versions below otherwise.

/** Encode a string as UTF-8 in plain JS (lone surrogates become U+FFFD). */
export function encodeUtf8Js(str) {
  const n = str.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (str.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = str.charCodeAt(i);
    return out;
  }
  const out = [];
  for (let i = 0; i < n; i++) {
    let c = str.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = str.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd;
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else
      out.push(
        0xf0 | (c >> 18),
        0x80 | ((c >> 12) & 63),
        0x80 | ((c >> 6) & 63),
        0x80 | (c & 63),
      );
  }
  return Uint8Array.from(out);
}

/** Decode UTF-8 in plain JS; invalid sequences become U+FFFD. */
export function decodeUtf8Js(bytes) {
  const n = bytes.length;
  let i = 0;
  // ASCII fast path in chunks.
  let parts = '';
  while (i < n) {
    let j = i;
    while (j < n && j - i < 4096 && bytes[j] < 0x80) j++;
    if (j > i) {
      parts += String.fromCharCode.apply(null, bytes.subarray(i, j));
      i = j;
      continue;
    }
    const b = bytes[i];
    let c = 0xfffd;
    let len = 1;
    if (b >= 0xc2 && b <= 0xdf && i + 1 < n && (bytes[i + 1] & 0xc0) === 0x80) {
      c = ((b & 31) << 6) | (bytes[i + 1] & 63);
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef && i + 2 < n && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
      const v = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
      if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) {
        c = v;
        len = 3;
      }
    } else if (b >= 0xf0 && b <= 0xf4 && i + 3 < n && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
      const v = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
      if (v >= 0x10000 && v <= 0x10ffff) {
        c = v;
        len = 4;
      }
    }
    parts += String.fromCodePoint(c);
    i += len;
  }
  return parts;
}

const NativeEncoder = typeof TextEncoder === 'function' ? new TextEncoder() : null;
const NativeDecoder = typeof TextDecoder === 'function' ? new TextDecoder() : null;

/** Encode a string as UTF-8 bytes. */
export const encodeUtf8 = NativeEncoder ? (s) => NativeEncoder.encode(s) : encodeUtf8Js;
/** Decode UTF-8 bytes as a string. */
export const decodeUtf8 = NativeDecoder ? (b) => NativeDecoder.decode(b) : decodeUtf8Js;
