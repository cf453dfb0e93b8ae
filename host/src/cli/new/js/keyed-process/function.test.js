import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KeyedHarness, parsed } from 'eddy-sdk/testing';
import countClicks from './function.js';

const lines = readFileSync(new URL('./data/clicks.jsonl', import.meta.url), 'utf8').trim().split('\n');
// Keyed and timed as the job file does: key_by `user`, timestamp `ts`.
const records = lines.map((line) => {
  const click = JSON.parse(line);
  return { key: click.user, timestamp: click.ts, value: line };
});

test("each click of the sample gives its user's running count", () => {
  const harness = KeyedHarness.open(countClicks, '');
  assert.deepEqual(parsed(harness.process(records)), [
    { user: 'alice', clicks: 1 },
    { user: 'bob', clicks: 1 },
    { user: 'alice', clicks: 2 },
    { user: 'carol', clicks: 1 },
    { user: 'alice', clicks: 3 },
    { user: 'bob', clicks: 2 },
    { user: 'bob', clicks: 3 },
    { user: 'carol', clicks: 2 },
  ]);
  assert.equal(harness.valueOf('clicks', 'alice'), 3);
});
