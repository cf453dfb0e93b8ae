import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runFlatMap, jsonl, parsed } from 'eddy-sdk/testing';
import segments from './function.js';

const clicks = jsonl(readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8'));

test('every path segment of the sample becomes a record', () => {
  const out = parsed(runFlatMap(segments, '', clicks));
  assert.deepEqual(out.slice(0, 4), [
    { user: 'alice', segment: 'home' },
    { user: 'bob', segment: 'products' },
    { user: 'bob', segment: '42' },
    { user: 'alice', segment: 'products' },
  ]);
  assert.equal(out.length, 12);
});
