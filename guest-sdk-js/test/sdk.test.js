// SDK behaviour through the native harness: state kinds, TTL and versions,
// migrations, timers, side outputs, co-process, broadcast, aggregate,
// config, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  map, filter, flatMap, keySelector, keyedProcess, coProcess, broadcastProcess, windowProcess, aggregate,
  log, errorMessage, TtlUpdate, GuestTrap,
} from '../src/index.js';
import {
  KeyedHarness, WindowHarness, BatchBuilder, runMap, runFilter, runFlatMap, runKeySelector, parsed, text, exportsFor, MemoryState,
} from '../src/testing.js';

test('describe lists states with kind, TTL, version, migrations and side outputs', () => {
  const def = keyedProcess((ctx) => {
    ctx.valueState('v', { ttl: { millis: 60000, update: TtlUpdate.ON_READ_AND_WRITE } });
    ctx.listState('l', { version: 3, migrate: { 2: (x) => x, 1: (x) => x } });
    ctx.mapState('m', { ttl: 5000 });
    ctx.broadcastMapState('rules');
    ctx.sideOutput('late');
    return { process() {} };
  });
  const d = exportsFor(def).exports.describe();
  assert.equal(d.kind, 'keyed-process');
  assert.deepEqual(d.sideOutputs, ['late']);
  assert.deepEqual(d.states, [
    { name: 'v', kind: 'value', ttl: { millis: 60000n, update: 'on-read-and-write' }, version: 1, migratesFrom: [] },
    { name: 'l', kind: 'list', ttl: undefined, version: 3, migratesFrom: [1, 2] },
    { name: 'm', kind: 'map', ttl: { millis: 5000n, update: 'on-create-and-write' }, version: 1, migratesFrom: [] },
    { name: 'rules', kind: 'broadcast-map', ttl: undefined, version: 1, migratesFrom: [] },
  ]);
});

test('registration mistakes are refused with a message', () => {
  const twice = keyedProcess((ctx) => {
    ctx.valueState('x');
    ctx.listState('x');
    return { process() {} };
  });
  assert.throws(() => KeyedHarness.open(twice), /state `x` is registered twice/);
  const badMigration = keyedProcess((ctx) => {
    ctx.valueState('x', { version: 2, migrate: { 2: (v) => v } });
    return { process() {} };
  });
  assert.throws(() => KeyedHarness.open(badMigration), /migration from version 2 must come from a version below 2/);
  const stateInMap = map((ctx) => {
    ctx.valueState('x');
    return (v) => v;
  });
  assert.throws(() => runMap(stateInMap, '', ['1']), /only keyed functions/);
});

test('value state: own updates are seen within a batch and across batches, per key', () => {
  const def = keyedProcess((ctx) => {
    const sum = ctx.valueState('sum');
    return {
      process(v, out) {
        const s = (sum.value() ?? 0) + v;
        sum.update(s);
        out.emit([out.keyStr(), s]);
      },
    };
  });
  const h = KeyedHarness.open(def);
  const first = h.process([
    { key: 'a', timestamp: 1, value: 1 },
    { key: 'b', timestamp: 2, value: 10 },
    { key: 'a', timestamp: 3, value: 2 },
  ]);
  assert.deepEqual(parsed(first), [['a', 1], ['b', 10], ['a', 3]]);
  assert.deepEqual(first.map((o) => o.timestamp), [1, 2, 3]);
  const second = h.process([{ key: 'a', timestamp: 4, value: 4 }]);
  assert.deepEqual(parsed(second), [['a', 7]]);
  assert.equal(h.valueOf('sum', 'a'), 7);
  assert.equal(h.valueOf('sum', 'b'), 10);
});

