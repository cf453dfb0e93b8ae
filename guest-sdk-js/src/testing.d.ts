// Types of the eddy JavaScript SDK's native test harness (src/testing.js).
import type { FunctionDefinition, TimeDomainName, Timestamp } from './index.js';

export const MIN_TIMESTAMP: number;
export const MAX_TIMESTAMP: number;
export const NO_KEY: number;

/** A test value: bytes as is, a string as UTF-8, anything else as JSON. */
export type TestValue = Uint8Array | string | unknown;

export function loadGuest(path: string): Promise<FunctionDefinition>;
export function bytesOf(value: TestValue): Uint8Array;
export function jsonl(text: string): Uint8Array[];
export function text(bytes: Uint8Array): string;
export function parsed(outputs: (Uint8Array | Output)[]): any[];
export function assertJsonlEq(actual: (Uint8Array | Output)[], expected: string): void;
export function assertJsonlEqUnordered(actual: (Uint8Array | Output)[], expected: string): void;

export function runMap(definition: FunctionDefinition, config: string, inputs: TestValue[]): Uint8Array[];
export function runFilter(definition: FunctionDefinition, config: string, inputs: TestValue[]): Uint8Array[];
export function runFlatMap(definition: FunctionDefinition, config: string, inputs: TestValue[]): Uint8Array[];
export function runKeySelector(definition: FunctionDefinition, config: string, inputs: TestValue[]): Uint8Array[];

export interface Output {
  value: Uint8Array;
  timestamp: Timestamp;
  /** The side output's name; undefined for the main output. */
  sideOutput?: string;
}
export interface TestRecord {
  key: TestValue;
  timestamp: Timestamp;
  value: TestValue;
}

export class KeyedHarness {
  constructor(definition: FunctionDefinition, config?: string);
  static open(definition: FunctionDefinition, config?: string): KeyedHarness;
  readonly logs: { level: string; message: string; event?: number }[];
  readonly memory: MemoryState;
  readonly descriptor: any;
  watermark: Timestamp;
  processingTime: Timestamp;
  valueOf(state: string, key: TestValue): any;
  pendingTimers(): { key: string; timestamp: Timestamp; domain: TimeDomainName }[];
  process(records: TestRecord[]): Output[];
  process2(records: TestRecord[]): Output[];
  broadcast(records: { timestamp: Timestamp; value: TestValue }[]): Output[];
  advanceWatermark(watermark: Timestamp): Output[];
  setProcessingTime(time: Timestamp): Output[];
  runWithWatermarks(records: TestRecord[], batchSize: number, outOfOrderness: number): Output[];
  migrateState(state: string, fromVersion: number, value: TestValue): Uint8Array;
  runBatch(events: any[]): Output[];
}

export class WindowHarness {
  constructor(definition: FunctionDefinition, config: string, windows: { size: number });
  process(records: TestRecord[]): Output[];
  advanceWatermark(watermark: Timestamp): Output[];
  runWithWatermarks(records: TestRecord[], batchSize: number, outOfOrderness: number): Output[];
}

export class BatchBuilder {
  constructor(watermark?: Timestamp, processingTime?: Timestamp);
  key(key: TestValue, slots?: (TestValue | null)[]): this;
  record(keyRef: number, timestamp: Timestamp, value: TestValue): this;
  secondRecord(keyRef: number, timestamp: Timestamp, value: TestValue): this;
  broadcastRecord(timestamp: Timestamp, value: TestValue): this;
  timer(keyRef: number, timestamp: Timestamp, domain?: TimeDomainName): this;
  window(keyRef: number, start: Timestamp, end: Timestamp, elements: [Timestamp, TestValue][]): this;
  build(): Uint8Array;
}

export function decodeOutput(bytes: Uint8Array): any[];

export class MemoryState {
  data: Map<string, any>;
}

export function exportsFor(
  definition: FunctionDefinition,
  options?: { state?: MemoryState; logs?: any[] },
): { exports: any; state: MemoryState; logs: any[]; world: string };
