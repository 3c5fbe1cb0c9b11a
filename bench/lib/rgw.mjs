// One Ceph RGW for the whole bench run, through the project's own scripts.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    // stderr (progress) passes through; stdout is the endpoint line
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

/** Starts RGW in dir with an OSD of memstoreMb; resolves to the parsed s3.env. */
export async function startRgw(dir, memstoreMb) {
  await run('bash', [join(ROOT, 'scripts/rgw-start.sh'), dir], { ...process.env, MEMSTORE_MB: String(memstoreMb) });
  const env = {};
  for (const line of (await readFile(join(dir, 's3.env'), 'utf8')).split('\n')) {
    const m = /^([A-Z_0-9]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

export async function stopRgw(dir) {
  await run('bash', [join(ROOT, 'scripts/rgw-stop.sh'), dir, '--purge'], process.env);
}