test('list and map state go to the host at once and keep JSON values', () => {
  const def = keyedProcess((ctx) => {
    const list = ctx.listState('list');
    const m = ctx.mapState('map');
    return {
      process(v, out) {
        if (v.op === 'add') list.add(v.x);
        if (v.op === 'update') list.update(v.xs);
        if (v.op === 'clear') list.clear();
        if (v.op === 'put') m.put(v.k, v.x);
        if (v.op === 'remove') m.remove(v.k);
        out.emit({ list: list.get(), entries: m.entries(), has: m.contains('b'), get: m.get('a') ?? null, empty: m.isEmpty() });
      },
    };
  });
  const h = KeyedHarness.open(def);
  const out = parsed(h.process([
    { key: 'k', timestamp: 1, value: { op: 'add', x: { a: 1 } } },
    { key: 'k', timestamp: 2, value: { op: 'add', x: [2] } },
    { key: 'k', timestamp: 3, value: { op: 'put', k: 'b', x: 2 } },
    { key: 'k', timestamp: 4, value: { op: 'put', k: 'a', x: 'one' } },
    { key: 'other', timestamp: 5, value: { op: 'noop' } },
    { key: 'k', timestamp: 6, value: { op: 'update', xs: [9] } },
    { key: 'k', timestamp: 7, value: { op: 'remove', k: 'b' } },
    { key: 'k', timestamp: 8, value: { op: 'clear' } },
  ]));
  assert.deepEqual(out[1].list, [{ a: 1 }, [2]]);
  // map entries ordered by key bytes: "a" < "b"
  assert.deepEqual(out[3].entries, [['a', 'one'], ['b', 2]]);
  assert.equal(out[3].has, true);
  assert.deepEqual(out[4], { list: [], entries: [], has: false, get: null, empty: true });
  assert.deepEqual(out[5].list, [9]);
  assert.deepEqual(out[6].entries, [['a', 'one']]);
  assert.deepEqual(out[7].list, []);
  // Stored bytes are compact JSON, as serde_json writes them.
  assert.equal(text(h.memory.data.get(`1/${Buffer.from('k').toString('hex')}`).get(Buffer.from('"a"').toString('hex'))), '"one"');
});

test('state values are compact JSON readable by the Rust SDK, and Rust-written values read back', () => {
  const def = keyedProcess((ctx) => {
    const v = ctx.valueState('v');
    return {
      process(input, out) {
        out.emit(v.value() ?? null);
        v.update({ count: 3, name: 'é', list: [1, 2.5, null, true] });
      },
    };
  });
  const h = KeyedHarness.open(def);
  // A value written by serde_json (Rust) in the key table:
  const key = Buffer.from('k').toString('hex');
  h.memory.data.set(`0/${key}`, Buffer.from('{"count":2,"name":"\u00e9"}'));
  assert.deepEqual(parsed(h.process([{ key: 'k', timestamp: 1, value: 0 }])), [{ count: 2, name: 'é' }]);
  assert.equal(text(h.memory.data.get(`0/${key}`)), '{"count":3,"name":"é","list":[1,2.5,null,true]}');
});

test('timers: event time fires with the watermark in order, processing time with the clock, deleted timers do not fire', () => {
  const def = keyedProcess(() => ({
    process(v, out) {
      if (v.event) out.registerEventTimeTimer(v.event);
      if (v.proc) out.registerProcessingTimeTimer(v.proc);
      if (v.del) out.deleteEventTimeTimer(v.del);
    },
    onTimer(ts, domain, out) {
      out.emit({ key: out.keyStr(), ts, domain, at: out.timestamp, wm: out.currentWatermark });
    },
  }));
  const h = KeyedHarness.open(def);
  h.process([
    { key: 'a', timestamp: 1, value: { event: 300 } },
    { key: 'b', timestamp: 1, value: { event: 100 } },
    { key: 'b', timestamp: 1, value: { event: 100 } }, // deduplicated
    { key: 'a', timestamp: 1, value: { event: 200, proc: 50 } },
    { key: 'a', timestamp: 1, value: { event: 250 } },
    { key: 'a', timestamp: 2, value: { del: 250 } },
  ]);
  assert.deepEqual(h.pendingTimers().map((t) => [t.key, t.timestamp, t.domain]), [
    ['a', 50, 'processing-time'], ['b', 100, 'event-time'], ['a', 200, 'event-time'], ['a', 300, 'event-time'],
  ]);
  assert.deepEqual(parsed(h.advanceWatermark(99)), []);
  assert.deepEqual(parsed(h.advanceWatermark(200)), [
    { key: 'b', ts: 100, domain: 'event-time', at: 100, wm: 200 },
    { key: 'a', ts: 200, domain: 'event-time', at: 200, wm: 200 },
  ]);
  assert.deepEqual(parsed(h.setProcessingTime(60)), [{ key: 'a', ts: 50, domain: 'processing-time', at: 50, wm: 200 }]);
  assert.deepEqual(parsed(h.advanceWatermark(1000)).map((o) => o.ts), [300]);
});

