// Native test harness for eddy JavaScript guests, like the Rust SDK's
// `eddy_sdk::testing`: runs a function definition in Node without
// WebAssembly, through the same batch layout the host uses, with in-memory
// keyed state, timers and watermarks.
//
//   import { loadGuest, KeyedHarness, runMap, jsonl, assertJsonlEq } from 'eddy-sdk/testing';

import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import {
  Reader,
  Writer,
  NO_KEY,
  ABSENT,
  MIN_TIMESTAMP,
  MAX_TIMESTAMP,
  joinLengthPrefixed,
  splitLengthPrefixed,
} from './layout.js';
import { __bindHost, __exportsOf, encodeUtf8, decodeUtf8, worldOf, GuestTrap } from './index.js';

export { MIN_TIMESTAMP, MAX_TIMESTAMP, NO_KEY };

let hooksRegistered = false;

/** Import a guest module (resolving `eddy-sdk` to this package) and return its default export. */
export async function loadGuest(path) {
  if (!hooksRegistered) {
    register('./node-hooks.mjs', import.meta.url);
    hooksRegistered = true;
  }
  const url = path.startsWith('file:') ? path : pathToFileURL(resolvePath(path)).href;
  return (await import(url)).default;
}

/** Bytes of a test value: a Uint8Array as is, a string as UTF-8, anything else as JSON. */
export function bytesOf(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encodeUtf8(value);
  return encodeUtf8(JSON.stringify(value));
}

/** Lines of JSON Lines text as byte arrays (empty lines skipped). */
export function jsonl(text) {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => encodeUtf8(line));
}

/** Text of output bytes. */
export const text = (bytes) => decodeUtf8(bytes);

/** Output values (bytes or outputs with `.value`) as parsed JSON. */
export function parsed(outputs) {
  return outputs.map((o) => JSON.parse(decodeUtf8(o instanceof Uint8Array ? o : o.value)));
}

/**
 * Assert that `actual` (byte arrays or outputs with `.value`) equals the
 * JSON Lines `expected`, in order, comparing parsed JSON.
 */
export function assertJsonlEq(actual, expected) {
  const want = jsonl(expected).map((b) => JSON.parse(decodeUtf8(b)));
  const got = parsed(actual);
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a !== b) {
    const lines = [];
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      const g = JSON.stringify(got[i]);
      const w = JSON.stringify(want[i]);
      if (g !== w) lines.push(`line ${i + 1}:\n  got      ${g}\n  expected ${w}`);
    }
    throw new Error(`output differs from the expected JSON Lines (${got.length} vs ${want.length} lines)\n${lines.slice(0, 10).join('\n')}`);
  }
}

/** As `assertJsonlEq`, ignoring order (outputs of parallel runs). */
export function assertJsonlEqUnordered(actual, expected) {
  const got = parsed(actual).map((v) => JSON.stringify(v)).sort();
  const want = jsonl(expected).map((b) => JSON.stringify(JSON.parse(decodeUtf8(b)))).sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`output differs from the expected JSON Lines as a multiset:\n  got      ${got.join('\n           ')}\n  expected ${want.join('\n           ')}`);
  }
}

// ---------------------------------------------------------------------------
// Batches and outputs in the layout of wit/README.md.

