import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BerthError, Digest, describeError } from '@berth/oci';
import { errnoCode } from './fsutil.js';

const CHUNK = 256 * 1024;

export interface BlobReaderOptions {
  path: string;
  digest: Digest;
  /** Expected size; checked up front against the file and again at EOF. */
  size?: number | undefined;
  /**
   * Emit from this byte on (a resumed upload). The bytes before it are read and
   * hashed, not emitted, so the digest is still checked over the whole blob.
   */
  start?: number | undefined;
}

/**
 * Streams a stored blob and verifies it: the stream errors instead of ending
 * if the bytes read do not hash to the digest (EDIGEST_MISMATCH) or do not
 * have the expected size (ESIZE_MISMATCH). As with any verifying stream, a
 * consumer must not trust the data until 'end'.
 */
export class BlobReader extends Readable {
  private fh: FileHandle | undefined;
  private readonly hash: Hash;
  private position = 0;
  private readonly what: string;

  constructor(private readonly opts: BlobReaderOptions) {
    super({ highWaterMark: CHUNK });
    this.hash = createHash(opts.digest.algorithm);
    this.what = `read blob ${opts.digest}`;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.opts.path, 'r')
      .then(async (fh) => {
        this.fh = fh;
        const st = await fh.stat();
        if (!st.isFile()) throw new BerthError('ESTORE', `${this.what}: ${this.opts.path} is not a regular file`);
        if (this.opts.size !== undefined && st.size !== this.opts.size) {
          throw new BerthError('ESIZE_MISMATCH', `${this.what}: stored blob has ${st.size} bytes, expected ${this.opts.size}`, {
            details: { expected: this.opts.size, actual: st.size },
          });
        }
        const start = this.opts.start ?? 0;
        if (start > st.size) throw new BerthError('EINVAL_ARGUMENT', `${this.what}: start ${start} is past the end of the ${st.size}-byte blob`);
        await this.hashPrefix(fh, start);
      })
      .then(
        () => callback(),
        (err: unknown) => callback(mapOpenError(this.what, err)),
      );
  }

  private async hashPrefix(fh: FileHandle, start: number): Promise<void> {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK * 4, Math.max(start, 1)));
    while (this.position < start) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, start - this.position), this.position);
      if (bytesRead === 0) throw new BerthError('ESTORE', `${this.what}: the blob shrank while it was read`);
      this.hash.update(buf.subarray(0, bytesRead));
      this.position += bytesRead;
    }
  }

  override _read(size: number): void {
    const fh = this.fh;
    if (!fh) return;
    const buf = Buffer.allocUnsafe(Math.max(size, CHUNK));
    fh.read(buf, 0, buf.length, this.position).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          const err = this.verify();
          if (err) this.destroy(err);
          else this.push(null);
          return;
        }
        this.position += bytesRead;
        if (this.opts.size !== undefined && this.position > this.opts.size) {
          this.destroy(new BerthError('ESIZE_MISMATCH', `${this.what}: more than the expected ${this.opts.size} bytes`, { details: { expected: this.opts.size } }));
          return;
        }
        const chunk = buf.subarray(0, bytesRead);
        this.hash.update(chunk);
        this.push(chunk);
      },
      (err: unknown) => this.destroy(new BerthError('ESTORE', `${this.what}: ${describeError(err)}`, { cause: err })),
    );
  }

  private verify(): BerthError | undefined {
    if (this.opts.size !== undefined && this.position !== this.opts.size) {
      return new BerthError('ESIZE_MISMATCH', `${this.what}: got ${this.position} bytes, expected ${this.opts.size}`, {
        details: { expected: this.opts.size, actual: this.position },
      });
    }
    const actual = Digest.fromHash(this.opts.digest.algorithm, this.hash);
    if (!actual.equals(this.opts.digest)) {
      return new BerthError('EDIGEST_MISMATCH', `${this.what}: stored content hashes to ${actual}; the blob is corrupt`, {
        details: { expected: this.opts.digest.toString(), actual: actual.toString(), path: this.opts.path },
      });
    }
    return undefined;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) {
      callback(error);
      return;
    }
    fh.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

export function mapOpenError(what: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  if (errnoCode(err) === 'ENOENT') return new BerthError('ENOT_FOUND', `${what}: not in the store`, { cause: err });
  return new BerthError('ESTORE', `${what}: ${describeError(err)}`, { cause: err });
}
