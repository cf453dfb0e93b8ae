// eddy guest SDK for JavaScript: user functions for the eddy stream processor
// as WebAssembly components. See docs/guides/javascript.md.
//
// A guest module default-exports one function definition made by `map`,
// `filter`, `flatMap`, `keySelector`, `keyedProcess`, `windowProcess`,
// `coProcess`, `broadcastProcess` or `aggregate`. The build
// (bin/eddy-js-build.mjs) wires it to the world's exports; the native test
// harness (`eddy-sdk/testing`) runs it without WebAssembly.

import {
  Reader,
  Writer,
  LayoutError,
  LAYOUT_VERSION,
  MIN_TIMESTAMP,
  MAX_TIMESTAMP,
  NO_KEY,
  ABSENT,
  EVENT_RECORD,
  EVENT_TIMER,
  EVENT_SECOND_RECORD,
  EVENT_WINDOW,
  EVENT_BROADCAST_RECORD,
  OUT_EMIT,
  OUT_FORWARD,
  OUT_SIDE,
  OUT_SET_TIMER,
  OUT_DELETE_TIMER,
  OUT_SET_VALUE,
  OUT_CLEAR_VALUE,
  splitLengthPrefixed,
  joinLengthPrefixed,
  splitMapEntries,
} from './layout.js';
import { encodeUtf8, decodeUtf8 } from './utf8.js';

export { MIN_TIMESTAMP, MAX_TIMESTAMP, encodeUtf8, decodeUtf8 };

/** Time domains of timers. */
export const TimeDomain = Object.freeze({
  EVENT_TIME: 'event-time',
  PROCESSING_TIME: 'processing-time',
});

/** When a state entry's time-to-live is refreshed. */
export const TtlUpdate = Object.freeze({
  ON_CREATE_AND_WRITE: 'on-create-and-write',
  ON_READ_AND_WRITE: 'on-read-and-write',
});

// ---------------------------------------------------------------------------
// Host binding: set by the generated component entry (the WIT imports) or by
// the test harness (in-memory state). Everything below reaches the host only
// through `host`.

const host = {
  /** How a WIT `u64` is passed: a BigInt (StarlingMonkey, jco) or a number (QuickJS). */
  u64: (n) => BigInt(n),
  log: (level, message) => {},
  recordPanic: (message) => {},
  recordPanicAt: (event, message) => {},
  state: null,
};

/** @internal Bind the host's `log` and `state` imports. */
export function __bindHost({ log, recordPanic, recordPanicAt, state, u64 }) {
  if (u64) host.u64 = u64;
  if (log) host.log = log;
  if (recordPanic) host.recordPanic = recordPanic;
  if (recordPanicAt) host.recordPanicAt = recordPanicAt;
  if (state !== undefined) host.state = state;
}

/** Logging into the host's tracing (tagged with operator and subtask). */
export const log = Object.freeze({
  trace: (message) => host.log('trace', String(message)),
  debug: (message) => host.log('debug', String(message)),
  info: (message) => host.log('info', String(message)),
  warn: (message) => host.log('warn', String(message)),
  error: (message) => host.log('error', String(message)),
});

function formatArgs(args) {
  return args
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return errorMessage(a);
      try {
        const json = JSON.stringify(a);
        return json === undefined ? String(a) : json;
      } catch {
        return String(a);
      }
    })
    .join(' ');
}

/**
 * @internal Route `console.*` to the host's log (the component has no
 * stdout; QuickJS has no `console` at all): log/info → info, debug, trace,
 * warn, error.
 */
export function __installConsole() {
  const to = (level) => (...args) => host.log(level, formatArgs(args));
  globalThis.console = {
    log: to('info'),
    info: to('info'),
    debug: to('debug'),
    trace: to('trace'),
    warn: to('warn'),
    error: to('error'),
  };
}

// ---------------------------------------------------------------------------
// Codecs: how record values are decoded and encoded.

const jsonCodec = Object.freeze({
  name: 'json',
  decode(bytes) {
    const text = decodeUtf8(bytes);
    try {
      return JSON.parse(text);
    } catch (e) {
      // A string, not an Error: a record that does not decode is an error
      // the function returns (as the Rust and Python SDKs do), not a panic.
      throw `record is not JSON: ${e && e.message} (record starts with ${preview(text)})`;
    }
  },
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
    return encodeUtf8(text);
  },
});

const stringCodec = Object.freeze({
  name: 'string',
  decode: (bytes) => decodeUtf8(bytes),
  encode: (value) => encodeUtf8(String(value)),
});

const bytesCodec = Object.freeze({
  name: 'bytes',
  decode: (bytes) => bytes,
  encode(value) {
    return asBytes(value, 'a `bytes` output');
  },
});

/** A Uint8Array of `value` (any typed array or array of byte values); a TypeError otherwise. */
function asBytes(value, what) {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) return Uint8Array.from(value);
  throw new TypeError(`${what} must be a Uint8Array (got ${value === null ? 'null' : typeof value})`);
}

