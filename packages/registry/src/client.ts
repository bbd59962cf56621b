import { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import {
  BerthError,
  Digest,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  contentTypeMediaType,
  detectMediaType,
  isImageMediaType,
  isSchema1MediaType,
  type Descriptor,
  type Reference,
} from '@berth/oci';
import type { RegistryConfig } from './config.js';
import { DockerConfigCredentials, type AuthCredentials, type CredentialProvider } from './credentials.js';
import type { Endpoint } from './endpoints.js';
import { ResumableBody, type IngestTarget } from './resumable.js';
import { header } from './response.js';
import { isAbortError, resolveRetry, throwIfAborted, type RetryOptions } from './retry.js';
import { Transport, discard, errorFromResponse, readLimited, type AttemptContext, type HttpResponse, type RetryEvent } from './transport.js';

export type { IngestTarget } from './resumable.js';

const debug = debuglog('berth');

export const DEFAULT_USER_AGENT = 'berth/0.1';
/** Blobs at least this large are pushed in chunks (PATCH) rather than one PUT. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
export interface RegistryClientOptions {
  /** Mirrors, insecure hosts, CAs. Default: no per-registry settings (see loadRegistryConfig). */
  config?: RegistryConfig;
  /** Default: DockerConfigCredentials (`~/.docker/config.json`). */
  credentials?: CredentialProvider;
  userAgent?: string;
  retry?: RetryOptions;
  /** Connect, headers and between-body-bytes timeout of each attempt. Default 30 s. */
  timeoutMs?: number;
  /** Called before each retry wait (connection errors, stalled or broken bodies, 408/429/5xx). */
  onRetry?: (e: RetryEvent) => void;
  /** Clock used for token expiry (ms since epoch). Default Date.now. */
  now?: () => number;
}

export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
  descriptor: Descriptor;
}

export type UploadResult = 'exists' | 'mounted' | 'uploaded';

export interface FetchBlobOptions {
  reference: Reference;
  descriptor: Descriptor;
  ingest: IngestTarget;
  /** Bytes held so far (including resumed ones) and the total. */
  onProgress?: (bytes: number, total: number) => void;
  /** Called when a broken stream is about to be resumed or restarted. */
  onRetry?: (e: RetryEvent) => void;
  signal?: AbortSignal;
}

export interface UploadBlobOptions {
  reference: Reference;
  descriptor: Descriptor;
  /** A fresh stream of the blob's bytes starting at `offset` (called again for retries and chunks). */
  open: (offset: number) => Readable;
  /** Blobs of at least this many bytes go up in chunks of this size. Default 16 MiB. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository (same registry) first. */
  mountFrom?: string;
  onProgress?: (bytes: number, total: number) => void;
  signal?: AbortSignal;
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/**
 * An OCI distribution client. One instance caches, per registry endpoint, the
 * scheme that worked, the auth challenge and one token per scope set; create
 * one per process (or per command) and `close()` it when done.
 */
export class RegistryClient {
  /** @internal the HTTP layer (exposed for diagnostics and tests). */
  readonly transport: Transport;

  constructor(opts: RegistryClientOptions = {}) {
    this.transport = new Transport({
      config: opts.config ?? { registries: {} },
      credentials: opts.credentials ?? new DockerConfigCredentials(),
      userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
      retry: resolveRetry(opts.retry),
      timeoutMs: opts.timeoutMs ?? 30_000,
      now: opts.now ?? Date.now,
      onRetry: opts.onRetry,
    });
  }

  /** Close pooled connections. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /** Check credentials against a registry as `docker login` does (ping, then Basic or a token request). */
  verifyCredentials(registry: string, credentials: AuthCredentials, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.transport.verifyCredentials(registry, credentials, opts.signal);
  }

  /**
   * Run `fn` against the registry's pull endpoints (each mirror, then the
   * registry) through the mirror-fallback layer, each under the retry policy.
   */
  private withPullEndpoints<T>(
    registry: string,
    op: { doing: string; signal: AbortSignal | undefined; onRetry?: ((e: RetryEvent) => void) | undefined },
    fn: (ep: Endpoint, ctx: AttemptContext) => Promise<T>,
  ): Promise<T> {
    return this.transport.mirrors.run(this.transport.endpoints(registry, 'pull'), op, fn);
  }

