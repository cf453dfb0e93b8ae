import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runFilter, jsonl, parsed } from 'eddy-sdk/testing';
import pagesUnder from './function.js';

const clicks = jsonl(readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8'));

test('only clicks under the prefix are kept', () => {
  const kept = parsed(runFilter(pagesUnder, '{"prefix": "/products"}', clicks));
  assert.deepEqual(kept.map((c) => c.page), ['/products/42?ref=ad', '/products/42', '/products/7', '/products/42']);
  const checkout = parsed(runFilter(pagesUnder, '{"prefix": "/checkout"}', clicks));
  assert.deepEqual(checkout.map((c) => c.user), ['alice', 'bob']);
});