/** Keys: a string as UTF-8, a Uint8Array as is, anything else as JSON. */
const keyCodec = Object.freeze({
  name: 'key',
  decode: (bytes) => bytes,
  encode(value) {
    if (typeof value === 'string') return encodeUtf8(value);
    if (value instanceof Uint8Array || ArrayBuffer.isView(value)) return asBytes(value, 'a key');
    return jsonCodec.encode(value);
  },
});

/** Built-in codecs by name: `json` (default), `string` (UTF-8 text), `bytes` (Uint8Array). */
export const codecs = Object.freeze({ json: jsonCodec, string: stringCodec, bytes: bytesCodec, key: keyCodec });

function codecOf(spec, fallback = jsonCodec) {
  if (spec === undefined || spec === null) return fallback;
  if (typeof spec === 'string') {
    const codec = codecs[spec];
    if (!codec) throw new Error(`unknown codec \`${spec}\` (use json, string, bytes or {decode, encode})`);
    return codec;
  }
  if (typeof spec.decode === 'function' || typeof spec.encode === 'function') return spec;
  throw new Error('a codec is `json`, `string`, `bytes` or an object with decode/encode');
}

function preview(text) {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text);
}

/** State values and map keys: compact JSON, as the Rust SDK (serde_json) writes them. */
function encodeJson(value, what) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot store ${typeof value} in ${what} (not JSON)`);
  return encodeUtf8(text);
}

function decodeJson(bytes, what) {
  try {
    return JSON.parse(decodeUtf8(bytes));
  } catch (e) {
    throw new Error(`${what} does not hold JSON: ${e && e.message}`);
  }
}

// ---------------------------------------------------------------------------
// Errors.

/**
 * The message reported to the host for a thrown value: `Name: message`, plus
 * the first stack frame when the engine gives one.
 */
export function errorMessage(error) {
  if (error instanceof Error) {
    const head = `${error.name || 'Error'}: ${error.message}`;
    const frame = firstFrame(error.stack, head);
    return frame ? `${head}\n    at ${frame}` : head;
  }
  if (typeof error === 'string') return error;
  try {
    return `uncaught ${JSON.stringify(error)}`;
  } catch {
    return `uncaught ${String(error)}`;
  }
}

function firstFrame(stack, head) {
  if (typeof stack !== 'string') return null;
  for (let line of stack.split('\n')) {
    line = line.trim();
    if (!line || line === head || line.startsWith(head)) continue;
    if (line.startsWith('at ')) line = line.slice(3);
    return line;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Function definitions.

const KINDS = [
  'map',
  'filter',
  'flat-map',
  'key-selector',
  'keyed-process',
  'aggregate',
  'window-process',
  'co-process',
  'broadcast-process',
];

/** The world a function kind's component exports. */
export function worldOf(kind) {
  switch (kind) {
    case 'map':
    case 'filter':
    case 'flat-map':
    case 'key-selector':
      return 'transform';
    case 'aggregate':
      return 'aggregate';
    case 'keyed-process':
    case 'window-process':
    case 'co-process':
    case 'broadcast-process':
      return 'keyed-process';
    default:
      throw new Error(`unknown function kind \`${kind}\` (one of ${KINDS.join(', ')})`);
  }
}

function define(kind, open, options, method) {
  if (typeof open !== 'function') {
    throw new TypeError(`${kind}: pass a function \`(ctx) => ...\` that builds the function (got ${typeof open})`);
  }
  return Object.freeze({ __eddy: 1, kind, open, options: Object.freeze({ ...(options || {}) }), method });
}

/**
 * One record in, one out (Flink's MapFunction). `open(ctx)` returns the
 * per-record function `(value) => result` (or an object with `map`).
 * Options: `{ input, output }` codecs (default `json`).
 */
export const map = (open, options) => define('map', open, options, 'map');
/** Keep a record when `(value) => boolean` returns true; kept records are forwarded unchanged. */
export const filter = (open, options) => define('filter', open, options, 'filter');
/** Any number of records out: `(value, out) => { out.emit(x) }`. */
export const flatMap = (open, options) => define('flat-map', open, options, 'flatMap');
/** The key of a record: `(value) => key` (string, Uint8Array or JSON). */
export const keySelector = (open, options) => define('key-selector', open, options, 'key');
/** Keyed process function: `open(ctx)` returns `{ process(value, ctx), onTimer?(timestamp, domain, ctx) }`. */
export const keyedProcess = (open, options) => define('keyed-process', open, options);
/** Full-window function: `open(ctx)` returns `{ process(window, elements, ctx) }`. */
export const windowProcess = (open, options) => define('window-process', open, options);
/** Two keyed inputs: `{ processElement1(v, ctx), processElement2(v, ctx), onTimer? }`. Options `{ input1, input2, output }`. */
export const coProcess = (open, options) => define('co-process', open, options);
/** Keyed input plus broadcast input: `{ processElement(v, ctx), processBroadcastElement(v, ctx), onTimer? }`. Options `{ input, broadcast, output }`. */
export const broadcastProcess = (open, options) => define('broadcast-process', open, options);
/** Incremental aggregate: `{ createAccumulator(), add(acc, value, timestamp), merge(a, b), getResult(acc, window) }`. Accumulators are stored as JSON. */
export const aggregate = (open, options) => define('aggregate', open, options);

