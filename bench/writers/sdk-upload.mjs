// The raw SDK ceiling of the write bench (child process): one local file uploaded as a
// multipart upload with plain @aws-sdk/client-s3, PART_MIB parts, INFLIGHT UploadParts at once,
// parts read from the file at their offsets (pread) as they are sent. No Content-MD5 (the SDK's
// WHEN_REQUIRED default): this is the ceiling, not a like-for-like client.
//
//   node bench/writers/sdk-upload.mjs FILE BUCKET KEY PART_MIB INFLIGHT
// S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY come from the environment.
//   stdout: {"bytes":n,"ms":n,"cpuS":n,"parts":n}   (cpuS: this process, user + sys, all threads)
import { open } from 'node:fs/promises';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { s3Client, s3FromEnv } from '../lib/s3.mjs';

const [file, Bucket, Key, partMiB, inflight] = process.argv.slice(2);
const part = Number(partMiB) * 2 ** 20;
const s3 = s3Client(s3FromEnv());
const fh = await open(file, 'r');
const { size } = await fh.stat();
const nParts = Math.ceil(size / part);

const c0 = process.cpuUsage();
const t0 = performance.now();
const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
const etags = new Array(nParts);
let next = 0;
const worker = async () => {
  while (next < nParts) {
    const i = next++;
    const len = Math.min(part, size - i * part);
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(buf, 0, len, i * part);
    if (bytesRead !== len) throw new Error(`short read at part ${i + 1}`);
    const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: buf, ContentLength: len }));
    etags[i] = r.ETag;
  }
};
await Promise.all(Array.from({ length: Number(inflight) }, worker));
await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
const ms = performance.now() - t0;
const u = process.cpuUsage(c0);
await fh.close();
process.stdout.write(`${JSON.stringify({ bytes: size, ms, cpuS: (u.user + u.system) / 1e6, parts: nParts })}\n`);
process.exit(0);
