/** Mount a test bucket with the debug `mount` command and wait until it is ready. */
import { join } from 'node:path';
import type { Test } from 'tap';
import { type Agent, startAgent, tempDir } from './agent.js';
import { s3Env } from './s3.js';

export interface MountedBucket {
  readonly agent: Agent;
  /** The mount point. */
  readonly dir: string;
}

export async function mountBucket(t: Test, source: string, extraArgs: readonly string[] = []): Promise<MountedBucket> {
  const env = s3Env();
  const root = await tempDir(t, 'mnt');
  const dir = join(root, 'mnt');
  const agent = startAgent(t, {
    args: ['mount', source, dir, '--endpoint', env.endpoint, '--log-level', 'debug', ...extraArgs],
    target: dir,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted();
  return { agent, dir };
}
