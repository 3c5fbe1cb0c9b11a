// Turns the per-run measurements into the results table: medians, ratios against the peers
// and the raw SDK, and whether each of the issue's targets is met.
import { CLIENTS } from './clients.mjs';

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * The rows of the tables, in order. table 'cpu' rows go to the second table (CPU of the client
 * process). sdk: the raw SDK's figure for the row, as [key, text].
 */
export function metricsFor(manifest, cfg) {
  const mib = (b) => `${b / 2 ** 20} MiB`;
  const s = manifest.sizes;
  const nSmall = s.smallDirs * s.smallPerDir;
  const fioS = `fio ${cfg.fioRuntime} s`;
  const pq = manifest.parquet;
  const pqMB = pq ? (pq.size / 1e6).toFixed(0) : '?';
  return [
    {
      key: 'seqMBps',
      label: `sequential read, ${mib(s.seqSize)} object (MB/s)`,
      sdk: ['seqMBps', (m) => `${fmt(m.seqMBps)} (1 stream); ${fmt(m.seqParMBps)} (${cfg.sdkStreams} × 8 MiB)`],
    },
    { key: 'ttfbMs', label: 'time to first 4 KiB after open, fresh mount (ms)', sdk: ['ttfbMs', (m) => `${fmt(m.ttfbMs)} (4 KiB GET)`] },
    { key: 'smallFilesPerSec', label: `${nSmall} × ${s.smallSize / 1024} KiB files in ${s.smallDirs} folders, 8 readers (files/s)` },
    { key: 'findS', label: `find -type f over them, ${nSmall} files (s)` },
    { key: 'lsS', label: `ls -l of a folder of ${s.lsCount} objects (s)` },
    { key: 'rand4kIops', label: `random 4 KiB reads, ${fioS} (IOPS)` },
    { key: 'rand4kFetched', label: 'random 4 KiB: S3 bytes fetched per byte read ¹', oursOnly: true },
    { key: 'rand64kIops', label: `random 64 KiB reads, ${fioS} (IOPS)` },
    { key: 'rand64kFetched', label: 'random 64 KiB: S3 bytes fetched per byte read ¹', oursOnly: true },
    { key: 'rand256kMiBps', label: `random 256 KiB reads, 1 thread, ${fioS} (MiB/s)` },
    {
      key: 'rand256kLatMs',
      label: 'random 256 KiB reads: median latency of one read (ms)',
      sdk: ['rand256kLatMs', (m) => `${fmt(m.rand256kLatMs)} (256 KiB ranged GET)`],
    },
    { key: 'rand256kLatVsRaw', label: 'random 256 KiB: median latency ÷ a raw 256 KiB ranged GET sampled right after the fio run (×)' },
    { key: 'rand256kFetched', label: 'random 256 KiB: S3 bytes fetched per byte read ¹', oursOnly: true },
    { key: 'pqAllS', label: `Parquet table (${pqMB} MB, ${pq?.groups} row groups × ${pq?.columns} columns) read with hyparquet, all columns (s) ²` },
    { key: 'pqAllFetched', label: 'Parquet, all columns: S3 bytes fetched per byte of the columns read ¹', oursOnly: true },
    { key: 'pqTwoS', label: 'Parquet, 2 of 10 columns (s) ²' },
    { key: 'pqTwoFetched', label: 'Parquet, 2 of 10 columns: S3 bytes fetched per byte of the columns read ¹', oursOnly: true },
    { key: 'parMBps', label: `4 parallel readers of 4 × ${mib(s.parSize)} objects (MB/s, aggregate)` },
    { key: 'peakRssMiB', label: 'peak RSS during the 4 parallel readers (MiB)' },
    {
      key: 'seqCpuPerGiB',
      table: 'cpu',
      label: 'sequential read (s per GiB)',
      sdk: ['seqCpuPerGiB', (m) => `${fmt(m.seqCpuPerGiB)} (1 stream); ${fmt(m.seqParCpuPerGiB)} (${cfg.sdkStreams} × 8 MiB)`],
    },
    { key: 'ttfbCpuMs', table: 'cpu', label: 'time to first byte: open + first 4 KiB (ms of CPU)' },
    { key: 'smallCpuPer1k', table: 'cpu', label: `small files, ${nSmall} × ${s.smallSize / 1024} KiB (s per 1,000 files)` },
    { key: 'findCpuPer1k', table: 'cpu', label: 'find (s per 1,000 files)' },
    { key: 'lsCpuPer1k', table: 'cpu', label: 'ls -l (s per 1,000 entries)' },
    { key: 'rand4kCpuPerGiB', table: 'cpu', label: 'random 4 KiB reads (s per GiB read)' },
    { key: 'rand64kCpuPerGiB', table: 'cpu', label: 'random 64 KiB reads (s per GiB read)' },
    { key: 'rand256kCpuPerGiB', table: 'cpu', label: 'random 256 KiB reads (s per GiB read)' },
    { key: 'pqAllCpuPerGiB', table: 'cpu', label: 'Parquet, all columns (s per GiB of the columns)' },
    { key: 'pqTwoCpuPerGiB', table: 'cpu', label: 'Parquet, 2 of 10 columns (s per GiB of the columns)' },
    { key: 'parCpuPerGiB', table: 'cpu', label: '4 parallel readers (s per GiB)' },
  ];
}

