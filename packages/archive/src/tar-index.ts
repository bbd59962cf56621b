/**
 * Where each entry of an uncompressed tar file lies, read from the headers alone (the data is
 * skipped with a seek): what lets an archive be an ImageSource with random access, as skopeo's
 * docker-archive reader does. ustar, PAX (`path`, `linkpath`, `size`) and GNU long names; PAX
 * global headers are ignored. An entry named twice keeps its last copy, as `tar -x` would.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '@berth/oci';

export interface TarEntryInfo {
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** Where the content starts in the file. */
  offset: number;
  size: number;
  /** A link's target, relative to the archive root (a symlink's resolved against its directory). */
  target?: string;
}

const BLOCK = 512;
/** PAX headers and GNU long names larger than this are refused (a name is not megabytes). */
const MAX_HEADER_DATA = 1024 * 1024;

/** A plain relative name (`./` and trailing `/` dropped); undefined for absolute names and `..`. */
export function entryName(name: string): string | undefined {
  const n = path.posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (n === '' || n === '.' || n.startsWith('/') || n === '..' || n.startsWith('../')) return undefined;
  return n;
}

function cstring(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function numeric(b: Buffer, start: number, len: number, file: string): number {
  if ((b[start] as number) & 0x80) {
    // base-256 (GNU): big-endian, the top bit of the first byte is the marker
    let n = (b[start] as number) & 0x7f;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + (b[i] as number);
    return n;
  }
  const s = cstring(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new BerthError('EINVAL_ARGUMENT', `${file}: not a tar file (bad number ${JSON.stringify(s)} in a header)`);
  return parseInt(s, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.toString('ascii', i, sp), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) break;
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** The entries of the tar file `file`, by normalised name. */
export async function indexTar(file: string): Promise<Map<string, TarEntryInfo>> {
  const fh = await open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const entries = new Map<string, TarEntryInfo>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Map<string, string> | undefined;
    const readData = async (at: number, size: number): Promise<Buffer> => {
      if (size > MAX_HEADER_DATA) throw new BerthError('EINVAL_ARGUMENT', `${file}: a tar header entry of ${size} bytes`);
      const b = Buffer.alloc(size);
      const { bytesRead } = await fh.read(b, 0, size, at);
      if (bytesRead !== size) throw new BerthError('EINVAL_ARGUMENT', `${file}: truncated tar file`);
      return b;
    };
    for (;;) {
      if (pos + BLOCK > fileSize) {
        if (pos === 0) throw new BerthError('EINVAL_ARGUMENT', `${file}: empty input`);
        break; // no end-of-archive marker: what was read is all there is
      }
      const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
      if (bytesRead !== BLOCK) break;
      if (header.every((b) => b === 0)) break;
      const magic = header.toString('ascii', 257, 262);
      if (magic !== 'ustar') {
        // Old v7 tars have no magic; their checksum still has to add up.
        const sum = numeric(header, 148, 8, file);
        let actual = 0;
        for (let i = 0; i < BLOCK; i++) actual += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
        if (sum !== actual) throw new BerthError('EINVAL_ARGUMENT', `${file}: not a tar file (header checksum at byte ${pos})`);
      }
      let size = numeric(header, 124, 12, file);
      const flag = String.fromCharCode(header[156] as number);
      const dataAt = pos + BLOCK;
      if (flag === 'x' || flag === 'L' || flag === 'K' || flag === 'g') {
        const data = await readData(dataAt, size);
        if (flag === 'x') pax = parsePax(data);
        else if (flag === 'L') longName = cstring(data, 0, data.length);
        else if (flag === 'K') longLink = cstring(data, 0, data.length);
        pos = dataAt + Math.ceil(size / BLOCK) * BLOCK;
        continue;
      }
      let name = cstring(header, 0, 100);
      const prefix = magic === 'ustar' && header.toString('ascii', 262, 263) === '\0' ? cstring(header, 345, 155) : '';
      if (prefix) name = `${prefix}/${name}`;
      let linkname = cstring(header, 157, 100);
      if (longName !== undefined) name = longName;
      if (longLink !== undefined) linkname = longLink;
      if (pax?.has('path')) name = pax.get('path') as string;
      if (pax?.has('linkpath')) linkname = pax.get('linkpath') as string;
      if (pax?.has('size')) size = Number(pax.get('size'));
      longName = longLink = pax = undefined;
      const type: TarEntryInfo['type'] =
        flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
      const hasData = type === 'file' || type === 'other';
      if (hasData && dataAt + size > fileSize) throw new BerthError('EINVAL_ARGUMENT', `${file}: truncated tar file (${name})`);
      const n = entryName(name);
      if (n !== undefined) {
        const info: TarEntryInfo = { type, offset: dataAt, size: hasData ? size : 0 };
        if (type === 'symlink') info.target = path.posix.normalize(path.posix.join(path.posix.dirname(n), linkname));
        else if (type === 'hardlink') info.target = linkname;
        entries.set(n, info);
      }
      pos = dataAt + (hasData ? Math.ceil(size / BLOCK) * BLOCK : 0);
    }
    return entries;
  } finally {
    await fh.close();
  }
}
