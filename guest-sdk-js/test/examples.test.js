// The JavaScript examples of examples-wasm/ give the outputs of their
// data/expected-*.jsonl, run in the native harness (as the Rust examples'
// tests do).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  loadGuest, KeyedHarness, WindowHarness, runFlatMap, runMap, runFilter, jsonl, assertJsonlEq, assertJsonlEqUnordered, parsed, text,
} from '../src/testing.js';

const examples = fileURLToPath(new URL('../../examples-wasm/', import.meta.url));
const read = (path) => readFileSync(examples + path, 'utf8');
const lines = (path) => read(path).split('\n').filter((l) => l.trim() !== '');

test('fraud-detection raises the expected alerts, whatever the batch size', async () => {
  const def = await loadGuest(examples + 'fraud-detection/js/fraud-detection.js');
  const records = lines('fraud-detection/data/logins.jsonl').map((line) => {
    const login = JSON.parse(line);
    return { key: login.user, timestamp: login.ts, value: line };
  });
  const expected = read('fraud-detection/data/expected-alerts.jsonl');
  for (const batchSize of [1, 7, 64]) {
    assertJsonlEq(KeyedHarness.open(def, '').runWithWatermarks(records, batchSize, 5000), expected);
  }
  assertJsonlEq(KeyedHarness.open(def, '{"threshold": 3, "window_ms": 300000}').runWithWatermarks(records, 5, 5000), expected);
  // With a one-minute window: dave's and alice's second burst only (as the Rust test).
  assertJsonlEq(
    KeyedHarness.open(def, '{"window_ms": 60000}').runWithWatermarks(records, 8, 5000),
    '{"user":"dave","failures":3,"first_ts":1700000030000,"last_ts":1700000080000}\n' +
      '{"user":"alice","failures":3,"first_ts":1700000600000,"last_ts":1700000640000}',
  );
  assert.throws(() => KeyedHarness.open(def, '{"threshold": 0}'), /threshold and window_ms must be positive/);
});

test('fraud-detection keeps only failures inside the window in its list state', async () => {
  const def = await loadGuest(examples + 'fraud-detection/js/fraud-detection.js');
  const h = KeyedHarness.open(def, '{"window_ms": 1000}');
  h.process([{ key: 'u', timestamp: 100, value: { user: 'u', ts: 100, success: false } }]);
  h.process([{ key: 'u', timestamp: 600, value: { user: 'u', ts: 600, success: false } }]);
  assert.deepEqual(h.pendingTimers().map((t) => t.timestamp), [1100, 1600]);
  h.advanceWatermark(1100);
  // The timer at 1100 dropped the failure at 100.
  const list = h.memory.data.get(`0/${Buffer.from('u').toString('hex')}`).map((b) => text(b));
  assert.deepEqual(list, ['600']);
  h.advanceWatermark(1600);
  assert.equal(h.memory.data.get(`0/${Buffer.from('u').toString('hex')}`), undefined);
});

test('word-split splits the sample lines into the expected words', async () => {
  const def = await loadGuest(examples + 'word-count/js/word-split.js');
  const words = runFlatMap(def, '', jsonl(read('word-count/data/lines.jsonl')));
  assertJsonlEq(words, read('word-count/data/expected-words.jsonl'));
});

test('word-count gives the expected counts and stores them as JSON integers in value state `count`', async () => {
  const def = await loadGuest(examples + 'word-count/js/word-count.js');
  const records = lines('word-count/data/expected-words.jsonl').map((line, ts) => ({ key: JSON.parse(line).word, timestamp: ts, value: line }));
  const h = KeyedHarness.open(def);
  assertJsonlEq(h.runWithWatermarks(records, 16, 0), read('word-count/data/expected-counts.jsonl'));
  assert.deepEqual(h.descriptor.states, [{ name: 'count', kind: 'value', ttl: undefined, version: 1, migratesFrom: [] }]);
  const the = parsed(h.runWithWatermarks([], 1, 0));
  assert.deepEqual(the, []);
  const stored = h.memory.data.get(`0/${Buffer.from('the').toString('hex')}`);
  assert.match(text(stored), /^\d+$/);
});

test('top-k gives the expected top items per category and window', async () => {
  const def = await loadGuest(examples + 'top-k/js/top-k.js');
  const records = lines('top-k/data/events.jsonl').map((line) => {
    const event = JSON.parse(line);
    return { key: event.category, timestamp: event.ts, value: line };
  });
  const expected = read('top-k/data/expected-top.jsonl');
  for (const batchSize of [1, 10, 100]) {
    const out = new WindowHarness(def, '', { size: 60000 }).runWithWatermarks(records, batchSize, 5000);
    assertJsonlEqUnordered(out, expected);
  }
  const top2 = parsed(new WindowHarness(def, '{"k": 2}', { size: 60000 }).runWithWatermarks(records, 10, 5000));
  assert.ok(top2.every((w) => w.top.length <= 2));
  assert.throws(() => new WindowHarness(def, '{"k": 0}', { size: 60000 }), /k must be at least 1/);
});

