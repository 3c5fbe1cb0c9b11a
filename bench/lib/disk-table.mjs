// The disk-cache bench's results (bench/disk-run.mjs): per budget a table of both epochs per
// client, ours' disk-cache counters per epoch, and the targets of issue 13.
import { median } from './table.mjs';

/** The two budgets, as a function of the data set's bytes. */
export const SCENARIOS = [
  { name: 'fits', budget: (bytes) => 1.5 * bytes, what: 'fits the disk cache (budget 1.5× the data set), not the memory cache' },
  { name: 'twice', budget: (bytes) => 0.5 * bytes, what: 'is 2× the disk cache (budget 0.5× the data set)' },
];

const fmt = (v) => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

export function render({ runs, clients, header, partial }) {
  const med = (sc, c, k) => median(runs.map((r) => r[sc]?.[c]?.[k]));
  const err = (sc, c) => runs.map((r) => r[sc]?.[c]?.error).find(Boolean);
  const L = [...header, ''];
  if (partial) L.push(`**PARTIAL**: ${partial}`, '');
  for (const sc of SCENARIOS) {
    const budget = med(sc.name, clients[0], 'budgetMiB');
    L.push(
      `### The data set ${sc.what}: ${fmt(budget)} MiB`,
      '',
      '| client | epoch 1 (s) | epoch 2 (s) | epoch 1 ÷ epoch 2 | epoch 1: small files / big files done (s) | epoch 2: small / big done (s) | CPU epoch 1 (s) | CPU epoch 2 (s) | cache folder at the end (du, MiB) | peak (du every 5 s, MiB) | peak ÷ budget |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const failures = [];
    for (const c of clients) {
      const e = err(sc.name, c);
      if (e) failures.push(`- ${c}: ${e.replace(/\n/g, ' ')}`);
      const m = (k) => med(sc.name, c, k);
      L.push(
        `| ${c}${e ? ' (failed ¹)' : ''} | ${fmt(m('e1S'))} | ${fmt(m('e2S'))} | ${x(m('e1S') / m('e2S'))} | ${fmt(m('e1SmallS'))} / ${fmt(m('e1BigS'))} | ${fmt(m('e2SmallS'))} / ${fmt(m('e2BigS'))} | ${fmt(m('e1CpuS'))} | ${fmt(m('e2CpuS'))} | ${fmt(m('duEndMiB'))} | ${fmt(m('duPeakMiB'))} | ${x(m('duPeakMiB') / m('budgetMiB'))} |`,
      );
    }
    if (failures.length) L.push('', '¹ failed (values measured before the failure are shown):', ...failures);
    L.push('');
  }
  if (clients.includes('ours')) {
    L.push(
      "Ours, per epoch (growth of its /metrics counters over the epoch; `fluid_s3_fuse_disk_cache_*` and `fluid_s3_fuse_s3_fetched_bytes_total`), and the cache's own gauges at the end:",
      '',
      '| data set | epoch | S3 bytes fetched (MiB) | disk hits (blocks) | disk misses | read from disk (MiB) | written to disk (MiB) | evictions | not admitted | dropped | errors | corrupt |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const sc of SCENARIOS) {
      for (const e of [1, 2]) {
        const m = (k) => med(sc.name, 'ours', `e${e}_${k}`);
        L.push(
          `| ${sc.name} | ${e} | ${fmt(m('s3FetchedMiB'))} | ${fmt(m('hits'))} | ${fmt(m('misses'))} | ${fmt(m('readMiB'))} | ${fmt(m('writtenMiB'))} | ${fmt(m('evictions'))} | ${fmt(m('notAdmitted'))} | ${fmt(m('dropped'))} | ${fmt(m('errors'))} | ${fmt(m('corrupt'))} |`,
        );
      }
    }
    L.push('');
    for (const sc of SCENARIOS) {
      const last = runs.at(-1)?.[sc.name]?.ours;
      if (!last) continue;
      L.push(
        `- ${sc.name}: at the end ${fmt(last.usedMiB)} MiB in ${fmt(last.files)} block files by its own count (budget ${fmt(last.budgetMiB)} MiB), disabled ${last.disabled ?? '–'}; "stopped" log line counters: \`${JSON.stringify(last.stopped ?? {})}\`${last.exit ? `; exit ${last.exit}` : ''}`,
      );
    }
    L.push('');
  }
  // targets
  const m = (sc, c, k) => med(sc, c, k);
  L.push('| target (issue 13) | value | met? |', '|---|---:|---|');
  const o1 = m('fits', 'ours', 'e1S');
  const o2 = m('fits', 'ours', 'e2S');
  const yn = (ok) => (ok === undefined ? '?' : ok ? 'yes' : 'no');
  if (o1 && o2) L.push(`| fits: ours epoch 1 ÷ epoch 2 ≥ 10× (over the slow link) | ${x(o1 / o2)} | ${yn(o1 / o2 >= 10)} |`);
  for (const p of ['s3fs', 'rclone'].filter((c) => clients.includes(c))) {
    const p2 = m('fits', p, 'e2S');
    if (o2 && p2) L.push(`| fits: ours epoch 2 ≥ 1.5× faster than ${p}'s epoch 2 | ${x(p2 / o2)} (${fmt(o2)} s vs ${fmt(p2)} s) | ${yn(p2 / o2 >= 1.5)} |`);
  }
  for (const c of clients) {
    const [t1, t2] = [m('twice', c, 'e1S'), m('twice', c, 'e2S')];
    // a cache that went over its budget did not face the thrashing this row is about
    const over = m('twice', c, 'duPeakMiB') / m('twice', c, 'budgetMiB');
    const note = over > 1.1 ? `; its folder reached ${x(over)} its budget` : '';
    if (t1 && t2)
      L.push(
        `| 2× the cache: ${c} epoch 2 no slower than epoch 1${c === 'ours' ? ' (and faster)' : ''} | ${fmt(t1)} s → ${fmt(t2)} s (${x(t1 / t2)}${note}) | ${yn(t2 <= t1 && (c !== 'ours' || t2 < t1))}${note ? ', over its budget' : ''} |`,
      );
  }
  L.push(
    '',
    `Medians of ${runs.length} run(s). "epoch 1 ÷ epoch 2" above 1: epoch 2 faster. CPU: user + sys of the client process (all threads and children, /proc/PID/stat) over the epoch. du counts allocated blocks: a 64 KiB block file and its header take 68 KiB on ext4, so ours' folder is up to about 6% above its own count of bytes (which its budget bounds).`,
  );
  return L.join('\n');
}
