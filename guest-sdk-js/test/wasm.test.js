// End to end through eddy: guests built into components (QuickJS) and run
// by the host. Needs an eddy binary: EDDY=/path/to/eddy npm test (skipped
// without it; the lead's Rust tests run the examples the same way).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const EDDY = process.env.EDDY;
const build = fileURLToPath(new URL('../bin/eddy-js-build.mjs', import.meta.url));
const skip = EDDY ? false : 'set EDDY=/path/to/eddy to run the end-to-end tests';

function withDir(body) {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-js-e2e-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function buildGuest(dir, name, source) {
  writeFileSync(join(dir, `${name}.js`), source);
  const out = spawnSync(process.execPath, [build, join(dir, `${name}.js`), '-o', join(dir, `${name}.wasm`)], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return join(dir, `${name}.wasm`);
}

function eddy(dir, args) {
  return spawnSync(EDDY, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, EDDY_CACHE_DIR: join(dir, 'cache') } });
}

test('describe of a QuickJS component: TTL (u64), versions and side outputs reach the host', { skip }, () =>
  withDir((dir) => {
    const wasm = buildGuest(dir, 'states', `
      import { keyedProcess, TtlUpdate } from 'eddy-sdk';
      export default keyedProcess((ctx) => {
        ctx.valueState('v', { ttl: { millis: 60000, update: TtlUpdate.ON_READ_AND_WRITE }, version: 2, migrate: { 1: (x) => x } });
        ctx.mapState('m', { ttl: 5000 });
        ctx.sideOutput('late');
        return { process() {} };
      });`);
    const out = eddy(dir, ['inspect', wasm]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /state: +v \(Value, version 2, migrates from 1, ttl 60000 ms \(OnReadAndWrite\)\)/);
    assert.match(out.stdout, /state: +m \(Map, version 1, ttl 5000 ms \(OnCreateAndWrite\)\)/);
    assert.match(out.stdout, /side outputs: late/);
  }));

test('broadcast state (key ref 0xFFFF_FFFF) is written by broadcast records and read by keyed ones', { skip }, () =>
  withDir((dir) => {
    const wasm = buildGuest(dir, 'label', `
      import { broadcastProcess } from 'eddy-sdk';
      export default broadcastProcess((ctx) => {
        const labels = ctx.broadcastMapState('labels');
        const waiting = ctx.mapState('waiting');
        return {
          processElement(click, out) {
            waiting.put(click.ts, click);
            out.registerEventTimeTimer(click.ts);
          },
          processBroadcastElement(label) { labels.put(label.page, label.label); },
          onTimer(ts, domain, out) {
            const click = waiting.get(ts);
            waiting.remove(ts);
            out.emit({ user: click.user, label: labels.get(click.page) ?? null });
          },
        };
      });`);
    writeFileSync(join(dir, 'clicks.jsonl'), '{"user":"a","page":"/x","ts":1000}\n{"user":"b","page":"/y","ts":2000}\n');
    writeFileSync(join(dir, 'labels.jsonl'), '{"page":"/x","label":"X","ts":0}\n');
    writeFileSync(join(dir, 'job.toml'), `
[job]
name = "label"
[[source]]
name = "clicks"
type = "file"
path = "clicks.jsonl"
timestamp = { field = "ts" }
[[source]]
name = "labels"
type = "file"
path = "labels.jsonl"
timestamp = { field = "ts" }
[[operator]]
uid = "label"
kind = "broadcast-process"
module = "${wasm}"
input = "clicks"
key_by = { field = "user" }
broadcast = { input = "labels" }
[[sink]]
name = "out"
type = "stdout"
input = "label"
`);
    const out = eddy(dir, ['run', 'job.toml']);
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split('\n').sort(), ['{"user":"a","label":"X"}', '{"user":"b","label":null}']);
  }));

test('an exception on a record is reported as a panic with the JS error and the record', { skip }, () =>
  withDir((dir) => {
    const wasm = buildGuest(dir, 'boom', `
      import { map } from 'eddy-sdk';
      export default map(() => (v) => { if (v.a === 'boom') return v.missing.x; return v; });`);
    writeFileSync(join(dir, 'in.jsonl'), '{"a":"ok"}\n{"a":"boom"}\n');
    writeFileSync(join(dir, 'job.toml'), `
[job]
name = "boom"
[[source]]
name = "src"
type = "file"
path = "in.jsonl"
[[operator]]
uid = "parse"
kind = "map"
module = "${wasm}"
input = "src"
[[sink]]
name = "out"
type = "stdout"
input = "parse"
`);
    const out = eddy(dir, ['run', 'job.toml']);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, /operator `parse` \(subtask 1\/1\) failed: guest panicked: TypeError: cannot read property 'x' of undefined\n    at .*boom\.js:\d+:\d+\)\non record: \{"a":"boom"\}/);
  }));
