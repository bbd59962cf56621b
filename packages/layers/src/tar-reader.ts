/**
 * A strict, push-based, synchronous tar reader for layer blobs.
 *
 * Why not tar-stream's extract: it merges a PAX *global* header into every
 * later per-entry PAX header (so a global `path` would rename entries), it
 * decodes PAX values as UTF-8 (corrupting binary xattrs such as
 * `security.capability`), and it reads data for hardlinks/symlinks whose size
 * field is non-zero while Go's archive/tar (what built most images) does not,
 * a parser differential. This reader:
 *  - ignores PAX global headers completely (parsed for well-formedness only);
 *  - keeps PAX values as raw bytes;
 *  - refuses anything ambiguous: unknown entry types (GNU sparse 'S', 'D',
 *    'M', 'V'...), GNU sparse PAX records, negative or absurd sizes, data on
 *    header-only types, two PAX or two GNU long-name headers for one entry, a
 *    PAX path together with a GNU long name, NUL or invalid UTF-8 in names;
 *  - enforces LayerLimits (entries, total bytes, entry bytes, header bytes,
 *    path length);
 *  - stops interpreting at the end-of-archive marker but still accepts (and
 *    lets the caller hash) any trailing bytes.
 *
 * Data is handed to the handler as sub-arrays of the pushed chunks (no copy).
 */
import { BerthError } from '@berth/oci';
import type { LayerLimits } from './limits.js';
import type { Timespec } from '@berth/sys';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarEntry {
  /** The entry name as stored (PAX / GNU long names applied), not cleaned. */
  name: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes that follow (0 for every type but 'file'). */
  size: number;
  mtime: Timespec;
  atime: Timespec | undefined;
  /** Hardlink or symlink target as stored; '' for other types. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From PAX `SCHILY.xattr.NAME` records, raw bytes, in archive order. */
  xattrs: Array<[string, Buffer]> | undefined;
  /** 1-based ordinal among entries (extended headers not counted). */
  index: number;
}

export interface TarHandler {
  entry(entry: TarEntry): void;
  data(chunk: Buffer): void;
  entryEnd(): void;
}

const enum State {
  Header,
  ExtData,
  Data,
  Skip,
  Eof1,
  Done,
}

const ZERO_BLOCK = Buffer.alloc(512);
const utf8 = new TextDecoder('utf-8', { fatal: true });

const UNSUPPORTED_TYPES: Record<string, string> = {
  S: 'GNU sparse file',
  D: 'GNU dump directory',
  M: 'GNU multi-volume continuation',
  V: 'GNU volume label',
  N: 'GNU old long name',
  A: 'Solaris ACL',
  E: 'Solaris extended attribute',
  X: 'Solaris extended header',
  I: 'inode metadata',
};

function layerError(message: string, details?: Record<string, unknown>): BerthError {
  return new BerthError('ELAYER', message, details ? { details } : {});
}

export class TarReader {
  private state = State.Header;
  private readonly block = Buffer.alloc(512);
  private blockFill = 0;
  private ext: Buffer = ZERO_BLOCK;
  private extFill = 0;
  private extType = 0;
  private remaining = 0;
  private skip = 0;
  private afterSkip = State.Header;
  private pax: Map<string, Buffer> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  /** Bytes pushed before the current chunk. */
  private base = 0;
  private headerOffset = 0;
  private current: TarEntry | undefined;
  /** Entries read so far. */
  entries = 0;
  /** Every byte pushed, trailing bytes included. */
  bytes = 0;
  /** True once the end-of-archive marker has been read. */
  ended = false;

  constructor(
    private readonly handler: TarHandler,
    private readonly limits: LayerLimits,
  ) {}