/** Builds an input batch (host → guest), like the Rust SDK's `testing::BatchBuilder`. */
export class BatchBuilder {
  constructor(watermark = MIN_TIMESTAMP, processingTime = 0) {
    this.watermark = watermark;
    this.processingTime = processingTime;
    this.keys = [];
    this.events = [];
  }
  /** A key entry with its value-state slots (bytes or null), in descriptor order. */
  key(key, slots = []) {
    this.keys.push([bytesOf(key), slots.map((s) => (s === null || s === undefined ? null : bytesOf(s)))]);
    return this;
  }
  record(keyRef, timestamp, value) {
    this.events.push([0, keyRef, timestamp, bytesOf(value)]);
    return this;
  }
  secondRecord(keyRef, timestamp, value) {
    this.events.push([2, keyRef, timestamp, bytesOf(value)]);
    return this;
  }
  broadcastRecord(timestamp, value) {
    this.events.push([4, NO_KEY, timestamp, bytesOf(value)]);
    return this;
  }
  /** `domain`: 'event-time' or 'processing-time'. */
  timer(keyRef, timestamp, domain = 'event-time') {
    this.events.push([1, keyRef, timestamp, domain]);
    return this;
  }
  /** `elements`: `[timestamp, value]` pairs. */
  window(keyRef, start, end, elements) {
    this.events.push([3, keyRef, start, end, elements.map(([t, v]) => [t, bytesOf(v)])]);
    return this;
  }
  build() {
    const w = new Writer(256);
    w.u8(1);
    w.i64(this.watermark);
    w.i64(this.processingTime);
    w.u32(this.keys.length);
    for (const [key, slots] of this.keys) {
      w.bytesField(key);
      for (const slot of slots) {
        if (slot === null) w.u32(ABSENT);
        else w.bytesField(slot);
      }
    }
    w.u32(this.events.length);
    for (const e of this.events) {
      w.u8(e[0]);
      w.u32(e[1]);
      switch (e[0]) {
        case 1:
          w.i64(e[2]);
          w.u8(e[3] === 'processing-time' ? 1 : 0);
          break;
        case 3:
          w.i64(e[2]);
          w.i64(e[3]);
          w.u32(e[4].length);
          for (const [t, v] of e[4]) {
            w.i64(t);
            w.bytesField(v);
          }
          break;
        default:
          w.i64(e[2]);
          w.bytesField(e[3]);
      }
    }
    return w.finish().slice();
  }
}

