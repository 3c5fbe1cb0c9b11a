// Command line → Command.
import t from 'tap';
import { ConfigError } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { rejectsConfig } from '../config/fixtures/helpers.js';

t.test('no subcommand is the Fluid entrypoint mode', async (t) => {
  t.same(parseArgv([]), { kind: 'fluid', flags: {} });
  t.same(parseArgv(['--config', '/x/config.json']), { kind: 'fluid', configPath: '/x/config.json', flags: {} });
  t.same(parseArgv(['--config=/x/c.json', '--log-level', 'debug', '--allow_other']), {
    kind: 'fluid',
    configPath: '/x/c.json',
    flags: { 'log-level': 'debug', 'allow-other': 'true' },
  });
});

t.test('help and version', async (t) => {
  for (const argv of [['--help'], ['-h'], ['help'], ['mount', '--help'], ['--bogus', '-h'], ['-h', '-V']]) {
    t.same(parseArgv(argv), { kind: 'help' }, argv.join(' '));
  }
  for (const argv of [['--version'], ['-V'], ['version'], ['mount', 's3://b', '-V']]) {
    t.same(parseArgv(argv), { kind: 'version' }, argv.join(' '));
  }
  t.same(parseArgv(['mount', '--', '--help', '/mnt']), { kind: 'mount', source: '--help', mountpoint: '/mnt', flags: {} }, 'after -- it is a positional');
});

t.test('mount: positionals and flags in any order, every flag form', async (t) => {
  t.same(parseArgv(['mount', 's3://bucket/pre', '/mnt/x']), { kind: 'mount', source: 's3://bucket/pre', mountpoint: '/mnt/x', flags: {} });
  const cmd = parseArgv([
    '--endpoint',
    'http://minio:9000',
    'mount',
    '--Region=eu-west-1',
    'minio://bucket',
    '-f',
    '--read-only',
    '/mnt/x',
    '-o',
    'uid=1000,allow_other,ro',
    '-ogid=5',
    '--path-style=false',
    '--secret_key',
    'abc=def',
    '--foreground',
  ]);
  t.same(cmd, {
    kind: 'mount',
    source: 'minio://bucket',
    mountpoint: '/mnt/x',
    flags: {
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      'read-only': 'true',
      uid: '1000',
      'allow-other': 'true',
      ro: 'true',
      gid: '5',
      'path-style': 'false',
      'secret-key': 'abc=def',
      foreground: 'true',
    },
  });
});

t.test('-o rw means read-only=false; the last of repeated keys wins', async (t) => {
  const cmd = parseArgv(['mount', 's3://bucket', '/m', '--read-only', '-o', 'rw', '--url', 'http://a', '--endpoint', 'http://b', '--url', 'http://c']);
  t.equal(cmd.kind, 'mount');
  if (cmd.kind !== 'mount') return;
  t.equal(cmd.flags['read-only'], 'false');
  const keys = Object.keys(cmd.flags);
  t.equal(keys.at(-1), 'url', 'the url given last is last in order');
  t.equal(cmd.flags['url'], 'http://c');
});

t.test('unknown long flags are kept (and warned about later), as booleans unless --k=v', async (t) => {
  t.same(parseArgv(['mount', '--cheap', 's3://bucket', '/m', '--type-cache-ttl=5s']), {
    kind: 'mount',
    source: 's3://bucket',
    mountpoint: '/m',
    flags: { cheap: 'true', 'type-cache-ttl': '5s' },
  });
});

t.test('syntax errors are one-line ARGV errors pointing to --help', async (t) => {
  const cases: [string[], string[]][] = [
    [['frobnicate'], ['unknown command "frobnicate"']],
    [['mount'], ['SOURCE and MOUNTPOINT']],
    [['mount', 's3://bucket'], ['MOUNTPOINT']],
    [['mount', 's3://bucket', '/m', 'extra'], ['unexpected argument "extra"']],
    [
      ['mount', 's3://bucket', '/m', '--allow-other', 'false'],
      ['"false"', '--key=value'],
    ],
    [['mount', 's3://bucket', '/m', '--endpoint'], ['--endpoint needs a value']],
    [['--config'], ['--config needs a value']],
    [['mount', 's3://bucket', '/m', '--region', '--uid', '5'], ['--region needs a value']],
    [['mount', 's3://bucket', '/m', '-o'], ['-o needs a value']],
    [['mount', 's3://bucket', '/m', '-x'], ['unknown flag "-x"']],
    [['--config', '/c.json', 'mount', 's3://bucket', '/m'], ['--config is only for']],
    [['--=x'], ['malformed flag']],
  ];
  for (const [argv, has] of cases) {
    const err = await rejectsConfig(t, () => parseArgv(argv), { code: 'ARGV', has: [...has, '--help'], startsWith: 'command line: ' });
    t.ok(err instanceof ConfigError, argv.join(' '));
  }
});

t.test('a value after a misspelt flag is not echoed (it may be a secret)', async (t) => {
  await rejectsConfig(t, () => parseArgv(['mount', 's3://bucket', '/m', '--secret-acess-key', 'TOPSECRET']), {
    code: 'ARGV',
    has: ['--secret-acess-key', 'not shown'],
    hasNot: ['TOPSECRET'],
  });
  await rejectsConfig(t, () => parseArgv(['--secret-acess-key', 'TOPSECRET']), {
    code: 'ARGV',
    has: ['unknown command'],
    hasNot: ['TOPSECRET'],
  });
  t.same(parseArgv(['mount', 's3://bucket', '/m', '--secret-acess-key=TOPSECRET']).kind, 'mount', 'with = it is only an unknown key');
});
