import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { BerthError, Digest } from '@berth/oci';
import { errnoCode, fsyncDir, wrapError as wrap, writevFully } from './fsutil.js';
import type { FileLock } from './lock.js';
import { mkdirPrivate, PRIVATE_FILE_MODE } from './perms.js';

/**
 * A resumable write of one blob whose digest is known in advance (a download).
 * The store holds a cross-process lock on the digest from `Store.ingest()` until
 * `commit()`, `abort()` or `release()`, so two processes fetching the same
 * blob never write the same partial file; the second one, once it gets the
 * lock, finds the blob committed (`exists === true`).
 *
 * Bytes go to `ingest/<alg>-<hex>` inside the store (never under `blobs/`),
 * and only `commit()` moves them into `blobs/` after checking size and digest.
 */
export interface BlobIngest {
  readonly digest: Digest;
  /** The expected size given to `ingest()`, if any. */
  readonly expectedSize: number | undefined;
  /** The blob was already in the store when the lock was acquired: skip the download, call `commit()` or `release()`. */
  readonly exists: boolean;
  /** Bytes already in the partial file (from an earlier interrupted attempt, or written so far). Resume a download from here. */
  readonly offset: number;
  /**
   * A stream that appends at `offset`. The digest computed at commit covers the
   * resumed prefix too. One at a time; a new one may be opened after the
   * previous one finished or failed (e.g. to resume after a broken connection).
   * Writing past the expected size fails with ESIZE_MISMATCH.
   */
  createWriteStream(): Writable;
  /** Truncate the partial file to 0 bytes (the server ignored a Range request). */
  reset(): Promise<void>;
  /**
   * Verify size and digest of everything written, fsync, rename into `blobs/`,
   * fsync the directory and release the lock. On a mismatch the partial file is
   * deleted, the lock released, and EDIGEST_MISMATCH / ESIZE_MISMATCH thrown.
   * When `exists` is true it only releases the lock.
   */
  commit(): Promise<{ digest: Digest; size: number }>;
  /** Release the lock without committing. `keepPartial` (default true) keeps the bytes for a later resume. No-op once finished. */
  abort(opts?: { keepPartial?: boolean }): Promise<void>;
  /** Same as `abort({ keepPartial: true })`; the natural call when `exists` is true. */
  release(): Promise<void>;
}

/**
 * How much a write stream queues while a write is in flight before it asks
 * the writer to wait (its highWaterMark); the queue goes to the file in one pwritev.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024;

export interface IngestInit {
  digest: Digest;
  expectedSize: number | undefined;
  partialPath: string;
  blobPath: string;
  /** The per-digest lock (unlinked on release) and the shared GC lease lock. */
  digestLock: FileLock;
  leaseLock: FileLock;
}

export class Ingest implements BlobIngest {
  readonly digest: Digest;
  readonly expectedSize: number | undefined;
  exists = false;
  private currentOffset = 0;
  private finished = false;
  private fh: FileHandle | undefined;
  private hash: Hash | undefined;
  private hashed = 0;
  private writer: Writable | undefined;
  private readonly what: string;

  constructor(private readonly init: IngestInit) {
    this.digest = init.digest;
    this.expectedSize = init.expectedSize;
    this.what = `ingest blob ${init.digest}`;
  }

  /** Called by the store right after the locks are taken. */
  async start(): Promise<void> {
    try {
      const blob = await statOrUndefined(this.init.blobPath);
      if (blob?.isFile() && (this.expectedSize === undefined || blob.size === this.expectedSize)) {
        this.exists = true;
        // A leftover partial of a blob that is already complete is garbage.
        await rm(this.init.partialPath, { force: true });
        return;
      }
      const partial = await statOrUndefined(this.init.partialPath);
      if (partial && !partial.isFile()) {
        throw new BerthError('ESTORE', `${this.what}: ${this.init.partialPath} is not a regular file`);
      }
      this.currentOffset = partial?.size ?? 0;
      if (this.expectedSize !== undefined && this.currentOffset > this.expectedSize) {
        // Longer than the blob can be: it cannot be a prefix of it.
        await this.reset();
      }
    } catch (err) {
      await this.releaseLocks(false);
      throw wrap(this.what, err);
    }
  }

  get offset(): number {
    return this.currentOffset;
  }

