/**
 * Plain counters of what the agent did: S3 requests and bytes, FUSE reads and bytes. Cheap
 * enough for the read path (a property increment); logged on SIGUSR1 and when the agent stops,
 * which is how the benchmarks measure bytes fetched per byte read.
 */
export interface Counters {
  s3Head: number;
  s3List: number;
  s3Get: number;
  s3Errors: number;
  s3BytesFetched: number;
  fuseReads: number;
  fuseBytesRead: number;
}

export function createCounters(): Counters {
  return { s3Head: 0, s3List: 0, s3Get: 0, s3Errors: 0, s3BytesFetched: 0, fuseReads: 0, fuseBytesRead: 0 };
}
