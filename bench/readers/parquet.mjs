// Columnar reader (child process): reads the bench's Parquet table through a mount with
// hyparquet, all columns or some of them, and checks every decoded column chunk against the
// known content. Stands in for pyarrow's `read_table`, which Debian 12 does not package: like
// it, hyparquet reads the footer, then fetches the selected column chunks of all row groups
// at once (ranges closer than 8 KiB coalesced) as large reads at scattered offsets, several
// in flight (UV_THREADPOOL_SIZE of them, pyarrow's I/O pool has 8), and decodes them.
//
//   node bench/readers/parquet.mjs MANIFEST MOUNTPOINT all|c0,c5
//   stdout: {"ms":n,"reads":n,"bytesRead":n,"chunks":n}
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetMetadataAsync, parquetRead } from 'hyparquet';
import { columnName, valuesCrc } from '../lib/parquet.mjs';

const [manifestPath, mnt, which] = process.argv.slice(2);
const { parquet } = JSON.parse(await readFile(manifestPath, 'utf8'));
const columns = which === 'all' ? Array.from({ length: parquet.columns }, (_, c) => c) : which.split(',').map((n) => Number(n.replace(/^c/, '')));

let reads = 0;
let bytesRead = 0;
const t0 = performance.now();
const fh = await open(join(mnt, parquet.key), 'r');
try {
  const file = {
    byteLength: (await fh.stat()).size,
    async slice(start, end = this.byteLength) {
      const buf = Buffer.allocUnsafe(end - start);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead: got } = await fh.read(buf, n, buf.length - n, start + n);
        if (got === 0) throw new Error(`${parquet.key}: EOF at ${start + n}, expected ${end}`);
        n += got;
      }
      reads++;
      bytesRead += n;
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + n);
    },
  };
  if (file.byteLength !== parquet.size) throw new Error(`${parquet.key}: size ${file.byteLength}, expected ${parquet.size}`);
  const metadata = await parquetMetadataAsync(file);
  // a column chunk arrives as one or more pieces (one per data page run), in row order
  const sums = new Map();
  const bad = [];
  await parquetRead({
    file,
    metadata,
    columns: columns.map(columnName),
    onChunk({ columnName: name, columnData, rowStart, rowEnd }) {
      const g = Math.floor(rowStart / parquet.rowsPerGroup);
      const id = `${g}/${name}`;
      const sum = sums.get(id) ?? { c: Number(name.slice(1)), g, rows: 0, crc: 0 };
      if (rowStart !== g * parquet.rowsPerGroup + sum.rows) bad.push(`${name} in row group ${g}: rows ${rowStart}-${rowEnd} out of order`);
      sum.crc = valuesCrc(columnData, sum.crc);
      sum.rows += rowEnd - rowStart;
      sums.set(id, sum);
    },
  });
  for (const { c, g, rows, crc } of sums.values()) {
    if (rows !== parquet.rowsPerGroup) bad.push(`c${c} in row group ${g}: ${rows} rows, expected ${parquet.rowsPerGroup}`);
    else if (crc !== parquet.crcs[g][c]) bad.push(`c${c} in row group ${g}: values differ from the known content`);
  }
  if (bad.length) throw new Error(bad.slice(0, 5).join('; '));
  if (sums.size !== parquet.groups * columns.length) throw new Error(`decoded ${sums.size} column chunks, expected ${parquet.groups * columns.length}`);
} finally {
  await fh.close();
}
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ ms, reads, bytesRead, chunks: parquet.groups * columns.length })}\n`);