  /** Feed the next chunk of the uncompressed stream; throws on malformed or over-limit input. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    this.bytes += len;
    if (this.bytes > this.limits.maxTotalBytes) {
      throw new BerthError('ETOO_LARGE', `uncompressed layer exceeds ${this.limits.maxTotalBytes} bytes`, {
        details: { limit: 'maxTotalBytes' },
      });
    }
    let off = 0;
    try {
      while (off < len) {
        switch (this.state) {
          case State.Data: {
            const n = Math.min(this.remaining, len - off);
            this.handler.data(chunk.subarray(off, off + n));
            off += n;
            this.remaining -= n;
            if (this.remaining === 0) this.finishEntry();
            break;
          }
          case State.Skip: {
            const n = Math.min(this.skip, len - off);
            off += n;
            this.skip -= n;
            if (this.skip === 0) this.state = this.afterSkip;
            break;
          }
          case State.ExtData: {
            const n = Math.min(this.ext.length - this.extFill, len - off);
            chunk.copy(this.ext, this.extFill, off, off + n);
            this.extFill += n;
            off += n;
            if (this.extFill === this.ext.length) this.finishExt();
            break;
          }
          case State.Header:
          case State.Eof1: {
            let blk: Buffer;
            if (this.blockFill === 0 && len - off >= 512) {
              blk = chunk.subarray(off, off + 512);
              this.headerOffset = this.base + off;
              off += 512;
            } else {
              if (this.blockFill === 0) this.headerOffset = this.base + off;
              const n = Math.min(512 - this.blockFill, len - off);
              chunk.copy(this.block, this.blockFill, off, off + n);
              this.blockFill += n;
              off += n;
              if (this.blockFill < 512) break;
              this.blockFill = 0;
              blk = this.block;
            }
            this.processBlock(blk);
            break;
          }
          case State.Done:
            off = len;
            break;
        }
      }
    } finally {
      this.base += len;
    }
  }

  /** The input ended: fail if it stopped inside an entry or header. */
  end(): void {
    if (this.state === State.Done || this.state === State.Eof1) return;
    if (this.state === State.Header && this.blockFill === 0 && !this.pax && this.longName === undefined && this.longLink === undefined) {
      // Go's archive/tar also accepts a stream that ends at a header boundary without the marker.
      return;
    }
    const where = this.current ? `entry ${quote(this.current.name)}` : `header at byte ${this.headerOffset}`;
    throw layerError(`${where}: unexpected end of tar stream`);
  }

  private finishEntry(): void {
    const size = this.current?.size ?? 0;
    this.current = undefined;
    this.handler.entryEnd();
    this.padTo(size, State.Header);
  }

  private padTo(size: number, next: State): void {
    const pad = (512 - (size % 512)) % 512;
    if (pad > 0) {
      this.skip = pad;
      this.afterSkip = next;
      this.state = State.Skip;
    } else {
      this.state = next;
    }
  }

  private processBlock(blk: Buffer): void {
    if (this.state === State.Eof1) {
      if (!blk.equals(ZERO_BLOCK)) throw layerError(`header at byte ${this.headerOffset}: data after a zero block (corrupt end-of-archive marker)`);
      this.state = State.Done;
      this.ended = true;
      return;
    }
    if (blk.equals(ZERO_BLOCK)) {
      if (this.pax || this.longName !== undefined || this.longLink !== undefined) {
        throw layerError(`header at byte ${this.headerOffset}: extended header not followed by an entry`);
      }
      this.state = State.Eof1;
      return;
    }
    this.checkChecksum(blk);
    const typeflag = blk[156] as number;
    const size = parseNumeric(blk, 124, 12);
    if (size === undefined || size < 0 || !Number.isSafeInteger(size)) {
      throw layerError(`header at byte ${this.headerOffset}: invalid size field`);
    }
    switch (typeflag) {
      case 0x78: // 'x' PAX extended header
      case 0x67: // 'g' PAX global header
      case 0x4c: // 'L' GNU long name
      case 0x4b: {
        // 'K' GNU long link
        if (size > this.limits.maxHeaderBytes) {
          throw new BerthError(
            'ETOO_LARGE',
            `header at byte ${this.headerOffset}: extended header of ${size} bytes exceeds the limit of ${this.limits.maxHeaderBytes}`,
            { details: { limit: 'maxHeaderBytes' } },
          );
        }
        this.extType = typeflag;
        this.ext = Buffer.allocUnsafe(size);
        this.extFill = 0;
        if (size === 0) this.finishExt();
        else this.state = State.ExtData;
        return;
      }
    }
    this.startEntry(blk, typeflag, size);
  }

