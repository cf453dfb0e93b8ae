// Types of the eddy JavaScript guest SDK (src/index.js).

/** Milliseconds since the Unix epoch. */
export type Timestamp = number;

/** `i64::MIN`: no timestamp / no watermark yet. */
export const MIN_TIMESTAMP: number;
/** `i64::MAX` as the nearest double: the end of a count window. */
export const MAX_TIMESTAMP: number;

export type TimeDomainName = 'event-time' | 'processing-time';
export const TimeDomain: { readonly EVENT_TIME: 'event-time'; readonly PROCESSING_TIME: 'processing-time' };

export type TtlUpdateName = 'on-create-and-write' | 'on-read-and-write';
export const TtlUpdate: { readonly ON_CREATE_AND_WRITE: 'on-create-and-write'; readonly ON_READ_AND_WRITE: 'on-read-and-write' };

/** JSON values: what state holds and what `json` records are. */
export type Json = null | boolean | number | string | Json[] | { [field: string]: Json };

/** How record values are decoded and encoded. */
export interface Codec<T> {
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
}
/** `json` (default): parsed JSON; `string`: UTF-8 text; `bytes`: the raw bytes. */
export type CodecSpec<T = any> = 'json' | 'string' | 'bytes' | Codec<T>;
export const codecs: {
  readonly json: Codec<any>;
  readonly string: Codec<string>;
  readonly bytes: Codec<Uint8Array>;
  readonly key: Codec<any>;
};

/** Logging into the host's tracing, tagged with operator and subtask. */
export const log: {
  trace(message: unknown): void;
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
};

/** State time-to-live: milliseconds, or `{ millis, update }`. */
export type Ttl = number | { millis: number; update?: TtlUpdateName };

export interface StateOptions<T = any> {
  ttl?: Ttl;
  /** Schema version of the values (1 for a state's first form). */
  version?: number;
  /** Migrations of stored values from older versions: `{ 1: (old) => newValue }`. */
  migrate?: Record<number, (old: any) => T>;
}

/** One value per key. */
export interface ValueState<T = any> {
  value(): T | undefined;
  update(value: T): void;
  clear(): void;
}
/** A list per key. */
export interface ListState<T = any> {
  get(): T[];
  add(value: T): void;
  update(values: Iterable<T>): void;
  clear(): void;
}
/** A map per key (or per subtask, for broadcast state); entries ordered by the keys' JSON bytes. */
export interface MapState<K = any, V = any> {
  get(key: K): V | undefined;
  contains(key: K): boolean;
  entries(): [K, V][];
  keys(): K[];
  values(): V[];
  isEmpty(): boolean;
  put(key: K, value: V): void;
  remove(key: K): void;
  clear(): void;
}
export type BroadcastMapState<K = any, V = any> = MapState<K, V>;

/** A side output registered in open. */
export interface SideOutput<T = any> {
  readonly name: string;
  readonly index: number;
  readonly codec: Codec<T>;
}

/** What `open` gets: the config, and (keyed kinds) state and side-output registration. */
export interface OpenContext {
  /** The operator's `config` from the job file ('' when none). */
  readonly config: string;
  /** The config parsed as JSON; throws when empty or not JSON. */
  configJson<T = any>(): T;
  /** The config parsed as JSON over `defaults` (fields left out keep theirs; unknown fields are refused). */
  configJsonOr<T>(defaults: T): T;
  valueState<T = any>(name: string, options?: StateOptions<T>): ValueState<T>;
  listState<T = any>(name: string, options?: StateOptions<T>): ListState<T>;
  mapState<K = any, V = any>(name: string, options?: StateOptions<V>): MapState<K, V>;
  broadcastMapState<K = any, V = any>(name: string, options?: StateOptions<V>): BroadcastMapState<K, V>;
  sideOutput<T = any>(name: string, codec?: CodecSpec<T>): SideOutput<T>;
}

/** Emits records of a flat-map. */
export interface Collector<Out> {
  emit(value: Out): void;
}

interface BaseContext<Out> {
  /** The event's timestamp (record time, timer time), undefined when none. */
  readonly timestamp: Timestamp | undefined;
  readonly currentWatermark: Timestamp;
  readonly currentProcessingTime: Timestamp;
  emit(value: Out): void;
  /** Emit to a side output registered in open. */
  output<T>(side: SideOutput<T>, value: T): void;
}

/** Context of a keyed record or timer. Valid only during the call. */
export interface Context<Out> extends BaseContext<Out> {
  readonly key: Uint8Array;
  keyStr(): string;
  registerEventTimeTimer(timestamp: Timestamp): void;
  registerProcessingTimeTimer(timestamp: Timestamp): void;
  deleteEventTimeTimer(timestamp: Timestamp): void;
  deleteProcessingTimeTimer(timestamp: Timestamp): void;
}
export interface WindowContext<Out> extends BaseContext<Out> {
  readonly key: Uint8Array;
  keyStr(): string;
}
/** Context of a broadcast record: no key, no timers, no keyed state. */
export type BroadcastContext<Out> = BaseContext<Out>;

