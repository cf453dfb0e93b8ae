import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KeyedHarness, parsed } from 'eddy-sdk/testing';
import label from './function.js';

const read = (name) =>
  readFileSync(new URL(`./data/${name}`, import.meta.url), 'utf8').trim().split('\n').map((line) => JSON.parse(line));

test('clicks get their page label, or go to `unlabelled`', () => {
  const harness = KeyedHarness.open(label, '');
  harness.broadcast(read('labels.jsonl').map((l) => ({ timestamp: l.ts, value: l })));
  harness.process(read('clicks.jsonl').map((c) => ({ key: c.user, timestamp: c.ts, value: c })));
  const out = harness.advanceWatermark(Number.MAX_SAFE_INTEGER);
  const main = parsed(out.filter((o) => o.sideOutput === undefined));
  const side = parsed(out.filter((o) => o.sideOutput === 'unlabelled'));
  assert.deepEqual(main.map((c) => [c.user, c.label]), [
    ['alice', 'browsing'], ['alice', 'buying'], ['bob', 'buying'], ['carol', 'browsing'],
  ]);
  // Pages are labelled as they are: with a query string, a page has no label.
  assert.deepEqual(side.map((c) => c.page), ['/home', '/products/42?ref=ad', '/Home', '/products/7']);
});
