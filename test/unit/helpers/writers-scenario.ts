/**
 * Run as a child process (plain node, from transpiled JavaScript): WRITERS files of FILE_MIB MiB
 * each, written at once in 1 MiB writes (as `dd bs=1M` or `cp` would) through the Filesystem
 * into a store that takes uploads and keeps nothing (a part takes UPLOAD_MS to "upload", so
 * parts pile up as they do on a real link), then committed; prints the peak RSS and what was
 * uploaded as one JSON line. See writers-memory.test.ts.
 */
import { createHash } from 'node:crypto';
import type { ListPage, ObjectInfo, ObjectStore, UploadedPart, WrittenObject } from '../../../src/store/object-store.js';
import { MiB, testFilesystem } from './test-filesystem.js';

const writers = Number(process.env.WRITERS ?? 8);
const fileBytes = Number(process.env.FILE_MIB ?? 2048) * MiB;
const cacheSizeBytes = Number(process.env.CACHE_MIB ?? 256) * MiB;
const uploadMs = Number(process.env.UPLOAD_MS ?? 20);

/** Takes every upload after `uploadMs` and keeps only sizes. */
class SinkStore implements ObjectStore {
  readonly label = 's3://sink';
  readonly sizes = new Map<string, number>();
  private readonly parts = new Map<string, number>();
  private nextUpload = 1;
  uploadedBytes = 0;
  peakPartsInFlight = 0;
  private partsInFlight = 0;

  async head(): Promise<ObjectInfo | undefined> {
    return undefined;
  }
  async getFirstBytes(): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    return undefined;
  }
  async list(): Promise<ListPage> {
    return { objects: [], prefixes: [] };
  }
  async readRange(): Promise<void> {
    throw new Error('the sink store keeps no bytes');
  }
  async putObject(key: string, body: Buffer): Promise<WrittenObject> {
    await this.upload(body);
    this.sizes.set(key, body.length);
    return { etag: `"${createHash('md5').update(body).digest('hex')}"`, mtimeMs: Date.now() };
  }
  async createMultipartUpload(): Promise<string> {
    return `u${this.nextUpload++}`;
  }
  async uploadPart(_key: string, uploadId: string, _n: number, body: Buffer): Promise<string> {
    await this.upload(body);
    this.parts.set(uploadId, (this.parts.get(uploadId) ?? 0) + body.length);
    return `"part"`;
  }
  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<WrittenObject> {
    this.sizes.set(key, this.parts.get(uploadId) ?? 0);
    this.parts.delete(uploadId);
    return { etag: `"sink-${parts.length}"`, mtimeMs: Date.now() };
  }
  async abortMultipartUpload(_key: string, uploadId: string): Promise<void> {
    this.parts.delete(uploadId);
  }
  async copyObject(): Promise<WrittenObject> {
    throw new Error('not here');
  }
  async deleteObject(): Promise<void> {}
  async probe(): Promise<void> {}
  destroy(): void {}

  private async upload(body: Buffer): Promise<void> {
    this.partsInFlight++;
    this.peakPartsInFlight = Math.max(this.peakPartsInFlight, this.partsInFlight);
    await new Promise((r) => setTimeout(r, uploadMs));
    this.uploadedBytes += body.length;
    this.partsInFlight--;
  }
}

const mib = (n: number): number => Math.round((n / MiB) * 10) / 10;
const store = new SinkStore();
const { fs } = testFilesystem({ store, mount: { readOnly: false }, settings: { cacheSizeBytes, requestTimeoutMs: 120_000 } });
let peakHeld = 0;
const peak = { external: 0, arrayBuffers: 0, heapUsed: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak.external = Math.max(peak.external, m.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
}, 50);
const chunk = Buffer.alloc(MiB, 0x5a);
const started = Date.now();
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    const fd = await fs.create(`/w${w}.bin`);
    for (let pos = 0; pos < fileBytes; pos += MiB) {
      await fs.write(fd, pos, chunk);
      peakHeld = Math.max(peakHeld, fs.cache.reservedBytes);
    }
    await fs.flush(fd);
    await fs.release(fd);
  }),
);
clearInterval(sampler);
console.log(
  JSON.stringify({
    peakExternalMiB: mib(peak.external),
    peakArrayBuffersMiB: mib(peak.arrayBuffers),
    peakHeapUsedMiB: mib(peak.heapUsed),
    writers,
    fileMiB: mib(fileBytes),
    cacheSizeMiB: mib(cacheSizeBytes),
    seconds: (Date.now() - started) / 1000,
    uploadedMiB: mib(store.uploadedBytes),
    sizes: [...store.sizes.values()].map(mib),
    peakReservedMiB: mib(peakHeld),
    peakPartsInFlight: store.peakPartsInFlight,
    peakRss: mib(process.resourceUsage().maxRSS * 1024),
  }),
);