function checkDefinition(def) {
  if (!def || def.__eddy !== 1) {
    throw new Error(
      'the module must `export default` a function made by map, filter, flatMap, keySelector, keyedProcess, windowProcess, coProcess, broadcastProcess or aggregate from eddy-sdk',
    );
  }
  return def;
}

// ---------------------------------------------------------------------------
// Open context: config, state and side-output registration.

function ttlOf(ttl, name) {
  if (ttl === undefined || ttl === null) return undefined;
  const millis = typeof ttl === 'number' ? ttl : ttl.millis;
  const update = (typeof ttl === 'object' && ttl.update) || TtlUpdate.ON_CREATE_AND_WRITE;
  if (!Number.isInteger(millis) || millis <= 0) throw new Error(`state \`${name}\`: ttl millis must be a positive integer`);
  if (update !== TtlUpdate.ON_CREATE_AND_WRITE && update !== TtlUpdate.ON_READ_AND_WRITE) {
    throw new Error(`state \`${name}\`: ttl update must be on-create-and-write or on-read-and-write`);
  }
  return { millis, update };
}

class OpenContext {
  constructor(config, keyed) {
    this.config = config;
    this.keyed = keyed;
    this.states = [];
    this.sideOutputs = [];
    this.migrations = new Map();
  }

  /** The config parsed as JSON; an error when it is empty or not JSON. */
  configJson() {
    if (this.config.trim() === '') throw new Error('this function needs a JSON config, and the operator has none');
    try {
      return JSON.parse(this.config);
    } catch (e) {
      throw new Error(`config is not JSON: ${e.message}`);
    }
  }

  /**
   * The config parsed as JSON over `defaults`: fields left out keep their
   * default; an empty config gives `defaults`.
   */
  configJsonOr(defaults) {
    if (this.config.trim() === '') return defaults;
    const parsed = this.configJson();
    if (defaults && typeof defaults === 'object' && !Array.isArray(defaults) && parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      for (const field of Object.keys(parsed)) {
        if (!(field in defaults)) {
          throw new Error(`config has unknown field \`${field}\`, expected one of ${Object.keys(defaults).map((f) => '`' + f + '`').join(', ')}`);
        }
      }
      return { ...defaults, ...parsed };
    }
    return parsed;
  }

  register(name, kind, options = {}) {
    if (!this.keyed) throw new Error(`state \`${name}\`: only keyed functions (keyed-process, window-process, co-process, broadcast-process) have keyed state`);
    if (typeof name !== 'string' || name === '') throw new Error('a state needs a non-empty name');
    if (this.states.some((s) => s.name === name)) throw new Error(`state \`${name}\` is registered twice`);
    const version = options.version === undefined ? 1 : options.version;
    if (!Number.isInteger(version) || version < 1) throw new Error(`state \`${name}\`: version must be an integer of at least 1`);
    const migrate = options.migrate || {};
    const from = Object.keys(migrate).map(Number);
    for (const v of from) {
      if (!Number.isInteger(v) || v < 1 || v >= version) {
        throw new Error(`state \`${name}\`: a migration from version ${v} must come from a version below ${version}`);
      }
      if (typeof migrate[v] !== 'function') throw new Error(`state \`${name}\`: migration from version ${v} is not a function`);
    }
    from.sort((a, b) => a - b);
    const index = this.states.length;
    const valueSlot = kind === 'value' ? this.states.filter((s) => s.kind === 'value').length : -1;
    const spec = { name, kind, ttl: ttlOf(options.ttl, name), version, migratesFrom: from, index, valueSlot };
    this.states.push(spec);
    this.migrations.set(name, { version, from: migrate });
    return spec;
  }

  /** Value state (one value per key), stored as JSON. Options: `{ ttl, version, migrate }`. */
  valueState(name, options) {
    return new ValueState(this.register(name, 'value', options));
  }
  /** List state (a list per key), elements stored as JSON. */
  listState(name, options) {
    return new ListState(this.register(name, 'list', options));
  }
  /** Map state (a map per key), keys and values stored as JSON. */
  mapState(name, options) {
    return new MapState(this.register(name, 'map', options));
  }
  /** Broadcast map state (one map per subtask; written only by broadcast records). */
  broadcastMapState(name, options) {
    return new BroadcastMapState(this.register(name, 'broadcast-map', options));
  }
  /** A named side output; emit to it with `ctx.output(side, value)`. `codec` defaults to json. */
  sideOutput(name, codec) {
    if (typeof name !== 'string' || name === '') throw new Error('a side output needs a non-empty name');
    if (this.sideOutputs.some((s) => s.name === name)) throw new Error(`side output \`${name}\` is registered twice`);
    const side = Object.freeze({ name, index: this.sideOutputs.length, codec: codecOf(codec) });
    this.sideOutputs.push(side);
    return side;
  }

  descriptor(kind) {
    return {
      kind,
      states: this.states.map((s) => ({
        name: s.name,
        kind: s.kind,
        ttl: s.ttl ? { millis: host.u64(s.ttl.millis), update: s.ttl.update } : undefined,
        version: s.version,
        migratesFrom: s.migratesFrom,
      })),
      sideOutputs: this.sideOutputs.map((s) => s.name),
    };
  }
}

