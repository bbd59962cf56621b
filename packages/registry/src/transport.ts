import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import type { Dispatcher } from 'undici';
import { BerthError, describeError } from '@berth/oci';
import { parseWwwAuthenticate, pickChallenge, type AuthChallenge } from './challenge.js';
import { normaliseRegistryHost, type RegistryConfig, type RegistryHostConfig } from './config.js';
import { credentialsGeneration, type AuthCredentials, type CredentialProvider } from './credentials.js';
import { httpError, networkError, oneLine, reasonOf, type BodyKind } from './errors.js';
import { Agent, request } from './http.js';
import { abortError, backoffDelay, isAbortError, isNetworkError, isRetryable, sleep, throwIfAborted, type ResolvedRetry } from './retry.js';

const debug = debuglog('berth');

/** Docker Hub's API endpoint for references naming `docker.io`. */
export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';
const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;
const TOKEN_BODY_LIMIT = 1024 * 1024;
/**
 * How much of a response body may wait in memory before undici stops reading
 * the socket (undici's default is 64 KiB). A blob body that waits for the disk
 * keeps arriving meanwhile, without a socket pause and resume per 64 KiB.
 */
const RESPONSE_BUFFER_BYTES = 1024 * 1024;
/** Tokens without `expires_in` live this long (the distribution token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

export type BodyReadable = Dispatcher.ResponseData['body'];

/** One place to talk to for a registry: the registry itself or one of its mirrors. */
export interface Endpoint {
  /** The registry (as in references) this endpoint serves. */
  registry: string;
  /** host[:port] of this endpoint: names it in errors and selects credentials and TLS settings. */
  host: string;
  /** Origins to try in order on first contact (`https://h` then `http://h` for loopback and insecure hosts). */
  candidates: string[];
  mirror: boolean;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
  url: string;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path on the endpoint (`/v2/…`), or an absolute URL (an upload `Location`). */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer, or a factory called once per attempt for a fresh stream. */
  body?: Buffer | (() => Readable);
  /** Token scopes, e.g. `repository:library/alpine:pull`. */
  scopes: string[];
  /** What is being done, for errors ("get manifest docker.io/library/alpine:latest"). */
  doing: string;
  signal?: AbortSignal | undefined;
}

/** One operation run under the retry policy (`Transport.retrying`). */
export interface RetryOperation {
  /** What is being done, for errors and retry events. */
  doing: string;
  signal?: AbortSignal | undefined;
  /** Called before each wait, besides the client's own `onRetry`. */
  onRetry?: ((e: RetryEvent) => void) | undefined;
}

/** What an attempt learns from `Transport.retrying`. */
export interface AttemptContext {
  /** 0 for the first attempt. */
  readonly attempt: number;
  /** Bytes moved: the time budget starts again from now (the attempt count does not). */
  progressed(): void;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: BodyReadable;
  /** The URL that answered, after redirects. */
  url: URL;
  /** The body text when the transport already had to read it (a final 401). */
  prefetched?: string;
}

export interface TransportOptions {
  config: RegistryConfig;
  credentials: CredentialProvider | undefined;
  userAgent: string;
  retry: ResolvedRetry;
  timeoutMs: number;
  now: () => number;
  onRetry: ((e: RetryEvent) => void) | undefined;
}

interface HostState {
  origin?: string;
  /** undefined: not pinged yet; null: the registry allows anonymous access (or said nothing). */
  challenge?: AuthChallenge | null;
  ping?: Promise<void>;
  credentials?: Promise<AuthCredentials | undefined>;
  /** credentialsGeneration() when `credentials` was looked up: a login or logout since means look again. */
  credentialsGeneration?: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export function isLoopbackHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.includes(':') && h.split(':').length === 2) h = h.slice(0, h.indexOf(':'));
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The HTTP layer shared by every client operation: endpoint choice (mirrors,
 * Docker Hub, loopback/insecure HTTP fallback), the ping, authentication
 * (anonymous, Basic, Bearer tokens cached per scope), redirects followed by
 * hand, and retries with capped, jittered backoff.
 */
