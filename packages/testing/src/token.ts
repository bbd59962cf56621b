import { X509Certificate, createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { findBinary, makeTempDir, runChecked, type TempDir } from './util.js';

export interface TokenUser {
  user: string;
  password: string;
  /**
   * What this user may do: repository name (exact, or a glob with `*`) → allowed actions.
   * Default: every action the client asks for, on every repository.
   */
  access?: Record<string, string[]>;
}

/** What an unauthenticated token request gets. */
export type AnonymousPolicy =
  /** A token that grants `pull` (public images on Docker Hub). */
  | 'pull'
  /** A token with no access at all, as Docker Hub does for private repositories: the registry then answers 401. */
  | 'empty'
  /** The token endpoint itself answers 401. */
  | 'reject';

export interface StartTokenServerOptions {
  users?: TokenUser[];
  /** Default `'empty'`. */
  anonymous?: AnonymousPolicy;
  /** The `aud` claim and the registry's `service`; default `berth-test-registry`. */
  service?: string;
  /** The `iss` claim; default `berth-test-issuer`. */
  issuer?: string;
  /** Lifetime of a token (`expires_in`); default 300 s. */
  expiresInSeconds?: number;
  /** Signing key and its self-signed certificate (PEM); generated with openssl when absent. */
  keyPair?: { keyPem: string; certPem: string };
}

export interface TokenRequestRecord {
  method: string;
  grantType: string;
  scopes: string[];
  user?: string;
  status: number;
  /** The `access` claim of the token handed out (empty when refused). */
  access: AccessEntry[];
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file with the signing certificate: the registry's `auth.token.rootcertbundle`. */
  readonly certPath: string;
  /** Tokens handed out, by the requested scopes joined with a space (`''` for none). */
  readonly issued: Record<string, number>;
  /** Every request to the token endpoint, in order. */
  readonly requests: TokenRequestRecord[];
  /** Total tokens handed out. */
  tokenCount(): number;
  /** Forget the counters (between phases of one test). */
  resetCounts(): void;
  /** Change what anonymous requests get from now on. */
  setAnonymous(policy: AnonymousPolicy): void;
  stop(): Promise<void>;
}

const MAX_FORM_BYTES = 64 * 1024;

/**
 * A Docker-Hub-style token service for the registry's `auth: token` mode: checks Basic
 * credentials (GET) or an OAuth2 form (POST, `password` or `refresh_token` grant),
 * grants the requested `scope` actions the user is allowed, and answers
 * `{ token, access_token, expires_in, issued_at }` with an RS256 JWT whose header
 * carries the signing certificate (`x5c`), which the registry trusts via rootcertbundle.
 */
export async function startTokenServer(opts: StartTokenServerOptions = {}): Promise<TokenServer> {
  const tmp = await makeTempDir('berth-token-');
  try {
    const { keyPem, certPem } = opts.keyPair ?? (await generateKeyPair(tmp));
    const certPath = path.join(tmp.path, 'rootcert.pem');
    await writeFile(certPath, certPem);
    const key = createPrivateKey(keyPem);
    const certDer = new X509Certificate(certPem).raw.toString('base64');
    const service = opts.service ?? 'berth-test-registry';
    const issuer = opts.issuer ?? 'berth-test-issuer';
    const expiresIn = opts.expiresInSeconds ?? 300;
    let anonymous: AnonymousPolicy = opts.anonymous ?? 'empty';
    const users = new Map((opts.users ?? []).map((u) => [u.user, u]));
    const refreshTokens = new Map<string, string>();
    const issued: Record<string, number> = {};
    const requests: TokenRequestRecord[] = [];

    const server = http.createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) reply(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
        else res.destroy();
      });
    });

    async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
      const url = new URL(req.url ?? '/', 'http://token.invalid');
      if (url.pathname !== '/token') return reply(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      let params: URLSearchParams;
      let grantType: string;
      let user: TokenUser | undefined;
      let authFailed = false;
      if (req.method === 'GET') {
        params = url.searchParams;
        grantType = 'basic';
        const basic = parseBasic(req.headers.authorization);
        if (basic) {
          user = users.get(basic.user);
          if (!user || user.password !== basic.password) authFailed = true;
        }
      } else if (req.method === 'POST') {
        params = new URLSearchParams(await readBody(req, MAX_FORM_BYTES));
        grantType = params.get('grant_type') ?? '';
        if (grantType === 'password') {
          user = users.get(params.get('username') ?? '');
          if (!user || user.password !== params.get('password')) authFailed = true;
        } else if (grantType === 'refresh_token') {
          const owner = refreshTokens.get(params.get('refresh_token') ?? '');
          user = owner === undefined ? undefined : users.get(owner);
          if (!user) authFailed = true;
        } else {
          return reply(res, 400, { error: 'unsupported_grant_type', errors: [{ code: 'UNSUPPORTED', message: `grant_type ${grantType || '(none)'}` }] });
        }
      } else {
        res.setHeader('Allow', 'GET, POST');
        return reply(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed' }] });
      }
      const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const record: TokenRequestRecord = { method: req.method, grantType, scopes, status: 0, access: [] };
      if (user && !authFailed) record.user = user.user;
      requests.push(record);
      if (params.get('service') !== null && params.get('service') !== service) {
        record.status = 400;
        return reply(res, 400, { errors: [{ code: 'UNSUPPORTED', message: `unknown service ${params.get('service')}` }] });
      }
      if (authFailed || (!user && anonymous === 'reject')) {
        record.status = 401;
        res.setHeader('WWW-Authenticate', `Basic realm="${issuer}"`);
        const message = authFailed ? 'incorrect username or password' : 'authentication required';
        return reply(res, 401, { details: message, errors: [{ code: 'UNAUTHORIZED', message }] });
      }
      const access = scopes.map(parseScope).filter((a): a is AccessEntry => !!a).map((a) => grant(a, user, anonymous)).filter((a) => a.actions.length > 0);
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: issuer,
        sub: user?.user ?? '',
        aud: service,
        exp: now + expiresIn,
        nbf: now - 1,
        iat: now,
        jti: randomUUID(),
        access,
      };
      const token = signJwt({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }, claims, key);
      const scopeKey = scopes.join(' ');
      issued[scopeKey] = (issued[scopeKey] ?? 0) + 1;
      record.status = 200;
      record.access = access;
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date(now * 1000).toISOString(),
      };
      if (user && (params.get('offline_token') === 'true' || params.get('access_type') === 'offline' || grantType === 'password')) {
        const refresh = randomBytes(24).toString('base64url');
        refreshTokens.set(refresh, user.user);
        body.refresh_token = refresh;
      }
      reply(res, 200, body);
    }

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    let stopped: Promise<void> | undefined;
    return {
      realm: `http://127.0.0.1:${port}/token`,
      service,
      issuer,
      certPath,
      issued,
      requests,
      tokenCount: () => Object.values(issued).reduce((a, b) => a + b, 0),
      setAnonymous: (policy) => {
        anonymous = policy;
      },
      resetCounts: () => {
        for (const k of Object.keys(issued)) delete issued[k];
        requests.length = 0;
      },
      stop: () => {
        stopped ??= new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }).then(() => tmp.cleanup());
        return stopped;
      },
    };
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
}

