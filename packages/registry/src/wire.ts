import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { BerthError, describeError } from '@berth/oci';
import type { RegistryConfig } from './config.js';
import { hostConfig, isLoopbackHost } from './endpoints.js';
import { networkError, type BodyKind } from './errors.js';
import { Agent, request } from './http.js';

/**
 * How much of a response body may wait in memory before undici stops reading
 * the socket (undici's default is 64 KiB). A blob body that waits for the disk
 * keeps arriving meanwhile, without a socket pause and resume per 64 KiB.
 */
const RESPONSE_BUFFER_BYTES = 1024 * 1024;

export interface WireOptions {
  config: RegistryConfig;
  userAgent: string;
  /** Connect, headers and between-body-bytes timeout of each exchange. */
  timeoutMs: number;
}

export interface WireRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: Buffer | string | Readable | undefined;
  signal?: AbortSignal | undefined;
  /** Let up to 1 MiB of the body wait in memory (blob and manifest bodies). */
  buffered?: boolean;
}

/**
 * The bottom layer: one HTTP exchange through undici, no redirects, no auth, no
 * retries. It owns the connection pools (one undici Agent per TLS setting:
 * verified, unverified for loopback and `insecure` hosts, or a configured
 * `ca`), the timeouts and the User-Agent.
 */
export class Wire {
  private readonly agents = new Map<string, Agent>();

  constructor(readonly opts: WireOptions) {}

  request(url: URL, req: WireRequest): Promise<Dispatcher.ResponseData> {
    return request(url, {
      method: req.method,
      headers: { 'user-agent': this.opts.userAgent, ...req.headers },
      body: req.body,
      dispatcher: this.dispatcherFor(url),
      signal: req.signal,
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
      ...(req.buffered ? { highWaterMark: RESPONSE_BUFFER_BYTES } : {}),
    });
  }

  /** ENETWORK for a connection-level failure, in words (the timeouts are this wire's). */
  networkError(doing: string, err: unknown, opts: { url?: string; body?: BodyKind } = {}): BerthError {
    return networkError(doing, err, { ...opts, timeoutMs: this.opts.timeoutMs });
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }

  /** The undici dispatcher for a URL: TLS settings from the config of its host. */
  private dispatcherFor(url: URL): Dispatcher {
    const host = url.host;
    const cfg = hostConfig(this.opts.config, host);
    const verify = url.protocol !== 'https:' || !(cfg.insecure || (isLoopbackHost(host) && !cfg.ca));
    const ca = url.protocol === 'https:' && cfg.ca ? cfg.ca : undefined;
    const key = `${verify ? 'verify' : 'noverify'}|${ca ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const connect: Record<string, unknown> = { timeout: this.opts.timeoutMs, rejectUnauthorized: verify };
      if (ca) connect['ca'] = loadCa(ca, host);
      agent = new Agent({ connect, keepAliveTimeout: 4_000 });
      this.agents.set(key, agent);
    }
    return agent;
  }
}

function loadCa(ca: string, host: string): string {
  if (ca.includes('-----BEGIN')) return ca;
  try {
    return readFileSync(ca, 'utf8');
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `registry ${host}: read CA file ${ca}: ${describeError(err)}`, { cause: err });
  }
}