  createWriteStream(): Writable {
    this.assertOpen('createWriteStream');
    if (this.exists) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: the blob already exists; call commit() or release()`);
    if (this.writerActive()) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: a write stream is already open`);
    const done = (cb: (err?: Error | null) => void) => [() => cb(), (err: unknown) => cb(wrap(this.what, err))] as const;
    const writer: Writable = new Writable({
      highWaterMark: WRITE_BUFFER_BYTES,
      construct: (cb) => {
        this.prepare().then(...done(cb));
      },
      // A chunk is written as soon as no write is in flight, so what arrived is in the file
      // (a process killed mid-download resumes from there); the chunks that queue up behind
      // a write in flight go to the file together, in one pwritev.
      writev: (chunks, cb) => {
        this.append(chunks.map((c) => c.chunk as Buffer)).then(...done(cb));
      },
    });
    this.writer = writer;
    return writer;
  }

  async reset(): Promise<void> {
    this.assertOpen('reset');
    if (this.writerActive()) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: reset() while a write stream is open`);
    try {
      if (this.fh) await this.fh.truncate(0);
      else await rm(this.init.partialPath, { force: true });
    } catch (err) {
      throw wrap(`${this.what}: reset`, err);
    }
    this.hash = createHash(this.digest.algorithm);
    this.hashed = 0;
    this.currentOffset = 0;
  }

  async commit(): Promise<{ digest: Digest; size: number }> {
    this.assertOpen('commit');
    if (this.writerActive()) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: commit() while a write stream is still open; wait for it to finish`);
    if (this.exists) {
      const st = await statOrUndefined(this.init.blobPath);
      await this.releaseLocks(false);
      return { digest: this.digest, size: st?.size ?? this.expectedSize ?? 0 };
    }
    let removePartial = false;
    let result: { digest: Digest; size: number } | undefined;
    let failure: unknown;
    try {
      await this.prepare();
      const fh = this.fh as FileHandle;
      await fh.sync();
      const size = this.hashed;
      const actual = Digest.fromHash(this.digest.algorithm, this.hash as Hash);
      this.hash = undefined;
      if (this.expectedSize !== undefined && size !== this.expectedSize) {
        removePartial = true;
        throw new BerthError('ESIZE_MISMATCH', `${this.what}: got ${size} bytes, expected ${this.expectedSize}`, {
          details: { expected: this.expectedSize, actual: size },
        });
      }
      if (!actual.equals(this.digest)) {
        removePartial = true;
        throw new BerthError('EDIGEST_MISMATCH', `${this.what}: content hashes to ${actual}`, {
          details: { expected: this.digest.toString(), actual: actual.toString() },
        });
      }
      const dir = path.dirname(this.init.blobPath);
      await mkdirPrivate(dir);
      await rename(this.init.partialPath, this.init.blobPath);
      await fsyncDir(dir);
      result = { digest: this.digest, size };
    } catch (err) {
      failure = wrap(this.what, err);
    }
    try {
      await this.releaseLocks(removePartial);
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined || !result) throw failure;
    return result;
  }

  async abort(opts: { keepPartial?: boolean } = {}): Promise<void> {
    if (this.finished) return;
    if (this.writer && !this.writer.destroyed) this.writer.destroy();
    await this.releaseLocks(opts.keepPartial === false);
  }

  release(): Promise<void> {
    return this.abort({ keepPartial: true });
  }

  /** Open the partial file and make sure the running hash covers all of it. */
  private async prepare(): Promise<void> {
    if (!this.fh) {
      await mkdirPrivate(path.dirname(this.init.partialPath));
      this.fh = await open(this.init.partialPath, fsConstants.O_RDWR | fsConstants.O_CREAT, PRIVATE_FILE_MODE);
    }
    const { size } = await this.fh.stat();
    if (!this.hash || this.hashed !== size) {
      // Resumed (or an earlier write failed half-way): hash what is on disk.
      const hash = createHash(this.digest.algorithm);
      const buf = Buffer.allocUnsafe(1024 * 1024);
      let pos = 0;
      while (pos < size) {
        const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      this.hash = hash;
      this.hashed = pos;
    }
    this.currentOffset = this.hashed;
  }

  private async append(chunks: readonly Buffer[]): Promise<void> {
    if (this.finished) throw new BerthError('EINVAL_ARGUMENT', 'write after the ingest finished');
    const fh = this.fh;
    const hash = this.hash;
    if (!fh || !hash) throw new BerthError('ESTORE', 'write before the partial file was opened');
    let length = 0;
    for (const c of chunks) length += c.length;
    if (this.expectedSize !== undefined && this.currentOffset + length > this.expectedSize) {
      throw new BerthError('ESIZE_MISMATCH', `more than the expected ${this.expectedSize} bytes`, { details: { expected: this.expectedSize } });
    }
    try {
      await writevFully(fh, chunks, this.currentOffset);
    } catch (err) {
      this.hash = undefined; // the file may hold part of the chunks: re-hash from disk next time
      throw err;
    }
    for (const c of chunks) hash.update(c);
    this.hashed += length;
    this.currentOffset = this.hashed;
  }

  private writerActive(): boolean {
    const w = this.writer;
    return !!w && !w.destroyed && !w.writableFinished;
  }

  private assertOpen(op: string): void {
    if (this.finished) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: ${op}() after commit/abort`);
  }

  private async releaseLocks(removePartial: boolean): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const errors: unknown[] = [];
    const step = async (f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch (err) {
        errors.push(err);
      }
    };
    if (this.fh) {
      const fh = this.fh;
      this.fh = undefined;
      await step(() => fh.close());
    }
    if (removePartial) await step(() => rm(this.init.partialPath, { force: true }));
    await step(() => this.init.digestLock.release({ unlink: true }));
    await step(() => this.init.leaseLock.release());
    if (errors.length > 0) throw wrap(`${this.what}: release`, errors[0]);
  }
}

async function statOrUndefined(p: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