/**
 * The targets of issue 11. Each check turns the medians { ours, s3fs, rclone, sdk } into
 * [achieved, needed, shown?]: achieved is oriented so that bigger is better, and the target
 * is met when achieved >= needed.
 */
function targetsFor(mode) {
  const t = [];
  const add = (key, text, check) => t.push({ key, text, check });
  const x = (r) => `${r.toFixed(2)}×`;
  if (mode !== 'slow') {
    add('seqMBps', '≥ 1.25× s3fs', (m) => [m.ours / m.s3fs, 1.25]);
    add('seqMBps', '≥ 0.6× one raw SDK stream', (m) => [m.ours / m.sdk.seqMBps, 0.6]);
    add('ttfbMs', '≤ 3× a raw 4 KiB GET', (m) => [m.sdk.ttfbMs / m.ours, 1 / 3, `${x(m.ours / m.sdk.ttfbMs)} the raw GET`]);
    add('smallFilesPerSec', '≥ 2× the better of s3fs and rclone', (m) => [m.ours / Math.max(m.s3fs, m.rclone), 2]);
    add('findS', 'no slower than rclone', (m) => [m.rclone / m.ours, 1, `${x(m.rclone / m.ours)} rclone's speed`]);
    add('lsS', '≥ 3× faster than s3fs', (m) => [m.s3fs / m.ours, 3, `${x(m.s3fs / m.ours)} faster`]);
    add('rand256kMiBps', '≥ 1.5× s3fs', (m) => [m.ours / m.s3fs, 1.5]);
    add('rand256kLatVsRaw', '≤ 1.5× a raw ranged GET of the same size', (m) => [1.5 / m.ours, 1, x(m.ours)]);
  } else {
    add('seqMBps', "≥ 1.25× the raw SDK's 8 streams", (m) => [m.ours / m.sdk.seqParMBps, 1.25]);
    add('seqMBps', '≥ 2.5× s3fs', (m) => [m.ours / m.s3fs, 2.5]);
    add('smallFilesPerSec', '≥ 3× s3fs', (m) => [m.ours / m.s3fs, 3]);
  }
  for (const k of ['pqAllS', 'pqTwoS']) add(k, 'no slower than s3fs', (m) => [m.s3fs / m.ours, 1, `${x(m.s3fs / m.ours)} s3fs's speed`]);
  for (const k of ['pqAllFetched', 'pqTwoFetched']) add(k, '≤ 1.25 bytes fetched per byte of the columns', (m) => [1.25 / m.ours, 1, `${m.ours.toFixed(2)}`]);
  for (const k of ['rand4kFetched', 'rand64kFetched', 'rand256kFetched'])
    add(k, '≤ 1.1 bytes fetched per byte read', (m) => [1.1 / m.ours, 1, `${m.ours.toFixed(2)}`]);
  add('peakRssMiB', '≤ 256 MiB + 150 MiB', (m) => [406 / m.ours, 1, `${m.ours.toFixed(0)} MiB`]);
  add('seqCpuPerGiB', '≤ 0.8× s3fs', (m) => [(0.8 * m.s3fs) / m.ours, 1, x(m.ours / m.s3fs)]);
  add('smallCpuPer1k', '≤ 1.5× s3fs', (m) => [(1.5 * m.s3fs) / m.ours, 1, x(m.ours / m.s3fs)]);
  add('smallCpuPer1k', '≤ 0.5× rclone', (m) => [(0.5 * m.rclone) / m.ours, 1, x(m.ours / m.rclone)]);
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
  const sdkMed = new Proxy({}, { get: (_, key) => med('sdk', key) });
  const row = (m) => {
    const v = Object.fromEntries(CLIENTS.map((c) => [c, med(c, m.key)]));
    const sdk = m.sdk ? med('sdk', m.sdk[0]) : undefined;
    const sdkText = m.sdk && Number.isFinite(sdk) ? m.sdk[1](sdkMed) : '–';
    const r = (p) => (m.oursOnly || !Number.isFinite(v.ours / v[p]) ? '–' : fmt(v.ours / v[p]));
    const tg = targets
      .filter((t) => t.key === m.key)
      .map((t) => t.render({ ...v, sdk: sdkMed }))
      .join('; ');
    // a workload stopped at its time limit: its value is a lower bound
    const over = (c) => (runs.some((run) => run[c]?.[`${m.key}Over`]) ? '> ' : '');
    const peer = (p) => (m.oursOnly ? 'n/a' : `${over(p)}${fmt(v[p])}`);
    return `| ${m.label} | ${over('ours')}${fmt(v.ours)} | ${peer('s3fs')} | ${peer('rclone')} | ${sdkText} | ${r('s3fs')} | ${r('rclone')} | ${Number.isFinite(sdk) ? fmt(v.ours / sdk) : '–'} | ${tg} |`;
  };
  const head = ['| workload | ours | s3fs | rclone | raw SDK | ours/s3fs | ours/rclone | ours/SDK | targets |', '|---|---:|---:|---:|---:|---:|---:|---:|---|'];
  const out = [...header, '', ...head];
  for (const m of metrics.filter((x) => x.table !== 'cpu')) out.push(row(m));
  out.push('');
  out.push(
    "¹ ours only: the growth of its s3BytesFetched counter (logged on SIGUSR1) over the fio run ÷ the bytes fio read (page-cache hits included); for Parquet, ÷ the bytes of the column chunks read plus the footer. The peers keep no such counter. Random 256 KiB latency: fio's median completion latency; raw SDK: the median of 50 ranged GETs of 256 KiB at random aligned offsets on a warm connection.",
    '',
    '² pyarrow is not packaged for Debian 12 (no python3-pyarrow) and no Python package index is reachable here, so the Parquet rows read with hyparquet (Node), which fetches like pyarrow\'s `read_table`: the footer, then the selected column chunks of all row groups at once (ranges under 8 KiB apart coalesced), 8 reads in flight; every decoded column chunk is checked against the known content. A read still running after 240 s is stopped and shown as "> 240".',
    '',
    "**CPU of the client process** (user + sys of all its threads and children, from /proc/PID/stat, sampled just before and just after each workload on the same mount; for s3fs and rclone the foreground FUSE daemon itself). Raw SDK: the reading process's own `process.cpuUsage()` over its GETs, less its CRC check (the mount readers check in their own process).",
    '',
    ...head,
  );
  for (const m of metrics.filter((x) => x.table === 'cpu')) out.push(row(m));
  out.push('');
  out.push(
    `Medians of ${runs.length} run(s). Ratios are ours ÷ peer of the numbers as shown: above 1 is better for rates, below 1 is better for times, bytes, memory and CPU. "missed by X": the factor by which the value falls short of the target.`,
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
      for (const c of CLIENTS) {
        if (!runs.some((r) => r[c]?.[m.key] !== undefined)) continue;
        out.push(`| ${m.label} | ${c} | ${runs.map((r) => `${r[c]?.[`${m.key}Over`] ? '> ' : ''}${fmt(r[c]?.[m.key])}`).join(' | ')} |`);
      }
      if (m.sdk) out.push(`| ${m.label} | sdk | ${runs.map((r) => fmt(r.sdk?.[m.sdk[0]])).join(' | ')} |`);
      if (m.key === 'seqMBps') out.push(`| ${m.label} | sdk ${cfg.sdkStreams} streams | ${runs.map((r) => fmt(r.sdk?.seqParMBps)).join(' | ')} |`);
      if (m.key === 'seqCpuPerGiB') out.push(`| ${m.label} | sdk ${cfg.sdkStreams} streams | ${runs.map((r) => fmt(r.sdk?.seqParCpuPerGiB)).join(' | ')} |`);
    }
    out.push('', '</details>');
  }
  return out.join('\n');
}
