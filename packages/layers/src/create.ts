/**
 * createLayer: the difference between two directory trees as an OCI layer.
 *
 * Pass 1 walks both trees (lstat only, never following symlinks) and records
 * what to emit: entries added or changed in `target`, `.wh.NAME` for names
 * gone from `base`, and `.wh..wh..opq` for a directory whose every lower
 * child is gone while new ones exist (a replaced directory). Parent
 * directories of everything emitted are emitted too, with their target
 * metadata. Pass 2 writes the tar in sorted path order and streams file
 * content, through the compressor, to the output.
 *
 * A node counts as changed when its type, permission bits, owner, whole-second
 * mtime (what tar keeps), size, symlink target, device number or xattrs
 * differ; when all of those are equal a regular file's content is still
 * compared byte for byte (unless both are the same inode), so a rewrite that
 * kept size and mtime is not missed.
 *
 * Hardlinks: when any name of a multiply-linked target file is emitted, every
 * name of it in the target tree is emitted; the first in path order carries
 * the content, the others are hardlink entries to it, so the group survives
 * as one inode when the layer is applied.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  createWriteStream,
  type BigIntStats,
} from 'node:fs';
import path from 'node:path';
import { Readable, type Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, HashingStream, ociLayerMediaType, type Digest, type LayerCompression } from '@berth/oci';
import { isIgnoredXattr } from './apply.js';
import { compressStream } from './compression.js';
import { joinRel, parentRel, WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './paths.js';
import { devMajor, devMinor, lgetxattr, llistxattr } from '@berth/sys';
import type { EntryType } from './tar-reader.js';
import { quote } from './tar-reader.js';
import { encodeHeader, END_OF_ARCHIVE, padding } from './tar-writer.js';

export interface CreateLayerOptions {
  /** Lower tree (undefined = scratch: everything in target is added). */
  base?: string;
  /** The new tree. */
  target: string;
  /** Where the compressed blob goes: a stream (ended when done) or a path (written atomically). */
  output: Writable | string;
  /** Default gzip. */
  compression?: LayerCompression;
  /** Compression level (gzip default 6, zstd default 3); fixed for reproducible output. */
  level?: number;
  /** Clamp mtimes to this Unix time (seconds), for reproducible layers. */
  sourceDateEpoch?: number;
  /** Compare file content when all metadata is equal (default true). */
  compareContent?: boolean;
  /**
   * Archive mode (`berth cp`, not a layer): `target` itself, of any type, is written as the entry
   * `rootName` and a directory's content below `rootName/`; `.wh.` names are plain names. No `base`.
   */
  rootName?: string;
}

export interface CreateLayerResult {
  /** Of the compressed blob. */
  digest: Digest;
  /** Of the uncompressed tar. */
  diffId: Digest;
  /** Compressed bytes. */
  size: number;
  mediaType: string;
  /** Tar entries written (whiteouts included). */
  entries: number;
  /** True when the trees did not differ (the blob is an empty tar). */
  empty: boolean;
}

const S_IFMT = 0o170000;
const O_READ = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Node {
  rel: string;
  type: Exclude<EntryType, 'hardlink'>;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** dev:ino, for hardlink groups and same-inode shortcuts. */
  inode: string;
  nlink: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Array<[string, Buffer]>;
}

type Rec = { kind: 'node'; node: Node; linkTo?: string } | { kind: 'whiteout' };

function typeOf(mode: number): Node['type'] | undefined {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    default:
      return undefined; // sockets cannot be stored in tar
  }
}

function sameXattrs(a: Array<[string, Buffer]>, b: Array<[string, Buffer]>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as [string, Buffer];
    const y = b[i] as [string, Buffer];
    if (x[0] !== y[0] || !x[1].equals(y[1])) return false;
  }
  return true;
}