test('faulty passes records through, and throws on the needle with its own message', async () => {
  const def = await loadGuest(examples + 'faulty/js/faulty.js');
  assert.deepEqual(runMap(def, '', ['{"a":1}']).map(text), ['{"a":1}']);
  assert.throws(() => runMap(def, '{"mode":"panic-on","needle":"poison"}', ['ok', 'has poison']), (e) => e.message.startsWith('Error: faulty guest: found poison'));
  assert.throws(() => runMap(def, '{"mode":"type-error-on","needle":"poison"}', ['poison']), (e) => /^TypeError: Cannot read properties of undefined \(reading 'x'\)\n    at .*faulty\.js/.test(e.message));
  assert.throws(() => runMap(def, '{"mode":"error"}', ['x']), (e) => e.message === 'faulty guest: refused record');
  assert.throws(() => runMap(def, '{"mode":"panic-on"}', ['x']), /mode `panic-on` needs a non-empty `needle`/);
});

function event(key, ts, amount, payload) {
  const b = new Uint8Array(24 + payload.length);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(key), true);
  v.setBigInt64(8, BigInt(ts), true);
  v.setBigUint64(16, BigInt(amount), true);
  b.set(Buffer.from(payload, 'latin1'), 24);
  return b;
}

test('bench-map: amount * 3 + 7 wrapping in u64, payload upper-cased (ASCII only)', async () => {
  const def = await loadGuest(examples + 'bench-map/js/bench-map.js');
  const inputs = [event(1, 2, 5, 'abcxyz-Q9'), event(3, 4, 2n ** 64n - 1n, 'é'), event(5, 6, 2n ** 62n + 12345n, '')];
  const out = runMap(def, '', inputs);
  const amount = (b) => new DataView(b.buffer, b.byteOffset).getBigUint64(16, true);
  assert.equal(amount(out[0]), 22n);
  assert.equal(amount(out[1]), ((2n ** 64n - 1n) * 3n + 7n) % 2n ** 64n);
  assert.equal(amount(out[2]), ((2n ** 62n + 12345n) * 3n + 7n) % 2n ** 64n);
  assert.equal(Buffer.from(out[0].subarray(24)).toString('latin1'), 'ABCXYZ-Q9');
  assert.deepEqual([...out[1].subarray(24)], [...Buffer.from('é', 'latin1')]);
  assert.deepEqual([...out[0].subarray(0, 16)], [...inputs[0].subarray(0, 16)]);
  assert.throws(() => runMap(def, '', [new Uint8Array(10)]), /binary event is 10 bytes, expected at least 24/);
});

test('bench-filter keeps events with an even amount; bench-window-count counts per window as 8 LE bytes', async () => {
  const f = await loadGuest(examples + 'bench-filter/js/bench-filter.js');
  const inputs = [event(1, 1, 4, 'a'), event(1, 1, 7, 'b'), event(1, 1, 2n ** 40n, 'c')];
  assert.deepEqual(runFilter(f, '', inputs), [inputs[0], inputs[2]]);
  const w = await loadGuest(examples + 'bench-window-count/js/bench-window-count.js');
  const h = new WindowHarness(w, '', { size: 60000 });
  const records = [];
  for (let i = 0; i < 5; i++) records.push({ key: 'k1', timestamp: 1000 + i, value: event(1, 1000 + i, i, '') });
  records.push({ key: 'k2', timestamp: 70000, value: event(2, 70000, 0, '') });
  const out = h.runWithWatermarks(records, 2, 0);
  assert.deepEqual(out.map((o) => [...o.value]), [[5, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]]);
});

test('bench-map upper-cases exactly the ASCII letters of any payload (word-at-a-time path against a byte loop)', async () => {
  const def = await loadGuest(examples + 'bench-map/js/bench-map.js');
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
  for (let len = 0; len < 40; len++) {
    const payload = Uint8Array.from({ length: len }, rand);
    const input = event(1, 1, 1, '');
    const full = new Uint8Array(24 + len);
    full.set(input.subarray(0, 24));
    full.set(payload, 24);
    const [out] = runMap(def, '', [full]);
    const want = Array.from(payload, (c) => (c >= 0x61 && c <= 0x7a ? c - 32 : c));
    assert.deepEqual([...out.subarray(24)], want, `payload of ${len} bytes`);
  }
});

test('swap-count-v2 (JS) counts per key and period in value state `count` as a JSON integer, and emits from the second', async () => {
  const def = await loadGuest(examples + 'swap-count-v2/js/swap-count-v2.js');
  const h = KeyedHarness.open(def, '{"period_ms": 1000}');
  assert.deepEqual(h.descriptor.states, [{ name: 'count', kind: 'value', ttl: undefined, version: 1, migratesFrom: [] }]);
  // A count written by the Rust swap-count-v1 (serde_json: `3`) continues.
  h.memory.data.set(`0/${Buffer.from('k').toString('hex')}`, Buffer.from('3'));
  const out = h.process([
    { key: 'k', timestamp: 100, value: { key: 'k', ts: 100 } },
    { key: 'j', timestamp: 200, value: { key: 'j', ts: 200 } },
    { key: 'j', timestamp: 300, value: { key: 'j', ts: 300 } },
  ]);
  assert.deepEqual(parsed(out), [{ key: 'k', total: 4, rule: 'v2' }, { key: 'j', total: 2, rule: 'v2' }]);
  assert.equal(text(h.memory.data.get(`0/${Buffer.from('k').toString('hex')}`)), '4');
  h.advanceWatermark(1000);
  assert.equal(h.valueOf('count', 'k'), undefined);
});