/** A throwaway RSA key and self-signed certificate, made by `openssl req -x509`. */
export async function generateKeyPair(dir?: TempDir): Promise<{ keyPem: string; certPem: string }> {
  if (!findBinary('openssl')) throw new BerthError('ERUNTIME', 'generate token signing key: openssl not found on PATH (install the Debian package openssl)');
  const tmp = dir ?? (await makeTempDir('berth-key-'));
  try {
    const keyPath = path.join(tmp.path, 'key.pem');
    const certPath = path.join(tmp.path, 'cert.pem');
    await runChecked(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=berth-test', '-days', '2'],
      { doing: 'generate token signing key' },
    );
    return { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') };
  } finally {
    if (!dir) await tmp.cleanup();
  }
}

export function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  // RS256 = RSASSA-PKCS1-v1_5 with SHA-256, the default padding for RSA keys.
  const signature = sign('sha256', Buffer.from(input), key).toString('base64url');
  return `${input}.${signature}`;
}

/** `repository:library/alpine:pull,push` → {type, name, actions}; undefined if malformed. */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function grant(asked: AccessEntry, user: TokenUser | undefined, anonymous: AnonymousPolicy): AccessEntry {
  let allowed: (action: string) => boolean;
  if (!user) {
    allowed = (a) => anonymous === 'pull' && asked.type === 'repository' && a === 'pull';
  } else if (!user.access) {
    allowed = () => true;
  } else {
    const rules = Object.entries(user.access).filter(([pattern]) => globMatch(pattern, asked.name));
    allowed = (a) => rules.some(([, actions]) => actions.includes(a) || actions.includes('*'));
  }
  return { type: asked.type, name: asked.name, actions: asked.actions.filter(allowed) };
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) throw new BerthError('ETOO_LARGE', `token request body over ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}