/** A fired window `[start, end)` of a key. */
export interface Window {
  readonly key: Uint8Array;
  readonly start: Timestamp;
  readonly end: Timestamp;
  keyStr(): string;
  maxTimestamp(): Timestamp;
  isCountWindow(): boolean;
}

export type FunctionKind =
  | 'map'
  | 'filter'
  | 'flat-map'
  | 'key-selector'
  | 'keyed-process'
  | 'aggregate'
  | 'window-process'
  | 'co-process'
  | 'broadcast-process';

/** What a guest module default-exports. */
export interface FunctionDefinition<K extends FunctionKind = FunctionKind> {
  readonly kind: K;
}

export interface IoOptions<In, Out> {
  input?: CodecSpec<In>;
  output?: CodecSpec<Out>;
}

export function map<In = any, Out = any>(
  open: (ctx: OpenContext) => ((value: In) => Out) | { map(value: In): Out },
  options?: IoOptions<In, Out>,
): FunctionDefinition<'map'>;

export function filter<In = any>(
  open: (ctx: OpenContext) => ((value: In) => boolean) | { filter(value: In): boolean },
  options?: { input?: CodecSpec<In> },
): FunctionDefinition<'filter'>;

export function flatMap<In = any, Out = any>(
  open: (ctx: OpenContext) => ((value: In, out: Collector<Out>) => void) | { flatMap(value: In, out: Collector<Out>): void },
  options?: IoOptions<In, Out>,
): FunctionDefinition<'flat-map'>;

export function keySelector<In = any, Key = any>(
  open: (ctx: OpenContext) => ((value: In) => Key) | { key(value: In): Key },
  options?: { input?: CodecSpec<In>; key?: CodecSpec<Key> },
): FunctionDefinition<'key-selector'>;

export interface KeyedProcessFunction<In, Out> {
  process(value: In, ctx: Context<Out>): void;
  onTimer?(timestamp: Timestamp, domain: TimeDomainName, ctx: Context<Out>): void;
}
export function keyedProcess<In = any, Out = any>(
  open: (ctx: OpenContext) => KeyedProcessFunction<In, Out>,
  options?: IoOptions<In, Out>,
): FunctionDefinition<'keyed-process'>;

export interface WindowProcessFunction<In, Out> {
  process(window: Window, elements: { timestamp: Timestamp; value: In }[], ctx: WindowContext<Out>): void;
}
export function windowProcess<In = any, Out = any>(
  open: (ctx: OpenContext) => WindowProcessFunction<In, Out>,
  options?: IoOptions<In, Out>,
): FunctionDefinition<'window-process'>;

export interface CoProcessFunction<In1, In2, Out> {
  processElement1(value: In1, ctx: Context<Out>): void;
  processElement2(value: In2, ctx: Context<Out>): void;
  onTimer?(timestamp: Timestamp, domain: TimeDomainName, ctx: Context<Out>): void;
}
export function coProcess<In1 = any, In2 = any, Out = any>(
  open: (ctx: OpenContext) => CoProcessFunction<In1, In2, Out>,
  options?: { input1?: CodecSpec<In1>; input2?: CodecSpec<In2>; output?: CodecSpec<Out> },
): FunctionDefinition<'co-process'>;

export interface BroadcastProcessFunction<In, B, Out> {
  processElement(value: In, ctx: Context<Out>): void;
  processBroadcastElement(value: B, ctx: BroadcastContext<Out>): void;
  onTimer?(timestamp: Timestamp, domain: TimeDomainName, ctx: Context<Out>): void;
}
export function broadcastProcess<In = any, B = any, Out = any>(
  open: (ctx: OpenContext) => BroadcastProcessFunction<In, B, Out>,
  options?: { input?: CodecSpec<In>; broadcast?: CodecSpec<B>; output?: CodecSpec<Out> },
): FunctionDefinition<'broadcast-process'>;

export interface AggregateFunction<In, Acc, Out> {
  createAccumulator(): Acc;
  /** Returns the new accumulator. */
  add(acc: Acc, value: In, timestamp: Timestamp): Acc;
  merge(a: Acc, b: Acc): Acc;
  getResult(acc: Acc, window: Window): Out;
}
export function aggregate<In = any, Acc = any, Out = any>(
  open: (ctx: OpenContext) => AggregateFunction<In, Acc, Out>,
  options?: IoOptions<In, Out>,
): FunctionDefinition<'aggregate'>;

/** The message a thrown value is reported with: `Name: message` and the first stack frame. */
export function errorMessage(error: unknown): string;
/** The world a function kind's component exports. */
export function worldOf(kind: FunctionKind): 'transform' | 'keyed-process' | 'aggregate';
export function encodeUtf8(text: string): Uint8Array;
export function decodeUtf8(bytes: Uint8Array): string;
