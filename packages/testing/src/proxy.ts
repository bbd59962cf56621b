import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, Digest } from '@berth/oci';
import { isLoopbackHost, makeTempDir, type TempDir } from './util.js';

/** What to do to a request that matches a rule. */
export type FaultAction =
  /** Answer with this status (no upstream call); 429/503 usually with `retryAfter` (seconds or an HTTP date). */
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: string | Record<string, unknown>; headers?: Record<string, string> }
  /** Forward, send the headers and the first `afterBytes` bytes of the body, then destroy the connection. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward, but flip (XOR 0xff) the body byte at `offset` (default: the middle of the body). */
  | { kind: 'corrupt'; offset?: number }
  /** Forward, but send only the first `bytes` bytes, with a Content-Length that says so (a clean, short answer). */
  | { kind: 'truncate'; bytes: number }
  /**
   * For `GET /v2/<name>/blobs/<digest>`: fetch the blob from the target (with the
   * client's headers), keep it, and answer with a redirect to a second loopback origin
   * that serves those bytes (with Range support), like a registry redirecting to S3.
   * `rejectAuthorization` makes the second origin answer 400 when an Authorization
   * header reaches it (S3 refuses a presigned URL plus a header).
   */
  | { kind: 'redirect'; status?: 301 | 302 | 303 | 307 | 308; rejectAuthorization?: boolean }
  /** Close the connection without any answer. */
  | { kind: 'drop' }
  /** Hold the request (nothing sent, nothing forwarded) until `release()`, then forward it. */
  | { kind: 'hold' }
  /** Forward, send the headers and `afterBytes` bytes of the body, then wait for `release()` before sending the rest. */
  | { kind: 'stall'; afterBytes: number };

export interface FaultRule {
  /** HTTP method to match (case-insensitive); default any. */
  method?: string;
  /** Regex (or exact string) tested against the path with its query. */
  path: RegExp | string;
  /** Only requests that carry (true) or lack (false) a Range header. */
  range?: boolean;
  /**
   * Which matching requests (1-based, counted per rule over every request the rule
   * matches, even ones another rule handled) get the fault; default all. The first
   * rule that applies wins.
   * `nth: 1` = only the first matching request, `[1, 2]` = the first two.
   */
  nth?: number | readonly number[];
  action: FaultAction;
}

export interface ProxyLogEntry {
  /** `proxy` = the front door; `second` = the redirect target origin. */
  origin: 'proxy' | 'second';
  method: string;
  path: string;
  status: number;
  /** The fault applied, if any. */
  fault?: FaultAction['kind'];
  range?: string;
  /** Whether the request carried an Authorization header. */
  authorization: boolean;
}

export interface StartFaultProxyOptions {
  /** The upstream, e.g. a RunningRegistry's `url`; must be plain http on loopback. */
  target: string;
  faults?: FaultRule[];
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` of the redirect origin. */
  readonly secondOrigin: string;
  /** Every request seen, in order of completion (capped at 10 000 entries). */
  readonly log: ProxyLogEntry[];
  /** Replace the rules (and their counters). */
  setFaults(rules: FaultRule[]): void;
  /** How many requests are waiting in a `hold` or `stall` right now. */
  held(): number;
  /** Let every held or stalled request go on. */
  release(): void;
  stop(): Promise<void>;
}

const MAX_LOG = 10_000;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
const BLOB_GET = /^\/v2\/(.+)\/blobs\/([a-z0-9]+:[a-f0-9]+)(?:\?.*)?$/;

/**
 * A loopback reverse proxy in front of a registry that injects faults per request:
 * cut connections, error statuses with Retry-After, corrupted or truncated bodies,
 * redirects to a second origin (recording whether Authorization reached it).
 */
export async function startFaultProxy(opts: StartFaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  if (target.protocol !== 'http:' || !isLoopbackHost(target.hostname)) {
    throw new BerthError('EINVAL_ARGUMENT', `start fault proxy: target ${opts.target} must be http:// on a loopback address`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const log: ProxyLogEntry[] = [];
  const record = (e: ProxyLogEntry) => {
    if (log.length < MAX_LOG) log.push(e);
  };
  let rules: Array<{ rule: FaultRule; count: number }> = [];
  const setFaults = (next: FaultRule[]) => {
    rules = next.map((rule) => ({ rule, count: 0 }));
  };
  setFaults(opts.faults ?? []);

  // Requests parked by 'hold' / 'stall', released by release() or stop().
  const parked = new Set<() => void>();
  const park = (req: http.IncomingMessage) =>
    new Promise<void>((resolve) => {
      const go = () => {
        parked.delete(go);
        req.socket.off('close', go);
        resolve();
      };
      parked.add(go);
      // A client that gives up (or is killed) frees its slot.
      req.socket.once('close', go);
    });
  const releaseAll = () => {
    for (const go of [...parked]) go();
  };

  let tmp: TempDir | undefined;
  // id → { file, size, rejectAuthorization }
  const redirected = new Map<string, { file: string; size: number; rejectAuthorization: boolean }>();

