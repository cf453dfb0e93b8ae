import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { runMap, jsonl, assertJsonlEq } from 'eddy-sdk/testing';
import normalise from './function.js';

const clicks = jsonl(readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8'));

test('pages lose their query and case', () => {
  const out = runMap(normalise, '', clicks);
  assertJsonlEq(out.slice(0, 4), [
    '{"user":"alice","page":"/home","ts":1700000000000}',
    '{"user":"bob","page":"/products/42","ts":1700000005000}',
    '{"user":"alice","page":"/products/42","ts":1700000012000}',
    '{"user":"carol","page":"/home","ts":1700000030000}',
  ].join('\n'));
});