  private pushEndpoint(registry: string): Endpoint {
    return this.transport.endpoints(registry, 'push').at(-1) as Endpoint;
  }

  /** The manifest request of getManifest and headManifest: every manifest `Accept` type, pull scope. */
  private sendManifestRequest(
    ep: Endpoint,
    req: { method: 'GET' | 'HEAD'; ref: Reference; doing: string; signal: AbortSignal | undefined },
  ): Promise<HttpResponse> {
    return this.transport.send(ep, {
      method: req.method,
      path: `/v2/${req.ref.repository}/manifests/${req.ref.identifier}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [pullScope(req.ref.repository)],
      doing: req.doing,
      signal: req.signal,
    });
  }

  /**
   * GET a manifest or index by tag or digest with every manifest `Accept` type.
   * The body is bounded (4 MiB), hashed and checked against `Docker-Content-Digest`
   * and the reference's digest; schema 1 is refused.
   */
  async getManifest(ref: Reference, opts: { signal?: AbortSignal } = {}): Promise<ManifestResult> {
    const doing = `get manifest ${ref}`;
    return this.withPullEndpoints(ref.registry, { doing, signal: opts.signal }, async (ep) => {
      const res = await this.sendManifestRequest(ep, { method: 'GET', ref, doing, signal: opts.signal });
      if (res.status !== 200) throw await errorFromResponse(res, doing, 'manifest unknown');
      const declared = Number(header(res, 'content-length'));
      if (Number.isFinite(declared) && declared > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new BerthError('ETOO_LARGE', `${doing}: ${declared} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte limit`);
      }
      let bytes: Buffer;
      try {
        bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, doing);
      } catch (err) {
        if (err instanceof BerthError || isAbortError(err, opts.signal)) throw err;
        throw this.transport.networkError(doing, err, { url: res.url.href, body: 'manifest' });
      }
      return checkManifest({ ref, bytes, contentType: header(res, 'content-type'), headerDigest: header(res, 'docker-content-digest'), doing });
    });
  }

  /**
   * HEAD a manifest: its descriptor (media type, digest, size) without the body,
   * or undefined when the registry says 404. Falls back to a GET when the
   * registry omits `Docker-Content-Digest`.
   */
  async headManifest(ref: Reference, opts: { signal?: AbortSignal } = {}): Promise<Descriptor | undefined> {
    const doing = `head manifest ${ref}`;
    const found = await this.withPullEndpoints(ref.registry, { doing, signal: opts.signal }, async (ep) => {
      const res = await this.sendManifestRequest(ep, { method: 'HEAD', ref, doing, signal: opts.signal });
      await discard(res);
      if (res.status === 404) {
        if (ep.mirror) throw await errorFromResponse(res, doing, 'manifest unknown');
        return undefined;
      }
      if (res.status !== 200) throw await errorFromResponse(res, doing, 'manifest unknown');
      const mediaType = contentTypeMediaType(header(res, 'content-type'));
      const digest = header(res, 'docker-content-digest');
      const size = Number(header(res, 'content-length'));
      if (isSchema1MediaType(mediaType)) throw schema1Error(doing);
      if (!digest || !Digest.isValid(digest) || !Number.isSafeInteger(size) || size < 0 || !isImageMediaType(mediaType)) {
        return 'get' as const;
      }
      if (ref.digest && !ref.digest.equals(digest)) {
        throw new BerthError('EDIGEST_MISMATCH', `${doing}: registry answered with digest ${digest}`, { details: { expected: ref.digest.toString(), actual: digest } });
      }
      return { mediaType, digest, size } satisfies Descriptor;
    });
    if (found === 'get') return (await this.getManifest(ref, opts)).descriptor;
    return found;
  }

  /**
   * Stream a blob into a store ingest, then commit it (the store verifies digest
   * and size). A stream that breaks part-way is resumed with `Range: bytes=N-`,
   * accepting only a 206 whose `Content-Range` starts at N; otherwise the ingest
   * is reset and the blob fetched from 0. Mirrors are tried first.
   * The ingest is always finished: committed on success (released when it
   * already `exists`), aborted on failure (the partial kept for a later resume,
   * except after a digest or size mismatch).
   */
  async fetchBlob(opts: FetchBlobOptions): Promise<void> {
    const { ingest } = opts;
    try {
      if (!ingest.exists) await this.fetchInto(opts);
      await ingest.commit();
    } catch (err) {
      // Keep what arrived for a later resume, unless the content itself was wrong.
      const bad = err instanceof BerthError && (err.code === 'EDIGEST_MISMATCH' || err.code === 'ESIZE_MISMATCH');
      await ingest.abort({ keepPartial: !bad }).catch((e: unknown) => debug('abort ingest: %s', (e as Error).message));
      throw err;
    }
  }

  private async fetchInto(opts: FetchBlobOptions): Promise<void> {
    const { reference: ref, descriptor, ingest, signal } = opts;
    const digest = Digest.parse(descriptor.digest);
    const size = descriptor.size;
    const doing = `fetch blob ${digest.short()} of ${ref.name}`;
    const body = new ResumableBody({
      ingest,
      size,
      doing,
      report: (bytes) => opts.onProgress?.(bytes, size),
      signal,
      networkError: (d, err, o) => this.transport.networkError(d, err, o),
    });
    await body.start();
    await this.withPullEndpoints(ref.registry, { doing, signal, onRetry: opts.onRetry }, (ep, ctx) =>
      body.attempt(
        (headers) =>
          this.transport.send(ep, {
            method: 'GET',
            path: `/v2/${ref.repository}/blobs/${digest}`,
            headers,
            scopes: [pullScope(ref.repository)],
            doing,
            signal,
          }),
        ctx,
      ),
    );
  }

  /** HEAD a blob in the registry itself (mirrors are not asked). */
  async blobExists(ref: Reference, digest: Digest | string, opts: { signal?: AbortSignal; forPush?: boolean } = {}): Promise<boolean> {
    const d = typeof digest === 'string' ? Digest.parse(digest) : digest;
    const doing = `check blob ${d.short()} in ${ref.name}`;
    return this.transport.retrying({ doing, signal: opts.signal }, async () => {
      const res = await this.transport.send(this.pushEndpoint(ref.registry), {
        method: 'HEAD',
        path: `/v2/${ref.repository}/blobs/${d}`,
        scopes: [opts.forPush ? pushScope(ref.repository) : pullScope(ref.repository)],
        doing,
        signal: opts.signal,
      });
      await discard(res);
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw await errorFromResponse(res, doing, 'blob unknown');
    });
  }

  /**
   * One POST that opens an upload session, optionally as a cross-repository
   * mount. A retried POST opens a new session; one that failed holds nothing.
   */
  private async openUpload(ref: Reference, d: Digest, mountFrom: string | undefined, signal: AbortSignal | undefined): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const ep = this.pushEndpoint(ref.registry);
    const doing = mountFrom ? mountDoing(ref, d, mountFrom) : `start upload of blob ${d.short()} to ${ref.name}`;
    let path = `/v2/${ref.repository}/blobs/uploads/`;
    const scopes = [pushScope(ref.repository)];
    if (mountFrom) {
      path += `?mount=${encodeURIComponent(d.toString())}&from=${encodeURIComponent(mountFrom)}`;
      scopes.push(pullScope(mountFrom));
    }
    const res = await this.transport.send(ep, { method: 'POST', path, headers: { 'content-length': '0' }, scopes, doing, signal });
    if (mountFrom && res.status === 201) {
      await discard(res);
      return { mounted: true };
    }
    if (res.status !== 202) throw await errorFromResponse(res, doing, 'blob upload unknown');
    await discard(res);
    const loc = header(res, 'location');
    if (!loc) throw new BerthError('EREGISTRY', `${doing}: 202 without a Location header`);
    return { mounted: false, location: resolveLocation(loc, res.url, doing) };
  }

  /**
   * Cross-repository mount: `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`.
   * True when mounted (201); false when the registry opened an upload instead (202), which is cancelled.
   */
  async mountBlob(opts: { reference: Reference; digest: Digest | string; fromRepository: string; signal?: AbortSignal }): Promise<boolean> {
    const d = typeof opts.digest === 'string' ? Digest.parse(opts.digest) : opts.digest;
    const r = await this.mount(opts.reference, d, opts.fromRepository, opts.signal);
    if (r.mounted) return true;
    await this.cancelUpload(opts.reference, r.location, opts.signal);
    return false;
  }

  /** The mount POST under the retry policy (a mount is idempotent; a 202 opens an upload the caller owns). */
  private mount(ref: Reference, d: Digest, from: string, signal: AbortSignal | undefined): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    return this.transport.retrying({ doing: mountDoing(ref, d, from), signal }, () => this.openUpload(ref, d, from, signal));
  }

  private async cancelUpload(ref: Reference, location: URL, signal: AbortSignal | undefined): Promise<void> {
    const doing = `cancel upload to ${ref.name}`;
    try {
      await this.transport.retrying({ doing, signal }, async () => {
        const res = await this.transport.send(this.pushEndpoint(ref.registry), { method: 'DELETE', path: location.href, scopes: [pushScope(ref.repository)], doing, signal });
        await discard(res);
      });
    } catch (err) {
      if (isAbortError(err, signal)) throw err;
      debug('cancel upload %s: %s', location.href, (err as Error).message);
    }
  }

  /**
   * Push one blob: skip it if the registry has it, else try a mount (when
   * `mountFrom` is set), else upload: one PUT for blobs smaller than
   * `chunkSize`, PATCH chunks with `Content-Range` then a closing PUT for
   * larger ones. The upload is one operation under the retry policy: a failed
   * monolithic PUT opens a new session (the old one may hold part of the body);
   * a failed chunk asks the registry how much it holds and goes on from there,
   * or opens a new session when the registry no longer knows the old one.
   */
  async uploadBlob(opts: UploadBlobOptions): Promise<UploadResult> {
    const { reference: ref, descriptor, signal } = opts;
    const d = Digest.parse(descriptor.digest);
    const size = descriptor.size;
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!(chunkSize > 0)) throw new BerthError('EINVAL_ARGUMENT', `upload blob: chunkSize must be positive, got ${chunkSize}`);
    const doing = `upload blob ${d.short()} to ${ref.name}`;
    if (await this.blobExists(ref, d, { forPush: true, ...(signal ? { signal } : {}) })) return 'exists';
    // The session the next attempt uses; a mount that the registry refused opened the first one.
    const session: UploadSession = {};
    if (opts.mountFrom) {
      const m = await this.mount(ref, d, opts.mountFrom, signal);
      if (m.mounted) return 'mounted';
      session.location = m.location;
    }
    await this.transport.retrying({ doing, signal }, async (ctx) => {
      if (size < chunkSize) {
        const location = session.location ?? (await this.newSession(ref, d, signal));
        session.location = undefined;
        await this.putMonolithic(ref, d, size, location, opts, doing);
      } else {
        await this.putChunked({ ref, d, size, chunkSize, session, ctx, opts, doing });
      }
    });
    return 'uploaded';
  }

  private async newSession(ref: Reference, d: Digest, signal: AbortSignal | undefined): Promise<URL> {
    const r = await this.openUpload(ref, d, undefined, signal);
    if (r.mounted) throw new BerthError('EREGISTRY', `start upload of blob ${d.short()} to ${ref.name}: the registry answered 201 to a plain upload`);
    return r.location;
  }

  private async putMonolithic(ref: Reference, d: Digest, size: number, location: URL, opts: UploadBlobOptions, doing: string): Promise<void> {
    const url = withDigest(location, d);
    const res = await this.transport.send(this.pushEndpoint(ref.registry), {
      method: 'PUT',
      path: url.href,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: () => exactly(opts.open(0), size, doing),
      scopes: [pushScope(ref.repository)],
      doing,
      signal: opts.signal,
    });
    if (res.status !== 201) throw await errorFromResponse(res, doing, 'blob upload unknown');
    await discard(res);
    checkDigestHeader(header(res, 'docker-content-digest'), d, doing);
    opts.onProgress?.(size, size);
  }

  /**
   * One attempt at a chunked upload: from the start of a new session, or, after
   * a failed attempt, from where the registry says the session is (`GET
   * <Location>` → `Range`); then PATCH chunks and the closing PUT.
   */
  private async putChunked(o: {
    ref: Reference;
    d: Digest;
    size: number;
    chunkSize: number;
    session: UploadSession;
    ctx: AttemptContext;
    opts: UploadBlobOptions;
    doing: string;
  }): Promise<void> {
    const { ref, d, size, session, opts, doing } = o;
    const ep = this.pushEndpoint(ref.registry);
    const scopes = [pushScope(ref.repository)];
    let offset = 0;
    if (session.location && session.started) {
      const status = await this.transport.send(ep, { method: 'GET', path: session.location.href, scopes, doing: `${doing} (upload status)`, signal: opts.signal });
      await discard(status);
      if (status.status === 204 || status.status === 200) {
        const loc = header(status, 'location');
        if (loc) session.location = resolveLocation(loc, status.url, doing);
        const stored = parseRangeEnd(header(status, 'range'));
        offset = stored !== undefined ? stored + 1 : 0;
        debug('%s: resuming at byte %d', doing, offset);
      } else if (status.status === 404) {
        debug('%s: the registry forgot the upload session: starting a new one', doing);
        session.location = undefined;
      } else {
        throw await errorFromResponse(status, `${doing} (upload status)`, 'blob upload unknown');
      }
    }
    session.location ??= await this.newSession(ref, d, opts.signal);
    session.started = true;
    while (offset < size) {
      throwIfAborted(opts.signal, doing);
      const from = offset;
      const end = Math.min(from + o.chunkSize, size);
      const res = await this.transport.send(ep, {
        method: 'PATCH',
        path: session.location.href,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${end - 1}`, 'content-length': String(end - from) },
        body: () => exactly(opts.open(from), end - from, doing),
        scopes,
        doing,
        signal: opts.signal,
      });
      if (res.status !== 202) throw await errorFromResponse(res, doing, 'blob upload unknown');
      await discard(res);
      const loc = header(res, 'location');
      if (loc) session.location = resolveLocation(loc, res.url, doing);
      const stored = parseRangeEnd(header(res, 'range'));
      offset = stored !== undefined ? stored + 1 : end;
      if (offset <= from) throw new BerthError('EREGISTRY', `${doing}: registry did not accept bytes ${from}-${end - 1}`);
      o.ctx.progressed();
      opts.onProgress?.(offset, size);
    }
    const res = await this.transport.send(ep, {
      method: 'PUT',
      path: withDigest(session.location, d).href,
      headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
      scopes,
      doing,
      signal: opts.signal,
    });
    if (res.status !== 201) throw await errorFromResponse(res, doing, 'blob upload unknown');
    await discard(res);
    checkDigestHeader(header(res, 'docker-content-digest'), d, doing);
  }

  /** PUT a manifest or index by tag or digest; returns its digest (checked against the registry's). */
  async putManifest(opts: { reference: Reference; bytes: Buffer; mediaType: string; signal?: AbortSignal }): Promise<Digest> {
    const ref = opts.reference;
    const doing = `put manifest ${ref}`;
    if (opts.bytes.length > MAX_MANIFEST_BYTES) throw new BerthError('ETOO_LARGE', `${doing}: ${opts.bytes.length} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte limit`);
    const digest = Digest.of(opts.bytes, ref.digest?.algorithm ?? 'sha256');
    if (ref.digest && !ref.digest.equals(digest)) {
      throw new BerthError('EDIGEST_MISMATCH', `${doing}: content has digest ${digest}`, { details: { expected: ref.digest.toString(), actual: digest.toString() } });
    }
    // Idempotent: the same bytes under the same name.
    await this.transport.retrying({ doing, signal: opts.signal }, async () => {
      const res = await this.transport.send(this.pushEndpoint(ref.registry), {
        method: 'PUT',
        path: `/v2/${ref.repository}/manifests/${ref.identifier}`,
        headers: { 'content-type': opts.mediaType, 'content-length': String(opts.bytes.length) },
        body: opts.bytes,
        scopes: [pushScope(ref.repository)],
        doing,
        signal: opts.signal,
      });
      if (res.status !== 201 && res.status !== 200) throw await errorFromResponse(res, doing, 'manifest unknown');
      await discard(res);
      checkDigestHeader(header(res, 'docker-content-digest'), digest, doing);
    });
    return digest;
  }
}

