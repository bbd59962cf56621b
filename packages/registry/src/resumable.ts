import { finished } from 'node:stream/promises';
import { finished as eos, type Readable, type Writable } from 'node:stream';
import { debuglog } from 'node:util';
import { BerthError } from '@berth/oci';
import type { BodyKind } from './errors.js';
import { discard, errorFromResponse, header, type HttpResponse } from './response.js';
import { isAbortError } from './retry.js';
import type { AttemptContext } from './retrying.js';

const debug = debuglog('berth');

/** The writable side of a store ingest (`@berth/store`'s `BlobIngest` has this shape): what a blob download needs. */
export interface IngestTarget {
  /** The blob is already in the store: nothing to fetch. */
  readonly exists: boolean;
  /** Bytes already held from an earlier, interrupted fetch. */
  readonly offset: number;
  /** Appends at the current offset. */
  createWriteStream(): Writable;
  /** Drop the partial content; the next write stream starts at 0. */
  reset(): Promise<void>;
  /** Verify digest and size, then make the blob visible (only releases the lock when `exists`). */
  commit(): Promise<unknown>;
  /** Give up; `keepPartial` keeps the bytes for a later resume. */
  abort(opts?: { keepPartial?: boolean }): Promise<void>;
}

export interface ResumableBodyOptions {
  ingest: IngestTarget;
  /** The blob's size (from its descriptor): more bytes are refused. */
  size: number;
  /** What is being done, for errors. */
  doing: string;
  /** Bytes held so far, after each write (and 0 after a reset). */
  report?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** ENETWORK in words for a body that broke. */
  networkError: (doing: string, err: unknown, opts: { url?: string; body?: BodyKind }) => BerthError;
}

/**
 * The resumable-body layer: a blob download whose attempts (run by the retry
 * layer, at one endpoint or the next) go on from what the ingest holds. An
 * attempt asks for `Range: bytes=N-` past 0 and accepts only a 206 whose
 * `Content-Range` starts at N; a 200 (the range ignored) resets the ingest and
 * uses the body from 0; a 416 or a 206 elsewhere resets it and asks again from
 * 0 (at most once per attempt: a request from 0 has no Range). A body that
 * breaks fails the attempt with ENETWORK after `offset` has moved past what
 * arrived, and counts as progress for the retry budget when bytes came.
 */
export class ResumableBody {
  /** Where the next attempt starts: what the ingest holds, across attempts and endpoints. */
  offset: number;

  constructor(private readonly o: ResumableBodyOptions) {
    this.offset = o.ingest.offset;
  }

  /** Before the first attempt: drop a partial longer than the blob, and report where it starts. */
  async start(): Promise<void> {
    if (this.offset > this.o.size) await this.restart();
    else this.o.report?.(this.offset);
  }