test('side outputs carry their name; a record timestamp is the context timestamp', () => {
  const def = keyedProcess((ctx) => {
    const late = ctx.sideOutput('late');
    return {
      process(v, out) {
        if (out.timestamp <= out.currentWatermark) out.output(late, v);
        else out.emit(v);
      },
    };
  });
  const h = KeyedHarness.open(def);
  h.advanceWatermark(10);
  const out = h.process([{ key: 'a', timestamp: 5, value: '"x"' }, { key: 'a', timestamp: 15, value: '"y"' }]);
  assert.deepEqual(out.map((o) => [text(o.value), o.sideOutput ?? null]), [['"x"', 'late'], ['"y"', null]]);
});

test('migrate-state turns old values into new ones, and refuses unknown states and versions', () => {
  const def = keyedProcess((ctx) => {
    ctx.valueState('total', { version: 2, migrate: { 1: (n) => ({ total: n }) } });
    return { process() {} };
  });
  const h = KeyedHarness.open(def);
  assert.equal(text(h.migrateState('total', 1, '41')), '{"total":41}');
  assert.throws(() => h.migrateState('nope', 1, '1'), /cannot migrate state `nope` from version 1: this function declares no such state \(its states are `total`\)/);
  assert.throws(() => h.migrateState('total', 0, '1'), /it is at version 2 and migrates from version 1/);
});

test('co-process: two inputs share keyed state', () => {
  const def = coProcess((ctx) => {
    const name = ctx.valueState('name');
    return {
      processElement1(order, out) {
        out.emit({ order: order.id, customer: name.value() ?? null });
      },
      processElement2(customer) {
        name.update(customer.name);
      },
    };
  });
  const h = KeyedHarness.open(def);
  assert.deepEqual(parsed(h.process([{ key: 'c1', timestamp: 1, value: { id: 1 } }])), [{ order: 1, customer: null }]);
  h.process2([{ key: 'c1', timestamp: 2, value: { name: 'Ada' } }]);
  assert.deepEqual(parsed(h.process([{ key: 'c1', timestamp: 3, value: { id: 2 } }])), [{ order: 2, customer: 'Ada' }]);
});

test('broadcast-process: broadcast records write broadcast state, keyed records only read it', () => {
  const def = broadcastProcess((ctx) => {
    const rules = ctx.broadcastMapState('rules');
    const seen = ctx.valueState('seen');
    return {
      processBroadcastElement(rule, out) {
        rules.put(rule.name, rule.limit);
        out.emit({ rule: rule.name });
      },
      processElement(v, out) {
        if (v.write) rules.put('x', 1);
        if (v.limit !== undefined && v.amount > (rules.get(v.limit) ?? Infinity)) out.emit({ alert: out.keyStr() });
        seen.update(true);
      },
    };
  });
  const h = KeyedHarness.open(def);
  assert.deepEqual(parsed(h.broadcast([{ timestamp: 1, value: { name: 'big', limit: 100 } }])), [{ rule: 'big' }]);
  assert.deepEqual(parsed(h.process([{ key: 'u', timestamp: 2, value: { amount: 150, limit: 'big' } }])), [{ alert: 'u' }]);
  assert.throws(() => h.process([{ key: 'u', timestamp: 3, value: { write: true } }]), /broadcast state `rules` is read-only here/);
  const keyedInBroadcast = broadcastProcess((ctx) => {
    const seen = ctx.valueState('seen');
    return { processBroadcastElement() { seen.value(); }, processElement() {} };
  });
  assert.throws(() => KeyedHarness.open(keyedInBroadcast).broadcast([{ timestamp: 1, value: 1 }]), /keyed state `seen` is out of reach while a broadcast record is processed/);
});