/** An upload session shared by the attempts of one `uploadBlob`. */
interface UploadSession {
  location?: URL | undefined;
  /** An attempt used it: the next one asks the registry where it stands. */
  started?: boolean;
}

function mountDoing(ref: Reference, d: Digest, from: string): string {
  return `mount blob ${d.short()} from ${from} into ${ref.name}`;
}

function schema1Error(doing: string): BerthError {
  return new BerthError('EUNSUPPORTED', `${doing}: schema 1 manifests are not supported; push the image again with a current client (schema 2 or OCI)`);
}

/** Validate manifest bytes from a registry: media type, schema 1, digests. */
export function checkManifest(o: { ref: Reference; bytes: Buffer; contentType: string | undefined; headerDigest: string | undefined; doing: string }): ManifestResult {
  const ct = contentTypeMediaType(o.contentType);
  let json: unknown;
  try {
    json = JSON.parse(o.bytes.toString('utf8'));
  } catch (err) {
    if (isSchema1MediaType(ct)) throw schema1Error(o.doing);
    throw new BerthError('EINVAL_MANIFEST', `${o.doing}: invalid JSON: ${(err as Error).message}`);
  }
  const mediaType = detectMediaType(json, { contentType: ct });
  if (isSchema1MediaType(mediaType)) throw schema1Error(o.doing);
  const declared = json && typeof json === 'object' && typeof (json as { mediaType?: unknown }).mediaType === 'string' ? (json as { mediaType: string }).mediaType : undefined;
  if (declared && isImageMediaType(ct) && declared !== ct) {
    throw new BerthError('EINVAL_MANIFEST', `${o.doing}: Content-Type ${ct} disagrees with mediaType ${declared} in the body`);
  }
  if (!mediaType) {
    throw new BerthError('EUNSUPPORTED', `${o.doing}: unsupported manifest media type ${JSON.stringify(declared || ct)}`);
  }
  let digest: Digest;
  if (o.ref.digest) {
    const actual = Digest.of(o.bytes, o.ref.digest.algorithm);
    if (!actual.equals(o.ref.digest)) {
      throw new BerthError('EDIGEST_MISMATCH', `${o.doing}: content has digest ${actual}`, { details: { expected: o.ref.digest.toString(), actual: actual.toString() } });
    }
    digest = o.ref.digest;
  } else {
    digest = Digest.of(o.bytes);
  }
  if (o.headerDigest) {
    if (!Digest.isValid(o.headerDigest)) {
      throw new BerthError('EREGISTRY', `${o.doing}: invalid Docker-Content-Digest ${JSON.stringify(o.headerDigest.slice(0, 100))}`);
    }
    const claimed = Digest.parse(o.headerDigest);
    const actual = claimed.algorithm === digest.algorithm ? digest : Digest.of(o.bytes, claimed.algorithm);
    if (!actual.equals(claimed)) {
      throw new BerthError('EDIGEST_MISMATCH', `${o.doing}: Docker-Content-Digest says ${claimed} but the content has ${actual}`, {
        details: { expected: claimed.toString(), actual: actual.toString() },
      });
    }
  }
  return { bytes: o.bytes, mediaType, digest, descriptor: { mediaType, digest: digest.toString(), size: o.bytes.length } };
}