// ---------------------------------------------------------------------------
// Keyed state. Value state of the batch lives in `scope`, loaded from the
// key table and written back once at the end of the batch; list and map
// state go to the host at once.

const scope = {
  /** Value-state slots per key: `slots[keyRef][valueSlot]` = bytes or null. */
  slots: [],
  /** Changed (valueSlot, keyRef) pairs. */
  dirty: new Map(),
  currentKey: NO_KEY,
  inBatch: false,
  broadcast: false,
};

function keyedAccess(spec) {
  if (!scope.inBatch) throw new Error(`state \`${spec.name}\` is only reachable while a record or timer is processed`);
  if (scope.broadcast) throw new Error(`keyed state \`${spec.name}\` is out of reach while a broadcast record is processed (it has no key)`);
  if (!host.state) throw new Error('no state host bound');
  return scope.currentKey;
}

/** One value per key. */
class ValueState {
  constructor(spec) {
    this.spec = spec;
  }
  /** The value of the current key, or `undefined`. */
  value() {
    const key = keyedAccess(this.spec);
    const bytes = scope.slots[key][this.spec.valueSlot];
    return bytes === null || bytes === undefined ? undefined : decodeJson(bytes, `value state \`${this.spec.name}\``);
  }
  /** Replace the value of the current key. */
  update(value) {
    const key = keyedAccess(this.spec);
    scope.slots[key][this.spec.valueSlot] = encodeJson(value, `value state \`${this.spec.name}\``);
    scope.dirty.set(this.spec.valueSlot * 0x100000000 + key, [this.spec, key]);
  }
  /** Remove the value of the current key. */
  clear() {
    const key = keyedAccess(this.spec);
    scope.slots[key][this.spec.valueSlot] = null;
    scope.dirty.set(this.spec.valueSlot * 0x100000000 + key, [this.spec, key]);
  }
}

/** A list per key. */
class ListState {
  constructor(spec) {
    this.spec = spec;
  }
  /** Every element of the current key's list (an empty array when none). */
  get() {
    const key = keyedAccess(this.spec);
    return splitLengthPrefixed(host.state.listGet(this.spec.index, key)).map((b) =>
      decodeJson(b, `list state \`${this.spec.name}\``),
    );
  }
  /** Append one element. */
  add(value) {
    const key = keyedAccess(this.spec);
    host.state.listAdd(this.spec.index, key, encodeJson(value, `list state \`${this.spec.name}\``));
  }
  /** Replace every element. */
  update(values) {
    const key = keyedAccess(this.spec);
    const encoded = Array.from(values, (v) => encodeJson(v, `list state \`${this.spec.name}\``));
    host.state.listUpdate(this.spec.index, key, joinLengthPrefixed(encoded));
  }
  /** Remove the list. */
  clear() {
    const key = keyedAccess(this.spec);
    host.state.clear(this.spec.index, key);
  }
}

class MapStateBase {
  constructor(spec) {
    this.spec = spec;
    this.what = `map state \`${spec.name}\``;
  }
  /** The value under `mapKey`, or `undefined`. */
  get(mapKey) {
    const key = this.access(false);
    const bytes = host.state.mapGet(this.spec.index, key, encodeJson(mapKey, this.what));
    return bytes === null || bytes === undefined ? undefined : decodeJson(bytes, this.what);
  }
  /** Whether `mapKey` has a value. */
  contains(mapKey) {
    const key = this.access(false);
    const bytes = host.state.mapGet(this.spec.index, key, encodeJson(mapKey, this.what));
    return !(bytes === null || bytes === undefined);
  }
  /** Every `[key, value]` pair, ordered by the keys' JSON bytes. */
  entries() {
    const key = this.access(false);
    return splitMapEntries(host.state.mapEntries(this.spec.index, key)).map(([k, v]) => [
      decodeJson(k, this.what),
      decodeJson(v, this.what),
    ]);
  }
  keys() {
    return this.entries().map(([k]) => k);
  }
  values() {
    return this.entries().map(([, v]) => v);
  }
  isEmpty() {
    return this.entries().length === 0;
  }
  /** Insert or replace one entry. */
  put(mapKey, value) {
    const key = this.access(true);
    host.state.mapPut(this.spec.index, key, encodeJson(mapKey, this.what), encodeJson(value, this.what));
  }
  /** Remove one entry. */
  remove(mapKey) {
    const key = this.access(true);
    host.state.mapRemove(this.spec.index, key, encodeJson(mapKey, this.what));
  }
  /** Remove every entry. */
  clear() {
    const key = this.access(true);
    host.state.clear(this.spec.index, key);
  }
}

/** A map per key. */
class MapState extends MapStateBase {
  access() {
    return keyedAccess(this.spec);
  }
}

/** A map shared by every key of a subtask, written only by broadcast records. */
class BroadcastMapState extends MapStateBase {
  access(write) {
    if (!scope.inBatch) throw new Error(`state \`${this.spec.name}\` is only reachable while a batch is processed`);
    if (write && !scope.broadcast) {
      throw new Error(`broadcast state \`${this.spec.name}\` is read-only here; change it in processBroadcastElement`);
    }
    if (!host.state) throw new Error('no state host bound');
    return NO_KEY;
  }
}

