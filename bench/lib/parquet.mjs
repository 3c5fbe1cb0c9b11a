// The columnar workload's file: a Parquet table of GROUPS row groups × COLUMNS INT64 columns,
// PLAIN encoding, no compression, written with hyparquet-writer. Column c's values in row group
// g are the known content of key `parquet/c<c>` at byte offset g × rows × 8, read as int64
// little-endian: incompressible, and each decoded column chunk can be checked by its CRC-32.
//
// Column chunks of ~2.2 MiB (LAN) at scattered offsets are what a columnar reader asks a
// file system for; reading 2 of 10 columns must fetch about a fifth of the file.
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { parquetMetadata } from 'hyparquet';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { expectedBytes } from './content.mjs';

export const PARQUET_KEY = 'parquet/table.parquet';
export const PARQUET_COLUMNS = 10;
export const PARQUET_GROUPS = 16;

export const columnName = (c) => `c${c}`;

/** The file's shape per data set mode: rows per row group (8 bytes per value). */
export function parquetShape(mode) {
  const rowsPerGroup = { lan: 280 * 1024, slow: 280 * 1024, quick: 28 * 1024 }[mode];
  if (!rowsPerGroup) throw new Error(`unknown data set mode ${mode}`);
  return { columns: PARQUET_COLUMNS, groups: PARQUET_GROUPS, rowsPerGroup, approxBytes: PARQUET_COLUMNS * PARQUET_GROUPS * rowsPerGroup * 8 };
}

function columnValues(c, g, rows) {
  const bytes = expectedBytes(`parquet/${columnName(c)}`, g * rows * 8, rows * 8);
  return new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** CRC-32 of decoded values as bytes (what the reader checks), continuing from crc. */
export const valuesCrc = (typed, crc = 0) => crc32(Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength), crc);

/**
 * Writes the table to `path`; returns its manifest entry: key, size, shape, the CRC-32 of
 * every column chunk's values ([group][column]) and each column chunk's byte range in the file.
 */
export async function writeParquet(path, mode) {
  const shape = parquetShape(mode);
  const writer = fileWriter(path);
  const schema = [
    { name: 'root', num_children: shape.columns },
    ...Array.from({ length: shape.columns }, (_, c) => ({ name: columnName(c), type: 'INT64', repetition_type: 'REQUIRED' })),
  ];
  const pq = new ParquetWriter({ writer, schema, codec: 'UNCOMPRESSED', statistics: false });
  const crcs = [];
  for (let g = 0; g < shape.groups; g++) {
    const columnData = Array.from({ length: shape.columns }, (_, c) => ({
      name: columnName(c),
      data: columnValues(c, g, shape.rowsPerGroup),
      type: 'INT64',
      nullable: false,
      encoding: 'PLAIN',
    }));
    crcs.push(columnData.map((col) => valuesCrc(col.data)));
    await pq.write({ columnData, rowGroupSize: shape.rowsPerGroup });
  }
  await pq.finish();
  const file = await readFile(path);
  const meta = parquetMetadata(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
  const footerBytes = file.readUInt32LE(file.length - 8) + 8;
  const chunks = meta.row_groups.map((rg) =>
    rg.columns.map((col) => {
      const md = col.meta_data;
      const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
      return { start, bytes: Number(md.total_compressed_size) };
    }),
  );
  return { key: PARQUET_KEY, size: file.length, ...shape, footerBytes, crcs, chunks };
}

/** Bytes a reader of `columns` (indexes) needs: their column chunks in every group, and the footer. */
export function bytesOfColumns(entry, columns) {
  let n = entry.footerBytes;
  for (const group of entry.chunks) for (const c of columns) n += group[c].bytes;
  return n;
}