  private finishExt(): void {
    const at = `header at byte ${this.headerOffset}`;
    switch (this.extType) {
      case 0x78:
        if (this.pax) throw layerError(`${at}: two PAX headers for one entry`);
        this.pax = parsePax(this.ext, at);
        break;
      case 0x67:
        // Global headers are parsed only to reject malformed ones; their records are never applied.
        if (this.pax || this.longName !== undefined || this.longLink !== undefined) {
          throw layerError(`${at}: PAX global header between an extended header and its entry`);
        }
        parsePax(this.ext, at);
        break;
      case 0x4c:
        if (this.longName !== undefined) throw layerError(`${at}: two GNU long-name headers for one entry`);
        this.longName = decodeName(this.ext, 0, cstrEnd(this.ext, 0, this.ext.length), at);
        break;
      case 0x4b:
        if (this.longLink !== undefined) throw layerError(`${at}: two GNU long-link headers for one entry`);
        this.longLink = decodeName(this.ext, 0, cstrEnd(this.ext, 0, this.ext.length), at);
        break;
    }
    this.ext = ZERO_BLOCK;
    this.padTo(this.extFill, State.Header);
  }

  private checkChecksum(blk: Buffer): void {
    const stored = parseNumeric(blk, 148, 8);
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : (blk[i] as number);
      unsigned += b;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== unsigned && stored !== signed) {
      throw layerError(`header at byte ${this.headerOffset}: invalid tar header checksum (not a tar stream, or corrupt)`);
    }
  }

  private startEntry(blk: Buffer, typeflag: number, headerSize: number): void {
    const at = `header at byte ${this.headerOffset}`;
    const ustar = blk.readUInt32BE(257) === 0x75737461 && blk[261] === 0x72 && blk[262] === 0; // "ustar\0"
    const gnu = !ustar && blk.toString('latin1', 257, 265) === 'ustar  \0';
    const pax = this.pax;
    const index = this.entries + 1;

    // Name: PAX path > GNU long name > ustar prefix/name.
    let name: string;
    const paxPath = pax?.get('path');
    if (paxPath !== undefined && this.longName !== undefined) {
      throw layerError(`${at}: both a PAX path and a GNU long name for one entry`);
    }
    if (paxPath !== undefined) {
      name = decodeName(paxPath, 0, paxPath.length, at);
    } else if (this.longName !== undefined) {
      name = this.longName;
    } else {
      name = decodeName(blk, 0, cstrEnd(blk, 0, 100), at);
      if (ustar && blk[345] !== 0) {
        // star archives ("tar\0" at 508) keep atime/ctime after a 131-byte prefix.
        const prefixLen = blk.readUInt32BE(508) === 0x74617200 ? 131 : 155;
        name = `${decodeName(blk, 345, cstrEnd(blk, 345, 345 + prefixLen), at)}/${name}`;
      }
    }
    const label = `entry ${quote(name)}`;
    if (name === '') throw layerError(`${at}: entry with an empty name`);
    if (name.includes('\0')) throw layerError(`${label}: NUL byte in name`);
    if (Buffer.byteLength(name) > this.limits.maxPathLength) {
      throw new BerthError('ETOO_LARGE', `${label}: name longer than ${this.limits.maxPathLength} bytes`, {
        details: { limit: 'maxPathLength' },
      });
    }

    let type: EntryType;
    switch (typeflag) {
      case 0x30: // '0'
      case 0x37: // '7' contiguous file: a regular file everywhere that matters
        type = 'file';
        break;
      case 0:
        type = name.endsWith('/') ? 'directory' : 'file';
        break;
      case 0x31:
        type = 'hardlink';
        break;
      case 0x32:
        type = 'symlink';
        break;
      case 0x33:
        type = 'char';
        break;
      case 0x34:
        type = 'block';
        break;
      case 0x35:
        type = 'directory';
        break;
      case 0x36:
        type = 'fifo';
        break;
      default: {
        const ch = typeflag >= 0x20 && typeflag < 0x7f ? String.fromCharCode(typeflag) : `\\x${typeflag.toString(16).padStart(2, '0')}`;
        const what = UNSUPPORTED_TYPES[ch] ?? 'unknown entry type';
        throw new BerthError('EUNSUPPORTED', `${label}: unsupported entry type '${ch}' (${what})`, { details: { typeflag: ch } });
      }
    }

    if (pax) {
      for (const key of pax.keys()) {
        if (key.startsWith('GNU.sparse.')) {
          throw new BerthError('EUNSUPPORTED', `${label}: GNU sparse files are not supported (PAX record ${key})`);
        }
      }
    }

    let linkname = '';
    const paxLink = pax?.get('linkpath');
    if (paxLink !== undefined && this.longLink !== undefined) {
      throw layerError(`${label}: both a PAX linkpath and a GNU long link`);
    }
    if (paxLink !== undefined) linkname = decodeName(paxLink, 0, paxLink.length, label);
    else if (this.longLink !== undefined) linkname = this.longLink;
    else if (blk[157] !== 0) linkname = decodeName(blk, 157, cstrEnd(blk, 157, 257), label);
    if (type === 'hardlink' || type === 'symlink') {
      if (linkname === '') throw layerError(`${label}: ${type} with an empty target`);
      if (linkname.includes('\0')) throw layerError(`${label}: NUL byte in link target`);
      if (Buffer.byteLength(linkname) > this.limits.maxPathLength) {
        throw new BerthError('ETOO_LARGE', `${label}: link target longer than ${this.limits.maxPathLength} bytes`, {
          details: { limit: 'maxPathLength' },
        });
      }
    } else {
      linkname = '';
    }

    let size = headerSize;
    const paxSize = pax?.get('size');
    if (paxSize !== undefined) size = paxUnsigned(paxSize, 'size', label);
    if (size > this.limits.maxEntryBytes) {
      throw new BerthError('ETOO_LARGE', `${label}: ${size} bytes exceeds the per-entry limit of ${this.limits.maxEntryBytes}`, {
        details: { limit: 'maxEntryBytes' },
      });
    }
    if (type !== 'file' && size !== 0) {
      // Go's archive/tar reads no data for these types, other readers do: refuse the ambiguity.
      throw layerError(`${label}: ${type} entry with a non-zero size (${size})`);
    }

    const mode = numericField(blk, 100, 8, 'mode', label) & 0o7777;
    let uid = numericField(blk, 108, 8, 'uid', label);
    let gid = numericField(blk, 116, 8, 'gid', label);
    const paxUid = pax?.get('uid');
    if (paxUid !== undefined) uid = paxUnsigned(paxUid, 'uid', label);
    const paxGid = pax?.get('gid');
    if (paxGid !== undefined) gid = paxUnsigned(paxGid, 'gid', label);
    if (uid > 0xfffffffe || gid > 0xfffffffe) throw layerError(`${label}: uid/gid out of range`);

    let mtime: Timespec = { sec: parseNumeric(blk, 136, 12) ?? invalid('mtime', label), nsec: 0 };
    const paxMtime = pax?.get('mtime');
    if (paxMtime !== undefined) mtime = paxTime(paxMtime, 'mtime', label);
    let atime: Timespec | undefined;
    const paxAtime = pax?.get('atime');
    if (paxAtime !== undefined) atime = paxTime(paxAtime, 'atime', label);

    let devmajor = 0;
    let devminor = 0;
    if ((type === 'char' || type === 'block') && (ustar || gnu)) {
      devmajor = numericField(blk, 329, 8, 'devmajor', label);
      devminor = numericField(blk, 337, 8, 'devminor', label);
      if (devmajor > 0xffffffff || devminor > 0xffffffff) throw layerError(`${label}: device number out of range`);
    }

    let xattrs: Array<[string, Buffer]> | undefined;
    if (pax) {
      for (const [key, value] of pax) {
        if (key.startsWith('SCHILY.xattr.')) {
          const attr = key.slice('SCHILY.xattr.'.length);
          if (attr === '' || attr.includes('\0')) throw layerError(`${label}: invalid xattr name ${quote(attr)}`);
          (xattrs ??= []).push([attr, value]);
        }
      }
    }

    this.entries = index;
    if (index > this.limits.maxEntries) {
      throw new BerthError('ETOO_LARGE', `${label}: more than ${this.limits.maxEntries} entries`, {
        details: { limit: 'maxEntries' },
      });
    }
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;

    const entry: TarEntry = { name, type, mode, uid, gid, size, mtime, atime, linkname, devmajor, devminor, xattrs, index };
    this.current = entry;
    this.handler.entry(entry);
    if (size > 0) {
      this.remaining = size;
      this.state = State.Data;
    } else {
      this.finishEntry();
    }
  }
}