export class Transport {
  private readonly hosts = new Map<string, HostState>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenFetches = new Map<string, Promise<CachedToken>>();
  private readonly agents = new Map<string, Agent>();
  /** Counts token requests, for tests and diagnostics. */
  tokenRequests = 0;

  constructor(private readonly opts: TransportOptions) {}

  hostConfig(host: string): RegistryHostConfig {
    return this.opts.config.registries[normaliseRegistryHost(host)] ?? {};
  }

  /** Endpoints for a registry: mirrors first (pulls only), then the registry itself. */
  endpoints(registry: string, purpose: 'pull' | 'push'): Endpoint[] {
    const reg = normaliseRegistryHost(registry);
    const cfg = this.hostConfig(reg);
    const out: Endpoint[] = [];
    if (purpose === 'pull') {
      for (const m of cfg.mirrors ?? []) {
        const u = new URL(m);
        out.push({ registry: reg, host: u.host, candidates: [u.origin], mirror: true });
      }
    }
    if (reg === 'docker.io') {
      out.push({ registry: reg, host: 'docker.io', candidates: [DOCKER_HUB_ENDPOINT], mirror: false });
    } else if (cfg.insecure || (isLoopbackHost(reg) && !cfg.ca)) {
      out.push({ registry: reg, host: reg, candidates: [`https://${reg}`, `http://${reg}`], mirror: false });
    } else {
      out.push({ registry: reg, host: reg, candidates: [`https://${reg}`], mirror: false });
    }
    return out;
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }

  /** The undici dispatcher for a URL: TLS settings from the config of its host. */
  private dispatcherFor(url: URL): Dispatcher {
    const host = url.host;
    const cfg = this.hostConfig(host);
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

  private state(ep: Endpoint): HostState {
    const key = ep.candidates.join(' ');
    let s = this.hosts.get(key);
    if (!s) {
      s = {};
      this.hosts.set(key, s);
    }
    return s;
  }

  private credentialsFor(ep: Endpoint): Promise<AuthCredentials | undefined> {
    const s = this.state(ep);
    const generation = credentialsGeneration();
    if (!s.credentials || s.credentialsGeneration !== generation) {
      s.credentialsGeneration = generation;
      const provider = this.opts.credentials;
      s.credentials = provider
        ? provider.get(ep.host).catch((err: unknown) => {
            debug('credentials for %s: %s', ep.host, describeError(err));
            return undefined;
          })
        : Promise.resolve(undefined);
    }
    return s.credentials;
  }

  /**
   * `GET /v2/` once per endpoint: picks the scheme (HTTPS, then HTTP for
   * loopback/insecure hosts when HTTPS fails at the connection or TLS level)
   * and learns the auth challenge.
   */
  private ensurePinged(ep: Endpoint, signal: AbortSignal | undefined): Promise<void> {
    const s = this.state(ep);
    if (s.challenge !== undefined && s.origin) return Promise.resolve();
    if (!s.ping) {
      s.ping = this.ping(ep, s, signal).finally(() => {
        s.ping = undefined;
      });
    }
    return s.ping;
  }

  private async ping(ep: Endpoint, s: HostState, signal: AbortSignal | undefined): Promise<void> {
    let lastErr: unknown;
    for (const origin of s.origin ? [s.origin] : ep.candidates) {
      const url = new URL('/v2/', origin);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          headers: { 'user-agent': this.opts.userAgent },
          dispatcher: this.dispatcherFor(url),
          signal,
          headersTimeout: this.opts.timeoutMs,
          bodyTimeout: this.opts.timeoutMs,
        });
      } catch (err) {
        if (isAbortError(err, signal)) throw abortError(`ping ${url.href}`, signal);
        debug('ping %s: %s', url.href, describeError(err));
        lastErr = err;
        continue;
      }
      await res.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
      s.origin = origin;
      if (res.statusCode === 401) {
        s.challenge = pickChallenge(parseWwwAuthenticate(res.headers['www-authenticate'])) ?? null;
      } else {
        s.challenge = null;
      }
      debug('ping %s: %d, auth %s', url.href, res.statusCode, s.challenge?.scheme ?? 'none');
      return;
    }
    throw lastErr;
  }

  /** The `Authorization` header for an endpoint and scopes, or undefined for anonymous. */
  private async authorization(ep: Endpoint, scopes: readonly string[], signal: AbortSignal | undefined, force: boolean): Promise<string | undefined> {
    const s = this.state(ep);
    const ch = s.challenge;
    if (!ch) return undefined;
    const creds = await this.credentialsFor(ep);
    if (ch.scheme === 'basic') {
      if (creds?.username === undefined || creds.password === undefined) return undefined;
      return basicHeader(creds.username, creds.password);
    }
    if (ch.scheme === 'bearer') {
      const token = await this.token(ep, ch, scopes, creds, signal, force);
      return `Bearer ${token}`;
    }
    return undefined;
  }

  private async token(
    ep: Endpoint,
    ch: AuthChallenge,
    scopes: readonly string[],
    creds: AuthCredentials | undefined,
    signal: AbortSignal | undefined,
    force: boolean,
  ): Promise<string> {
    const realm = ch.params['realm'];
    if (!realm) throw new BerthError('EUNAUTHORIZED', `authenticate to ${ep.host}: Bearer challenge without a realm`);
    const service = ch.params['service'];
    const sorted = [...new Set(scopes)].sort();
    const who = creds?.identityToken ? `id:${creds.identityToken}` : creds?.username ? `user:${creds.username}` : 'anonymous';
    const key = JSON.stringify([realm, service ?? '', sorted, who]);
    const cached = this.tokens.get(key);
    if (cached && !force && this.opts.now() < cached.expiresAt) return cached.token;
    if (force) this.tokens.delete(key);
    let inflight = this.tokenFetches.get(key);
    if (!inflight) {
      inflight = this.fetchToken({ ep, realm, service, scopes: sorted, creds, signal }).finally(() => this.tokenFetches.delete(key));
      this.tokenFetches.set(key, inflight);
    }
    const t = await inflight;
    this.tokens.set(key, t);
    return t.token;
  }

  private async fetchToken(o: {
    ep: Endpoint;
    realm: string;
    service: string | undefined;
    scopes: string[];
    creds: AuthCredentials | undefined;
    signal: AbortSignal | undefined;
  }): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(o.realm);
    } catch {
      throw new BerthError('EUNAUTHORIZED', `authenticate to ${o.ep.host}: invalid token realm ${JSON.stringify(oneLine(o.realm, 100))}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new BerthError('EUNAUTHORIZED', `authenticate to ${o.ep.host}: token realm must be http(s), got ${url.protocol}`);
    }
    const doing = `get token from ${url.origin}${url.pathname}`;
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (o.creds?.identityToken) {
      // docker's OAuth2 refresh-token grant
      method = 'POST';
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', o.creds.identityToken);
      form.set('client_id', 'berth');
      if (o.service) form.set('service', o.service);
      if (o.scopes.length > 0) form.set('scope', o.scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (o.service) url.searchParams.set('service', o.service);
      for (const sc of o.scopes) url.searchParams.append('scope', sc);
      if (o.creds?.username !== undefined && o.creds.password !== undefined) {
        url.searchParams.set('account', o.creds.username);
        headers['authorization'] = basicHeader(o.creds.username, o.creds.password);
      }
    }
    this.tokenRequests++;
    let status = 0;
    let text = '';
    let resHeaders: IncomingHttpHeaders = {};
    try {
      const res = await request(url, {
        method,
        headers,
        body,
        dispatcher: this.dispatcherFor(url),
        signal: o.signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      status = res.statusCode;
      resHeaders = res.headers;
      text = (await readLimited(res.body, TOKEN_BODY_LIMIT, doing)).toString('utf8');
    } catch (err) {
      if (isAbortError(err, o.signal)) throw abortError(doing, o.signal);
      if (err instanceof BerthError) throw err;
      throw this.networkError(doing, err, { url: url.href, body: 'token' });
    }
    if (status !== 200) throw httpError({ doing, status, bodyText: text, url: url.href, headers: resHeaders });
    let json: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(text);
      if (!v || typeof v !== 'object') throw new Error('not an object');
      json = v as Record<string, unknown>;
    } catch (err) {
      throw new BerthError('EUNAUTHORIZED', `${doing}: invalid token response: ${describeError(err)}`);
    }
    const token = typeof json['token'] === 'string' && json['token'] ? json['token'] : json['access_token'];
    if (typeof token !== 'string' || token === '') throw new BerthError('EUNAUTHORIZED', `${doing}: token response has neither "token" nor "access_token"`);
    if (/[\r\n]/.test(token)) throw new BerthError('EUNAUTHORIZED', `${doing}: token contains a line break`);
    const exp = json['expires_in'];
    const seconds = typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp : DEFAULT_TOKEN_SECONDS;
    // Refresh a little early: a tenth of the lifetime, at most 10 s.
    const margin = Math.min(10, seconds / 10);
    return { token, expiresAt: this.opts.now() + (seconds - margin) * 1000 };
  }

  /** ENETWORK for a connection-level failure, in words (the timeouts are this client's). */
  networkError(doing: string, err: unknown, opts: { url?: string; body?: BodyKind } = {}): BerthError {
    return networkError(doing, err, { ...opts, timeoutMs: this.opts.timeoutMs });
  }

  /**
   * Run `attempt` under the client's retry policy: the one place where anything
   * is retried. A retryable failure (`isRetryable`: connection errors, stalled
   * or short bodies, 408/429/5xx) is retried after a capped, jittered backoff
   * (or the server's `Retry-After`, capped at `maxDelayMs`), at most `retries`
   * times, and no retry starts after `totalMs` from the first attempt or the
   * last `progressed()`. The error that ends it says how many attempts were made.
   * `attempt` must make one attempt: it must not call `retrying` itself.
   */
  async retrying<T>(op: RetryOperation, attempt: (ctx: AttemptContext) => Promise<T>): Promise<T> {
    const policy = this.opts.retry;
    let since = performance.now();
    const ctx = {
      attempt: 0,
      progressed: (): void => {
        since = performance.now();
      },
    };
    for (let n = 0; ; n++) {
      throwIfAborted(op.signal, op.doing);
      ctx.attempt = n;
      try {
        return await attempt(ctx);
      } catch (raw) {
        if (isAbortError(raw, op.signal)) throw abortError(op.doing, op.signal);
        if (!(raw instanceof BerthError) && !isNetworkError(raw)) throw raw; // not the network's doing: no retry, no relabelling
        const err = raw instanceof BerthError ? raw : this.networkError(op.doing, raw);
        if (!isRetryable(err) || n >= policy.retries) throw n === 0 ? err : withAttempts(err, n + 1);
        const left = policy.totalMs - (performance.now() - since);
        if (left <= 0) throw withAttempts(err, n + 1, policy.totalMs);
        const retryAfter = err.details['retryAfterMs'];
        const wanted = typeof retryAfter === 'number' ? Math.min(retryAfter, policy.maxDelayMs) : backoffDelay(n, policy);
        const delayMs = Math.max(0, Math.min(wanted, Math.floor(left)));
        const status = err.details['status'];
        const url = typeof err.details['url'] === 'string' ? err.details['url'] : '';
        const event: RetryEvent = { attempt: n + 1, delayMs, reason: typeof status === 'number' ? `HTTP ${status}` : reasonOf(err), url };
        debug('%s: retry %d in %d ms: %s', op.doing, n + 1, delayMs, event.reason);
        op.onRetry?.(event);
        this.opts.onRetry?.(event);
        await sleep(delayMs, op.signal, op.doing);
      }
    }
  }

  /**
   * Make one attempt at a request to an endpoint: ping first, authorize,
   * follow up to 5 redirects by hand (Authorization only ever goes to the
   * endpoint's own origin), and re-authenticate once on a 401. Any status is
   * returned; the caller owns the body. A connection-level failure is ENETWORK
   * in words. Retries are the caller's, through `retrying`.
   */
  async send(ep: Endpoint, req: HttpRequest): Promise<HttpResponse> {
    throwIfAborted(req.signal, req.doing);
    try {
      return await this.sendOnce(ep, req);
    } catch (err) {
      if (isAbortError(err, req.signal)) throw abortError(req.doing, req.signal);
      if (err instanceof BerthError) throw err;
      const url = this.describeUrl(ep, req.path);
      throw this.networkError(`${req.doing} (${url})`, err, { url });
    }
  }

  private describeUrl(ep: Endpoint, path: string): string {
    const origin = this.state(ep).origin ?? ep.candidates[0] ?? `https://${ep.host}`;
    try {
      return new URL(path, origin).href;
    } catch {
      return origin;
    }
  }

  private async sendOnce(ep: Endpoint, req: HttpRequest): Promise<HttpResponse> {
    await this.ensurePinged(ep, req.signal);
    const s = this.state(ep);
    const origin = s.origin as string;
    let scopes = req.scopes;
    let auth = await this.authorization(ep, scopes, req.signal, false);
    let reauthed = false;
    const start = new URL(req.path, origin);
    let url = start;
    let method: HttpRequest['method'] = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      if (auth && url.origin === origin) headers['authorization'] = auth;
      const res = await request(url, {
        method,
        headers,
        body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : body(),
        dispatcher: this.dispatcherFor(url),
        signal: req.signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        highWaterMark: RESPONSE_BUFFER_BYTES,
      });
      const status = res.statusCode;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers['location']) {
        await res.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
        if (hop >= MAX_REDIRECTS) {
          throw new BerthError('EREGISTRY', `${req.doing}: more than ${MAX_REDIRECTS} redirects (last to ${oneLine(String(res.headers['location']), 200)})`, {
            details: { url: url.href },
          });
        }
        const loc = Array.isArray(res.headers['location']) ? res.headers['location'][0] : res.headers['location'];
        let next: URL;
        try {
          next = new URL(loc as string, url);
        } catch {
          throw new BerthError('EREGISTRY', `${req.doing}: redirect to an invalid Location ${JSON.stringify(oneLine(String(loc), 200))}`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new BerthError('EREGISTRY', `${req.doing}: redirect to unsupported scheme ${next.protocol}`);
        }
        if (status === 303 || ((status === 301 || status === 302) && method !== 'GET' && method !== 'HEAD')) {
          if (status !== 303 && method !== 'POST') {
            throw new BerthError('EREGISTRY', `${req.doing}: ${status} redirect of a ${method} request`);
          }
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
        }
        debug('%s %s: %d redirect to %s', method, url.href, status, next.href);
        url = next;
        continue;
      }
      if (status === 401 && !reauthed && url.origin === origin) {
        const ch = pickChallenge(parseWwwAuthenticate(res.headers['www-authenticate']));
        const text = (await readLimited(res.body, ERROR_BODY_LIMIT, req.doing).catch(() => Buffer.alloc(0))).toString('utf8');
        if (ch) {
          reauthed = true;
          s.challenge = ch;
          const extra = ch.params['scope'];
          if (extra) scopes = [...new Set([...scopes, ...extra.split(' ').filter((x) => x)])];
          const next = await this.authorization(ep, scopes, req.signal, true);
          // Nothing new to answer with (no credentials, or the same Basic ones refused): the 401 stands.
          if (next !== undefined && !(ch.scheme === 'basic' && next === auth)) {
            auth = next;
            url = start;
            method = req.method;
            body = req.body;
            hop = -1;
            continue;
          }
        }
        return { status, headers: res.headers, body: res.body, url, prefetched: text };
      }
      return { status, headers: res.headers, body: res.body, url };
    }
  }

  /** Check credentials against a registry (`docker login`): ping, then Basic or a token request with them. */
  async verifyCredentials(registry: string, creds: AuthCredentials, signal?: AbortSignal): Promise<void> {
    const ep = this.endpoints(registry, 'push').at(-1) as Endpoint;
    const doing = `log in to ${ep.host}`;
    await this.retrying({ doing, signal }, () => this.verifyOnce(ep, creds, doing, signal));
  }

  private async verifyOnce(ep: Endpoint, creds: AuthCredentials, doing: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.ensurePinged(ep, signal);
    } catch (err) {
      if (isAbortError(err, signal)) throw abortError(doing, signal);
      if (err instanceof BerthError) throw BerthError.wrap(doing, err);
      throw this.networkError(doing, err);
    }
    const s = this.state(ep);
    const ch = s.challenge;
    if (!ch) return; // no auth needed: docker accepts the login too
    if (ch.scheme === 'bearer') {
      const realm = ch.params['realm'];
      if (!realm) throw new BerthError('EUNAUTHORIZED', `${doing}: Bearer challenge without a realm`);
      try {
        await this.fetchToken({ ep, realm, service: ch.params['service'], scopes: [], creds, signal });
      } catch (err) {
        throw BerthError.wrap(doing, err, 'EUNAUTHORIZED'); // keeps a BerthError's code and details (a 503 stays retryable)
      }
      return;
    }
    if (ch.scheme === 'basic') {
      if (creds.username === undefined || creds.password === undefined) throw new BerthError('EUNAUTHORIZED', `${doing}: the registry needs a username and password`);
      const url = new URL('/v2/', s.origin);
      let res: Dispatcher.ResponseData;
      let text: string;
      try {
        res = await request(url, {
          method: 'GET',
          headers: { 'user-agent': this.opts.userAgent, authorization: basicHeader(creds.username, creds.password) },
          dispatcher: this.dispatcherFor(url),
          signal,
          headersTimeout: this.opts.timeoutMs,
          bodyTimeout: this.opts.timeoutMs,
        });
        text = (await readLimited(res.body, ERROR_BODY_LIMIT, doing)).toString('utf8');
      } catch (err) {
        if (isAbortError(err, signal)) throw abortError(doing, signal);
        if (err instanceof BerthError) throw err;
        throw this.networkError(doing, err, { url: url.href });
      }
      if (res.statusCode === 200) return;
      throw httpError({ doing, status: res.statusCode, bodyText: text, url: url.href, headers: res.headers });
    }
    throw new BerthError('EUNSUPPORTED', `${doing}: unsupported auth scheme ${JSON.stringify(ch.scheme)}`);
  }
}

/**
 * The error that ended a retried operation, saying how many attempts were made
 * (and that the time budget ran out, when it did), in the message and in `details.reason`.
 */
function withAttempts(err: BerthError, attempts: number, budgetMs?: number): BerthError {
  const count = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  const note = budgetMs === undefined ? `(${count})` : `(${count}; the ${Number((budgetMs / 1000).toFixed(1))} s retry budget is used up)`;
  const reason = typeof err.details['reason'] === 'string' ? `${err.details['reason']} ${note}` : undefined;
  return new BerthError(err.code, `${err.message} ${note}`, {
    cause: err.cause ?? err,
    details: { ...err.details, attempts, ...(reason ? { reason } : {}) },
  });
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function loadCa(ca: string, host: string): string {
  if (ca.includes('-----BEGIN')) return ca;
  try {
    return readFileSync(ca, 'utf8');
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `registry ${host}: read CA file ${ca}: ${describeError(err)}`, { cause: err });
  }
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

export async function discard(res: HttpResponse): Promise<void> {
  await res.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
}