test('window-process gets all elements of a window with its bounds; aggregate keeps JSON accumulators', () => {
  const def = windowProcess(() => ({
    process(w, elements, out) {
      out.emit({ key: w.keyStr(), start: w.start, end: w.end, n: elements.length, ts: elements.map((e) => e.timestamp) });
    },
  }));
  const h = new WindowHarness(def, '', { size: 10 });
  const out = h.runWithWatermarks([
    { key: 'a', timestamp: 1, value: 0 }, { key: 'a', timestamp: 12, value: 0 }, { key: 'a', timestamp: 3, value: 0 },
  ], 10, 0);
  assert.deepEqual(parsed(out), [{ key: 'a', start: 0, end: 10, n: 2, ts: [1, 3] }, { key: 'a', start: 10, end: 20, n: 1, ts: [12] }]);
  assert.deepEqual(out.map((o) => o.timestamp), [9, 19]);

  const avg = aggregate(() => ({
    createAccumulator: () => ({ sum: 0, n: 0 }),
    add: (acc, v) => ({ sum: acc.sum + v, n: acc.n + 1 }),
    merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
    getResult: (acc, w) => ({ key: w.keyStr(), avg: acc.sum / acc.n, end: w.end }),
  }));
  const a = new WindowHarness(avg, '', { size: 10 });
  assert.deepEqual(parsed(a.runWithWatermarks([
    { key: 'x', timestamp: 1, value: 2 }, { key: 'x', timestamp: 2, value: 4 }, { key: 'y', timestamp: 15, value: 1 },
  ], 2, 0)), [{ key: 'x', avg: 3, end: 10 }, { key: 'y', avg: 1, end: 20 }]);
  const { exports } = exportsFor(avg);
  exports.init('');
  assert.equal(text(exports.merge(Buffer.from('{"sum":1,"n":1}'), Buffer.from('{"sum":2,"n":3}'))), '{"sum":3,"n":4}');
  assert.equal(text(exports.createAccumulator()), '{"sum":0,"n":0}');
});

test('map, filter, flat-map and key selector with codecs', () => {
  assert.deepEqual(runMap(map(() => (s) => s.toUpperCase(), { input: 'string', output: 'string' }), '', ['ab', 'é']).map(text), ['AB', 'É']);
  assert.deepEqual(runFilter(filter(() => (v) => v > 1), '', ['1', '2', '3']).map(text), ['2', '3']);
  assert.deepEqual(runFlatMap(flatMap(() => (v, out) => { for (let i = 0; i < v; i++) out.emit(i); }), '', ['2', '0', '1']).map(text), ['0', '1', '0']);
  assert.deepEqual(runKeySelector(keySelector(() => (v) => v.user), '', [{ user: 'ann' }]).map(text), ['ann']);
  assert.deepEqual(runKeySelector(keySelector(() => (v) => v.id), '', [{ id: 7 }]).map(text), ['7']);
});

test('config: JSON over defaults, unknown fields and bad JSON refused, raw string available', () => {
  const def = map((ctx) => {
    const c = ctx.configJsonOr({ a: 1, b: 2 });
    return () => ({ ...c, raw: ctx.config });
  });
  assert.deepEqual(parsed(runMap(def, '', ['0'])), [{ a: 1, b: 2, raw: '' }]);
  assert.deepEqual(parsed(runMap(def, '{"b":5}', ['0'])), [{ a: 1, b: 5, raw: '{"b":5}' }]);
  assert.throws(() => runMap(def, '{"c":5}', ['0']), /unknown field `c`/);
  assert.throws(() => runMap(def, '{nope', ['0']), /config is not JSON/);
});