function invalid(what: string, label: string): never {
  throw layerError(`${label}: invalid ${what} field`);
}

function numericField(blk: Buffer, off: number, len: number, what: string, label: string): number {
  const v = parseNumeric(blk, off, len);
  if (v === undefined || v < 0 || !Number.isSafeInteger(v)) invalid(what, label);
  return v;
}

/**
 * A tar numeric field: octal text (padded with spaces or NULs, as Go accepts)
 * or GNU base-256 (high bit set; 0xff lead = negative). undefined if malformed.
 */
export function parseNumeric(b: Buffer, off: number, len: number): number | undefined {
  const first = b[off] as number;
  if (first & 0x80) {
    // As Go's archive/tar: bit 0x40 of the lead byte is the sign; negative
    // values are the bitwise inverse (-a-1 == ^a).
    const inv = first & 0x40 ? 0xff : 0;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let byte = ((b[off + i] as number) ^ inv) & 0xff;
      if (i === 0) byte &= 0x7f;
      v = v * 256 + byte;
      if (v > Number.MAX_SAFE_INTEGER) return undefined;
    }
    return inv ? -v - 1 : v;
  }
  let start = off;
  let end = off + len;
  while (start < end && (b[start] === 0x20 || b[start] === 0)) start++;
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = (b[i] as number) - 0x30;
    if (d < 0 || d > 7) return undefined;
    v = v * 8 + d;
  }
  return v;
}

