import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { lstat, open, opendir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BerthError, Digest } from '@berth/oci';
import { checkSize, toDigest } from './check.js';
import { errnoCode, fsyncDir, readdirOrEmpty, tempName, wrapError, writeFully } from './fsutil.js';
import { Ingest, type BlobIngest } from './ingest.js';
import type { StoreLayout } from './layout.js';
import type { StoreLocks } from './locks.js';
import { mkdirPrivate, PRIVATE_FILE_MODE } from './perms.js';
import { BlobReader, mapOpenError } from './reader.js';

export interface PutBlobOptions {
  /** Expected digest; the write fails with EDIGEST_MISMATCH (and leaves nothing) if the content differs. */
  digest?: Digest | string;
  /** Expected size; fails with ESIZE_MISMATCH as soon as it is exceeded, or at the end if short. */
  size?: number;
}

export interface IngestOptions {
  digest: Digest | string;
  size?: number;
}

export interface ReadBlobOptions {
  /** Refuse (ETOO_LARGE) blobs larger than this without reading them. */
  maxBytes?: number;
  /** Expected size (ESIZE_MISMATCH otherwise). */
  size?: number;
}

export interface OpenBlobOptions {
  /** Expected size (ESIZE_MISMATCH otherwise, up front and at EOF). */
  size?: number;
  /**
   * Emit the blob from this byte on (a resumed upload). The bytes before it are
   * read and hashed too, so the whole blob is still verified at EOF.
   */
  start?: number;
}

/** A stored blob, as `BlobStore.list()` yields it. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface BlobListOptions {
  /** Only blobs whose hex starts with this (lower-case hex). */
  hexPrefix?: string;
  /** Only this algorithm's blobs (default: all). */
  algorithm?: Digest['algorithm'];
}

export interface SweepResult {
  /** Removed (or, with dryRun, removable) files, relative to the store root. */
  removed: string[];
  bytes: number;
}

const PARTIAL_RE = /^(sha256|sha512)-([a-f0-9]+)$/;

/**
 * `<root>/blobs/<alg>/<hex>`, the digest validated first (EINVAL_DIGEST). For the
 * store's own parts and its tests; other packages open blobs by digest.
 */
export function blobFile(layout: Pick<StoreLayout, 'blobsDir'>, digest: Digest | string): string {
  const d = toDigest(digest, 'blob path');
  return path.join(layout.blobsDir, d.algorithm, d.hex);
}

/**
 * The content-addressed blobs of a store (`blobs/<alg>/<hex>`), by digest only:
 * no path leaves this class. Writes are atomic (a temp file in `tmp/`, checked
 * before the rename) and hold a lease; reads verify, except `openFile`, whose
 * caller verifies. Resumable downloads go through `ingest` (ingest.ts).
 */
export class BlobStore {
  constructor(
    private readonly layout: StoreLayout,
    private readonly locks: StoreLocks,
  ) {}

  async has(digest: Digest | string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /** Size of a stored blob, or undefined if it is not in the store. */
  async size(digest: Digest | string): Promise<number | undefined> {
    const p = blobFile(this.layout, digest);
    try {
      const st = await stat(p);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw wrapError(`stat blob ${digest.toString()}`, err);
    }
  }

  /**
   * A stream of a stored blob that verifies digest (and `size` if given) as
   * it goes and errors at EOF instead of ending if they differ
   * (EDIGEST_MISMATCH / ESIZE_MISMATCH naming the blob). A missing blob is
   * ENOT_FOUND, as a stream error.
   */
  open(digest: Digest | string, opts: OpenBlobOptions = {}): Readable {
    const d = toDigest(digest, 'read blob');
    const size = checkSize(opts.size, `read blob ${d}`);
    const start = checkSize(opts.start, `read blob ${d}`);
    return new BlobReader({ path: blobFile(this.layout, d), digest: d, size, start });
  }

  /**
   * The stored blob as an open file, read-only, NOT verified: the caller verifies
   * the digest itself (as `applyLayer` does for a layer), so a second hash pass is
   * not paid. A missing blob is ENOT_FOUND, something other than a regular file
   * ESTORE. The caller closes the handle (a stream made with
   * `handle.createReadStream()` closes it at its end).
   */
  async openFile(digest: Digest | string): Promise<FileHandle> {
    const d = toDigest(digest, 'open blob');
    const what = `open blob ${d}`;
    let fh: FileHandle;
    try {
      fh = await open(blobFile(this.layout, d), 'r');
    } catch (err) {
      throw mapOpenError(what, err);
    }
    try {
      if (!(await fh.stat()).isFile()) throw new BerthError('ESTORE', `${what}: not a regular file`);
      return fh;
    } catch (err) {
      await fh.close();
      throw wrapError(what, err);
    }
  }

  /** A whole stored blob, verified. */
  async read(digest: Digest | string, opts: ReadBlobOptions = {}): Promise<Buffer> {
    const d = toDigest(digest, 'read blob');
    const what = `read blob ${d}`;
    const size = checkSize(opts.size, what);
    let fh;
    try {
      fh = await open(blobFile(this.layout, d), 'r');
    } catch (err) {
      throw mapOpenError(what, err);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BerthError('ESTORE', `${what}: not a regular file`);
      if (size !== undefined && st.size !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: stored blob has ${st.size} bytes, expected ${size}`, { details: { expected: size, actual: st.size } });
      }
      if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
        throw new BerthError('ETOO_LARGE', `${what}: ${st.size} bytes exceeds the ${opts.maxBytes}-byte limit`);
      }
      const buf = await fh.readFile();
      if (size !== undefined && buf.length !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: got ${buf.length} bytes, expected ${size}`, { details: { expected: size, actual: buf.length } });
      }
      const actual = Digest.of(buf, d.algorithm);
      if (!actual.equals(d)) {
        throw new BerthError('EDIGEST_MISMATCH', `${what}: stored content hashes to ${actual}; the blob is corrupt`, {
          details: { expected: d.toString(), actual: actual.toString() },
        });
      }
      return buf;
    } catch (err) {
      throw wrapError(what, err);
    } finally {
      await fh.close();
    }
  }