/** Decode an output buffer (guest → host) into entries. */
export function decodeOutput(bytes) {
  const r = new Reader(bytes);
  const out = [];
  while (r.remaining > 0) {
    const tag = r.u8('output tag');
    switch (tag) {
      case 0:
        out.push({ type: 'emit', event: r.u32(), value: r.bytesField().slice() });
        break;
      case 1:
        out.push({ type: 'forward', event: r.u32() });
        break;
      case 2: {
        const side = r.u32();
        out.push({ type: 'side', side, event: r.u32(), value: r.bytesField().slice() });
        break;
      }
      case 3:
      case 4: {
        const keyRef = r.u32();
        const domain = r.u8() === 0 ? 'event-time' : 'processing-time';
        out.push({ type: tag === 3 ? 'set-timer' : 'delete-timer', keyRef, domain, timestamp: r.i64() });
        break;
      }
      case 5: {
        const state = r.u32();
        out.push({ type: 'set-value', state, keyRef: r.u32(), value: r.bytesField().slice() });
        break;
      }
      case 6: {
        const state = r.u32();
        out.push({ type: 'clear-value', state, keyRef: r.u32() });
        break;
      }
      default:
        throw new Error(`output has unknown tag ${tag} at offset ${r.pos - 1}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// In-memory host.

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));

/** Keyed list/map/value state in memory, addressed through the batch's key table. */
export class MemoryState {
  constructor() {
    /** `${state}/${hexKey}` → value bytes | bytes[] | Map(hexMapKey → bytes) */
    this.data = new Map();
    this.keys = [];
    this.broadcastWritable = false;
  }
  slot(state, keyRef) {
    if (keyRef === NO_KEY) return `${state}/-`;
    const key = this.keys[keyRef];
    if (!key) throw new Error(`state access with key ref ${keyRef}, but the batch has ${this.keys.length} keys`);
    return `${state}/${hex(key)}`;
  }
  valueGet(state, key) {
    const v = this.data.get(this.slot(state, key));
    return v === undefined ? undefined : v;
  }
  valueSet(state, key, value) {
    this.data.set(this.slot(state, key), value.slice());
  }
  listGet(state, key) {
    return joinLengthPrefixed(this.data.get(this.slot(state, key)) || []);
  }
  listAdd(state, key, element) {
    const slot = this.slot(state, key);
    const list = this.data.get(slot) || [];
    list.push(element.slice());
    this.data.set(slot, list);
  }
  listUpdate(state, key, elements) {
    const list = splitLengthPrefixed(elements).map((e) => e.slice());
    const slot = this.slot(state, key);
    if (list.length === 0) this.data.delete(slot);
    else this.data.set(slot, list);
  }
  checkBroadcastWrite(key) {
    if (key === NO_KEY && !this.broadcastWritable) throw new Error('a write to broadcast state from a keyed batch (the host traps)');
  }
  mapGet(state, key, mapKey) {
    const m = this.data.get(this.slot(state, key));
    return m ? m.get(hex(mapKey)) : undefined;
  }
  mapPut(state, key, mapKey, value) {
    this.checkBroadcastWrite(key);
    const slot = this.slot(state, key);
    const m = this.data.get(slot) || new Map();
    m.set(hex(mapKey), value.slice());
    this.data.set(slot, m);
  }
  mapRemove(state, key, mapKey) {
    this.checkBroadcastWrite(key);
    const slot = this.slot(state, key);
    const m = this.data.get(slot);
    if (m) {
      m.delete(hex(mapKey));
      if (m.size === 0) this.data.delete(slot);
    }
  }
  mapEntries(state, key) {
    const m = this.data.get(this.slot(state, key));
    if (!m) return new Uint8Array(0);
    const w = new Writer(64);
    // Ordered by key bytes (hex order is byte order).
    for (const k of [...m.keys()].sort()) {
      w.bytesField(unhex(k));
      w.bytesField(m.get(k));
    }
    return w.finish().slice();
  }
  clear(state, key) {
    this.checkBroadcastWrite(key);
    this.data.delete(this.slot(state, key));
  }
}

function bindTestHost(state, logs) {
  __bindHost({
    log: (level, message) => logs.push({ level, message }),
    recordPanic: (message) => logs.push({ level: 'panic', message }),
    recordPanicAt: (event, message) => logs.push({ level: 'panic', event, message }),
    state,
  });
}

/**
 * What the exports throw, as Errors for tests: a string is the host's `err`
 * (`error.guestMessage`); a GuestTrap is a panic the host would report with
 * the record (`error.panic`, `error.event`).
 */
function call(fn) {
  try {
    return fn();
  } catch (e) {
    if (typeof e === 'string') {
      const error = new Error(e);
      error.guestMessage = e;
      throw error;
    }
    if (e instanceof GuestTrap) {
      const error = new Error(e.message);
      error.guestMessage = e.message;
      error.panic = true;
      error.event = e.event;
      throw error;
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------
// Stateless kinds.

function runTransform(definition, config, inputs, kind) {
  const logs = [];
  bindTestHost(null, logs);
  const f = __exportsOf(definition);
  if (kind && f.kind !== kind) throw new Error(`expected a ${kind} function, got ${f.kind}`);
  call(() => f.init(config));
  const batch = new BatchBuilder();
  const values = inputs.map(bytesOf);
  values.forEach((v, i) => batch.record(NO_KEY, i, v));
  const out = decodeOutput(call(() => f.processBatch(batch.build())));
  return out.map((e) => {
    if (e.type === 'emit') return e.value;
    if (e.type === 'forward') return values[e.event];
    throw new Error(`a ${f.kind} function wrote a ${e.type} entry`);
  });
}

/** Run a map over `inputs` (bytes, strings or JSON values); the output byte arrays. */
export const runMap = (def, config, inputs) => runTransform(def, config, inputs, 'map');
/** Run a filter; the kept inputs. */
export const runFilter = (def, config, inputs) => runTransform(def, config, inputs, 'filter');
/** Run a flat-map; every emitted record. */
export const runFlatMap = (def, config, inputs) => runTransform(def, config, inputs, 'flat-map');
/** Run a key selector; one key per input. */
export const runKeySelector = (def, config, inputs) => runTransform(def, config, inputs, 'key-selector');

// ---------------------------------------------------------------------------
// Keyed kinds.

/**
 * A keyed operator in memory (keyed-process, co-process, broadcast-process,
 * window-process): key tables, value state, list and map state, timers and
 * watermarks, driven batch by batch as the host would.
 */
export class KeyedHarness {
  /** Describe and init `definition` with `config`. */
  constructor(definition, config = '') {
    this.logs = [];
    this.memory = new MemoryState();
    bindTestHost(this.memory, this.logs);
    this.f = __exportsOf(definition);
    if (this.f.world !== 'keyed-process') throw new Error(`KeyedHarness runs keyed functions, got a ${this.f.kind} function`);
    this.descriptor = this.f.describe();
    call(() => this.f.init(config));
    this.valueStates = this.descriptor.states.map((s, i) => [s, i]).filter(([s]) => s.kind === 'value').map(([, i]) => i);
    this.sideOutputs = this.descriptor.sideOutputs;
    this.watermark = MIN_TIMESTAMP;
    this.processingTime = 0;
    /** Pending timers: `${domain}|${hexKey}|${timestamp}` → {domain, key, timestamp}. */
    this.timers = new Map();
  }

  static open(definition, config = '') {
    return new KeyedHarness(definition, config);
  }

  /** The value of value state `name` for `key`, parsed, or undefined. */
  valueOf(name, key) {
    const index = this.descriptor.states.findIndex((s) => s.name === name);
    if (index < 0) throw new Error(`no state named ${name}`);
    const v = this.memory.data.get(`${index}/${hex(bytesOf(key))}`);
    return v === undefined ? undefined : JSON.parse(decodeUtf8(v));
  }

  /** Pending timers, sorted: `{ key (string), timestamp, domain }`. */
  pendingTimers() {
    return [...this.timers.values()]
      .map((t) => ({ key: decodeUtf8(t.key), timestamp: t.timestamp, domain: t.domain }))
      .sort((a, b) => a.timestamp - b.timestamp || (a.key < b.key ? -1 : 1));
  }

  /**
   * Run one batch of events `{ key, input: 1 | 2 | 'broadcast' | 'timer' | 'window', timestamp, value, domain, start, end, elements }`;
   * returns outputs `{ value, timestamp, sideOutput }` and applies state and timer changes.
   */
  runBatch(events) {
    bindTestHost(this.memory, this.logs);
    const broadcast = events.filter((e) => e.input === 'broadcast').length;
    if (broadcast !== 0 && broadcast !== events.length) throw new Error('broadcast records come in batches of their own');
    const keys = [];
    const keyIndex = new Map();
    const refs = events.map((e) => {
      if (e.input === 'broadcast') return NO_KEY;
      const k = bytesOf(e.key);
      const h = hex(k);
      if (!keyIndex.has(h)) {
        keyIndex.set(h, keys.length);
        keys.push(k);
      }
      return keyIndex.get(h);
    });
    const batch = new BatchBuilder(this.watermark, this.processingTime);
    for (const k of keys) {
      batch.key(
        k,
        this.valueStates.map((i) => this.memory.data.get(`${i}/${hex(k)}`) ?? null),
      );
    }
    const times = [];
    events.forEach((e, i) => {
      switch (e.input) {
        case 'timer':
          batch.timer(refs[i], e.timestamp, e.domain);
          times.push(e.timestamp);
          break;
        case 'window':
          batch.window(refs[i], e.start, e.end, e.elements);
          times.push(e.end >= MAX_TIMESTAMP ? e.elements[e.elements.length - 1][0] : e.end - 1);
          break;
        case 'broadcast':
          batch.broadcastRecord(e.timestamp, e.value);
          times.push(e.timestamp);
          break;
        case 2:
          batch.secondRecord(refs[i], e.timestamp, e.value);
          times.push(e.timestamp);
          break;
        default:
          batch.record(refs[i], e.timestamp, e.value);
          times.push(e.timestamp);
      }
    });
    this.memory.keys = keys;
    this.memory.broadcastWritable = broadcast !== 0;
    let bytes;
    try {
      bytes = call(() => this.f.processBatch(batch.build()));
    } finally {
      this.memory.broadcastWritable = false;
    }
    const outputs = [];
    const keyOf = (ref) => {
      if (ref >= keys.length) throw new Error(`an output entry refers to key ${ref}, but the batch has ${keys.length} keys`);
      return keys[ref];
    };
    for (const entry of decodeOutput(bytes)) {
      switch (entry.type) {
        case 'emit':
          outputs.push({ value: entry.value, timestamp: times[entry.event] });
          break;
        case 'forward':
          outputs.push({ value: bytesOf(events[entry.event].value), timestamp: times[entry.event] });
          break;
        case 'side':
          outputs.push({ value: entry.value, timestamp: times[entry.event], sideOutput: this.sideOutputs[entry.side] });
          break;
        case 'set-timer':
        case 'delete-timer': {
          const key = keyOf(entry.keyRef);
          const id = `${entry.domain}|${hex(key)}|${entry.timestamp}`;
          if (entry.type === 'set-timer') this.timers.set(id, { domain: entry.domain, key, timestamp: entry.timestamp });
          else this.timers.delete(id);
          break;
        }
        case 'set-value':
          this.memory.data.set(`${entry.state}/${hex(keyOf(entry.keyRef))}`, entry.value);
          break;
        case 'clear-value':
          this.memory.data.delete(`${entry.state}/${hex(keyOf(entry.keyRef))}`);
          break;
        default:
          throw new Error(`unexpected output entry ${entry.type}`);
      }
    }
    return outputs;
  }

  /** Records `{ key, timestamp, value }` of the first input as one batch. */
  process(records) {
    return this.runBatch(records.map((r) => ({ ...r, input: 1 })));
  }
  /** Records of the second input (co-process) as one batch. */
  process2(records) {
    return this.runBatch(records.map((r) => ({ ...r, input: 2 })));
  }
  /** Broadcast records `{ timestamp, value }` as one batch. */
  broadcast(records) {
    return this.runBatch(records.map((r) => ({ ...r, input: 'broadcast' })));
  }

  fire(domain, until) {
    const outputs = [];
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.domain === domain && t.timestamp <= until)
        .sort(([, a], [, b]) => a.timestamp - b.timestamp);
      if (due.length === 0) return outputs;
      for (const [id] of due) this.timers.delete(id);
      outputs.push(...this.runBatch(due.map(([, t]) => ({ key: t.key, input: 'timer', timestamp: t.timestamp, domain }))));
    }
  }

  /** Advance the watermark and fire every event-time timer at or before it. */
  advanceWatermark(watermark) {
    this.watermark = Math.max(this.watermark, watermark);
    return this.fire('event-time', this.watermark);
  }

  /** Set processing time and fire every processing-time timer at or before it. */
  setProcessingTime(time) {
    this.processingTime = time;
    return this.fire('processing-time', time);
  }

  /**
   * Records like a bounded source with a bounded-out-of-orderness watermark:
   * batches of `batchSize`, the watermark after each at
   * `max timestamp - outOfOrderness - 1`, and at the end of input at the
   * maximum, firing every event-time timer.
   */
  runWithWatermarks(records, batchSize, outOfOrderness) {
    return runWithWatermarks(this, records, batchSize, outOfOrderness);
  }

  /** Run `migrate-state` as the host would on a restore. */
  migrateState(state, fromVersion, value) {
    bindTestHost(this.memory, this.logs);
    return call(() => this.f.migrateState(state, fromVersion, bytesOf(value)));
  }
}

/**
 * Feed `records` to `harness` in batches of `batchSize`, the watermark after
 * each at `max timestamp - outOfOrderness - 1`, and at the end of input at
 * the maximum: the host's bounded-out-of-orderness watermarks, for every
 * harness with `process` and `advanceWatermark`.
 */
function runWithWatermarks(harness, records, batchSize, outOfOrderness) {
  const outputs = [];
  let max = MIN_TIMESTAMP;
  for (let i = 0; i < records.length; i += batchSize) {
    const chunk = records.slice(i, i + batchSize);
    outputs.push(...harness.process(chunk));
    for (const r of chunk) max = Math.max(max, r.timestamp);
    outputs.push(...harness.advanceWatermark(max - outOfOrderness - 1));
  }
  outputs.push(...harness.advanceWatermark(MAX_TIMESTAMP));
  return outputs;
}

// ---------------------------------------------------------------------------
// Windows: tumbling event-time windows for window-process and aggregate.

/**
 * Tumbling event-time windows of `size` ms per key, firing when the
 * watermark passes their end, for `window-process` functions (all elements
 * at once, tag-3 events) and `aggregate` functions (accumulators through
 * add-batch, results through get-results).
 */
export class WindowHarness {
  constructor(definition, config = '', { size }) {
    if (!(size > 0)) throw new Error('WindowHarness needs { size } in ms');
    this.size = size;
    this.kind = definition.kind;
    if (this.kind === 'window-process') {
      this.keyed = new KeyedHarness(definition, config);
    } else if (this.kind === 'aggregate') {
      this.logs = [];
      bindTestHost(null, this.logs);
      this.f = __exportsOf(definition);
      this.descriptor = this.f.describe();
      call(() => this.f.init(config));
    } else {
      throw new Error(`WindowHarness runs window-process and aggregate functions, got ${this.kind}`);
    }
    this.watermark = MIN_TIMESTAMP;
    /** `${hexKey}|${start}` → { key, start, end, elements | acc } in creation order */
    this.windows = new Map();
  }

  /** Records `{ key, timestamp, value }`, assigned to their windows (late ones dropped). */
  process(records) {
    if (this.kind === 'aggregate') bindTestHost(null, this.logs);
    const groups = [];
    for (const r of records) {
      const start = Math.floor(r.timestamp / this.size) * this.size;
      const end = start + this.size;
      if (end - 1 <= this.watermark) continue; // late
      const key = bytesOf(r.key);
      const id = `${hex(key)}|${start}`;
      let w = this.windows.get(id);
      if (!w) {
        w = { key, start, end, elements: [] };
        if (this.kind === 'aggregate') w.acc = call(() => this.f.createAccumulator()).slice();
        this.windows.set(id, w);
      }
      w.elements.push([r.timestamp, bytesOf(r.value)]);
      groups.push(w);
    }
    if (this.kind === 'aggregate' && groups.length) {
      const unique = [...new Set(groups)];
      const b = new Writer(256);
      b.u32(unique.length);
      for (const w of unique) {
        b.bytesField(w.acc);
        b.u32(w.elements.length);
        for (const [t, v] of w.elements) {
          b.i64(t);
          b.bytesField(v);
        }
        w.elements = [];
      }
      const r = new Reader(call(() => this.f.addBatch(b.finish())));
      for (const w of unique) w.acc = r.bytesField().slice();
    }
    return [];
  }

  /** Advance the watermark and fire every window whose end - 1 is at or before it. */
  advanceWatermark(watermark) {
    this.watermark = Math.max(this.watermark, watermark);
    const due = [...this.windows.entries()]
      .filter(([, w]) => w.end - 1 <= this.watermark)
      .sort(([, a], [, b]) => a.end - b.end);
    if (due.length === 0) return [];
    for (const [id] of due) this.windows.delete(id);
    if (this.kind === 'window-process') {
      this.keyed.watermark = this.watermark;
      return this.keyed.runBatch(
        due.map(([, w]) => ({ key: w.key, input: 'window', start: w.start, end: w.end, elements: w.elements })),
      );
    }
    const b = new Writer(256);
    b.u32(due.length);
    for (const [, w] of due) {
      b.bytesField(w.key);
      b.i64(w.start);
      b.i64(w.end);
      b.bytesField(w.acc);
    }
    const r = new Reader(call(() => this.f.getResults(b.finish())));
    return due.map(([, w]) => ({ value: r.bytesField().slice(), timestamp: w.end - 1 }));
  }

  /** As `KeyedHarness.runWithWatermarks`. */
  runWithWatermarks(records, batchSize, outOfOrderness) {
    return runWithWatermarks(this, records, batchSize, outOfOrderness);
  }
}

/** The exports of a definition bound to an in-memory host, for tests of the raw world functions. */
export function exportsFor(definition, { state = new MemoryState(), logs = [] } = {}) {
  bindTestHost(state, logs);
  return { exports: __exportsOf(definition), state, logs, world: worldOf(definition.kind) };
}
