import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { BerthError } from '@berth/oci';
import { httpError } from './errors.js';

export const ERROR_BODY_LIMIT = 64 * 1024;

export type BodyReadable = Dispatcher.ResponseData['body'];

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: BodyReadable;
  /** The URL that answered, after redirects. */
  url: URL;
  /** The body text when the transport already had to read it (a final 401). */
  prefetched?: string;
}

export function header(res: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Read a whole body, failing with ETOO_LARGE (and destroying the stream) as soon
 * as more than `limit` bytes arrive: an answer is never buffered unbounded.
 */
export async function readLimited(body: Readable, limit: number, doing: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > limit) {
      body.destroy();
      throw new BerthError('ETOO_LARGE', `${doing}: response exceeds the ${limit}-byte limit`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Read an error response's body (bounded) and build the error. */
export async function errorFromResponse(res: HttpResponse, doing: string, notFound?: string): Promise<BerthError> {
  let text = res.prefetched ?? '';
  if (res.prefetched === undefined && !res.body.readableEnded && !res.body.destroyed) {
    text = (await readLimited(res.body, ERROR_BODY_LIMIT, doing).catch(() => Buffer.alloc(0))).toString('utf8');
  }
  return httpError({ doing, status: res.status, bodyText: text, url: res.url.href, headers: res.headers, ...(notFound ? { notFound } : {}) });
}

export async function discard(res: { body: BodyReadable }): Promise<void> {
  await res.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
}
