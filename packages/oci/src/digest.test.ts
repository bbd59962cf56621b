import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Digest, HashingStream, VerifyingStream } from './digest.js';
import { isBerthError } from './errors.js';

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function sink(): Writable & { got: Buffer[] } {
  const got: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      got.push(chunk);
      cb();
    },
  }) as Writable & { got: Buffer[] };
  w.got = got;
  return w;
}

describe('Digest', () => {
  it('parses and prints', () => {
    expect(Digest.parse(EMPTY).toString()).toBe(EMPTY);
    expect(Digest.of('').toString()).toBe(EMPTY);
    expect(Digest.of('x', 'sha512').toString()).toMatch(/^sha512:[a-f0-9]{128}$/);
  });
  it.each(['sha256:ABC', `sha256:${'a'.repeat(63)}`, `sha512:${'a'.repeat(64)}`, `md5:${'a'.repeat(32)}`, `sha256:../../etc/passwd`, ''])('rejects %j', (bad) => {
    expect(Digest.isValid(bad)).toBe(false);
    expect(() => Digest.parse(bad)).toThrow(/invalid digest/);
  });
});

describe('VerifyingStream', () => {
  const data = Buffer.from('hello berth');
  const good = Digest.of(data);

  it('passes matching content', async () => {
    const out = sink();
    await pipeline(Readable.from([data.subarray(0, 3), data.subarray(3)]), new VerifyingStream({ expected: good, size: data.length }), out);
    expect(Buffer.concat(out.got).equals(data)).toBe(true);
  });

  it('fails on a digest mismatch only at the end', async () => {
    const v = new VerifyingStream({ expected: Digest.of('other'), size: data.length, what: 'blob X' });
    const out = sink();
    const err = await pipeline(Readable.from([data]), v, out).catch((e: unknown) => e);
    expect(isBerthError(err, 'EDIGEST_MISMATCH')).toBe(true);
    expect(String(err)).toMatch(/blob X: digest mismatch/);
  });

  it('fails on short and long content', async () => {
    const short = await pipeline(Readable.from([data]), new VerifyingStream({ expected: good, size: data.length + 1 }), sink()).catch((e: unknown) => e);
    expect(isBerthError(short, 'ESIZE_MISMATCH')).toBe(true);
    const long = await pipeline(Readable.from([data]), new VerifyingStream({ expected: good, size: 2 }), sink()).catch((e: unknown) => e);
    expect(isBerthError(long, 'ESIZE_MISMATCH')).toBe(true);
  });

  it('HashingStream computes the digest', async () => {
    const h = new HashingStream();
    await pipeline(Readable.from([data]), h, sink());
    expect(h.digest().equals(good)).toBe(true);
    expect(h.bytes).toBe(data.length);
  });
});
