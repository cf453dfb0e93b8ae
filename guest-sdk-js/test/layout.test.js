// Layout round trips against hand-written bytes from wit/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, MIN_TIMESTAMP, MAX_TIMESTAMP, splitLengthPrefixed, joinLengthPrefixed, splitMapEntries } from '../src/layout.js';
import { encodeUtf8Js, decodeUtf8Js } from '../src/utf8.js';
import { map, filter, keyedProcess, __bindHost, __exportsOf } from '../src/index.js';
import { BatchBuilder, decodeOutput, MemoryState, exportsFor } from '../src/testing.js';

const bytes = (...parts) => Uint8Array.from(parts.flat());
const u32 = (v) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
const i64 = (v) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
  return [...b];
};
const str = (s) => [...Buffer.from(s)];
const field = (s) => [...u32(Buffer.byteLength(s)), ...str(s)];

test('i64 timestamps: none, max, negative and ordinary values round trip exactly', () => {
  const w = new Writer(4);
  for (const v of [MIN_TIMESTAMP, MAX_TIMESTAMP, -1, 0, 1700000000000, -1700000000123]) w.i64(v);
  const out = w.finish();
  assert.deepEqual([...out.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0x80]);
  assert.deepEqual([...out.subarray(8, 16)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  assert.deepEqual([...out.subarray(16, 24)], i64(-1));
  assert.deepEqual([...out.subarray(32, 40)], i64(1700000000000));
  assert.deepEqual([...out.subarray(40, 48)], i64(-1700000000123));
  const r = new Reader(out);
  assert.equal(r.i64(), MIN_TIMESTAMP);
  assert.equal(r.i64(), MAX_TIMESTAMP);
  assert.equal(r.i64(), -1);
  assert.equal(r.i64(), 0);
  assert.equal(r.i64(), 1700000000000);
  assert.equal(r.i64(), -1700000000123);
  assert.throws(() => r.u8(), /truncated buffer/);
});

test('a hand-written transform batch gives the hand-written output of a map and a filter', () => {
  // u8 version, i64 watermark (none), i64 processing time, u32 K = 0,
  // u32 N = 2, two tag-0 records with key ref 0xFFFFFFFF.
  const batch = bytes(
    1, i64(MIN_TIMESTAMP), i64(42), u32(0), u32(2),
    0, u32(0xffffffff), i64(10), field('{"n":1}'),
    0, u32(0xffffffff), i64(11), field('{"n":2}'),
  );
  const double = map(() => (v) => ({ n: v.n * 2 }));
  const { exports } = exportsFor(double);
  exports.init('');
  assert.deepEqual(
    [...exports.processBatch(batch)],
    [...bytes(0, u32(0), field('{"n":2}'), 0, u32(1), field('{"n":4}'))],
  );
  const even = filter(() => (v) => v.n % 2 === 0);
  const f = exportsFor(even).exports;
  f.init('');
  // tag 1 forward of event 1 only
  assert.deepEqual([...f.processBatch(batch)], [...bytes(1, u32(1))]);
});

test('a keyed batch: key table with value slots, timers and value-state entries in the output', () => {
  const counter = keyedProcess((ctx) => {
    const count = ctx.valueState('count');
    const seen = ctx.listState('seen');
    return {
      process(v, out) {
        const n = (count.value() ?? 0) + 1;
        count.update(n);
        if (v.clear) count.clear();
        out.registerEventTimeTimer(out.timestamp + 100);
        out.emit(n);
      },
    };
  });
  const { exports } = exportsFor(counter);
  const d = exports.describe();
  assert.deepEqual(d.states.map((s) => [s.name, s.kind, s.version]), [['count', 'value', 1], ['seen', 'list', 1]]);
  exports.init('');
  // K = 2: key "a" with count 5, key "b" with nothing (0xFFFFFFFF).
  const batch = bytes(
    1, i64(1000), i64(0), u32(2),
    field('a'), field('5'),
    field('b'), u32(0xffffffff),
    u32(3),
    0, u32(0), i64(2000), field('{}'),
    0, u32(1), i64(2001), field('{}'),
    0, u32(1), i64(2002), field('{"clear":true}'),
  );
  const out = exports.processBatch(batch);
  const expected = bytes(
    3, u32(0), 0, i64(2100), 0, u32(0), field('6'),
    3, u32(1), 0, i64(2101), 0, u32(1), field('1'),
    3, u32(1), 0, i64(2102), 0, u32(2), field('2'),
    // value state: last write per (state, key) wins, once, after the events
    5, u32(0), u32(0), field('6'),
    6, u32(0), u32(1),
  );
  assert.deepEqual([...out], [...expected]);
  // The same batch through the builder and the decoder.
  const built = new BatchBuilder(1000, 0).key('a', ['5']).key('b', [null])
    .record(0, 2000, '{}').record(1, 2001, '{}').record(1, 2002, '{"clear":true}').build();
  assert.deepEqual([...built], [...batch]);
  const entries = decodeOutput(out);
  assert.deepEqual(entries.map((e) => e.type), ['set-timer', 'emit', 'set-timer', 'emit', 'set-timer', 'emit', 'set-value', 'clear-value']);
});

test('a batch of another layout version or a truncated batch is refused', () => {
  const { exports } = exportsFor(map(() => (v) => v));
  exports.init('');
  assert.throws(() => exports.processBatch(bytes(2, i64(0), i64(0), u32(0), u32(0))), /layout version 2/);
  assert.throws(() => exports.processBatch(bytes(1, i64(0), i64(0), u32(0), u32(1), 0, u32(0xffffffff))), /truncated/);
});

test('length-prefixed lists and map entries', () => {
  const items = [Buffer.from('1'), Buffer.from('[2,3]'), new Uint8Array(0)];
  const joined = joinLengthPrefixed(items);
  assert.deepEqual([...joined], [...bytes(field('1'), field('[2,3]'), u32(0))]);
  assert.deepEqual(splitLengthPrefixed(joined).map((b) => Buffer.from(b).toString()), ['1', '[2,3]', '']);
  const entries = bytes(field('"a"'), field('1'), field('"b"'), field('2'));
  assert.deepEqual(splitMapEntries(entries).map(([k, v]) => [Buffer.from(k).toString(), Buffer.from(v).toString()]), [['"a"', '1'], ['"b"', '2']]);
});

test('plain-JS UTF-8 (used by QuickJS) agrees with Node on every kind of text', () => {
  for (const s of ['', 'ascii', 'héllo wörld', '日本語', '😀 emoji', 'a\u0000b', 'x'.repeat(10000) + 'é']) {
    assert.deepEqual([...encodeUtf8Js(s)], [...Buffer.from(s)], s);
    assert.equal(decodeUtf8Js(Buffer.from(s)), s);
  }
  // A lone surrogate becomes U+FFFD, as TextEncoder does; invalid bytes decode as U+FFFD.
  assert.deepEqual([...encodeUtf8Js('\ud800')], [0xef, 0xbf, 0xbd]);
  assert.equal(decodeUtf8Js(Uint8Array.from([0x61, 0xff, 0x62])), 'a\ufffdb');
  assert.equal(decodeUtf8Js(Uint8Array.from([0xe6, 0x97])), '\ufffd\ufffd');
});
