/**
 * A small in-process OCI distribution server for the registry unit tests. It
 * implements the protocol strictly enough to catch client mistakes (upload
 * offsets, Content-Range, digests on PUT, token scopes) and lets a test inject
 * faults with `intercept`. Not a product: `@berth/testing` runs the real registry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export type AuthMode =
  | { kind: 'none' }
  | { kind: 'basic'; users: Record<string, string> }
  | {
      kind: 'bearer';
      users?: Record<string, string>;
      /** refresh tokens accepted by POST /token (identity tokens) */
      refreshTokens?: Record<string, string>;
      /** Let anonymous token requests have pull access. */
      anonymousPull?: boolean;
      expiresIn?: number;
      /** Reply with `access_token` instead of `token`. */
      accessTokenField?: boolean;
      service?: string;
    };

interface Upload {
  repo: string;
  data: Buffer;
}

interface TokenGrant {
  scopes: string[];
  user: string | undefined;
}

export type Intercept = (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | Promise<boolean>;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: RecordedRequest[] = [];
  /** digest → content */
  readonly blobs = new Map<string, Buffer>();
  /** repo → digests it holds */
  readonly repoBlobs = new Map<string, Set<string>>();
  /** `${repo}@${tag or digest}` → manifest */
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  readonly uploads = new Map<string, Upload>();
  auth: AuthMode = { kind: 'none' };
  /** Runs before routing; return true when it answered the request itself. */
  intercept: Intercept | undefined;
  /** Answer blob GETs with a redirect to this base URL (+ the original path). */
  blobRedirect: string | undefined;
  /** Support Range on blob GETs (else the whole blob, 200). */
  honourRange = true;
  private readonly tokens = new Map<string, TokenGrant>();
  private server!: Server;
  port = 0;

  static async start(init: Partial<Pick<FakeRegistry, 'auth'>> = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry();
    if (init.auth) r.auth = init.auth;
    await r.listen();
    return r;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  get url(): string {
    return `http://${this.host}`;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.handle(req, res, body).catch((err: unknown) => {
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(err));
          } else res.destroy();
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- content helpers -------------------------------------------------------

  addBlob(repo: string, data: Buffer | string): { digest: string; size: number } {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const digest = sha256(b);
    this.blobs.set(digest, b);
    let set = this.repoBlobs.get(repo);
    if (!set) {
      set = new Set();
      this.repoBlobs.set(repo, set);
    }
    set.add(digest);
    return { digest, size: b.length };
  }

  hasBlob(repo: string, digest: string): boolean {
    return this.repoBlobs.get(repo)?.has(digest) ?? false;
  }

  addManifest(repo: string, tags: string[], value: unknown, mediaType: string): { digest: string; size: number; bytes: Buffer } {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
    const digest = sha256(bytes);
    for (const t of [...tags, digest]) this.manifests.set(`${repo}@${t}`, { bytes, mediaType });
    return { digest, size: bytes.length, bytes };
  }

  /** Requests (not token requests) whose path starts with a prefix. */
  hits(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(pathPrefix));
  }

  // ---- protocol ---------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/token') {
      this.tokenRequests.push(rec);
      this.handleToken(req, res, url, body);
      return;
    }
    this.requests.push(rec);
    if (this.intercept && (await this.intercept(req, res, body))) return;
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      if (!this.authorized(req, res, undefined, 'pull')) return;
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    let m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(url.pathname);
    if (m) {
      const repo = m[1] as string;
      if (!this.authorized(req, res, repo, 'push')) return;
      this.handleUpload(req, res, url, repo, m[2] as string, body);
      return;
    }
    m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      this.error(res, 404, 'NAME_UNKNOWN', 'repository name not known to registry');
      return;
    }
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    const write = req.method === 'PUT' || req.method === 'DELETE';
    if (!this.authorized(req, res, repo, write ? 'push' : 'pull')) return;
    if (kind === 'manifests') this.handleManifest(req, res, repo, ref, body);
    else this.handleBlob(req, res, repo, ref);
  }

  error(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ errors: [{ code, message, detail: null }] }));
  }

  private challenge(repo: string | undefined, action: 'pull' | 'push'): string {
    if (this.auth.kind === 'basic') return 'Basic realm="fake"';
    const service = this.auth.kind === 'bearer' ? (this.auth.service ?? 'fake-registry') : '';
    const scope = repo ? `,scope="repository:${repo}:${action === 'push' ? 'pull,push' : 'pull'}"` : '';
    return `Bearer realm="${this.url}/token",service="${service}"${scope}`;
  }

  private authorized(req: IncomingMessage, res: ServerResponse, repo: string | undefined, action: 'pull' | 'push'): boolean {
    const a = this.auth;
    if (a.kind === 'none') return true;
    const header = req.headers.authorization ?? '';
    if (a.kind === 'basic') {
      const m = /^Basic (.+)$/.exec(header);
      if (m) {
        const [u, ...p] = Buffer.from(m[1] as string, 'base64').toString().split(':');
        if (u !== undefined && a.users[u] === p.join(':')) return true;
      }
      this.error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': this.challenge(repo, action) });
      return false;
    }
    const m = /^Bearer (.+)$/.exec(header);
    const grant = m ? this.tokens.get(m[1] as string) : undefined;
    if (grant) {
      if (repo === undefined) return true;
      const ok = grant.scopes.some((s) => {
        const [type, name, actions] = s.split(':');
        return type === 'repository' && name === repo && (actions ?? '').split(',').includes(action);
      });
      if (ok) return true;
      this.error(res, 401, 'UNAUTHORIZED', 'authentication required', {
        'www-authenticate': `${this.challenge(repo, action)},error="insufficient_scope"`,
      });
      return false;
    }
    this.error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': this.challenge(repo, action) });
    return false;
  }

  private handleToken(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const a = this.auth;
    if (a.kind !== 'bearer') {
      res.writeHead(404).end();
      return;
    }
    let user: string | undefined;
    let scopes: string[];
    if (req.method === 'POST') {
      const form = new URLSearchParams(body.toString());
      if (form.get('grant_type') !== 'refresh_token' || !a.refreshTokens?.[form.get('refresh_token') ?? '']) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'invalid refresh token' }));
        return;
      }
      user = a.refreshTokens[form.get('refresh_token') ?? ''];
      scopes = (form.get('scope') ?? '').split(' ').filter((s) => s);
    } else {
      scopes = url.searchParams.getAll('scope');
      const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (m) {
        const [u, ...p] = Buffer.from(m[1] as string, 'base64').toString().split(':');
        if (u === undefined || a.users?.[u] !== p.join(':')) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
          return;
        }
        user = u;
      }
    }
    // Anonymous tokens carry pull only (and only when allowed).
    const granted = scopes
      .map((s) => {
        if (user) return s;
        const [t, n, acts] = s.split(':');
        return a.anonymousPull && (acts ?? '').split(',').includes('pull') ? `${t}:${n}:pull` : undefined;
      })
      .filter((s): s is string => s !== undefined);
    const token = randomBytes(12).toString('hex');
    this.tokens.set(token, { scopes: granted, user });
    const out: Record<string, unknown> = { [a.accessTokenField ? 'access_token' : 'token']: token, issued_at: new Date().toISOString() };
    if (a.expiresIn !== undefined) out['expires_in'] = a.expiresIn;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  }

  private handleManifest(req: IncomingMessage, res: ServerResponse, repo: string, ref: string, body: Buffer): void {
    if (req.method === 'PUT') {
      const mediaType = req.headers['content-type'] ?? '';
      let parsed: { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
      try {
        parsed = JSON.parse(body.toString()) as typeof parsed;
      } catch {
        this.error(res, 400, 'MANIFEST_INVALID', 'manifest invalid');
        return;
      }
      // Like distribution: everything referenced must already be there.
      for (const d of [parsed.config?.digest, ...(parsed.layers ?? []).map((l) => l.digest)]) {
        if (d && !this.hasBlob(repo, d)) {
          this.error(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob unknown to registry: ${d}`);
          return;
        }
      }
      for (const c of parsed.manifests ?? []) {
        if (!this.manifests.has(`${repo}@${c.digest}`)) {
          this.error(res, 400, 'MANIFEST_BLOB_UNKNOWN', `manifest unknown to registry: ${c.digest}`);
          return;
        }
      }
      const digest = sha256(body);
      if (ref.startsWith('sha256:') && ref !== digest) {
        this.error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
        return;
      }
      this.addManifest(repo, ref.startsWith('sha256:') ? [] : [ref], body, mediaType);
      res.writeHead(201, { location: `/v2/${repo}/manifests/${digest}`, 'docker-content-digest': digest, 'content-length': '0' }).end();
      return;
    }
    const m = this.manifests.get(`${repo}@${ref}`);
    if (!m) {
      this.error(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      return;
    }
    const headers = { 'content-type': m.mediaType, 'docker-content-digest': sha256(m.bytes), 'content-length': String(m.bytes.length) };
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : m.bytes);
  }

  private handleBlob(req: IncomingMessage, res: ServerResponse, repo: string, digest: string): void {
    const data = this.hasBlob(repo, digest) ? this.blobs.get(digest) : undefined;
    if (!data) {
      this.error(res, 404, 'BLOB_UNKNOWN', 'blob unknown to registry');
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(data.length), 'docker-content-digest': digest, 'content-type': 'application/octet-stream' }).end();
      return;
    }
    if (this.blobRedirect) {
      res.writeHead(307, { location: `${this.blobRedirect}/v2/${repo}/blobs/${digest}` }).end();
      return;
    }
    serveBlob(req, res, data, this.honourRange);
  }

  private handleUpload(req: IncomingMessage, res: ServerResponse, url: URL, repo: string, id: string, body: Buffer): void {
    if (req.method === 'POST' && id === '') {
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from && this.hasBlob(from, mount)) {
        this.addBlob(repo, this.blobs.get(mount) as Buffer);
        res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount, 'content-length': '0' }).end();
        return;
      }
      const newId = randomBytes(8).toString('hex');
      this.uploads.set(newId, { repo, data: Buffer.alloc(0) });
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${newId}?_state=s${newId}`, range: '0-0', 'docker-upload-uuid': newId, 'content-length': '0' }).end();
      return;
    }
    const up = this.uploads.get(id);
    if (!up || up.repo !== repo) {
      this.error(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
      return;
    }
    if (url.searchParams.get('_state') !== `s${id}`) {
      this.error(res, 400, 'BLOB_UPLOAD_INVALID', 'missing or wrong _state: the client did not use the Location it was given');
      return;
    }
    const loc = `/v2/${repo}/blobs/uploads/${id}?_state=s${id}`;
    const range = (): string => `0-${Math.max(0, up.data.length - 1)}`;
    if (req.method === 'GET') {
      res.writeHead(204, { location: loc, range: range(), 'docker-upload-uuid': id }).end();
      return;
    }
    if (req.method === 'DELETE') {
      this.uploads.delete(id);
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'PATCH') {
      const cr = req.headers['content-range'];
      if (cr !== undefined) {
        const m = /^(\d+)-(\d+)$/.exec(cr);
        if (!m || Number(m[1]) !== up.data.length || Number(m[2]) - Number(m[1]) + 1 !== body.length) {
          res.writeHead(416, { location: loc, range: range() }).end();
          return;
        }
      }
      if (req.headers['content-type'] !== 'application/octet-stream') {
        this.error(res, 400, 'BLOB_UPLOAD_INVALID', 'PATCH needs Content-Type application/octet-stream');
        return;
      }
      up.data = Buffer.concat([up.data, body]);
      res.writeHead(202, { location: loc, range: range(), 'docker-upload-uuid': id, 'content-length': '0' }).end();
      return;
    }
    if (req.method === 'PUT') {
      const digest = url.searchParams.get('digest');
      const data = Buffer.concat([up.data, body]);
      if (!digest || sha256(data) !== digest) {
        this.error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
        return;
      }
      this.uploads.delete(id);
      this.addBlob(repo, data);
      res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': '0' }).end();
      return;
    }
    this.error(res, 405, 'UNSUPPORTED', 'the operation is unsupported');
  }
}

/** Serve bytes with optional Range support (`bytes=N-`). */
export function serveBlob(req: IncomingMessage, res: ServerResponse, data: Buffer, honourRange = true): void {
  const range = req.headers.range;
  const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
  if (m && honourRange) {
    const start = Number(m[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-length': String(data.length - start),
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
    });
    res.end(data.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
  res.end(data);
}

/** Start a bare node:http server for a handler; returns its base URL and a closer. */
export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; host: string; close: () => Promise<void>; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