test('an error thrown on a record is a panic naming the event: record-panic-at with Name: message and the first frame, then a trap', () => {
  const def = map(() => (v) => {
    if (v.bad) return v.missing.x;
    if (v.refuse) throw 'refused: a string is an error result';
    return v;
  });
  const logs = [];
  const { exports } = exportsFor(def, { logs });
  exports.init('');
  const batch = new BatchBuilder().record(0xffffffff, 1, '{}').record(0xffffffff, 2, '{"bad":true}').build();
  let thrown;
  try {
    exports.processBatch(batch);
  } catch (e) {
    thrown = e;
  }
  // Not a string: the export traps, and the host reports the recorded panic.
  assert.ok(thrown instanceof GuestTrap, `a GuestTrap, got ${thrown}`);
  assert.equal(thrown.event, 1);
  assert.match(thrown.message, /^TypeError: Cannot read properties of undefined \(reading 'x'\)\n    at .*sdk\.test\.js:\d+:\d+/);
  assert.deepEqual(logs.filter((l) => l.level === 'panic').map((l) => [l.event, l.message]), [[1, thrown.message]]);
  // A thrown string is the err of process-batch, without a panic.
  const logs1 = [];
  const f1 = exportsFor(def, { logs: logs1 }).exports;
  f1.init('');
  assert.throws(() => f1.processBatch(new BatchBuilder().record(0xffffffff, 1, '{"refuse":true}').build()), (e) => e === 'refused: a string is an error result');
  assert.deepEqual(logs1, []);
  // Errors of init (open) have no event: the err of init, named.
  const failing = map(() => { throw new RangeError('bad config'); });
  const logs2 = [];
  assert.throws(() => exportsFor(failing, { logs: logs2 }).exports.init(''), (e) => typeof e === 'string' && e.startsWith('RangeError: bad config'));
  assert.deepEqual(logs2, []);
  // The harness turns both into Errors.
  assert.throws(() => runMap(def, '', ['{"bad":true}']), (e) => e.panic === true && e.event === 0 && e.message.startsWith('TypeError'));
  assert.throws(() => runMap(def, '', ['{"refuse":true}']), (e) => e.panic === undefined && e.message.startsWith('refused'));
  // A thrown string is passed as is; other values are named.
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage({ code: 1 }), 'uncaught {"code":1}');
  assert.equal(errorMessage(new Error('x')).split('\n')[0], 'Error: x');
});

test('a process-batch before init, and a definition that is not one, are refused', () => {
  const { exports } = exportsFor(map(() => (v) => v));
  assert.throws(() => exports.processBatch(new Uint8Array([1])), /before `init`/);
  assert.throws(() => exportsFor({}), /must `export default`/);
  assert.throws(() => map({}), /pass a function/);
});

test('logging goes to the host with its level', () => {
  const logs = [];
  const def = map(() => (v) => {
    log.info(`got ${v}`);
    log.warn('careful');
    return v;
  });
  const { exports } = exportsFor(def, { logs });
  exports.init('');
  exports.processBatch(new BatchBuilder().record(0xffffffff, 1, '7').build());
  assert.deepEqual(logs, [{ level: 'info', message: 'got 7' }, { level: 'warn', message: 'careful' }]);
});


test('console.* goes to the host log once installed (the component has no stdout)', async () => {
  const { __installConsole } = await import('../src/index.js');
  const saved = globalThis.console;
  const logs = [];
  try {
    const def = map(() => (v) => {
      console.log('value', v, { a: 1 });
      console.error(new TypeError('bad'));
      return v;
    });
    const { exports } = exportsFor(def, { logs });
    __installConsole();
    exports.init('');
    exports.processBatch(new BatchBuilder().record(0xffffffff, 1, '7').build());
  } finally {
    globalThis.console = saved;
  }
  assert.deepEqual(logs.map((l) => l.level), ['info', 'error']);
  assert.equal(logs[0].message, 'value 7 {"a":1}');
  assert.match(logs[1].message, /^TypeError: bad/);
});

test('a record that is not JSON is an error the function returns, not a panic', () => {
  const def = map(() => (v) => v);
  const logs = [];
  const { exports } = exportsFor(def, { logs });
  exports.init('');
  const batch = new BatchBuilder().record(0xffffffff, 1, '{}').record(0xffffffff, 2, 'not json').build();
  let thrown;
  try {
    exports.processBatch(batch);
  } catch (e) {
    thrown = e;
  }
  assert.equal(typeof thrown, 'string', `an error result, got ${thrown}`);
  assert.match(thrown, /^record is not JSON: .*not json/);
  assert.deepEqual(logs, [], 'no panic is recorded');
});

test('an aggregate whose createAccumulator throws tells the host why before the trap', () => {
  const def = aggregate(() => ({
    createAccumulator() { throw new RangeError('no accumulator today'); },
    add: (acc) => acc,
    merge: (a) => a,
    getResult: (acc) => acc,
  }));
  const logs = [];
  const { exports } = exportsFor(def, { logs });
  exports.init('');
  assert.throws(() => exports.createAccumulator());
  const panics = logs.filter((l) => l.level === 'panic').map((l) => l.message);
  assert.equal(panics.length, 1, JSON.stringify(logs));
  assert.match(panics[0], /^RangeError: no accumulator today/);
});
