/** The --help text, generated from the vocabulary so that every option and default is listed. */
import { VOCABULARY, type OptionSpec } from '../config/index.js';

const VALUE_NAME: Readonly<Record<OptionSpec['type'], string>> = {
  ...{ string: 'VALUE', url: 'URL', bool: '', uint: 'N', octal: 'MODE', duration: 'DURATION', size: 'SIZE', 'log-level': 'LEVEL', path: 'FILE' },
  listen: 'VALUE',
};

function section(title: string, scope: OptionSpec['scope']): string[] {
  const lines = VOCABULARY.filter((s) => s.scope === scope).flatMap((s) => {
    const names = [s.key, ...s.aliases].map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(', ');
    return [`  ${names}${VALUE_NAME[s.type] ? ` ${VALUE_NAME[s.type]}` : ''}`, `      ${s.help} (default: ${s.defaultText})`];
  });
  return [title, ...lines];
}

export const USAGE: string = [
  'Usage:',
  '  fluid-s3-fuse [--config PATH] [OPTIONS]',
  '      Fluid ThinRuntime entrypoint: reads --config PATH, else /etc/fluid/config/config.json,',
  '      else /etc/fluid/config.json, and mounts every dataset mount at its targetPath.',
  '  fluid-s3-fuse mount SOURCE MOUNTPOINT [OPTIONS]',
  '      Debug mount of one bucket in the foreground; SOURCE is s3://bucket[/prefix] or',
  '      minio://bucket[/prefix] (minio:// needs --endpoint).',
  '  fluid-s3-fuse check TARGETPATH',
  '      Exec probe: exit 0 when a fluid-s3-fuse mount is at TARGETPATH and answers, else 1.',
  '  fluid-s3-fuse --help | -h',
  '  fluid-s3-fuse --version | -V',
  '',
  'Options are written --key VALUE, --key=VALUE, --flag (booleans; --flag=false to turn off),',
  'or -o key=value,flag,ro. The same keys work in Fluid mount options, runtimeOptions and the',
  'MOUNT_OPTIONS env (key=value,flag,ro,rw); "_" and "-" are the same, case does not matter.',
  'Precedence, low to high: defaults < MOUNT_OPTIONS < runtimeOptions < mount options < command line.',
  'Values that are paths under /etc/fluid/secrets/ are read from that file.',
  'Durations: 500ms, 30s, 1m30s, 2h (a plain number is seconds). Sizes: bytes, K/M/G/T or',
  'KiB/MiB/GiB/TiB (binary), KB/MB/GB/TB (decimal). Booleans: true/false, yes/no, on/off, 1/0.',
  '',
  ...section('Per bucket:', 'bucket'),
  '',
  ...section('Whole mount (set them in runtimeOptions with several mounts):', 'process'),
  '',
  ...section('mount command only:', 'cli'),
  '',
  'Environment: MOUNT_OPTIONS, MOUNT_POINT (targetPath fallback), AWS_ACCESS_KEY_ID,',
  'AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (used when no key option is given),',
  'FLUID_S3_FUSE_SECRETS_ROOT (where secret files live; default /etc/fluid/secrets),',
  'AWS_CA_BUNDLE (PEM CAs when no ca-file), HTTPS_PROXY, HTTP_PROXY, NO_PROXY.',
  'Secrets are refused on the command line (ps shows it): use --secret-key-file or the env.',
  '',
  'Signals: SIGTERM/SIGINT/SIGHUP unmount and exit 0; SIGUSR1 logs the counters; SIGUSR2 toggles',
  'debug logging.',
  '',
].join('\n');
