import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KeyedHarness, parsed } from 'eddy-sdk/testing';
import activity from './function.js';

const read = (name) =>
  readFileSync(new URL(`./data/${name}`, import.meta.url), 'utf8').trim().split('\n').map((line) => {
    const v = JSON.parse(line);
    return { key: v.user, timestamp: v.ts, value: line };
  });

test('clicks and purchases of a user add up per minute', () => {
  const harness = KeyedHarness.open(activity, '');
  harness.process(read('clicks.jsonl'));
  harness.process2(read('purchases.jsonl'));
  const out = parsed(harness.advanceWatermark(Number.MAX_SAFE_INTEGER));
  const alice = out.filter((r) => r.user === 'alice');
  assert.deepEqual(alice, [
    { user: 'alice', start: 1699999980000, clicks: 2, purchases: 0, spent: 0 },
    { user: 'alice', start: 1700000040000, clicks: 1, purchases: 1, spent: 30 },
  ]);
  const total = out.reduce((sum, r) => ({ clicks: sum.clicks + r.clicks, spent: sum.spent + r.spent }), { clicks: 0, spent: 0 });
  assert.deepEqual(total, { clicks: 8, spent: 47 });
});
