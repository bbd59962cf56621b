import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BerthError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

/** A validated content digest, e.g. `sha256:e3b0c442...`. Safe to use in paths. */
export class Digest {
  private constructor(
    readonly algorithm: DigestAlgorithm,
    readonly hex: string,
  ) {}

  /** Parse and validate; throws EINVAL_DIGEST naming the bad input. */
  static parse(value: string): Digest {
    const m = DIGEST_RE.exec(value);
    if (!m) {
      throw new BerthError('EINVAL_DIGEST', `invalid digest ${JSON.stringify(truncate(value))}: expected sha256:<64 hex> or sha512:<128 hex>`);
    }
    const algorithm = m[1] as DigestAlgorithm;
    const hex = m[2] as string;
    if (hex.length !== HEX_LENGTH[algorithm]) {
      throw new BerthError('EINVAL_DIGEST', `invalid digest ${JSON.stringify(truncate(value))}: ${algorithm} needs ${HEX_LENGTH[algorithm]} hex digits, got ${hex.length}`);
    }
    return new Digest(algorithm, hex);
  }

  static isValid(value: string): boolean {
    const m = DIGEST_RE.exec(value);
    return !!m && (m[2] as string).length === HEX_LENGTH[m[1] as DigestAlgorithm];
  }

  /** Digest of in-memory bytes. */
  static of(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
    return new Digest(algorithm, createHash(algorithm).update(data).digest('hex'));
  }

  static fromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
    return new Digest(algorithm, hash.digest('hex'));
  }

  equals(other: Digest | string): boolean {
    return this.toString() === other.toString();
  }

  toString(): string {
    return `${this.algorithm}:${this.hex}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** `sha256:abcdef123456` style short form for humans. */
  short(length = 12): string {
    return this.hex.slice(0, length);
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export interface VerifyOptions {
  expected: Digest | string;
  /** Expected byte count; -1 or undefined means unknown. */
  size?: number;
  /** Named in errors, e.g. "blob sha256:… of docker.io/library/alpine". */
  what?: string;
}

/**
 * A pass-through stream that hashes what flows through it and, only once the
 * input has been drained to its end, fails if the size or digest differ.
 * Data is passed on before it is verified: a consumer must not treat its output
 * as trusted until the stream finishes without error (write to a temp file,
 * rename after 'finish').
 */
export class VerifyingStream extends Transform {
  readonly expected: Digest;
  private readonly hash: Hash;
  private readonly size: number | undefined;
  private readonly what: string;
  bytes = 0;

  constructor(options: VerifyOptions) {
    super();
    this.expected = typeof options.expected === 'string' ? Digest.parse(options.expected) : options.expected;
    this.hash = createHash(this.expected.algorithm);
    this.size = options.size !== undefined && options.size >= 0 ? options.size : undefined;
    this.what = options.what ?? `content ${this.expected}`;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) {
      cb(new BerthError('ESIZE_MISMATCH', `${this.what}: more than the expected ${this.size} bytes`, { details: { expected: this.size } }));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      cb(new BerthError('ESIZE_MISMATCH', `${this.what}: got ${this.bytes} bytes, expected ${this.size}`, { details: { expected: this.size, actual: this.bytes } }));
      return;
    }
    const actual = Digest.fromHash(this.expected.algorithm, this.hash);
    if (!actual.equals(this.expected)) {
      cb(new BerthError('EDIGEST_MISMATCH', `${this.what}: digest mismatch, got ${actual}`, { details: { expected: this.expected.toString(), actual: actual.toString() } }));
      return;
    }
    cb();
  }
}

/** A pass-through stream that computes a digest; read `.digest()` after 'end'. */
export class HashingStream extends Transform {
  private readonly hash: Hash;
  bytes = 0;
  private result: Digest | undefined;

  constructor(readonly algorithm: DigestAlgorithm = 'sha256') {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = Digest.fromHash(this.algorithm, this.hash);
    cb();
  }

  /** The digest of everything that passed; throws if the stream has not finished. */
  digest(): Digest {
    if (!this.result) throw new BerthError('EINVAL_ARGUMENT', 'HashingStream.digest() called before the stream ended');
    return this.result;
  }
}
