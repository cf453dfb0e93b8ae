import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WindowHarness, parsed } from 'eddy-sdk/testing';
import pagesPerWindow from './function.js';

const lines = readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8').trim().split('\n');
const records = lines.map((line) => {
  const click = JSON.parse(line);
  return { key: click.user, timestamp: click.ts, value: line };
});

test("each user's distinct pages are listed per minute, sorted", () => {
  const out = parsed(new WindowHarness(pagesPerWindow, '', { size: 60_000 }).runWithWatermarks(records, 4, 5000));
  assert.deepEqual(out.filter((r) => r.user === 'bob'), [
    { user: 'bob', start: 1699999980000, end: 1700000040000, pages: ['/products/42?ref=ad'] },
    { user: 'bob', start: 1700000040000, end: 1700000100000, pages: ['/checkout', '/products/7'] },
  ]);
});