// ---------------------------------------------------------------------------
// Contexts handed to user functions; one object reused per batch.

class Collector {
  constructor(out, codec) {
    this.out = out;
    this.codec = codec;
    this.event = 0;
  }
  /** Emit a record to the main output. */
  emit(value) {
    this.out.entry(OUT_EMIT, this.event, this.codec.encode(value));
  }
}

class BaseContext {
  constructor(out, codec, header) {
    this.out = out;
    this.codec = codec;
    this.header = header;
    this.event = 0;
    this.keyRef = NO_KEY;
    this.keyBytes = null;
    this.ts = MIN_TIMESTAMP;
  }
  /** The event's timestamp (record time or timer time), or `undefined` when it has none. */
  get timestamp() {
    return this.ts === MIN_TIMESTAMP ? undefined : this.ts;
  }
  /** The current watermark (MIN_TIMESTAMP before the first one). */
  get currentWatermark() {
    return this.header.watermark;
  }
  /** The host's processing time at the batch. */
  get currentProcessingTime() {
    return this.header.processingTime;
  }
  /** Emit a record to the main output. */
  emit(value) {
    this.out.entry(OUT_EMIT, this.event, this.codec.encode(value));
  }
  /** Emit a record to a side output registered with `ctx.sideOutput(name)` in open. */
  output(side, value) {
    if (!side || typeof side.index !== 'number') throw new TypeError('output(side, value): side must come from ctx.sideOutput(name) in open');
    const bytes = side.codec.encode(value);
    this.out.u8(OUT_SIDE);
    this.out.u32(side.index);
    this.out.u32(this.event);
    this.out.bytesField(bytes);
  }
}

class Context extends BaseContext {
  /** The current key's bytes. */
  get key() {
    return this.keyBytes;
  }
  /** The current key as UTF-8 text. */
  keyStr() {
    return decodeUtf8(this.keyBytes);
  }
  timer(tag, domain, timestamp) {
    if (typeof timestamp !== 'number' || Number.isNaN(timestamp)) throw new TypeError('a timer timestamp is a number of milliseconds');
    this.out.u8(tag);
    this.out.u32(this.keyRef);
    this.out.u8(domain);
    this.out.i64(timestamp);
  }
  registerEventTimeTimer(timestamp) {
    this.timer(OUT_SET_TIMER, 0, timestamp);
  }
  registerProcessingTimeTimer(timestamp) {
    this.timer(OUT_SET_TIMER, 1, timestamp);
  }
  deleteEventTimeTimer(timestamp) {
    this.timer(OUT_DELETE_TIMER, 0, timestamp);
  }
  deleteProcessingTimeTimer(timestamp) {
    this.timer(OUT_DELETE_TIMER, 1, timestamp);
  }
}

/** Context of a window-process call: emit, side outputs, the key. */
class WindowContext extends BaseContext {
  get key() {
    return this.keyBytes;
  }
  keyStr() {
    return decodeUtf8(this.keyBytes);
  }
}

/** Context of a broadcast record: no key, no timers, no keyed state. */
class BroadcastContext extends BaseContext {}

/** A fired window: its key and bounds `[start, end)`. */
class Window {
  constructor(key, start, end) {
    this.key = key;
    this.start = start;
    this.end = end;
  }
  keyStr() {
    return decodeUtf8(this.key);
  }
  /** The last timestamp inside the window (`end - 1`). */
  maxTimestamp() {
    return this.end - 1;
  }
  /** Whether this is a count window (start MIN_TIMESTAMP, end MAX_TIMESTAMP). */
  isCountWindow() {
    return this.start === MIN_TIMESTAMP && this.end >= MAX_TIMESTAMP;
  }
}

// ---------------------------------------------------------------------------
// Runtime: the world exports for one definition.

