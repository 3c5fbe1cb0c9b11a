// Creates the bench bucket and uploads the data set of a mode; writes the manifest (keys,
// sizes, per-MiB CRC-32s) that every reader checks its bytes against.
//
//   S3_ENDPOINT=… AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \
//     node bench/load-data.mjs BUCKET MODE(lan|slow|quick) MANIFEST.json
//
// Always loads straight into RGW (never through the slow-link proxy): loading is not measured.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { CHUNK, MiB, chunkCrcs, datasetFor, expectedBytes } from './lib/content.mjs';
import { writeParquet } from './lib/parquet.mjs';
import { s3Client, s3FromEnv } from './lib/s3.mjs';

const PART = 16 * MiB;

/** Runs fn over items with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** bytesAt(offset, length): the object's bytes there (default: its known content). */
export async function putBig(s3, Bucket, { key, size }, bytesAt = (off, len) => expectedBytes(key, off, len)) {
  // multipart, like any large object a real data set holds
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
  try {
    const parts = Array.from({ length: Math.ceil(size / PART) }, (_, i) => i);
    const done = [];
    await pool(parts, 4, async (i) => {
      const off = i * PART;
      const Body = bytesAt(off, Math.min(PART, size - off));
      const r = await s3.send(new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber: i + 1, Body }));
      done[i] = { PartNumber: i + 1, ETag: r.ETag };
    });
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  } catch (err) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId })).catch(() => {});
    throw err;
  }
}

export async function loadData({ bucket, mode, manifestPath, s3conf, log = () => {} }) {
  const ds = datasetFor(mode);
  const s3 = s3Client(s3conf);
  let parquet;
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const t0 = performance.now();
    for (const o of [ds.seq, ...ds.par]) {
      await putBig(s3, bucket, o);
      log(`loaded ${o.key} (${o.size / MiB} MiB)`);
    }
    const smallOnes = [...ds.small, ...ds.ls];
    await pool(smallOnes, 32, (o) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: expectedBytes(o.key, 0, o.size) })));
    log(`loaded ${smallOnes.length} small objects; ${((performance.now() - t0) / 1000).toFixed(1)} s in all`);
    // the columnar workload's table: written to a local file, uploaded, removed
    const pqPath = join(dirname(manifestPath), 'table.parquet');
    parquet = await writeParquet(pqPath, mode);
    const pqBytes = await readFile(pqPath);
    await putBig(s3, bucket, parquet, (off, len) => pqBytes.subarray(off, off + len));
    await rm(pqPath);
    log(`loaded ${parquet.key} (${(parquet.size / MiB).toFixed(0)} MiB: ${parquet.groups} row groups × ${parquet.columns} columns)`);
  } finally {
    s3.destroy();
  }
  const withCrcs = (o) => ({ ...o, crcs: chunkCrcs(o.key, o.size) });
  const manifest = {
    bucket,
    mode,
    chunk: CHUNK,
    sizes: ds.sizes,
    seq: withCrcs(ds.seq),
    par: ds.par.map(withCrcs),
    small: ds.small.map(withCrcs),
    ls: ds.ls, // listed, never read: sizes are what ls -l is checked against
    parquet,
  };
  await writeFile(manifestPath, JSON.stringify(manifest));
  return manifest;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [bucket, mode, manifestPath] = process.argv.slice(2);
  if (!bucket || !mode || !manifestPath) {
    console.error('usage: node bench/load-data.mjs BUCKET lan|slow|quick MANIFEST.json');
    process.exit(2);
  }
  await loadData({ bucket, mode, manifestPath, s3conf: s3FromEnv(), log: (m) => console.error(`[load-data] ${m}`) });
}