  // ---- the second origin: serves redirected blobs, with Range ----
  const second = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://second.invalid');
    const entry: ProxyLogEntry = { origin: 'second', method: req.method ?? '?', path: req.url ?? '/', status: 0, authorization: req.headers.authorization !== undefined };
    if (req.headers.range) entry.range = req.headers.range;
    const done = (status: number) => {
      entry.status = status;
      record(entry);
    };
    const id = /^\/blob\/([A-Za-z0-9_-]+)$/.exec(url.pathname)?.[1];
    const item = id === undefined ? undefined : redirected.get(id);
    req.resume();
    if (!item || (req.method !== 'GET' && req.method !== 'HEAD')) {
      done(404);
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such object\n');
      return;
    }
    if (item.rejectAuthorization && entry.authorization) {
      done(400);
      res.writeHead(400, { 'Content-Type': 'application/xml' }).end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>');
      return;
    }
    let start = 0;
    let end = item.size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (req.headers.range && range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start > end || start >= item.size) {
        done(416);
        res.writeHead(416, { 'Content-Range': `bytes */${item.size}` }).end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${item.size}`;
    res.writeHead(status, headers);
    done(status);
    if (req.method === 'HEAD' || item.size === 0) return void res.end();
    createReadStream(item.file, { start, end }).on('error', () => res.destroy()).pipe(res);
  });

  // ---- the proxy ----
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const reqPath = req.url ?? '/';
    const entry: ProxyLogEntry = { origin: 'proxy', method, path: reqPath, status: 0, authorization: req.headers.authorization !== undefined };
    if (req.headers.range) entry.range = req.headers.range;
    const action = pickFault(method, reqPath, req.headers.range !== undefined);
    if (action) entry.fault = action.kind;
    // Once per request: a body that fails after the headers went out (a client that
    // gave up on a stall) reaches the catch below after finish() already ran.
    let finished = false;
    const finish = (status: number) => {
      if (finished) return;
      finished = true;
      entry.status = status;
      record(entry);
    };
    handleProxy(req, res, action, finish).catch(() => {
      finish(entry.status || 502);
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end('fault proxy: upstream failed\n');
      else res.destroy();
    });
  });
  server.maxConnections = 128;

  // Every rule counts every request it matches, whichever rule ends up applying,
  // so `nth` means "the nth request of this shape" for each rule independently.
  function pickFault(method: string, reqPath: string, hasRange: boolean): FaultAction | undefined {
    let chosen: FaultAction | undefined;
    for (const r of rules) {
      const { rule } = r;
      if (rule.method && rule.method.toUpperCase() !== method.toUpperCase()) continue;
      const pathOk = typeof rule.path === 'string' ? rule.path === reqPath : rule.path.test(reqPath);
      if (!pathOk) continue;
      if (rule.range !== undefined && rule.range !== hasRange) continue;
      r.count++;
      const nth = rule.nth;
      if (!chosen && (nth === undefined || (typeof nth === 'number' ? nth === r.count : nth.includes(r.count)))) chosen = rule.action;
    }
    return chosen;
  }

  async function handleProxy(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    action: FaultAction | undefined,
    finish: (status: number) => void,
  ): Promise<void> {
    if (action?.kind === 'drop') {
      finish(0);
      req.socket.destroy();
      return;
    }
    if (action?.kind === 'status') {
      req.resume();
      const headers: Record<string, string> = { 'Content-Type': 'application/json', ...action.headers };
      if (action.retryAfter !== undefined) headers['Retry-After'] = String(action.retryAfter);
      const body = action.body === undefined ? defaultErrorBody(action.status) : typeof action.body === 'string' ? action.body : JSON.stringify(action.body);
      res.writeHead(action.status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      finish(action.status);
      return;
    }
    if (action?.kind === 'hold') {
      await park(req);
      if (req.socket.destroyed) return finish(0);
    }
    if (action?.kind === 'redirect') {
      const m = BLOB_GET.exec(req.url ?? '');
      if (req.method === 'GET' && m) return redirect(req, res, action, m[2] ?? '', finish);
    }
    const upstream = await forward(req, req.headers);
    const status = upstream.statusCode ?? 502;
    const headers = passHeaders(upstream.rawHeaders);
    if (action?.kind === 'truncate' && status < 300) {
      const body = await readAll(upstream, action.bytes);
      const short = body.subarray(0, action.bytes);
      res.writeHead(status, [...withoutLength(headers), 'Content-Length', String(short.length)]);
      res.end(short);
      finish(status);
      return;
    }
    if (action?.kind === 'cut' && status < 300) {
      res.writeHead(status, headers);
      finish(status);
      await cutAfter(upstream, res, action.afterBytes);
      return;
    }
    if (action?.kind === 'stall' && status < 300) {
      res.writeHead(status, headers);
      finish(status);
      await pipeline(upstream, new StallAfter(action.afterBytes, () => park(req)), res);
      return;
    }
    res.writeHead(status, headers);
    finish(status);
    if (action?.kind === 'corrupt' && status < 300) {
      const length = Number(upstream.headers['content-length'] ?? 0);
      const offset = action.offset ?? Math.floor(length / 2);
      await pipeline(upstream, new FlipByte(offset), res);
      return;
    }
    await pipeline(upstream, res);
  }

  function forward(req: http.IncomingMessage, headers: http.IncomingHttpHeaders): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      const up = http.request(
        { host: target.hostname, port: target.port || 80, method: req.method, path: req.url, headers: out, agent },
        resolve,
      );
      up.once('error', reject);
      req.pipe(up);
      req.once('aborted', () => up.destroy());
    });
  }

  async function redirect(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    action: Extract<FaultAction, { kind: 'redirect' }>,
    digest: string,
    finish: (status: number) => void,
  ): Promise<void> {
    if (!Digest.isValid(digest)) throw new BerthError('EINVAL_DIGEST', `fault proxy: bad digest ${digest}`);
    const headers = { ...req.headers };
    delete headers.range;
    const upstream = await forward(req, headers);
    const status = upstream.statusCode ?? 502;
    if (status !== 200) {
      // Not redirectable (401 challenge, 404...): pass it through untouched.
      res.writeHead(status, passHeaders(upstream.rawHeaders));
      finish(status);
      await pipeline(upstream, res);
      return;
    }
    tmp ??= await makeTempDir('berth-proxy-');
    const id = randomBytes(12).toString('base64url');
    const file = path.join(tmp.path, id);
    await pipeline(upstream, createWriteStream(file));
    const { size } = await stat(file);
    redirected.set(id, { file, size, rejectAuthorization: action.rejectAuthorization ?? false });
    const code = action.status ?? 307;
    // A presigned-URL lookalike: the credentials are in the query, never in a header.
    res.writeHead(code, { Location: `${secondOrigin}/blob/${id}?X-Amz-Signature=${randomBytes(8).toString('hex')}`, 'Content-Length': 0 });
    res.end();
    finish(code);
  }

  await Promise.all([listen(server), listen(second)]);
  const port = (server.address() as AddressInfo).port;
  const secondOrigin = `http://127.0.0.1:${(second.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    secondOrigin,
    log,
    setFaults,
    held: () => parked.size,
    release: releaseAll,
    stop: () => {
      releaseAll();
      stopped ??= Promise.all([close(server), close(second)]).then(async () => {
        agent.destroy();
        await tmp?.cleanup();
      });
      return stopped;
    },
  };
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Upstream raw headers minus hop-by-hop ones, as a flat [k, v, k, v] list (keeps duplicates). */
function passHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i] as string;
    if (!HOP_BY_HOP.has(k.toLowerCase())) out.push(k, raw[i + 1] as string);
  }
  return out;
}