function cstrEnd(b: Buffer, start: number, end: number): number {
  const nul = b.indexOf(0, start);
  return nul === -1 || nul > end ? end : nul;
}

function decodeName(b: Buffer, start: number, end: number, label: string): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if ((b[i] as number) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return b.toString('latin1', start, end);
  try {
    return utf8.decode(b.subarray(start, end));
  } catch {
    throw new BerthError('EUNSUPPORTED', `${label}: name is not valid UTF-8`);
  }
}

/** PAX records `"%d %s=%s\n"`; values stay raw bytes. Duplicate keys are refused. */
export function parsePax(buf: Buffer, label: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos);
    if (sp === -1 || sp === pos || sp - pos > 12) throw layerError(`${label}: malformed PAX record length`);
    let reclen = 0;
    for (let i = pos; i < sp; i++) {
      const d = (buf[i] as number) - 0x30;
      if (d < 0 || d > 9 || (i === pos && d === 0)) throw layerError(`${label}: malformed PAX record length`);
      reclen = reclen * 10 + d;
    }
    const end = pos + reclen;
    if (end > buf.length || end <= sp + 2 || buf[end - 1] !== 0x0a) throw layerError(`${label}: malformed PAX record`);
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1 || eq === sp + 1) throw layerError(`${label}: malformed PAX record (no key)`);
    const key = decodeName(buf, sp + 1, eq, label);
    if (out.has(key)) throw layerError(`${label}: duplicate PAX record ${quote(key)}`);
    out.set(key, buf.subarray(eq + 1, end - 1));
    pos = end;
  }
  return out;
}

function paxUnsigned(value: Buffer, what: string, label: string): number {
  const s = value.toString('latin1');
  if (!/^\d{1,16}$/.test(s)) throw layerError(`${label}: invalid PAX ${what} ${quote(s)}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw layerError(`${label}: invalid PAX ${what} ${quote(s)}`);
  return n;
}

/** PAX time `[-]seconds[.fraction]` to seconds + nanoseconds (fraction truncated to 9 digits). */
export function paxTime(value: Buffer, what: string, label: string): Timespec {
  const s = value.toString('latin1');
  const m = /^(-?)(\d{1,15})(?:\.(\d*))?$/.exec(s);
  if (!m) throw layerError(`${label}: invalid PAX ${what} ${quote(s)}`);
  let sec = Number(m[2]);
  let nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  return { sec, nsec };
}

export function quote(s: string): string {
  const q = JSON.stringify(s);
  return q.length > 200 ? `${q.slice(0, 196)}..."` : q;
}
