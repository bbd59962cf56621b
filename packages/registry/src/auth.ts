import type { IncomingHttpHeaders } from 'node:http';
import { debuglog } from 'node:util';
import { BerthError, describeError } from '@berth/oci';
import { parseWwwAuthenticate, pickChallenge, type AuthChallenge } from './challenge.js';
import { credentialsGeneration, type AuthCredentials, type CredentialProvider } from './credentials.js';
import { endpointKey, type Endpoint } from './endpoints.js';
import { httpError, oneLine } from './errors.js';
import type { Pinger } from './ping.js';
import { ERROR_BODY_LIMIT, readLimited, type BodyReadable } from './response.js';
import { abortError, isAbortError } from './retry.js';
import type { Wire } from './wire.js';

const debug = debuglog('berth');

const TOKEN_BODY_LIMIT = 1024 * 1024;
/** Tokens without `expires_in` live this long (the distribution token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

export interface AuthenticatorOptions {
  wire: Wire;
  pinger: Pinger;
  credentials: CredentialProvider | undefined;
  /** Clock for token expiry (ms since epoch). */
  now: () => number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** What a 401 taught: the header to try once more with, and the scopes it asked for. */
export interface Reauthentication {
  authorization: string;
  scopes: string[];
}

/**
 * The auth layer, on top of the ping: the `Authorization` header for an
 * endpoint and a set of scopes (anonymous, Basic, or a Bearer token from the
 * challenge's realm, cached per realm, service, scope set and identity, and
 * fetched once for concurrent requests), and the answer to a 401's challenge.
 */
export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenFetches = new Map<string, Promise<CachedToken>>();
  private readonly credentials = new Map<string, { generation: number; value: Promise<AuthCredentials | undefined> }>();
  /** Counts token requests, for tests and diagnostics. */
  tokenRequests = 0;

  constructor(private readonly opts: AuthenticatorOptions) {}

  /** The `Authorization` header for an endpoint (pinged already) and scopes, or undefined for anonymous. */
  async authorization(ep: Endpoint, scopes: readonly string[], signal: AbortSignal | undefined, force = false): Promise<string | undefined> {
    const ch = this.opts.pinger.challenge(ep);
    if (!ch) return undefined;
    const creds = await this.credentialsFor(ep);
    if (ch.scheme === 'basic') {
      if (creds?.username === undefined || creds.password === undefined) return undefined;
      return basicHeader(creds.username, creds.password);
    }
    if (ch.scheme === 'bearer') return `Bearer ${await this.token({ ep, ch, scopes, creds, signal, force })}`;
    return undefined;
  }

  /**
   * A 401 from the endpoint's own origin: take its challenge (and any `scope`
   * it names), and get a fresh header. Undefined when there is nothing new to
   * answer with (no challenge, no credentials, the same Basic ones refused):
   * then the 401 stands.
   */
  async reauthenticate(ep: Endpoint, o: { wwwAuthenticate: IncomingHttpHeaders['www-authenticate']; scopes: readonly string[]; previous: string | undefined; signal: AbortSignal | undefined }): Promise<Reauthentication | undefined> {
    const ch = pickChallenge(parseWwwAuthenticate(o.wwwAuthenticate));
    if (!ch) return undefined;
    this.opts.pinger.learn(ep, ch);
    const extra = ch.params['scope'];
    const scopes = extra ? [...new Set([...o.scopes, ...extra.split(' ').filter((x) => x)])] : [...o.scopes];
    const next = await this.authorization(ep, scopes, o.signal, true);
    if (next === undefined || (ch.scheme === 'basic' && next === o.previous)) return undefined;
    return { authorization: next, scopes };
  }

  /** Check credentials as `docker login` does, with the endpoint pinged: a token request, or `GET /v2/` with Basic. */
  async verify(ep: Endpoint, creds: AuthCredentials, o: { origin: string; doing: string; signal: AbortSignal | undefined }): Promise<void> {
    const { doing, signal } = o;
    const ch = this.opts.pinger.challenge(ep);
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
      const url = new URL('/v2/', o.origin);
      const res = await this.exchange(url, { method: 'GET', headers: { authorization: basicHeader(creds.username, creds.password) } }, { doing, signal, limit: ERROR_BODY_LIMIT });
      if (res.status === 200) return;
      throw httpError({ doing, status: res.status, bodyText: res.text, url: url.href, headers: res.headers });
    }
    throw new BerthError('EUNSUPPORTED', `${doing}: unsupported auth scheme ${JSON.stringify(ch.scheme)}`);
  }

  /**
   * Credentials are looked up once per endpoint, and again after a `login` or
   * `logout` in this process; a provider that fails counts as none.
   */
  private credentialsFor(ep: Endpoint): Promise<AuthCredentials | undefined> {
    const key = endpointKey(ep);
    const generation = credentialsGeneration();
    const known = this.credentials.get(key);
    if (known && known.generation === generation) return known.value;
    const provider = this.opts.credentials;
    const value = provider
      ? provider.get(ep.host).catch((err: unknown) => {
          debug('credentials for %s: %s', ep.host, describeError(err));
          return undefined;
        })
      : Promise.resolve(undefined);
    this.credentials.set(key, { generation, value });
    return value;
  }

  private async token(o: { ep: Endpoint; ch: AuthChallenge; scopes: readonly string[]; creds: AuthCredentials | undefined; signal: AbortSignal | undefined; force: boolean }): Promise<string> {
    const realm = o.ch.params['realm'];
    if (!realm) throw new BerthError('EUNAUTHORIZED', `authenticate to ${o.ep.host}: Bearer challenge without a realm`);
    const service = o.ch.params['service'];
    const sorted = [...new Set(o.scopes)].sort();
    const who = o.creds?.identityToken ? `id:${o.creds.identityToken}` : o.creds?.username ? `user:${o.creds.username}` : 'anonymous';
    const key = JSON.stringify([realm, service ?? '', sorted, who]);
    const cached = this.tokens.get(key);
    if (cached && !o.force && this.opts.now() < cached.expiresAt) return cached.token;
    if (o.force) this.tokens.delete(key);
    let inflight = this.tokenFetches.get(key);
    if (!inflight) {
      inflight = this.fetchToken({ ep: o.ep, realm, service, scopes: sorted, creds: o.creds, signal: o.signal }).finally(() => this.tokenFetches.delete(key));
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
    const headers: Record<string, string> = {};
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
    const res = await this.exchange(url, { method, headers, body }, { doing, signal: o.signal, limit: TOKEN_BODY_LIMIT, bodyKind: 'token' });
    if (res.status !== 200) throw httpError({ doing, status: res.status, bodyText: res.text, url: url.href, headers: res.headers });
    let json: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(res.text);
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

  /** One request whose whole (bounded) body is read: a token request or a login check. */
  private async exchange(
    url: URL,
    req: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string | undefined },
    o: { doing: string; signal: AbortSignal | undefined; limit: number; bodyKind?: 'token' },
  ): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    try {
      const res = await this.opts.wire.request(url, { ...req, signal: o.signal });
      const text = (await readLimited(res.body as BodyReadable, o.limit, o.doing)).toString('utf8');
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      if (isAbortError(err, o.signal)) throw abortError(o.doing, o.signal);
      if (err instanceof BerthError) throw err;
      throw this.opts.wire.networkError(o.doing, err, { url: url.href, ...(o.bodyKind ? { body: o.bodyKind } : {}) });
    }
  }
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