function withoutLength(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() !== 'content-length') out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}

async function readAll(stream: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    if (total < limit) chunks.push(b);
    total += b.length;
  }
  return Buffer.concat(chunks);
}

async function cutAfter(upstream: http.IncomingMessage, res: http.ServerResponse, afterBytes: number): Promise<void> {
  let sent = 0;
  for await (const chunk of upstream) {
    const b = chunk as Buffer;
    const take = Math.min(b.length, afterBytes - sent);
    if (take > 0) {
      await new Promise<void>((resolve) => res.write(b.subarray(0, take), () => resolve()));
      sent += take;
    }
    if (sent >= afterBytes) break;
  }
  upstream.destroy();
  res.socket?.destroy();
}

/** Passes `afterBytes` bytes, then waits for `wait()` before passing the rest. */
class StallAfter extends Transform {
  private seen = 0;
  private waited = false;
  constructor(
    private readonly afterBytes: number,
    private readonly wait: () => Promise<void>,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.waited || this.seen + chunk.length <= this.afterBytes) {
      this.seen += chunk.length;
      cb(null, chunk);
      return;
    }
    const head = chunk.subarray(0, Math.max(0, this.afterBytes - this.seen));
    this.seen += chunk.length;
    this.waited = true;
    if (head.length) this.push(head);
    this.wait().then(
      () => cb(null, chunk.subarray(head.length)),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

class FlipByte extends Transform {
  private seen = 0;
  constructor(private readonly offset: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const at = this.offset - this.seen;
    this.seen += chunk.length;
    if (at >= 0 && at < chunk.length) {
      const copy = Buffer.from(chunk);
      copy[at] = (copy[at] as number) ^ 0xff;
      cb(null, copy);
      return;
    }
    cb(null, chunk);
  }
}

function defaultErrorBody(status: number): string {
  const [code, message] =
    status === 401
      ? ['UNAUTHORIZED', 'authentication required']
      : status === 403
        ? ['DENIED', 'requested access to the resource is denied']
        : status === 404
          ? ['NOT_FOUND', 'not found']
          : status === 429
            ? ['TOOMANYREQUESTS', 'too many requests']
            : status === 503
              ? ['UNAVAILABLE', 'service unavailable']
              : ['UNKNOWN', 'injected fault'];
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}
