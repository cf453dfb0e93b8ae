import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WindowHarness, parsed } from 'eddy-sdk/testing';
import countPerWindow from './function.js';

const lines = readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8').trim().split('\n');
const records = lines.map((line) => {
  const click = JSON.parse(line);
  return { key: click.user, timestamp: click.ts, value: line };
});

test('clicks are counted per user and minute', () => {
  const out = parsed(new WindowHarness(countPerWindow, '', { size: 60_000 }).runWithWatermarks(records, 4, 5000));
  const alice = out.filter((r) => r.user === 'alice');
  assert.deepEqual(alice, [
    { user: 'alice', start: 1699999980000, end: 1700000040000, clicks: 2 },
    { user: 'alice', start: 1700000040000, end: 1700000100000, clicks: 1 },
  ]);
  assert.equal(out.reduce((n, r) => n + r.clicks, 0), 8);
});