  /**
   * One attempt: `send` makes the GET with the headers given (a Range from
   * the offset, or none), then the body goes into the ingest.
   */
  async attempt(send: (headers: Record<string, string>) => Promise<HttpResponse>, ctx: AttemptContext): Promise<void> {
    const { ingest, size, doing, signal } = this.o;
    let res: HttpResponse;
    for (;;) {
      const from = this.offset;
      res = await send(from > 0 ? { range: `bytes=${from}-` } : {});
      if (res.status === 416 && from > 0) {
        await discard(res);
        await this.restart();
        continue;
      }
      if (res.status !== 200 && res.status !== 206) throw await errorFromResponse(res, doing, 'blob unknown');
      if (from > 0 && res.status === 206 && parseContentRangeStart(header(res, 'content-range')) !== from) {
        debug('%s: asked for bytes %d-, got Content-Range %s: restarting', doing, from, header(res, 'content-range'));
        await discard(res);
        await this.restart();
        continue;
      }
      break;
    }
    if (this.offset > 0 && res.status === 200) {
      // The server ignored Range and sends the whole blob: start over with it.
      await this.restart();
    } else if (this.offset === 0 && res.status === 206 && parseContentRangeStart(header(res, 'content-range')) !== 0) {
      await discard(res);
      throw new BerthError('EREGISTRY', `${doing}: unrequested partial response (Content-Range ${header(res, 'content-range') ?? 'missing'})`);
    }
    const declared = Number(header(res, 'content-length'));
    if (Number.isFinite(declared) && this.offset + declared > size) {
      res.body.destroy();
      throw new BerthError('ESIZE_MISMATCH', `${doing}: registry sends ${this.offset + declared} bytes, expected ${size}`, { details: { expected: size } });
    }
    const { written, error } = await writeBody({ body: res.body, ingest, offset: this.offset, size, report: (n) => this.o.report?.(n), doing });
    this.offset += written;
    if (written > 0) ctx.progressed();
    if (error === undefined && this.offset === size) return;
    if (error !== undefined && (error instanceof BerthError || isAbortError(error, signal))) throw error;
    if (error !== undefined) throw this.o.networkError(doing, error, { url: res.url.href, body: 'blob' });
    const reason = `the blob body ended after ${this.offset} of ${size} bytes`;
    throw new BerthError('ENETWORK', `${doing}: ${reason}`, { details: { reason, url: res.url.href } });
  }

  private async restart(): Promise<void> {
    await this.o.ingest.reset();
    this.offset = 0;
    this.o.report?.(0);
  }
}

/** `bytes 100-199/1000` → 100 (undefined if absent or malformed). */
export function parseContentRangeStart(v: string | undefined): number | undefined {
  const m = v ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Copy a response body into a fresh ingest write stream, counting what was
 * written. A broken body is not thrown: it is returned with the count so the
 * caller can resume. Writing beyond `size` destroys the body (ESIZE_MISMATCH).
 */
async function writeBody(o: {
  body: Readable;
  ingest: IngestTarget;
  offset: number;
  size: number;
  report: (n: number) => void;
  doing: string;
}): Promise<{ written: number; error?: unknown }> {
  const { body, offset, size, report, doing } = o;
  const ws = o.ingest.createWriteStream();
  let written = 0;
  let wsError: unknown;
  ws.on('error', (e) => {
    wsError ??= e;
  });
  // 'data' events, paused while the store catches up: each chunk goes on as it
  // came (an async iterator would concatenate what queued up, one more copy of
  // most bytes), and there is no promise per chunk.
  const error = await new Promise<unknown>((resolve) => {
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      ws.off('drain', onDrain);
      ws.off('error', onWsError);
      stopWatching();
      // A body destroyed here (too long, store failed) still emits its AbortError: not ours to report.
      body.on('error', () => undefined);
      resolve(err);
    };
    const onData = (chunk: Buffer): void => {
      if (offset + written + chunk.length > size) {
        body.destroy();
        settle(new BerthError('ESIZE_MISMATCH', `${doing}: registry sent more than the expected ${size} bytes`, { details: { expected: size } }));
        return;
      }
      written += chunk.length;
      report(offset + written);
      if (!ws.write(chunk)) body.pause();
    };
    const onDrain = (): void => {
      body.resume();
    };
    const onWsError = (err: unknown): void => {
      body.destroy();
      settle(err);
    };
    // Ended, errored, or closed early (an error such as ERR_STREAM_PREMATURE_CLOSE), even before we looked.
    const stopWatching = eos(body, (err) => settle(err ?? undefined));
    ws.on('drain', onDrain);
    ws.on('error', onWsError);
    body.on('data', onData);
  });
  // Let what was written reach the file before anyone resumes from `offset + written`.
  if (!wsError) {
    ws.end();
    try {
      await finished(ws);
    } catch (err) {
      wsError ??= err;
    }
  } else {
    ws.destroy();
  }
  if (wsError) {
    throw BerthError.wrap(`${doing}: write to the store`, wsError, 'ESTORE');
  }
  return error === undefined ? { written } : { written, error };
}