function sameContent(a: string, b: string): boolean {
  const fa = openSync(a, O_READ);
  try {
    const fb = openSync(b, O_READ);
    try {
      const ba = Buffer.allocUnsafe(64 * 1024);
      const bb = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const na = readSync(fa, ba, 0, ba.length, null);
        let nb = 0;
        while (nb < na) {
          const n = readSync(fb, bb, nb, na - nb, null);
          if (n === 0) break;
          nb += n;
        }
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
        if (na === 0) return readSync(fb, bb, 0, 1, null) === 0;
      }
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

class Differ {
  readonly recs = new Map<string, Rec>();
  private readonly groups = new Map<string, Node[]>();

  constructor(
    readonly target: string,
    private readonly base: string | undefined,
    private readonly compareContent: boolean,
    /** Archive mode: the target itself is an entry (see CreateLayerOptions.rootName). */
    private readonly archive = false,
  ) {}

  private names(abs: string): string[] {
    const raw = readdirSync(abs, { encoding: 'buffer' });
    const out: string[] = [];
    for (const b of raw) {
      let name: string;
      try {
        name = utf8.decode(b);
      } catch {
        throw new BerthError('EUNSUPPORTED', `directory ${quote(abs)} holds a name that is not valid UTF-8`);
      }
      out.push(name);
    }
    return out.sort();
  }

  private node(root: string, rel: string, st: BigIntStats): Node | undefined {
    const mode = Number(st.mode);
    const type = typeOf(mode);
    if (!type) return undefined;
    const abs = path.join(root, rel);
    const n: Node = {
      rel,
      type,
      mode: mode & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'file' ? Number(st.size) : 0,
      mtime: Number(st.mtimeNs >= 0n ? st.mtimeNs / 1_000_000_000n : -((-st.mtimeNs + 999_999_999n) / 1_000_000_000n)),
      inode: `${st.dev}:${st.ino}`,
      nlink: Number(st.nlink),
      linkname: type === 'symlink' ? readlinkSync(abs) : '',
      devmajor: type === 'char' || type === 'block' ? devMajor(st.rdev) : 0,
      devminor: type === 'char' || type === 'block' ? devMinor(st.rdev) : 0,
      xattrs: [],
    };
    for (const name of llistxattr(abs).sort()) {
      if (isIgnoredXattr(name)) continue; // trusted.* too: see IGNORED_XATTR_PREFIXES
      const value = lgetxattr(abs, name);
      if (value !== undefined) n.xattrs.push([name, value]);
    }
    return n;
  }

  private emit(n: Node): void {
    const base = n.rel.slice(n.rel.lastIndexOf('/') + 1);
    if (base.startsWith(WHITEOUT_PREFIX) && !this.archive) {
      throw new BerthError('EUNSUPPORTED', `${quote(n.rel)}: names starting with ".wh." mean whiteouts in layers and cannot be stored`);
    }
    this.recs.set(n.rel, { kind: 'node', node: n });
  }

  private track(n: Node): void {
    if (n.type !== 'file' || n.nlink < 2) return;
    const g = this.groups.get(n.inode);
    if (g) g.push(n);
    else this.groups.set(n.inode, [n]);
  }

  /** Everything below (and including) rel in target, as added. */
  private addTree(rel: string, st: BigIntStats): void {
    const n = this.node(this.target, rel, st);
    if (!n) return;
    this.emit(n);
    this.track(n);
    if (n.type === 'directory') {
      const abs = path.join(this.target, rel);
      for (const name of this.names(abs)) {
        const child = joinRel(rel, name);
        this.addTree(child, lstatSync(path.join(abs, name), { bigint: true }));
      }
    }
  }

  private changed(t: Node, b: Node): boolean {
    if (t.type !== b.type || t.mode !== b.mode || t.uid !== b.uid || t.gid !== b.gid || t.mtime !== b.mtime) return true;
    if (t.size !== b.size || t.linkname !== b.linkname || t.devmajor !== b.devmajor || t.devminor !== b.devminor) return true;
    if (!sameXattrs(t.xattrs, b.xattrs)) return true;
    if (t.type === 'file' && t.inode !== b.inode && this.compareContent && this.base !== undefined) {
      return !sameContent(path.join(this.target, t.rel), path.join(this.base, b.rel));
    }
    return false;
  }

  /** Compare directory `rel`, present as a directory in both trees. */
  private walk(rel: string): void {
    const base = this.base as string;
    const tAbs = path.join(this.target, rel);
    const bAbs = path.join(base, rel);
    const tNames = this.names(tAbs);
    const bNames = this.names(bAbs);
    const bSet = new Set(bNames);
    const tSet = new Set(tNames);
    if (bNames.length > 0 && tNames.length > 0 && tNames.every((n) => !bSet.has(n))) {
      // Replaced: every lower child is gone and new ones exist.
      this.recs.set(joinRel(rel, WHITEOUT_OPAQUE), { kind: 'whiteout' });
      for (const name of tNames) this.addTree(joinRel(rel, name), lstatSync(path.join(tAbs, name), { bigint: true }));
      return;
    }
    for (const name of bNames) {
      if (!tSet.has(name)) this.recs.set(joinRel(rel, `${WHITEOUT_PREFIX}${name}`), { kind: 'whiteout' });
    }
    for (const name of tNames) {
      const child = joinRel(rel, name);
      const tst = lstatSync(path.join(tAbs, name), { bigint: true });
      if (!bSet.has(name)) {
        this.addTree(child, tst);
        continue;
      }
      const t = this.node(this.target, child, tst);
      const bst = lstatSync(path.join(bAbs, name), { bigint: true });
      const b = this.node(base, child, bst);
      if (!t) {
        // A socket now: it cannot be stored, but what was there must not survive.
        if (b) this.recs.set(joinRel(rel, `${WHITEOUT_PREFIX}${name}`), { kind: 'whiteout' });
        continue;
      }
      if (!b || t.type !== b.type) {
        if (t.type === 'directory') this.addTree(child, tst);
        else {
          this.emit(t);
          this.track(t);
        }
        continue;
      }
      if (this.changed(t, b)) this.emit(t);
      this.track(t);
      if (t.type === 'directory') this.walk(child);
    }
  }

  run(): void {
    const tst = lstatSync(this.target, { bigint: true });
    if (this.archive) {
      this.addTree('', tst);
      this.linkGroups();
      return;
    }
    if (!tst.isDirectory()) throw new BerthError('EINVAL_ARGUMENT', `target ${quote(this.target)} is not a directory`);
    if (this.base === undefined) {
      for (const name of this.names(this.target)) this.addTree(name, lstatSync(path.join(this.target, name), { bigint: true }));
    } else {
      if (!lstatSync(this.base, { bigint: true }).isDirectory()) {
        throw new BerthError('EINVAL_ARGUMENT', `base ${quote(this.base)} is not a directory`);
      }
      this.walk('');
    }
    this.linkGroups();
    this.addParents();
  }

  private linkGroups(): void {
    for (const members of this.groups.values()) {
      if (members.length < 2 || !members.some((m) => this.recs.has(m.rel))) continue;
      members.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
      const first = members[0] as Node;
      this.recs.set(first.rel, { kind: 'node', node: first });
      for (const m of members.slice(1)) this.recs.set(m.rel, { kind: 'node', node: m, linkTo: first.rel });
    }
  }

  private addParents(): void {
    for (const rel of [...this.recs.keys()]) {
      for (let p = parentRel(rel); p !== '' && !this.recs.has(p); p = parentRel(p)) {
        const n = this.node(this.target, p, lstatSync(path.join(this.target, p), { bigint: true }));
        if (n) this.recs.set(p, { kind: 'node', node: n });
      }
    }
  }
}

async function* tarStream(target: string, recs: Array<[string, Rec]>, epoch: number | undefined, rootName?: string): AsyncGenerator<Buffer> {
  const named = (rel: string): string => (rootName === undefined ? rel : rel === '' ? rootName : `${rootName}/${rel}`);
  const clamp = (t: number): number => (epoch !== undefined && t > epoch ? epoch : t);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (): Buffer => {
    const out = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  const add = (b: Buffer): void => {
    if (b.length === 0) return;
    pending.push(b);
    pendingBytes += b.length;
  };
  for (const [rel, rec] of recs) {
    if (rec.kind === 'whiteout') {
      add(encodeHeader({ name: rel, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: clamp(0) }));
    } else {
      const n = rec.node;
      const isLink = rec.linkTo !== undefined;
      add(
        encodeHeader({
          name: named(rel),
          type: isLink ? 'hardlink' : n.type,
          mode: n.mode,
          uid: n.uid,
          gid: n.gid,
          size: isLink ? 0 : n.size,
          mtime: clamp(n.mtime),
          linkname: isLink ? named(rec.linkTo as string) : n.linkname,
          devmajor: n.devmajor,
          devminor: n.devminor,
          xattrs: n.xattrs,
        }),
      );
      if (!isLink && n.type === 'file' && n.size > 0) {
        const fd = openSync(rel === '' ? target : path.join(target, rel), O_READ);
        try {
          let left = n.size;
          while (left > 0) {
            const buf = Buffer.allocUnsafe(Math.min(left, 1024 * 1024));
            const got = readSync(fd, buf, 0, buf.length, null);
            if (got === 0) throw new BerthError('EINVAL_ARGUMENT', `${quote(rel)} shrank while the layer was being written`);
            add(got === buf.length ? buf : buf.subarray(0, got));
            left -= got;
            if (pendingBytes >= 1024 * 1024) yield take();
          }
          if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, null) !== 0) {
            throw new BerthError('EINVAL_ARGUMENT', `${quote(rel)} grew while the layer was being written`);
          }
        } finally {
          closeSync(fd);
        }
        add(padding(n.size));
      }
    }
    if (pendingBytes >= 256 * 1024) yield take();
  }
  add(END_OF_ARCHIVE);
  yield take();
}

/** One line of docker's `diff`: a path (absolute in the tree) added, changed or deleted. */
export interface TreeChange {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/**
 * What turns `base` into `target`, as docker's `diff` lists it: the same comparison createLayer
 * makes (the layer's entries: changed paths and their parent directories as C or A, whiteouts as
 * D; a directory whose every lower child was replaced is C, with its new children as A), sorted.
 */
export function diffTrees(opts: { base: string; target: string; compareContent?: boolean }): TreeChange[] {
  const doing = `compare ${quote(opts.target)} with ${quote(opts.base)}`;
  let differ: Differ;
  let base: string;
  try {
    base = realpathSync(opts.base);
    differ = new Differ(realpathSync(opts.target), base, opts.compareContent ?? true);
    differ.run();
  } catch (err) {
    throw BerthError.wrap(doing, err, 'ELAYER');
  }
  const out: TreeChange[] = [];
  for (const [rel, rec] of differ.recs) {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (rec.kind === 'whiteout') {
      const parent = parentRel(rel);
      if (name === WHITEOUT_OPAQUE) out.push({ kind: 'C', path: `/${parent}` });
      else out.push({ kind: 'D', path: `/${joinRel(parent, name.slice(WHITEOUT_PREFIX.length))}` });
      continue;
    }
    let inBase = true;
    try {
      lstatSync(path.join(base, rel));
    } catch {
      inBase = false;
    }
    out.push({ kind: inBase ? 'C' : 'A', path: `/${rel}` });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Write the layer that turns `base` into `target`. */
export async function createLayer(opts: CreateLayerOptions): Promise<CreateLayerResult> {
  const doing = `create layer from ${quote(String(opts.target))}`;
  const compression: LayerCompression = opts.compression ?? 'gzip';
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: unknown compression ${quote(String(compression))}`);
  }
  const epoch = opts.sourceDateEpoch;
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0)) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: sourceDateEpoch must be a non-negative integer of seconds`);
  }

  const rootName = opts.rootName;
  if (rootName !== undefined && (opts.base !== undefined || rootName === '' || rootName.startsWith('/'))) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: rootName must be a relative name and comes without a base`);
  }
  let differ: Differ;
  try {
    // In archive mode the target's own final component is not followed: a symlink is archived as one.
    const target = rootName === undefined ? realpathSync(opts.target) : path.join(realpathSync(path.dirname(opts.target)), path.basename(opts.target));
    differ = new Differ(target, opts.base === undefined ? undefined : realpathSync(opts.base), opts.compareContent ?? true, rootName !== undefined);
    differ.run();
  } catch (err) {
    throw BerthError.wrap(doing, err, 'ELAYER');
  }
  const recs = [...differ.recs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const tar = Readable.from(tarStream(differ.target, recs, epoch, rootName), { objectMode: false });
  const diffHash = new HashingStream('sha256');
  const stages: Array<Transform> = [diffHash];
  let blobHash: HashingStream | undefined;
  if (compression !== 'none') {
    blobHash = new HashingStream('sha256');
    stages.push(compressStream(compression, opts.level === undefined ? {} : { level: opts.level }), blobHash);
  }

  let tmp: string | undefined;
  let fd: number | undefined;
  let out: Writable;
  if (typeof opts.output === 'string') {
    tmp = `${opts.output}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      fd = openSync(tmp, 'wx', 0o644);
    } catch (err) {
      throw BerthError.wrap(`${doing}: create ${quote(tmp)}`, err, 'ELAYER');
    }
    out = createWriteStream(tmp, { fd, autoClose: false });
  } else {
    out = opts.output;
  }

  try {
    await pipeline([tar, ...stages, out]);
    if (fd !== undefined && tmp !== undefined) {
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, opts.output as string);
      tmp = undefined;
    }
  } catch (err) {
    throw BerthError.wrap(doing, err, 'ELAYER');
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (tmp !== undefined) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    }
  }

  const diffId = diffHash.digest();
  return {
    digest: blobHash ? blobHash.digest() : diffId,
    diffId,
    size: blobHash ? blobHash.bytes : diffHash.bytes,
    mediaType: ociLayerMediaType(compression),
    entries: recs.length,
    empty: recs.length === 0,
  };
}
