// Turns the per-run measurements into the results table: medians, ratios against the peers
// and the raw SDK, and whether each of the issue's targets is met.
import { CLIENTS } from './clients.mjs';

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The rows of the table, in order. */
export function metricsFor(manifest, cfg) {
  const mib = (b) => `${b / 2 ** 20} MiB`;
  const s = manifest.sizes;
  const nSmall = s.smallDirs * s.smallPerDir;
  return [
    { key: 'seqMBps', label: `sequential read, ${mib(s.seqSize)} object (MB/s)` },
    { key: 'ttfbMs', label: 'time to first 4 KiB after open, fresh mount (ms)' },
    { key: 'smallFilesPerSec', label: `${nSmall} × ${s.smallSize / 1024} KiB files in ${s.smallDirs} folders, 8 readers (files/s)` },
    { key: 'findS', label: `find -type f over them, ${nSmall} files (s)` },
    { key: 'lsS', label: `ls -l of a folder of ${s.lsCount} objects (s)` },
    { key: 'rand4kIops', label: `random 4 KiB reads, fio ${cfg.fioRuntime} s (IOPS)` },
    { key: 'rand4kFetched', label: 'random 4 KiB: S3 bytes fetched per byte read ¹', oursOnly: true },
    { key: 'rand64kIops', label: `random 64 KiB reads, fio ${cfg.fioRuntime} s (IOPS)` },
    { key: 'rand64kFetched', label: 'random 64 KiB: S3 bytes fetched per byte read ¹', oursOnly: true },
    { key: 'parMBps', label: `4 parallel readers of 4 × ${mib(s.parSize)} objects (MB/s, aggregate)` },
    { key: 'peakRssMiB', label: 'peak RSS during the 4 parallel readers (MiB)' },
  ];
}

/**
 * The issue's targets. Each check turns the medians { ours, s3fs, rclone, sdk } into
 * [achieved, needed, shown?]: achieved is oriented so that bigger is better, and the target
 * is met when achieved >= needed.
 */
function targetsFor(mode) {
  const t = [];
  const add = (key, text, check) => t.push({ key, text, check });
  const x = (r) => `${r.toFixed(2)}×`;
  if (mode !== 'slow') {
    add('seqMBps', '≥ 2× s3fs', (m) => [m.ours / m.s3fs, 2]);
    add('seqMBps', '≥ 2.5× rclone', (m) => [m.ours / m.rclone, 2.5]);
    add('seqMBps', '≥ 0.75× one raw SDK stream', (m) => [m.ours / m.sdk, 0.75]);
    add('ttfbMs', '≤ 2× a raw GET', (m) => [m.sdk / m.ours, 0.5, `${x(m.ours / m.sdk)} the raw GET`]);
    add('smallFilesPerSec', '≥ 2× the better of s3fs and rclone', (m) => [m.ours / Math.max(m.s3fs, m.rclone), 2]);
    add('lsS', '≥ 3× faster than s3fs', (m) => [m.s3fs / m.ours, 3, `${x(m.s3fs / m.ours)} faster`]);
    add('findS', 'no slower than rclone', (m) => [m.rclone / m.ours, 1, `${x(m.rclone / m.ours)} rclone's speed`]);
  } else {
    add('seqMBps', '≥ 3× s3fs', (m) => [m.ours / m.s3fs, 3]);
    add('smallFilesPerSec', '≥ 3× s3fs', (m) => [m.ours / m.s3fs, 3]);
    add('lsS', '≥ 3× faster than s3fs', (m) => [m.s3fs / m.ours, 3, `${x(m.s3fs / m.ours)} faster`]);
  }
  add('rand4kFetched', '≤ 4 bytes fetched per byte read', (m) => [4 / m.ours, 1, `${m.ours.toFixed(2)}`]);
  add('rand4kIops', '≥ s3fs', (m) => [m.ours / m.s3fs, 1]);
  add('peakRssMiB', '≤ 256 MiB + 150 MiB', (m) => [406 / m.ours, 1, `${m.ours.toFixed(0)} MiB`]);
  return t.map((d) => ({
    key: d.key,
    render(m) {
      if (!Number.isFinite(m.ours)) return `${d.text}: n/a`;
      const [ratio, need, shown] = d.check(m);
      if (!Number.isFinite(ratio)) return `${d.text}: n/a`;
      const met = ratio >= need;
      // "missed by X": how far the measured value is from the target, as a factor
      return `${d.text}: ${met ? 'met' : `**missed** by ${x(need / ratio)}`} (${shown ?? x(ratio)})`;
    },
  }));
}

