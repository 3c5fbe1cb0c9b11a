// Known content for every benchmark object, and the shape of the data set per mode.
//
// The bytes of an object are an AES-128-CTR keystream keyed by the object's key. That makes
// them (a) incompressible, so no client or server can win by compressing, (b) different in
// every object, so a client that mixes up two objects fails the check, and (c) seekable: the
// expected bytes at any offset can be produced without generating what comes before, which is
// what the random-read check needs.
import { createCipheriv, createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const MiB = 1024 * 1024;
export const KiB = 1024;
export const GiB = 1024 * MiB;

/** Checksums are kept per CHUNK bytes, so readers can check as they go and name the bad MiB. */
export const CHUNK = MiB;

function keyFor(objectKey) {
  return createHash('sha256').update(`fluid-s3-fuse bench v1:${objectKey}`).digest().subarray(0, 16);
}

/** The expected bytes [offset, offset + length) of objectKey. */
export function expectedBytes(objectKey, offset, length) {
  const block = Math.floor(offset / 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const cipher = createCipheriv('aes-128-ctr', keyFor(objectKey), iv);
  const skip = offset - block * 16;
  const out = cipher.update(Buffer.alloc(skip + length));
  return out.subarray(skip);
}

/** CRC-32 of each CHUNK of an object (the last one may be short). */
export function chunkCrcs(objectKey, size) {
  const crcs = [];
  for (let off = 0; off < size; off += CHUNK) {
    crcs.push(crc32(expectedBytes(objectKey, off, Math.min(CHUNK, size - off))));
  }
  return crcs;
}

/**
 * What to load. LAN sizes are the issue's; slow-link shrinks the big objects (at 20 MB/s per
 * connection a 1 GiB object would take most of the run for the slow peers); quick is for
 * developing the bench itself.
 */
export function datasetFor(mode) {
  const sizes = {
    lan: { seqSize: 1024 * MiB, parCount: 4, parSize: 256 * MiB, smallDirs: 10, smallPerDir: 200, smallSize: 64 * KiB, lsCount: 10_000, lsSize: 1 * KiB },
    slow: { seqSize: 256 * MiB, parCount: 4, parSize: 64 * MiB, smallDirs: 10, smallPerDir: 200, smallSize: 64 * KiB, lsCount: 10_000, lsSize: 1 * KiB },
    quick: { seqSize: 128 * MiB, parCount: 4, parSize: 32 * MiB, smallDirs: 10, smallPerDir: 20, smallSize: 64 * KiB, lsCount: 1_000, lsSize: 1 * KiB },
  }[mode];
  if (!sizes) throw new Error(`unknown data set mode ${mode}`);
  const pad = (n, w) => String(n).padStart(w, '0');
  const seq = { key: 'seq/big.bin', size: sizes.seqSize };
  const par = Array.from({ length: sizes.parCount }, (_, i) => ({ key: `par/p${i}.bin`, size: sizes.parSize }));
  const small = [];
  for (let d = 0; d < sizes.smallDirs; d++) {
    for (let f = 0; f < sizes.smallPerDir; f++) small.push({ key: `small/d${pad(d, 2)}/f${pad(f, 4)}.bin`, size: sizes.smallSize });
  }
  const ls = Array.from({ length: sizes.lsCount }, (_, i) => ({ key: `ls/f${pad(i, 5)}.bin`, size: sizes.lsSize }));
  return { mode, sizes, seq, par, small, ls };
}

/** Bytes the data set stores (to size the RGW memstore). */
export function datasetBytes(ds) {
  return [ds.seq, ...ds.par, ...ds.small, ...ds.ls].reduce((n, o) => n + o.size, 0);
}

/**
 * The epoch data set of the disk-cache bench (issue 13, bench/disk-run.mjs): half of it in
 * 64 KiB files in folders, half in 4 big files. lan is the issue's 2 GiB; slow is 1 GiB (at
 * 20 MB/s per connection the peers' cold epochs of 2 GiB would take the run past 30 min); quick is
 * for developing the bench (256 MiB: with less, half of it is under the 80 MB that s3fs
 * wants free above ensure_diskfree before it mounts).
 */
export function epochDatasetFor(mode) {
  const sizes = {
    lan: { dirs: 64, perDir: 256, smallSize: 64 * KiB, bigCount: 4, bigSize: 256 * MiB },
    slow: { dirs: 32, perDir: 256, smallSize: 64 * KiB, bigCount: 4, bigSize: 128 * MiB },
    quick: { dirs: 16, perDir: 128, smallSize: 64 * KiB, bigCount: 4, bigSize: 32 * MiB },
  }[mode];
  if (!sizes) throw new Error(`unknown data set mode ${mode}`);
  const pad = (n, w) => String(n).padStart(w, '0');
  const small = [];
  for (let d = 0; d < sizes.dirs; d++) {
    for (let f = 0; f < sizes.perDir; f++) small.push({ key: `epoch/small/d${pad(d, 2)}/f${pad(f, 4)}.bin`, size: sizes.smallSize });
  }
  const big = Array.from({ length: sizes.bigCount }, (_, i) => ({ key: `epoch/big/b${i}.bin`, size: sizes.bigSize }));
  return { mode, sizes, small, big, bytes: [...small, ...big].reduce((n, o) => n + o.size, 0) };
}
