/** Helpers for the layer tests: copying a tree as it is, and reading a layer with an independent tar reader. */
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import tar from 'tar-stream';
import { decompressStream } from '../compression.js';

/** `cp -a` (owners, modes, xattrs, times kept). */
export function copyTree(from: string, to: string): void {
  const res = spawnSync('cp', ['-a', '--', from, to]);
  if (res.status !== 0) throw new Error(`cp -a failed: ${res.stderr.toString()}`);
}

/** The uncompressed tar entries of a layer blob, read by tar-stream (an independent reader). */
export async function listTar(blob: Buffer, compression: 'gzip' | 'zstd' | 'none'): Promise<Array<tar.Header & { data: string }>> {
  const dec = decompressStream(compression);
  const out = new PassThrough();
  dec.pipe(out);
  dec.end(blob);
  const chunks: Buffer[] = [];
  for await (const c of out) chunks.push(c as Buffer);
  const extract = tar.extract();
  const entries: Array<tar.Header & { data: string }> = [];
  extract.end(Buffer.concat(chunks));
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    entries.push({ ...entry.header, data: Buffer.concat(parts).toString() });
  }
  return entries;
}