  /**
   * Store bytes (or a stream) as a blob. Idempotent: an existing blob is not
   * rewritten (a stream given for it is read to its end). Atomic: the data go
   * to a temp file in `tmp/`, hashed while written, fsynced, checked against
   * `opts.size`/`opts.digest` BEFORE the rename into `blobs/`, then the
   * directory is fsynced. On any failure nothing appears under `blobs/`.
   */
  async put(data: Uint8Array | Readable, opts: PutBlobOptions = {}): Promise<{ digest: Digest; size: number }> {
    const expected = opts.digest === undefined ? undefined : toDigest(opts.digest, 'put blob');
    const what = expected ? `put blob ${expected}` : 'put blob';
    const size = checkSize(opts.size, what);
    const algorithm = expected?.algorithm ?? 'sha256';
    if (data instanceof Uint8Array) {
      const digest = Digest.of(data, algorithm);
      if (size !== undefined && data.length !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: got ${data.length} bytes, expected ${size}`, { details: { expected: size, actual: data.length } });
      }
      if (expected && !expected.equals(digest)) {
        throw new BerthError('EDIGEST_MISMATCH', `${what}: content hashes to ${digest}`, { details: { expected: expected.toString(), actual: digest.toString() } });
      }
      if ((await this.size(digest)) === data.length) return { digest, size: data.length };
      return this.write([data], { algorithm, expected: digest, size: data.length, what: `put blob ${digest}` });
    }
    if (!(data instanceof Readable)) throw new BerthError('EINVAL_ARGUMENT', `${what}: data must be a Buffer/Uint8Array or a Readable`);
    if (expected) {
      const have = await this.size(expected);
      if (have !== undefined && (size === undefined || have === size)) {
        // Consume the caller's stream rather than destroying it: a tar entry or
        // a pipeline upstream expects its data to be read to the end.
        data.resume();
        await finished(data).catch(() => undefined);
        return { digest: expected, size: have };
      }
    }
    return this.write(data, { algorithm, expected, size, what });
  }

  private async write(
    source: AsyncIterable<unknown> | Iterable<unknown>,
    opts: { algorithm: Digest['algorithm']; expected: Digest | undefined; size: number | undefined; what: string },
  ): Promise<{ digest: Digest; size: number }> {
    const { what, size, expected } = opts;
    try {
      return await this.locks.withLease(async () => {
        await mkdirPrivate(this.layout.tmpDir);
        const tmp = tempName(this.layout.tmpDir, 'blob');
        const fh = await open(tmp, 'wx', PRIVATE_FILE_MODE);
        let renamed = false;
        try {
          const hash = createHash(opts.algorithm);
          let bytes = 0;
          for await (const raw of source) {
            const chunk = toChunk(raw, what);
            if (size !== undefined && bytes + chunk.length > size) {
              throw new BerthError('ESIZE_MISMATCH', `${what}: more than the expected ${size} bytes`, { details: { expected: size } });
            }
            await writeFully(fh, chunk, bytes);
            hash.update(chunk);
            bytes += chunk.length;
          }
          await fh.sync();
          if (size !== undefined && bytes !== size) {
            throw new BerthError('ESIZE_MISMATCH', `${what}: got ${bytes} bytes, expected ${size}`, { details: { expected: size, actual: bytes } });
          }
          const digest = Digest.fromHash(opts.algorithm, hash);
          if (expected && !expected.equals(digest)) {
            throw new BerthError('EDIGEST_MISMATCH', `${what}: content hashes to ${digest}`, { details: { expected: expected.toString(), actual: digest.toString() } });
          }
          const target = blobFile(this.layout, digest);
          await mkdirPrivate(path.dirname(target));
          await rename(tmp, target);
          renamed = true;
          await fsyncDir(path.dirname(target));
          return { digest, size: bytes };
        } finally {
          await fh.close();
          if (!renamed) await rm(tmp, { force: true });
        }
      });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  /**
   * Begin (or resume) a download of one blob. Waits for the per-digest
   * cross-process lock, held until commit/abort/release. If the blob is
   * already stored once the lock is ours, `exists` is true.
   */
  async ingest(opts: IngestOptions): Promise<BlobIngest> {
    const digest = toDigest(opts?.digest, 'ingest blob');
    const what = `ingest blob ${digest}`;
    const size = checkSize(opts.size, what);
    await mkdirPrivate(this.layout.ingestDir);
    const leaseLock = await this.locks.acquireLease(`${what}: lock the store against gc`);
    const partial = this.partialPath(digest);
    let digestLock;
    try {
      // Another process downloading the same blob may take long: wait while its
      // partial grows, and give up only once it has stalled for the timeout.
      digestLock = await this.locks.acquireDigest(digest, { what: `${what}: lock the digest`, progress: () => sizeOrUndefined(partial) });
    } catch (err) {
      await leaseLock.release();
      throw err;
    }
    const ingest = new Ingest({ digest, expectedSize: size, partialPath: partial, blobPath: blobFile(this.layout, digest), digestLock, leaseLock });
    await ingest.start();
    return ingest;
  }

  /**
   * The stored blobs, read from the directory one entry at a time (memory stays
   * bounded whatever the store holds). Only regular files named by a valid digest.
   */
  async *list(opts: BlobListOptions = {}): AsyncGenerator<BlobInfo> {
    const prefix = opts.hexPrefix ?? '';
    const algorithms = opts.algorithm ? [opts.algorithm] : await readdirOrEmpty(this.layout.blobsDir);
    for (const alg of algorithms) {
      const dir = path.join(this.layout.blobsDir, alg);
      let handle;
      try {
        handle = await opendir(dir, { bufferSize: 256 });
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
        throw wrapError(`list blobs in ${dir}`, err);
      }
      for await (const entry of handle) {
        if (!entry.name.startsWith(prefix)) continue;
        const digest = `${alg}:${entry.name}`;
        if (!Digest.isValid(digest)) continue;
        const st = await lstat(path.join(dir, entry.name)).catch(() => undefined);
        if (!st?.isFile()) continue;
        yield { digest: Digest.parse(digest), size: st.size };
      }
    }
  }

  /** Remove these blobs (absent ones are fine), then fsync each directory that changed. */
  async delete(digests: Iterable<Digest>): Promise<void> {
    const dirs = new Set<string>();
    for (const d of digests) {
      const file = blobFile(this.layout, d);
      await rm(file, { force: true });
      dirs.add(path.dirname(file));
    }
    for (const dir of dirs) await fsyncDir(dir);
  }

  /**
   * Remove what interrupted writes left: partial downloads in `ingest/` (never one
   * whose digest lock a live ingest holds) and every file in `tmp/`. The caller must
   * exclude all writers (gc holds the lease lock exclusively and the index lock: every
   * writer of `tmp/` holds one of them).
   */
  async sweepTemporary(opts: { dryRun: boolean }): Promise<SweepResult> {
    const result: SweepResult = { removed: [], bytes: 0 };
    for (const name of await readdirOrEmpty(this.layout.ingestDir)) {
      const m = PARTIAL_RE.exec(name);
      if (!m || !Digest.isValid(`${m[1]}:${m[2]}`)) continue;
      const digest = Digest.parse(`${m[1]}:${m[2]}`);
      const lock = await this.locks.tryDigest(digest, `gc: lock ${digest}`);
      if (!lock) continue; // a live ingest owns it
      try {
        const st = await lstat(path.join(this.layout.ingestDir, name)).catch(() => undefined);
        if (!st?.isFile()) continue;
        if (!opts.dryRun) await rm(path.join(this.layout.ingestDir, name), { force: true });
        result.removed.push(`ingest/${name}`);
        result.bytes += st.size;
      } finally {
        await lock.release({ unlink: !opts.dryRun });
      }
    }
    for (const name of await readdirOrEmpty(this.layout.tmpDir)) {
      const st = await lstat(path.join(this.layout.tmpDir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (!opts.dryRun) await rm(path.join(this.layout.tmpDir, name), { force: true });
      result.removed.push(`tmp/${name}`);
      result.bytes += st.size;
    }
    return result;
  }

  private partialPath(d: Digest): string {
    return path.join(this.layout.ingestDir, `${d.algorithm}-${d.hex}`);
  }
}

function toChunk(raw: unknown, what: string): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (typeof raw === 'string') return Buffer.from(raw);
  throw new BerthError('EINVAL_ARGUMENT', `${what}: the stream yielded a ${typeof raw}, not bytes`);
}

function sizeOrUndefined(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}
