// Checks a stream of bytes against an object's per-chunk CRC-32s from the manifest, wherever
// the stream's pieces happen to be cut (HTTP body pieces, short reads).
import { crc32 } from 'node:zlib';

export class ChunkChecker {
  /** obj: a manifest entry { key, size, crcs }; start: stream offset, a multiple of chunk. */
  constructor(obj, chunk, start = 0) {
    if (start % chunk !== 0) throw new Error('ChunkChecker must start on a chunk boundary');
    this.obj = obj;
    this.chunk = chunk;
    this.index = start / chunk;
    this.filled = 0;
    this.crc = 0;
    this.bytes = 0;
  }

  push(buf) {
    let at = 0;
    while (at < buf.length) {
      const chunkLen = Math.min(this.chunk, this.obj.size - this.index * this.chunk);
      if (chunkLen <= 0) throw new Error(`${this.obj.key}: more bytes than the object has (${this.obj.size})`);
      const take = Math.min(chunkLen - this.filled, buf.length - at);
      this.crc = crc32(buf.subarray(at, at + take), this.crc);
      this.filled += take;
      at += take;
      if (this.filled === chunkLen) this.#close();
    }
    this.bytes += buf.length;
  }

  #close() {
    if (this.crc !== this.obj.crcs[this.index]) {
      throw new Error(`${this.obj.key}: bytes differ from the known content in MiB ${this.index} (crc ${this.crc} != ${this.obj.crcs[this.index]})`);
    }
    this.index++;
    this.filled = 0;
    this.crc = 0;
  }

  /** Asserts the stream ended exactly at `end` (default: the object's size) on a closed chunk. */
  end(end = this.obj.size) {
    if (this.filled !== 0 || Math.min(this.index * this.chunk, this.obj.size) !== end) {
      throw new Error(`${this.obj.key}: stream ended at ${this.index * this.chunk + this.filled}, expected ${end}`);
    }
  }
}