function checkDigestHeader(value: string | undefined, expected: Digest, doing: string): void {
  if (value && Digest.isValid(value) && Digest.parse(value).algorithm === expected.algorithm && !expected.equals(value)) {
    throw new BerthError('EDIGEST_MISMATCH', `${doing}: registry stored it as ${value}`, { details: { expected: expected.toString(), actual: value } });
  }
}

/** An upload `Range: 0-1023` (or `bytes=0-1023`) → 1023. */
function parseRangeEnd(v: string | undefined): number | undefined {
  const m = v ? /^(?:bytes=)?0-(\d+)$/i.exec(v.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

function resolveLocation(loc: string, base: URL, doing: string): URL {
  try {
    const u = new URL(loc, base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    return u;
  } catch {
    throw new BerthError('EREGISTRY', `${doing}: invalid upload Location ${JSON.stringify(loc.slice(0, 200))}`);
  }
}

function withDigest(location: URL, d: Digest): URL {
  const u = new URL(location.href);
  u.searchParams.set('digest', d.toString());
  return u;
}

/** Exactly `length` bytes of `src` (more are cut off; fewer fail the request). */
function exactly(src: Readable, length: number, doing: string): Readable {
  return Readable.from(
    (async function* () {
      let left = length;
      if (left === 0) {
        src.destroy();
        return;
      }
      for await (const chunk of src) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        if (b.length >= left) {
          yield b.subarray(0, left);
          left = 0;
          break;
        }
        left -= b.length;
        yield b;
      }
      if (left > 0) throw new BerthError('ESIZE_MISMATCH', `${doing}: local content ended ${left} bytes short`);
    })(),
    { objectMode: false },
  );
}