function userMethod(fn, name, kind) {
  if (typeof fn === 'function' && name) return fn;
  if (fn && typeof fn[name] === 'function') return fn[name].bind(fn);
  throw new Error(`${kind}: open must return ${name ? `a function or an object with \`${name}\`` : 'an object'} (got ${fn === null ? 'null' : typeof fn})`);
}

function optionalMethod(fn, name) {
  return fn && typeof fn[name] === 'function' ? fn[name].bind(fn) : null;
}

function readHeader(r) {
  const version = r.u8('layout version');
  if (version !== LAYOUT_VERSION) throw new LayoutError(`batch layout version ${version}, this SDK reads version ${LAYOUT_VERSION}`);
  const watermark = r.i64('watermark');
  const processingTime = r.i64('processing time');
  return { watermark, processingTime };
}

/**
 * What an export throws to make the component trap (any non-string thrown
 * from an export that returns `result<_, string>` traps in both engines),
 * after `record-panic-at` told the host the message and the event: the host
 * then reports a panic and names the record, as for a Rust panic.
 * @internal
 */
export class GuestTrap {
  constructor(message, event) {
    this.message = message;
    this.event = event;
  }
}

/**
 * Run `body` and turn what it throws into what the host sees:
 * - while an event is processed (`state.event` >= 0), an exception (an
 *   Error, or any value but a string) is a panic: `record-panic-at(event,
 *   "Name: message\n    at frame")`, then a trap, so the host names the
 *   record (as a Rust panic or a Python exception does);
 * - a thrown string, and anything thrown outside an event (open, layout,
 *   migrations, aggregates), is returned as the `err` of the call, like a
 *   Rust `Err(String)`.
 */
function guarded(state, body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof GuestTrap) throw e;
    const message = errorMessage(e);
    if (typeof e !== 'string' && state.event >= 0) {
      const event = state.event;
      try {
        host.recordPanicAt(event, message);
      } catch {
        // reporting must not hide the error itself
      }
      throw new GuestTrap(message, event);
    }
    throw message;
  }
}

/**
 * The exports of one function definition for its world: `describe`, `init`,
 * `processBatch` (+ `migrateState`), or the aggregate functions.
 * @internal Used by the generated component entry and the test harness.
 */
export function __exportsOf(definition, expectedKind) {
  const def = checkDefinition(definition);
  if (expectedKind && def.kind !== expectedKind) {
    throw new Error(`the module exports a ${def.kind} function, built as ${expectedKind}`);
  }
  const world = worldOf(def.kind);
  const keyed = world === 'keyed-process';
  const run = { event: -1 };
  let instance = null;
  let opened = null;
  let outputHint = 256;

  function open(config) {
    const ctx = new OpenContext(config, keyed);
    const fn = def.open(ctx);
    return { ctx, fn };
  }

  function describe() {
    const ctx = new OpenContext('', keyed);
    try {
      def.open(ctx);
    } catch (e) {
      try {
        host.log('debug', `describe: open with an empty config failed (${errorMessage(e)}); describing the states registered before that`);
      } catch {}
    }
    return ctx.descriptor(def.kind);
  }

  function init(config) {
    run.event = -1;
    guarded(run, () => {
      const { ctx, fn } = open(config);
      opened = ctx;
      instance = prepare(fn);
    });
  }

  function need() {
    if (!instance) throw 'the function was called before `init`';
    return instance;
  }

  // Per kind: turn the user's object into an event handler.
  function prepare(fn) {
    const o = def.options;
    switch (def.kind) {
      case 'map': {
        const f = userMethod(fn, 'map', 'map');
        const input = codecOf(o.input);
        const output = codecOf(o.output);
        const decode = input.decode;
        const encode = output.encode;
        return { record: (i, value, w) => w.entry(OUT_EMIT, i, encode(f(decode(value)))) };
      }
      case 'filter': {
        const f = userMethod(fn, 'filter', 'filter');
        const input = codecOf(o.input);
        const decode = input.decode;
        return { record: (i, value, w) => {
          if (f(decode(value))) w.entryIndex(OUT_FORWARD, i);
        } };
      }
      case 'flat-map': {
        const f = userMethod(fn, 'flatMap', 'flat-map');
        const input = codecOf(o.input);
        const output = codecOf(o.output);
        const collector = new Collector(null, output);
        return { record: (i, value, w) => {
          collector.out = w;
          collector.event = i;
          f(input.decode(value), collector);
        } };
      }
      case 'key-selector': {
        const f = userMethod(fn, 'key', 'key-selector');
        const input = codecOf(o.input);
        const key = codecOf(o.key, keyCodec);
        return { record: (i, value, w) => w.entry(OUT_EMIT, i, key.encode(f(input.decode(value)))) };
      }
      case 'keyed-process':
        return {
          process: userMethod(fn, 'process', 'keyed-process'),
          onTimer: optionalMethod(fn, 'onTimer'),
          input: codecOf(o.input),
          output: codecOf(o.output),
        };
      case 'window-process':
        return { process: userMethod(fn, 'process', 'window-process'), input: codecOf(o.input), output: codecOf(o.output) };
      case 'co-process':
        return {
          process1: userMethod(fn, 'processElement1', 'co-process'),
          process2: userMethod(fn, 'processElement2', 'co-process'),
          onTimer: optionalMethod(fn, 'onTimer'),
          input: codecOf(o.input1 || o.input),
          input2: codecOf(o.input2 || o.input),
          output: codecOf(o.output),
        };
      case 'broadcast-process':
        return {
          process: userMethod(fn, 'processElement', 'broadcast-process'),
          broadcast: userMethod(fn, 'processBroadcastElement', 'broadcast-process'),
          onTimer: optionalMethod(fn, 'onTimer'),
          input: codecOf(o.input),
          input2: codecOf(o.broadcast),
          output: codecOf(o.output),
        };
      case 'aggregate': {
        const create = userMethod(fn, 'createAccumulator', 'aggregate');
        const add = userMethod(fn, 'add', 'aggregate');
        const merge = userMethod(fn, 'merge', 'aggregate');
        const getResult = userMethod(fn, 'getResult', 'aggregate');
        return { create, add, merge, getResult, input: codecOf(o.input), output: codecOf(o.output) };
      }
      default:
        throw new Error(`unknown kind ${def.kind}`);
    }
  }

  function processTransform(batch) {
    const f = need();
    return guarded(run, () => {
      const r = new Reader(batch);
      readHeader(r);
      const keys = r.u32('key count');
      for (let k = 0; k < keys; k++) r.bytesField('key');
      const n = r.u32('event count');
      const w = new Writer(outputHint);
      // The hot loop reads the record events inline (a method call per
      // field costs more than the rest in QuickJS).
      const bytes = r.bytes;
      const view = r.view;
      const end = bytes.length;
      const record = f.record;
      let p = r.pos;
      for (let i = 0; i < n; i++) {
        run.event = -1;
        if (p + 17 > end) throw new LayoutError(`truncated buffer: event ${i} at offset ${p}`);
        const tag = bytes[p];
        if (tag !== EVENT_RECORD) throw new LayoutError(`a ${def.kind} function got an event of tag ${tag}; it takes records only`);
        const len = view.getUint32(p + 13, true);
        p += 17;
        if (p + len > end) throw new LayoutError(`truncated buffer: the value of event ${i} needs ${len} bytes at offset ${p}, ${end - p} left`);
        const value = bytes.subarray(p, p + len);
        p += len;
        run.event = i;
        record(i, value, w);
      }
      run.event = -1;
      outputHint = Math.max(256, w.len);
      return w.finish();
    });
  }

  function processKeyed(batch) {
    const f = need();
    const valueSpecs = opened.states.filter((s) => s.kind === 'value');
    return guarded(run, () => {
      const r = new Reader(batch);
      const header = readHeader(r);
      const keyCount = r.u32('key count');
      const keys = new Array(keyCount);
      const slots = new Array(keyCount);
      for (let k = 0; k < keyCount; k++) {
        keys[k] = r.bytesField('key');
        const row = new Array(valueSpecs.length);
        for (let v = 0; v < valueSpecs.length; v++) {
          const len = r.u32('value slot length');
          if (len === ABSENT) row[v] = null;
          else {
            r.need(len, 'value slot');
            row[v] = r.bytes.subarray(r.pos, r.pos + len);
            r.pos += len;
          }
        }
        slots[k] = row;
      }
      scope.slots = slots;
      scope.dirty = new Map();
      scope.inBatch = true;
      const w = new Writer(outputHint);
      const ctx =
        def.kind === 'window-process' ? new WindowContext(w, f.output, header) : new Context(w, f.output, header);
      const bctx = def.kind === 'broadcast-process' ? new BroadcastContext(w, f.output, header) : null;
      try {
        const n = r.u32('event count');
        for (let i = 0; i < n; i++) {
          run.event = -1;
          const tag = r.u8('event tag');
          const keyRef = r.u32('key ref');
          if (tag === EVENT_BROADCAST_RECORD) {
            if (def.kind !== 'broadcast-process') throw new LayoutError(`a ${def.kind} function got a broadcast record (tag 4)`);
            if (keyRef !== NO_KEY) throw new LayoutError(`event ${i} is a broadcast record with key ${keyRef}; broadcast records have no key`);
            const ts = r.i64('timestamp');
            const value = r.bytesField('record value');
            run.event = i;
            scope.broadcast = true;
            scope.currentKey = NO_KEY;
            bctx.event = i;
            bctx.ts = ts;
            f.broadcast(f.input2.decode(value), bctx);
            scope.broadcast = false;
            continue;
          }
          if (keyRef >= keyCount) throw new LayoutError(`event ${i} refers to key ${keyRef}, but the key table has ${keyCount} keys`);
          scope.broadcast = false;
          scope.currentKey = keyRef;
          ctx.event = i;
          ctx.keyRef = keyRef;
          ctx.keyBytes = keys[keyRef];
          switch (tag) {
            case EVENT_RECORD: {
              const ts = r.i64('timestamp');
              const value = r.bytesField('record value');
              run.event = i;
              ctx.ts = ts;
              if (def.kind === 'keyed-process') f.process(f.input.decode(value), ctx);
              else if (def.kind === 'co-process') f.process1(f.input.decode(value), ctx);
              else if (def.kind === 'broadcast-process') f.process(f.input.decode(value), ctx);
              else throw new LayoutError(`a ${def.kind} function got a record (tag 0)`);
              break;
            }
            case EVENT_SECOND_RECORD: {
              const ts = r.i64('timestamp');
              const value = r.bytesField('record value');
              run.event = i;
              ctx.ts = ts;
              if (def.kind !== 'co-process') throw new LayoutError(`a ${def.kind} function got a record of a second input (tag 2)`);
              f.process2(f.input2.decode(value), ctx);
              break;
            }
            case EVENT_TIMER: {
              const ts = r.i64('timestamp');
              const domain = r.u8('time domain');
              run.event = i;
              ctx.ts = ts;
              if (def.kind === 'window-process') throw new LayoutError('a window-process function got a timer (tag 1)');
              if (f.onTimer) f.onTimer(ts, domain === 0 ? TimeDomain.EVENT_TIME : TimeDomain.PROCESSING_TIME, ctx);
              break;
            }
            case EVENT_WINDOW: {
              const start = r.i64('window start');
              const end = r.i64('window end');
              const m = r.u32('window element count');
              const raw = new Array(m);
              for (let e = 0; e < m; e++) {
                const ts = r.i64('element timestamp');
                raw[e] = [ts, r.bytesField('element value')];
              }
              run.event = i;
              if (def.kind !== 'window-process') throw new LayoutError(`a ${def.kind} function got a window (tag 3)`);
              ctx.ts = end - 1;
              const elements = raw.map(([timestamp, value]) => ({ timestamp, value: f.input.decode(value) }));
              f.process(new Window(keys[keyRef], start, end), elements, ctx);
              break;
            }
            default:
              throw new LayoutError(`event ${i} has unknown tag ${tag}`);
          }
        }
        run.event = -1;
        // Value-state changes of the batch, once each (last write wins).
        for (const [spec, keyRef] of scope.dirty.values()) {
          const bytes = slots[keyRef][spec.valueSlot];
          if (bytes === null) {
            w.u8(OUT_CLEAR_VALUE);
            w.u32(spec.index);
            w.u32(keyRef);
          } else {
            w.u8(OUT_SET_VALUE);
            w.u32(spec.index);
            w.u32(keyRef);
            w.bytesField(bytes);
          }
        }
      } finally {
        scope.inBatch = false;
        scope.broadcast = false;
        scope.slots = [];
        scope.dirty = new Map();
        scope.currentKey = NO_KEY;
      }
      outputHint = Math.max(256, w.len);
      return w.finish();
    });
  }

  function migrateState(state, fromVersion, value) {
    need();
    run.event = -1;
    return guarded(run, () => {
      const cannot = `cannot migrate state \`${state}\` from version ${fromVersion}`;
      const declared = opened.migrations.get(state);
      if (!declared) {
        const names = [...opened.migrations.keys()].map((n) => '`' + n + '`');
        throw `${cannot}: this function declares no such state (${names.length ? 'its states are ' + names.join(', ') : 'it declares no states'})`;
      }
      const migration = declared.from[fromVersion];
      if (typeof migration !== 'function') {
        const from = Object.keys(declared.from);
        throw `${cannot}: it is at version ${declared.version} and migrates from ${from.length ? 'version ' + from.join(', ') : 'no older version'}`;
      }
      const old = decodeJson(value, `the version ${fromVersion} value of state \`${state}\``);
      return encodeJson(migration(old), `state \`${state}\``);
    });
  }

  if (world === 'transform') return { world, kind: def.kind, describe, init, processBatch: processTransform };
  if (world === 'keyed-process') return { world, kind: def.kind, describe, init, processBatch: processKeyed, migrateState };

  // Aggregate world.
  function createAccumulator() {
    const f = need();
    run.event = -1;
    try {
      return guarded(run, () => encodeJson(f.create(), 'an accumulator'));
    } catch (e) {
      // create-accumulator returns no result, so a failure traps: tell the
      // host why first, or it sees only the trap.
      try {
        host.recordPanic(typeof e === 'string' ? e : errorMessage(e));
      } catch {
        // reporting must not hide the error itself
      }
      throw e;
    }
  }
  function addBatch(groups) {
    const f = need();
    run.event = -1;
    return guarded(run, () => {
      const r = new Reader(groups);
      const g = r.u32('group count');
      const w = new Writer(outputHint);
      for (let i = 0; i < g; i++) {
        let acc = decodeJson(r.bytesField('accumulator'), 'an accumulator');
        const m = r.u32('element count');
        const bytes = r.bytes;
        const view = r.view;
        const decode = f.input.decode;
        const add = f.add;
        for (let e = 0; e < m; e++) {
          const p = r.pos;
          if (p + 12 > bytes.length) throw new LayoutError(`truncated buffer: element ${e} at offset ${p}`);
          const ts = view.getInt32(p + 4, true) * 4294967296 + view.getUint32(p, true);
          const len = view.getUint32(p + 8, true);
          if (p + 12 + len > bytes.length) throw new LayoutError(`truncated buffer: element ${e} needs ${len} bytes at offset ${p + 12}`);
          acc = add(acc, decode(bytes.subarray(p + 12, p + 12 + len)), ts);
          r.pos = p + 12 + len;
        }
        w.bytesField(encodeJson(acc, 'an accumulator'));
      }
      outputHint = Math.max(256, w.len);
      return w.finish();
    });
  }
  function merge(a, b) {
    const f = need();
    run.event = -1;
    return guarded(run, () =>
      encodeJson(f.merge(decodeJson(a, 'an accumulator'), decodeJson(b, 'an accumulator')), 'an accumulator'),
    );
  }
  function getResults(windows) {
    const f = need();
    run.event = -1;
    return guarded(run, () => {
      const r = new Reader(windows);
      const count = r.u32('window count');
      const w = new Writer(64);
      for (let i = 0; i < count; i++) {
        const key = r.bytesField('key');
        const start = r.i64('window start');
        const end = r.i64('window end');
        const acc = decodeJson(r.bytesField('accumulator'), 'an accumulator');
        w.bytesField(f.output.encode(f.getResult(acc, new Window(key, start, end))));
      }
      return w.finish();
    });
  }
  return { world, kind: def.kind, describe, init, createAccumulator, addBatch, merge, getResults };
}
