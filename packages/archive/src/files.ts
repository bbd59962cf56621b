/**
 * The files of an archive, by name, whatever holds them: an OCI layout directory or a tar file
 * (indexed, read at offsets). The OCI and Docker sources read through this view, so a layout
 * directory and an oci-archive are one source.
 */
import { createReadStream } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '@berth/oci';
import { entryName, indexTar, type TarEntryInfo } from './tar-index.js';

export interface ArchiveFiles {
  /** For messages: the directory or file. */
  readonly label: string;
  /** A regular file's size (links inside a tar followed), or undefined when there is none. */
  size(name: string): Promise<number | undefined>;
  /** A whole small file; more than `maxBytes` is refused. */
  read(name: string, maxBytes: number): Promise<Buffer>;
  /** A stream of a file from byte `start` on. */
  open(name: string, start?: number): Promise<Readable>;
}

function notFound(label: string, name: string): BerthError {
  return new BerthError('ENOT_FOUND', `${label}: ${JSON.stringify(name)} is not in the archive`);
}

/** The files under `dir`; names are plain relative paths (`..` and absolute names are refused). */
export function dirFiles(dir: string): ArchiveFiles {
  const full = (name: string): string => {
    const n = entryName(name);
    if (n === undefined) throw new BerthError('EINVAL_ARGUMENT', `${dir}: ${JSON.stringify(name)} is not a plain relative path`);
    return path.join(dir, n);
  };
  const size = async (name: string): Promise<number | undefined> => {
    const st = await stat(full(name)).catch(() => undefined);
    return st?.isFile() ? st.size : undefined;
  };
  return {
    label: dir,
    size,
    async read(name, maxBytes) {
      // Metadata files must be regular files themselves, not links out of the layout.
      const st = await lstat(full(name)).catch(() => undefined);
      if (!st) throw notFound(dir, name);
      if (!st.isFile() || st.size > maxBytes) throw new BerthError('EINVAL_ARGUMENT', `${name}: not a regular file of at most ${maxBytes} bytes`);
      const fh = await open(full(name), 'r');
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    },
    async open(name, start = 0) {
      if ((await size(name)) === undefined) throw notFound(dir, name);
      return createReadStream(full(name), { start });
    },
  };
}

/** The files of the (uncompressed) tar `file`; symlinks and hardlinks inside it are followed. */
export async function tarFiles(file: string, label = file): Promise<ArchiveFiles> {
  const entries = await indexTar(file);
  const find = (name: string): TarEntryInfo | undefined => {
    let n = entryName(name);
    for (let hops = 0; n !== undefined && hops < 16; hops++) {
      const e = entries.get(n);
      if (!e) return undefined;
      if (e.type === 'file') return e;
      if (e.target === undefined) return undefined;
      n = entryName(e.target);
    }
    return undefined;
  };
  return {
    label,
    size: async (name) => find(name)?.size,
    async read(name, maxBytes) {
      const e = find(name);
      if (!e) throw notFound(label, name);
      if (e.size > maxBytes) throw new BerthError('EINVAL_ARGUMENT', `${name}: more than ${maxBytes} bytes`);
      const fh = await open(file, 'r');
      try {
        const b = Buffer.alloc(e.size);
        const { bytesRead } = await fh.read(b, 0, e.size, e.offset);
        if (bytesRead !== e.size) throw new BerthError('EINVAL_ARGUMENT', `${label}: ${name} is truncated`);
        return b;
      } finally {
        await fh.close();
      }
    },
    async open(name, start = 0) {
      const e = find(name);
      if (!e) throw notFound(label, name);
      if (e.size === 0 || start >= e.size) return Readable.from([]);
      return createReadStream(file, { start: e.offset + start, end: e.offset + e.size - 1 });
    },
  };
}
