/**
 * Health, readiness, metrics, the `check` exec probe and SIGUSR2, read from a running mount.
 */
import t from 'tap';
import { CLI, run, sleep } from './helpers/agent.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

t.test('/healthz, /readyz, /metrics, check and SIGUSR2 on a live mount', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'observe', client);
  await putObjects(client, bucket, { 'f.bin': Buffer.alloc(3 * 1024 * 1024, 7), 'g.txt': 'hello' });
  const { agent, dir } = await mountBucket(t, `s3://${bucket}`, ['--metrics-address', '127.0.0.1:0', '--log-level', 'info']);
  const m = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics listener up"/.exec(agent.stdout());
  t.ok(m, 'logs the listener address');
  const base = `http://127.0.0.1:${m?.[1]}`;

  t.equal((await get(`${base}/readyz`)).status, 200);
  const health = await get(`${base}/healthz`);
  t.equal(health.status, 200, health.body);
  t.match(health.body, /answering/);
  t.equal((await get(`${base}/nope`)).status, 404);

  t.equal((await run('cat', [`${dir}/f.bin`])).code, 0);
  await run('stat', [`${dir}/missing`]);
  const metrics = (await get(`${base}/metrics`)).body;
  t.match(metrics, /fluid_s3_fuse_s3_requests_total\{op="GET",status="206"\} \d+/, 'S3 requests by op and status');
  t.match(metrics, /fluid_s3_fuse_s3_requests_total\{op="LIST",status="200"\} \d+/);
  t.match(metrics, /fluid_s3_fuse_s3_fetched_bytes_total (\d+)/);
  const fetched = Number(/fluid_s3_fuse_s3_fetched_bytes_total (\d+)/.exec(metrics)?.[1]);
  t.ok(fetched >= 3 * 1024 * 1024, `fetched bytes counted (${fetched})`);
  t.match(metrics, /fluid_s3_fuse_fuse_op_duration_seconds_count\{op="read"\} [1-9]/, 'FUSE latency by op');
  t.match(metrics, /fluid_s3_fuse_fuse_errors_total\{op="getattr",errno="ENOENT"\} [1-9]/, 'errors by errno');
  t.match(metrics, /fluid_s3_fuse_mount_state\{state="mounted"\} 1/);
  t.match(metrics, /fluid_s3_fuse_cache_(hits|misses)_total \d+/);
  t.match(metrics, /fluid_s3_fuse_readahead_window_bytes_count [1-9]/);
  t.notMatch(metrics, new RegExp(s3Env().secretAccessKey), 'no secret in metrics');

  const ok = await run(process.execPath, [CLI, 'check', dir]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /answering/);

  agent.child.kill('SIGUSR2');
  await sleep(200);
  t.match(agent.stdout(), /"logLevel":"debug","msg":"log level changed"/);
  await run('stat', [`${dir}/missing-again`]);
  await sleep(200);
  t.match(agent.stdout(), /"level":"debug".*"errno":"ENOENT"/, 'debug lines now logged');

  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
  const gone = await run(process.execPath, [CLI, 'check', dir]);
  t.equal(gone.code, 1);
  t.match(gone.stderr, /no fuse\.fluid-s3 mount/);
});
