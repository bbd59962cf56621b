/**
 * Deterministic tar header encoding for createLayer: ustar headers, with a
 * PAX extended header only when a field does not fit (long or non-ASCII
 * names, big ids or sizes, xattrs). Numeric owners, empty uname/gname, whole
 * second mtimes, PAX records sorted by key, xattr values kept as raw bytes.
 */
import type { EntryType } from './tar-reader.js';

export interface WriteEntry {
  /** Relative path without a leading "/" or "./"; directories get a trailing "/" here. */
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds (negative allowed). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Sorted by name by the caller or here. */
  xattrs?: Array<[string, Buffer]>;
}

const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

export const END_OF_ARCHIVE: Buffer = Buffer.alloc(1024);

/** Zero bytes that pad `size` bytes of content to a 512-byte boundary. */
export function padding(size: number): Buffer {
  const pad = (512 - (size % 512)) % 512;
  return ZEROS.subarray(0, pad);
}
const ZEROS = Buffer.alloc(512);

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Split a name into ustar prefix (<=155) and name (<=100), or undefined if impossible. */
function splitUstar(name: string): [string, string] | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return ['', name];
  // The split must be at a "/", with at most 155 bytes before it and 100 after.
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name.charCodeAt(i) === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.slice(0, i), name.slice(i + 1)];
    }
  }
  return undefined;
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits then a NUL, zero padded.
  buf.write(value.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  buf[off + len - 1] = 0;
}

/** GNU base-256 (two's complement, lead byte 0x80 / 0xff): read by Go, GNU tar, tar-stream. */
function writeBase256(buf: Buffer, off: number, len: number, value: number): void {
  let v = BigInt(value);
  if (v < 0n) v += 1n << BigInt(8 * len);
  for (let i = len - 1; i >= 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = value < 0 ? 0xff : 0x80;
}

function writeNumber(buf: Buffer, off: number, len: number, value: number): void {
  if (fitsOctal(value, len)) writeOctal(buf, off, len, value);
  else writeBase256(buf, off, len, value);
}

function fitsOctal(value: number, len: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function rawHeader(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(512);
  b.write(fields.name, 0, 100, 'latin1');
  writeOctal(b, 100, 8, fields.mode);
  writeNumber(b, 108, 8, fields.uid);
  writeNumber(b, 116, 8, fields.gid);
  writeNumber(b, 124, 12, fields.size);
  writeNumber(b, 136, 12, fields.mtime);
  b.fill(0x20, 148, 156);
  b[156] = fields.typeflag;
  b.write(fields.linkname, 157, 100, 'latin1');
  b.write('ustar\u000000', 257, 8, 'latin1');
  writeOctal(b, 329, 8, fields.devmajor);
  writeOctal(b, 337, 8, fields.devminor);
  b.write(fields.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i] as number;
  writeOctal(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

/** The header block(s) for one entry: an optional PAX header + its data, then the ustar header. */
export function encodeHeader(e: WriteEntry): Buffer {
  const records: Array<[string, Buffer]> = [];
  const name = e.type === 'directory' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  let split = splitUstar(name);
  if (!split) {
    records.push(['path', Buffer.from(name, 'utf8')]);
    // A readable ASCII stand-in for readers without PAX support.
    split = ['', asciiStandIn(name, 100)];
  }
  let linkname = e.linkname ?? '';
  if (linkname && (linkname.length > 100 || !isAscii(linkname))) {
    records.push(['linkpath', Buffer.from(linkname, 'utf8')]);
    linkname = asciiStandIn(linkname, 100);
  }
  // Numbers that do not fit octal go in a PAX record and, for readers
  // without PAX numbers (tar-stream), as GNU base-256 in the field too.
  const { uid, gid, size, mtime } = e;
  if (!fitsOctal(uid, 8)) records.push(['uid', Buffer.from(String(uid))]);
  if (!fitsOctal(gid, 8)) records.push(['gid', Buffer.from(String(gid))]);
  if (!fitsOctal(size, 12)) records.push(['size', Buffer.from(String(size))]);
  if (!fitsOctal(mtime, 12)) records.push(['mtime', Buffer.from(String(mtime))]);
  for (const [k, v] of e.xattrs ?? []) records.push([`SCHILY.xattr.${k}`, v]);

  const header = rawHeader({
    name: split[1],
    prefix: split[0],
    mode: e.mode & 0o7777,
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAG[e.type],
    linkname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (records.length === 0) return header;

  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const paxName = asciiStandIn(`PaxHeaders/${baseName(name)}`, 100);
  const paxHeader = rawHeader({
    name: paxName,
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: fitsOctal(e.mtime, 12) ? e.mtime : 0,
    typeflag: 0x78,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, data, padding(data.length), header]);
}

function baseName(name: string): string {
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

function asciiStandIn(s: string, max: number): string {
  let out = '';
  for (const ch of s) out += ch.charCodeAt(0) <= 0x7f && ch.length === 1 ? ch : '_';
  return out.length > max ? out.slice(out.length - max) : out;
}
