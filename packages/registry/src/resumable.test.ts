import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { expectedFailure } from './test-support/failure.js';
import { networkError } from './errors.js';
import { ResumableBody, parseContentRangeStart, type IngestTarget } from './resumable.js';
import type { BodyReadable, HttpResponse } from './response.js';

const blob = Buffer.from('0123456789abcdefghij'); // 20 bytes

/** An ingest in memory: what a store ingest does for the download (append, reset). */
class MemoryIngest implements IngestTarget {
  readonly exists = false;
  data: Buffer;
  resets = 0;
  constructor(held = Buffer.alloc(0)) {
    this.data = held;
  }
  get offset(): number {
    return this.data.length;
  }
  createWriteStream(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.data = Buffer.concat([this.data, chunk]);
        cb();
      },
    });
  }
  async reset(): Promise<void> {
    this.resets++;
    this.data = Buffer.alloc(0);
  }
  async commit(): Promise<void> {}
  async abort(): Promise<void> {}
}

/** A response as the send layer returns it; `body` is the bytes, or a stream the test breaks. */
function response(status: number, headers: Record<string, string>, body: Buffer | Readable): HttpResponse {
  const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
  const withDump = Object.assign(stream, { dump: async () => void stream.resume() }) as unknown as BodyReadable;
  return { status, headers: { 'content-length': Buffer.isBuffer(body) ? String(body.length) : undefined, ...headers }, body: withDump, url: new URL('http://r/v2/a/blobs/x') };
}

function partial(from: number, start = from): HttpResponse {
  return response(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` }, blob.subarray(start));
}

function download(ingest: MemoryIngest): { body: ResumableBody; reported: number[]; progressed: number[]; ctx: { attempt: number; progressed: () => void } } {
  const reported: number[] = [];
  const progressed: number[] = [];
  const body = new ResumableBody({
    ingest,
    size: blob.length,
    doing: 'fetch blob x',
    report: (n) => reported.push(n),
    networkError: (d, e, o) => networkError(d, e, { ...o, timeoutMs: 30_000 }),
  });
  return { body, reported, progressed, ctx: { attempt: 0, progressed: () => progressed.push(body.offset) } };
}

describe('resumable-body layer', () => {
  it('asks for the rest with Range: bytes=N- and appends a 206 that starts at N', async () => {
    const ingest = new MemoryIngest(blob.subarray(0, 7));
    const { body, reported, ctx } = download(ingest);
    await body.start();
    const asked: Array<Record<string, string>> = [];
    await body.attempt(async (h) => {
      asked.push(h);
      return partial(7);
    }, ctx);
    expect(asked).toEqual([{ range: 'bytes=7-' }]);
    expect(ingest.data.equals(blob)).toBe(true);
    expect(reported[0]).toBe(7);
    expect(reported.at(-1)).toBe(20);
  });

  it('a 200 to a Range request: the ingest is reset and the whole body used', async () => {
    const ingest = new MemoryIngest(blob.subarray(0, 7));
    const { body, reported, ctx } = download(ingest);
    await body.attempt(async () => response(200, {}, blob), ctx);
    expect(ingest.resets).toBe(1);
    expect(ingest.data.equals(blob)).toBe(true);
    expect(reported[0]).toBe(0);
  });

  it('a 206 elsewhere or a 416: reset, and asked again from 0 without Range in the same attempt', async () => {
    for (const first of [partial(7, 3), response(416, { 'content-range': `bytes */${blob.length}` }, Buffer.alloc(0))]) {
      const ingest = new MemoryIngest(blob.subarray(0, 7));
      const { body, ctx } = download(ingest);
      const asked: Array<Record<string, string>> = [];
      await body.attempt(async (h) => {
        asked.push(h);
        return asked.length === 1 ? first : response(200, {}, blob);
      }, ctx);
      expect(asked).toEqual([{ range: 'bytes=7-' }, {}]);
      expect(ingest.resets).toBe(1);
      expect(ingest.data.equals(blob)).toBe(true);
    }
  });

  it('a partial answer to a request from 0 is refused', async () => {
    const { body, ctx } = download(new MemoryIngest());
    await expect(body.attempt(async () => partial(5), ctx)).rejects.toMatchObject({ code: 'EREGISTRY', message: 'fetch blob x: unrequested partial response (Content-Range bytes 5-19/20)' });
  });

  it('more bytes than the size: ESIZE_MISMATCH, by Content-Length or by what arrives', async () => {
    const { body, ctx } = download(new MemoryIngest());
    await expect(body.attempt(async () => response(200, {}, Buffer.concat([blob, blob])), ctx)).rejects.toMatchObject({ code: 'ESIZE_MISMATCH' });
    const s = new PassThrough();
    const { body: b2, ctx: c2 } = download(new MemoryIngest());
    const p = b2.attempt(async () => response(200, {}, s), c2);
    s.write(blob);
    s.end(Buffer.from('more'));
    await expect(p).rejects.toMatchObject({ code: 'ESIZE_MISMATCH', message: 'fetch blob x: registry sent more than the expected 20 bytes' });
  });

  it('a body that breaks: ENETWORK after the offset moved past what arrived, which counts as progress; the next attempt goes on from there', async () => {
    const ingest = new MemoryIngest();
    const { body, ctx, progressed } = download(ingest);
    const s = new PassThrough();
    const p = body.attempt(async () => response(200, { 'content-length': '20' }, s), ctx);
    s.write(blob.subarray(0, 12));
    await new Promise((r) => setImmediate(r));
    s.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const err = await p.then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toBe('fetch blob x: connection reset');
    expect(body.offset).toBe(12);
    expect(progressed).toEqual([12]);
    const asked: Array<Record<string, string>> = [];
    await body.attempt(async (h) => {
      asked.push(h);
      return partial(12);
    }, ctx);
    expect(asked).toEqual([{ range: 'bytes=12-' }]);
    expect(ingest.data.equals(blob)).toBe(true);
  });

  it('a body that ends short without an error says so', async () => {
    const { body, ctx } = download(new MemoryIngest());
    await expect(body.attempt(async () => response(200, {}, blob.subarray(0, 5)), ctx)).rejects.toMatchObject({
      code: 'ENETWORK',
      message: 'fetch blob x: the blob body ended after 5 of 20 bytes',
    });
  });

  it('a partial longer than the blob is dropped before the first attempt', async () => {
    const ingest = new MemoryIngest(Buffer.alloc(30));
    const { body, reported } = download(ingest);
    await body.start();
    expect(ingest.resets).toBe(1);
    expect(body.offset).toBe(0);
    expect(reported).toEqual([0]);
  });

  it('parses Content-Range starts', () => {
    expect(parseContentRangeStart('bytes 100-199/1000')).toBe(100);
    expect(parseContentRangeStart('bytes 0-0/*')).toBe(0);
    expect(parseContentRangeStart('bytes */1000')).toBeUndefined();
    expect(parseContentRangeStart(undefined)).toBeUndefined();
  });
});
