import type { Readable } from 'node:stream';
import { BerthError } from '@berth/oci';
import { Authenticator } from './auth.js';
import type { RegistryConfig } from './config.js';
import type { AuthCredentials, CredentialProvider } from './credentials.js';
import { endpointsFor, type Endpoint } from './endpoints.js';
import type { BodyKind } from './errors.js';
import { MirrorFallback } from './mirrors.js';
import { Pinger } from './ping.js';
import { followRedirects } from './redirects.js';
import { ERROR_BODY_LIMIT, readLimited, type HttpResponse } from './response.js';
import { abortError, isAbortError, throwIfAborted, type ResolvedRetry } from './retry.js';
import { retrying, type AttemptContext, type RetryEvent, type RetryOperation } from './retrying.js';
import { Wire } from './wire.js';

export { DOCKER_HUB_ENDPOINT, isLoopbackHost, type Endpoint } from './endpoints.js';
export { discard, errorFromResponse, readLimited, type BodyReadable, type HttpResponse } from './response.js';
export type { AttemptContext, RetryEvent, RetryOperation } from './retrying.js';

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

export interface TransportOptions {
  config: RegistryConfig;
  credentials: CredentialProvider | undefined;
  userAgent: string;
  retry: ResolvedRetry;
  timeoutMs: number;
  now: () => number;
  onRetry: ((e: RetryEvent) => void) | undefined;
}

/**
 * The HTTP transport of the client: where its layers are composed. Each is a
 * module with one job and its own tests; from the bottom up:
 *
 * - `Wire` (wire.ts): one exchange through undici; pools per TLS setting, timeouts.
 * - `followRedirects` (redirects.ts): redirects by hand, `Authorization` to its own origin only.
 * - `Pinger` (ping.ts): `GET /v2/` once per endpoint: the scheme and the challenge.
 * - `Authenticator` (auth.ts): the header for a request, tokens, a 401's challenge.
 * - `send` (here): one attempt: ping, authorize, send, re-authenticate once on a 401.
 * - `retrying` (retrying.ts): an operation's attempts under the one retry policy.
 * - `MirrorFallback` (mirrors.ts): a pull's endpoints in order, each under the policy.
 * - `ResumableBody` (resumable.ts, used by the client): a blob's attempts go on from what arrived.
 */
export class Transport {
  private readonly wire: Wire;
  private readonly pinger: Pinger;
  private readonly auth: Authenticator;
  /** The mirror-fallback layer for pulls (`RegistryClient` runs its pull requests through it). */
  readonly mirrors: MirrorFallback;

  constructor(private readonly opts: TransportOptions) {
    this.wire = new Wire({ config: opts.config, userAgent: opts.userAgent, timeoutMs: opts.timeoutMs });
    this.pinger = new Pinger(this.wire);
    this.auth = new Authenticator({ wire: this.wire, pinger: this.pinger, credentials: opts.credentials, now: opts.now });
    this.mirrors = new MirrorFallback({ retrying: (op, attempt) => this.retrying(op, attempt) });
  }

  /** Counts token requests, for tests and diagnostics. */
  get tokenRequests(): number {
    return this.auth.tokenRequests;
  }

  /** Endpoints for a registry: mirrors first (pulls only), then the registry itself. */
  endpoints(registry: string, purpose: 'pull' | 'push'): Endpoint[] {
    return endpointsFor(this.opts.config, registry, purpose);
  }

  close(): Promise<void> {
    return this.wire.close();
  }

  /** ENETWORK for a connection-level failure, in words (the timeouts are this client's). */
  networkError(doing: string, err: unknown, opts: { url?: string; body?: BodyKind } = {}): BerthError {
    return this.wire.networkError(doing, err, opts);
  }

  /** Run an operation's attempts under the client's retry policy (see `retrying`). */
  retrying<T>(op: RetryOperation, attempt: (ctx: AttemptContext) => Promise<T>): Promise<T> {
    return retrying({ policy: this.opts.retry, networkError: (doing, err) => this.networkError(doing, err), onRetry: this.opts.onRetry }, op, attempt);
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

  private async sendOnce(ep: Endpoint, req: HttpRequest): Promise<HttpResponse> {
    const { origin } = await this.pinger.ensure(ep, req.signal);
    const auth = await this.auth.authorization(ep, req.scopes, req.signal);
    const one = (authorization: string | undefined): Promise<HttpResponse> =>
      followRedirects(this.wire, {
        method: req.method,
        url: new URL(req.path, origin),
        headers: req.headers ?? {},
        body: req.body,
        authorization: authorization === undefined ? undefined : { origin, value: authorization },
        doing: req.doing,
        signal: req.signal,
      });
    const res = await one(auth);
    if (res.status !== 401 || res.url.origin !== origin) return res;
    const text = (await readLimited(res.body, ERROR_BODY_LIMIT, req.doing).catch(() => Buffer.alloc(0))).toString('utf8');
    const again = await this.auth.reauthenticate(ep, { wwwAuthenticate: res.headers['www-authenticate'], scopes: req.scopes, previous: auth, signal: req.signal });
    if (!again) return { ...res, prefetched: text };
    // The one re-authentication: whatever it answers stands, a second 401 too.
    return one(again.authorization);
  }

  private describeUrl(ep: Endpoint, path: string): string {
    const origin = this.pinger.origin(ep) ?? ep.candidates[0] ?? `https://${ep.host}`;
    try {
      return new URL(path, origin).href;
    } catch {
      return origin;
    }
  }

  /** Check credentials against a registry (`docker login`): ping, then Basic or a token request with them. */
  async verifyCredentials(registry: string, creds: AuthCredentials, signal?: AbortSignal): Promise<void> {
    const ep = this.endpoints(registry, 'push').at(-1) as Endpoint;
    const doing = `log in to ${ep.host}`;
    await this.retrying({ doing, signal }, async () => {
      let origin: string;
      try {
        ({ origin } = await this.pinger.ensure(ep, signal));
      } catch (err) {
        if (isAbortError(err, signal)) throw abortError(doing, signal);
        if (err instanceof BerthError) throw BerthError.wrap(doing, err);
        throw this.networkError(doing, err);
      }
      await this.auth.verify(ep, creds, { origin, doing, signal });
    });
  }
}