function fmt(v) {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/**
 * runs: [{ ours: {metric: v}, s3fs: {…}, rclone: {…}, sdk: {seqMBps, seqParMBps, ttfbMs} }]
 * Returns the markdown of the results (table, per-run values, notes).
 */
export function renderResults({ runs, manifest, cfg, header }) {
  const metrics = metricsFor(manifest, cfg);
  const targets = targetsFor(cfg.mode);
  const med = (who, key) => median(runs.map((r) => r[who]?.[key]));
  const out = [...header, ''];
  out.push('| workload | ours | s3fs | rclone | raw SDK | ours/s3fs | ours/rclone | ours/SDK | targets |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const m of metrics) {
    const v = Object.fromEntries(CLIENTS.map((c) => [c, med(c, m.key)]));
    let sdk;
    let sdkText = '';
    if (m.key === 'seqMBps') {
      sdk = med('sdk', 'seqMBps');
      sdkText = `${fmt(sdk)} (1 stream); ${fmt(med('sdk', 'seqParMBps'))} (${cfg.sdkStreams} × 8 MiB)`;
    } else if (m.key === 'ttfbMs') {
      sdk = med('sdk', 'ttfbMs');
      sdkText = `${fmt(sdk)} (4 KiB GET)`;
    }
    const r = (p) => (m.oursOnly || !Number.isFinite(v.ours / v[p]) ? '–' : fmt(v.ours / v[p]));
    const tg = targets
      .filter((t) => t.key === m.key)
      .map((t) => t.render({ ...v, sdk }))
      .join('; ');
    out.push(
      `| ${m.label} | ${fmt(v.ours)} | ${m.oursOnly ? 'n/a' : fmt(v.s3fs)} | ${m.oursOnly ? 'n/a' : fmt(v.rclone)} | ${sdkText || '–'} | ${r('s3fs')} | ${r('rclone')} | ${sdk ? fmt(v.ours / sdk) : '–'} | ${tg} |`,
    );
  }
  out.push('');
  out.push(
    '¹ ours only: the growth of its s3BytesFetched counter (logged on SIGUSR1) over the fio run ÷ the bytes fio read (page-cache hits included). The peers keep no such counter.',
    '',
  );
  out.push(
    `Medians of ${runs.length} run(s). Ratios are ours ÷ peer of the numbers as shown: above 1 is better for rates, below 1 is better for times, bytes and memory. "missed by X": the factor by which the value falls short of the target.`,
  );
  if (runs.length > 1) {
    out.push(
      '',
      '<details><summary>Every run</summary>',
      '',
      `| workload | client | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} |`,
      `|---|---|${runs.map(() => '---:').join('|')}|`,
    );
    for (const m of metrics) {
      for (const c of [...CLIENTS, 'sdk']) {
        if (!runs.some((r) => r[c]?.[m.key] !== undefined)) continue;
        out.push(`| ${m.label} | ${c} | ${runs.map((r) => fmt(r[c]?.[m.key])).join(' | ')} |`);
      }
      if (m.key === 'seqMBps') out.push(`| ${m.label} | sdk ${cfg.sdkStreams} streams | ${runs.map((r) => fmt(r.sdk?.seqParMBps)).join(' | ')} |`);
    }
    out.push('', '</details>');
  }
  return out.join('\n');
}
