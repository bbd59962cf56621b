/**
 * Paths as the tree walkers see them. Names are read as UTF-8 strings (fast);
 * a directory holding a name that is not valid UTF-8 (it decodes with U+FFFD)
 * is re-read as raw bytes, and from there on paths are Buffers, so such a
 * file is still copied or removed byte-exactly instead of failing with ENOENT.
 */
import { readdirSync, type Dirent } from 'node:fs';

export type FsPath = string | Buffer;

const SLASH = Buffer.from('/');

export function joinPath(dir: FsPath, name: FsPath): FsPath {
  if (typeof dir === 'string' && typeof name === 'string') return `${dir}/${name}`;
  return Buffer.concat([toBuffer(dir), SLASH, toBuffer(name)]);
}

function toBuffer(p: FsPath): Buffer {
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}

/** For messages: the path relative to `root` when under it. */
export function displayPath(p: FsPath, root?: string): string {
  const s = typeof p === 'string' ? p : p.toString('utf8');
  if (root !== undefined && s.startsWith(`${root}/`)) return s.slice(root.length + 1);
  return s;
}

/** The names in a directory; Buffers only if some name is not valid UTF-8. */
export function readNames(dir: FsPath): FsPath[] {
  if (typeof dir === 'string') {
    const names = readdirSync(dir);
    if (!names.some((n) => n.includes('\uFFFD'))) return names;
  }
  return readdirSync(dir, { encoding: 'buffer' });
}

/** Like readNames, with the entry types readdir already knows (no stat per entry). */
export function readEntries(dir: FsPath): Array<Dirent<string> | Dirent<Buffer>> {
  if (typeof dir === 'string') {
    const entries = readdirSync(dir, { withFileTypes: true });
    if (!entries.some((e) => e.name.includes('\uFFFD'))) return entries;
  }
  return readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
}
