/**
 * An ObjectStore that wraps another and injects faults into chosen calls: errors of any kind,
 * delays the test ends when it wants (a promise it controls, no real sleeps), short bodies, the
 * store's answer to a wrong status, and calls that never answer until the caller's AbortSignal
 * fires. Faults are chosen by operation and by call number, or by a seeded probability, so a
 * failing run can be replayed exactly.
 *
 * Every fault injected is logged (`injected`), so a test can tell a failure it caused from one
 * it did not.
 */
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest, UploadedPart, WrittenObject } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';

export type StoreOp =
  | 'head'
  | 'getFirstBytes'
  | 'list'
  | 'readRange'
  | 'putObject'
  | 'createMultipartUpload'
  | 'uploadPart'
  | 'completeMultipartUpload'
  | 'abortMultipartUpload'
  | 'copyObject'
  | 'deleteObject';

/** A promise the test settles when it wants: the "later" of a delay. */
export class Gate {
  readonly promise: Promise<void>;
  private openFn: () => void = () => undefined;
  opened = false;
  constructor() {
    this.promise = new Promise<void>((resolve) => (this.openFn = resolve));
  }
  open(): void {
    this.opened = true;
    this.openFn();
  }
}

export type Fault =
  /** Rejects before any byte. */
  | { readonly kind: 'error'; readonly error: StoreError }
  /**
   * Holds the call until `until` settles (after delivering `afterBytes` of a body, for a
   * readRange), then goes on as usual. A caller's abort ends the wait with 'aborted'.
   */
  | { readonly kind: 'delay'; readonly until: Promise<unknown>; readonly afterBytes?: number }
  /**
   * readRange: delivers only `bytes` bytes, then rejects with 'invalid-response' (what a store
   * does when a body ends early and resuming failed) or resolves as if it were done (a store
   * breaking its contract: the read path must not hand out a short read for it).
   */
  | { readonly kind: 'short-body'; readonly bytes: number; readonly then: 'reject' | 'resolve' }
  /** readRange: the server answered a ranged GET with a 200 and the whole object; the store rejects it. */
  | { readonly kind: 'wrong-status' }
  /** Never answers; rejects with 'aborted' when the caller's signal fires, or when the test calls `expireHung`. */
  | { readonly kind: 'hang' };

export interface CallInfo {
  readonly op: StoreOp;
  /** 1-based count of calls of this operation, this one included. */
  readonly n: number;
  readonly key: string;
  /** readRange only. */
  readonly start?: number;
  readonly end?: number;
}

export interface FaultRule {
  readonly op: StoreOp | readonly StoreOp[];
  /** Which calls: these call numbers (1-based, per operation), or a predicate. Default: every call. */
  readonly calls?: readonly number[] | ((call: CallInfo) => boolean);
  /** Of the calls selected, inject into each with this probability (seeded). Default 1. */
  readonly probability?: number;
  /** Stop after this many injections. */
  readonly times?: number;
  /** The fault, or a function choosing one (given the store's seeded random source). */
  readonly fault: Fault | ((call: CallInfo, random: () => number) => Fault);
}

export interface InjectedFault extends CallInfo {
  readonly fault: Fault['kind'];
  /** For 'error': its kind. */
  readonly errorKind?: string;
  /** When it was injected and when its call settled, on the store's event counter (`events`). */
  readonly at: number;
  settledAt?: number;
}

// mulberry32, the same seeded PRNG the integration fault proxy uses.
import { seededRandom } from '../../integration/helpers/fault-proxy.js';
export { seededRandom };

interface ActiveRule {
  readonly rule: FaultRule;
  injected: number;
}

export class FaultStore implements ObjectStore {
  readonly label: string;
  readonly calls: Record<StoreOp, number> = {
    ...{ head: 0, getFirstBytes: 0, list: 0, readRange: 0, putObject: 0, createMultipartUpload: 0, uploadPart: 0 },
    ...{ completeMultipartUpload: 0, abortMultipartUpload: 0, copyObject: 0, deleteObject: 0 },
  };
  readonly injected: InjectedFault[] = [];
  /** readRange calls started and not yet settled. */
  pendingReads = 0;
  /** Counts injections and settlements of faulted calls: orders them against a test's own steps. */
  events = 0;
  private readonly rules: ActiveRule[] = [];
  private readonly random: () => number;
  private readonly hung = new Set<(err: StoreError) => void>();

  constructor(
    readonly inner: ObjectStore,
    opts: { seed?: number } = {},
  ) {
    this.label = inner.label;
    this.random = seededRandom(opts.seed ?? 1);
  }

  /** Adds a rule; the returned function removes it. Earlier rules win when several match. */
  inject(rule: FaultRule): () => void {
    const active: ActiveRule = { rule, injected: 0 };
    this.rules.push(active);
    return () => {
      const i = this.rules.indexOf(active);
      if (i >= 0) this.rules.splice(i, 1);
    };
  }

  clearFaults(): void {
    this.rules.length = 0;
  }

  /** Calls hanging right now. */
  get hanging(): number {
    return this.hung.size;
  }

  /** Ends every hanging call with `err` (e.g. the store's own deadline passing). */
  expireHung(err: StoreError = new StoreError('timeout', 'no answer (injected hang)')): void {
    for (const end of [...this.hung]) end(err);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const call = this.callOf('head', key);
    await this.before(call, this.choose(call));
    return this.inner.head(key);
  }

