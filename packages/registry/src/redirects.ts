import type { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { BerthError } from '@berth/oci';
import { oneLine } from './errors.js';
import { discard, header, type HttpResponse } from './response.js';
import type { Wire, WireRequest } from './wire.js';

const debug = debuglog('berth');

const MAX_REDIRECTS = 5;

export interface RedirectRequest {
  method: WireRequest['method'];
  url: URL;
  headers: Record<string, string>;
  /** A Buffer, or a factory called for a fresh stream each time the body is sent. */
  body?: Buffer | (() => Readable) | undefined;
  /** Sent only to this origin (the endpoint's own): a redirect to a CDN never gets it. */
  authorization?: { origin: string; value: string } | undefined;
  doing: string;
  signal?: AbortSignal | undefined;
}

/**
 * The redirect layer: one request, following up to 5 redirects by hand
 * (undici 7's `request` does not follow them), relative `Location`s resolved,
 * 303 (and 301/302 of a POST) turned into a GET without body. The
 * `Authorization` header goes only to its own origin. The final answer, of
 * any status, is returned with the URL that gave it; the caller owns its body.
 */
export async function followRedirects(wire: Wire, req: RedirectRequest): Promise<HttpResponse> {
  let url = req.url;
  let method = req.method;
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const headers = { ...req.headers };
    if (req.authorization && url.origin === req.authorization.origin) headers['authorization'] = req.authorization.value;
    const res = await wire.request(url, {
      method,
      headers,
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : body(),
      signal: req.signal,
      buffered: true,
    });
    const status = res.statusCode;
    const location = header(res, 'location');
    if (![301, 302, 303, 307, 308].includes(status) || !location) return { status, headers: res.headers, body: res.body, url };
    await discard(res);
    if (hop >= MAX_REDIRECTS) {
      throw new BerthError('EREGISTRY', `${req.doing}: more than ${MAX_REDIRECTS} redirects (last to ${oneLine(location, 200)})`, { details: { url: url.href } });
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new BerthError('EREGISTRY', `${req.doing}: redirect to an invalid Location ${JSON.stringify(oneLine(location, 200))}`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new BerthError('EREGISTRY', `${req.doing}: redirect to unsupported scheme ${next.protocol}`);
    }
    if (status === 303 || ((status === 301 || status === 302) && method !== 'GET' && method !== 'HEAD')) {
      if (status !== 303 && method !== 'POST') throw new BerthError('EREGISTRY', `${req.doing}: ${status} redirect of a ${method} request`);
      method = method === 'HEAD' ? 'HEAD' : 'GET';
      body = undefined;
    }
    debug('%s %s: %d redirect to %s', method, url.href, status, next.href);
    url = next;
  }
}