  async getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    const call = this.callOf('getFirstBytes', key);
    await this.before(call, this.choose(call));
    return this.inner.getFirstBytes(key, bytes);
  }

  async list(req: ListRequest): Promise<ListPage> {
    const call = this.callOf('list', req.prefix);
    await this.before(call, this.choose(call));
    return this.inner.list(req);
  }

  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    const call: CallInfo = { ...this.callOf('readRange', req.key), start: req.start, end: req.end };
    const fault = this.choose(call);
    const record = fault ? this.injected[this.injected.length - 1] : undefined;
    this.pendingReads++;
    try {
      await this.rangeWithFault(req, onChunk, call, fault);
    } finally {
      this.pendingReads--;
      if (record) record.settledAt = ++this.events;
    }
  }

  private async rangeWithFault(req: RangeRequest, onChunk: (chunk: Buffer) => void, call: CallInfo, fault: Fault | undefined): Promise<void> {
    if (fault === undefined || fault.kind === 'error' || fault.kind === 'hang') {
      await this.before(call, fault, req.signal);
      return this.inner.readRange(req, onChunk);
    }
    if (fault.kind === 'wrong-status') {
      throw new StoreError('invalid-response', `GET ${req.key} bytes ${req.start}-${req.end - 1}: HTTP 200 to a ranged GET (injected)`, { status: 200 });
    }
    // delay or short-body: stream the inner body, stopping (and maybe waiting) at a byte count.
    const stopAt = fault.kind === 'delay' ? (fault.afterBytes ?? 0) : fault.bytes;
    if (fault.kind === 'delay' && stopAt === 0) {
      await this.waitOrAbort(fault.until, req.signal);
      return this.inner.readRange(req, onChunk);
    }
    const limit = Math.min(req.end, req.start + stopAt);
    let delivered = 0;
    if (limit > req.start) {
      await this.inner.readRange({ ...req, end: limit }, (chunk) => {
        delivered += chunk.length;
        onChunk(chunk);
      });
    }
    if (fault.kind === 'short-body') {
      if (fault.then === 'resolve') return;
      throw new StoreError('invalid-response', `GET ${req.key}: body ended after ${delivered} of ${req.end - req.start} bytes (injected)`);
    }
    await this.waitOrAbort(fault.until, req.signal);
    if (limit < req.end) return this.inner.readRange({ ...req, start: limit }, onChunk);
  }

  private callOf(op: StoreOp, key: string): CallInfo {
    this.calls[op]++;
    return { op, n: this.calls[op], key };
  }

  /** The fault for this call, if a rule picks one; logged. */
  private choose(call: CallInfo): Fault | undefined {
    for (const active of this.rules) {
      const { rule } = active;
      const ops: readonly StoreOp[] = typeof rule.op === 'string' ? [rule.op] : rule.op;
      if (!ops.includes(call.op)) continue;
      if (rule.times !== undefined && active.injected >= rule.times) continue;
      if (typeof rule.calls === 'function' ? !rule.calls(call) : rule.calls !== undefined && !rule.calls.includes(call.n)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      const fault = typeof rule.fault === 'function' ? rule.fault(call, this.random) : rule.fault;
      active.injected++;
      this.injected.push({ ...call, fault: fault.kind, at: ++this.events, ...(fault.kind === 'error' ? { errorKind: fault.error.kind } : {}) });
      return fault;
    }
    return undefined;
  }

  /** What happens before the inner call for faults that do not touch a body. */
  private async before(call: CallInfo, fault: Fault | undefined, signal?: AbortSignal): Promise<void> {
    if (fault === undefined) return;
    switch (fault.kind) {
      case 'error':
        throw fault.error;
      case 'delay':
        return this.waitOrAbort(fault.until, signal);
      case 'hang':
        return this.hang(signal);
      default:
        throw new Error(`fault ${fault.kind} does not apply to ${call.op}`);
    }
  }

  private waitOrAbort(until: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new StoreError('aborted', 'aborted'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new StoreError('aborted', 'aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      until.then(
        () => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) reject(new StoreError('aborted', 'aborted'));
          else resolve();
        },
        (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private hang(signal: AbortSignal | undefined): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const end = (err: StoreError): void => {
        this.hung.delete(end);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = (): void => end(new StoreError('aborted', 'aborted'));
      if (signal?.aborted) return end(new StoreError('aborted', 'aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.hung.add(end);
    });
  }

  async putObject(key: string, body: Buffer, signal?: AbortSignal): Promise<WrittenObject> {
    const call = this.callOf('putObject', key);
    await this.before(call, this.choose(call), signal);
    return this.inner.putObject(key, body, signal);
  }

  async createMultipartUpload(key: string, signal?: AbortSignal): Promise<string> {
    const call = this.callOf('createMultipartUpload', key);
    await this.before(call, this.choose(call), signal);
    return this.inner.createMultipartUpload(key, signal);
  }

  /** `start` of the call is the part number, so rules can pick parts. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, signal?: AbortSignal): Promise<string> {
    const call: CallInfo = { ...this.callOf('uploadPart', key), start: partNumber };
    await this.before(call, this.choose(call), signal);
    return this.inner.uploadPart(key, uploadId, partNumber, body, signal);
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[], signal?: AbortSignal): Promise<WrittenObject> {
    const call = this.callOf('completeMultipartUpload', key);
    await this.before(call, this.choose(call), signal);
    return this.inner.completeMultipartUpload(key, uploadId, parts, signal);
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const call = this.callOf('abortMultipartUpload', key);
    await this.before(call, this.choose(call));
    return this.inner.abortMultipartUpload(key, uploadId);
  }

  async copyObject(from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject> {
    const call = this.callOf('copyObject', from.key);
    await this.before(call, this.choose(call));
    return this.inner.copyObject(from, to);
  }

  async deleteObject(key: string): Promise<void> {
    const call = this.callOf('deleteObject', key);
    await this.before(call, this.choose(call));
    return this.inner.deleteObject(key);
  }

  probe(prefix: string): Promise<void> {
    return this.inner.probe(prefix);
  }

  destroy(): void {
    this.inner.destroy();
  }
}
