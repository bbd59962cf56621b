import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { link, lstat, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Readable } from 'node:stream';
import {
  BerthError,
  Digest,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  MediaType,
  Reference,
  encodeJson,
  formatPlatform,
  hostPlatform,
  detectMediaType,
  isImageMediaType,
  isIndexMediaType,
  isManifestMediaType,
  isUnknownPlatform,
  normalisePlatform,
  parseImageConfig,
  parseIndex,
  parseManifest,
  platformMatches,
  selectPlatform,
  validateDescriptor,
} from '@berth/oci';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '@berth/oci';
import { errnoCode, fsyncDir, tempName, wrapError, writeFileAtomic, writeFully } from './fsutil.js';
import { Ingest, type BlobIngest } from './ingest.js';
import { FileLock, heldMode, withFileLock } from './lock.js';
import { makeTreePrivate, mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './perms.js';
import { BlobReader, mapOpenError } from './reader.js';

/** The annotation naming a tag in `index.json`; berth stores the full reference. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/**
 * On a tag whose manifest was chosen from an image index (a multi-platform image), the
 * index's digest: the store keeps the platform manifest, and `NAME@<index digest>` still
 * finds it, as docker's RepoDigests do.
 */
export const INDEX_DIGEST_ANNOTATION = 'io.berth.index.digest';
/** What berth writes to `oci-layout`. */
export const IMAGE_LAYOUT_VERSION = '1.0.0';
/** `index.json` of the store itself may list many tags; bounded all the same. */
const MAX_INDEX_JSON_BYTES = 64 * 1024 * 1024;
/** Names a fresh layout may already contain (from an interrupted creation). */
const OWN_ENTRIES = new Set(['blobs', 'index.json', 'tmp', 'ingest', 'locks']);
/** How long a store lock is waited for by default (index, leases, gc, a stalled ingest). */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
const LEASE_LOCK = 'gc';
const INDEX_LOCK = 'index';
const LOCK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const FULL_DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const PARTIAL_RE = /^(sha256|sha512)-([a-f0-9]+)$/;

export interface StoreOptions {
  /** The layout directory, e.g. `storeDir(defaultRoot())`. Created if missing. */
  root: string;
  /**
   * Give up waiting for a store lock after this long, with ELOCKED naming the lock
   * file and the pid holding it. Default 60 000 (DEFAULT_LOCK_TIMEOUT_MS);
   * `Infinity` waits for ever. The per-digest ingest lock counts only the time in
   * which the holder's partial download did not grow.
   */
  lockTimeoutMs?: number;
}

export interface PutBlobOptions {
  /** Expected digest; the write fails with EDIGEST_MISMATCH (and leaves nothing) if the content differs. */
  digest?: Digest | string;
  /** Expected size; fails with ESIZE_MISMATCH as soon as it is exceeded, or at the end if short. */
  size?: number;
}

export interface IngestOptions {
  digest: Digest | string;
  size?: number;
}

export interface ReadBlobOptions {
  /** Refuse (ETOO_LARGE) blobs larger than this without reading them. */
  maxBytes?: number;
  /** Expected size (ESIZE_MISMATCH otherwise). */
  size?: number;
}

export interface GetImageOptions {
  /** Which manifest to take from an index; default the host's. Also checked against a single-platform image's config when given. */
  platform?: Platform;
}

export interface StoredImage {
  /** The tag or digest reference it was found by, when it was found by one. */
  reference?: Reference;
  /** The image manifest's descriptor (the platform-specific one when the tag names an index). */
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDescriptor: Descriptor;
  /** The index the manifest was chosen from, if the tag or digest named an index. */
  index?: Descriptor;
}

export interface GcOptions {
  /** Extra roots besides the tags, e.g. the manifest digests of images used by containers. */
  roots?: Array<Digest | string>;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

export interface GcResult {
  /** Digests of the blobs removed (or that would be, with dryRun). */
  removed: string[];
  /** Stale temporary and partial files removed, relative to the store root (`tmp/…`, `ingest/…`). */
  temporary: string[];
  /** Bytes freed by both. */
  bytes: number;
}

export interface TagEntry {
  reference: Reference;
  descriptor: Descriptor;
}

type DescriptorLike = Descriptor | Digest | string;

/**
 * A content store on disk that is a plain OCI image layout (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`), readable by skopeo and umoci, plus
 * berth's own working directories beside them: `tmp/` (atomic writes),
 * `ingest/` (resumable partial downloads) and `locks/` (flock files).
 * See README.md for the contracts.
 */
export class Store {
  readonly root: string;
  private readonly blobsDir: string;
  private readonly tmpDir: string;
  private readonly ingestDir: string;
  private readonly locksDir: string;
  private readonly lockTimeoutMs: number;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.blobsDir = path.join(root, 'blobs');
    this.tmpDir = path.join(root, 'tmp');
    this.ingestDir = path.join(root, 'ingest');
    this.locksDir = path.join(root, 'locks');
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  }

  /** Open the layout at `opts.root`, creating it if missing; an existing `oci-layout` must say version 1.x. */
  static async open(opts: StoreOptions): Promise<Store> {
    if (!opts || typeof opts.root !== 'string' || opts.root.length === 0) {
      throw new BerthError('EINVAL_ARGUMENT', 'open store: root must be a non-empty path');
    }
    if (opts.lockTimeoutMs !== undefined && !(typeof opts.lockTimeoutMs === 'number' && opts.lockTimeoutMs >= 0)) {
      throw new BerthError('EINVAL_ARGUMENT', `open store: lockTimeoutMs must be a non-negative number, got ${String(opts.lockTimeoutMs)}`);
    }
    const root = path.resolve(opts.root);
    const what = `open store ${root}`;
    try {
      await mkdirPrivate(root);
      // A layout made by berth before 0.x (0755 directories, 0644 files) is made
      // owner-only once: the layout directory's own mode, fixed last, is the mark.
      const repair = ((await stat(root)).mode & 0o7777) !== PRIVATE_DIR_MODE;
      const existing = await readSmallFile(path.join(root, 'oci-layout'));
      if (existing === undefined) {
        const foreign = (await readdir(root)).filter((e) => !OWN_ENTRIES.has(e));
        if (foreign.length > 0) {
          throw new BerthError('ESTORE', `${what}: the directory is not empty and has no oci-layout file (found ${foreign.slice(0, 3).join(', ')}); refusing to turn it into a store`);
        }
      } else {
        checkLayoutFile(existing, what);
      }
      const store = new Store(root, opts);
      await store.ensureLayout(existing === undefined);
      if (repair) await makeTreePrivate(root);
      return store;
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  private async ensureLayout(createLayoutFile: boolean): Promise<void> {
    for (const dir of [path.join(this.blobsDir, 'sha256'), this.tmpDir, this.ingestDir, this.locksDir]) {
      await mkdirPrivate(dir);
    }
    if (createLayoutFile) {
      await this.withLease(async () => {
        const tmp = tempName(this.tmpDir, 'oci-layout');
        await writeFileAtomicNoReplace(tmp, path.join(this.root, 'oci-layout'), encodeJson({ imageLayoutVersion: IMAGE_LAYOUT_VERSION }));
      });
      const raced = await readSmallFile(path.join(this.root, 'oci-layout'));
      if (raced !== undefined) checkLayoutFile(raced, `open store ${this.root}`);
    }
    const indexPath = path.join(this.root, 'index.json');
    if (!(await exists(indexPath))) {
      await this.withLock(INDEX_LOCK, async () => {
        if (!(await exists(indexPath))) await this.writeIndexJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
      });
    }
  }

  // ---------------------------------------------------------------- blobs

  /** `<root>/blobs/<alg>/<hex>`; the digest is validated first (EINVAL_DIGEST). */
  blobPath(digest: Digest | string): string {
    const d = toDigest(digest, 'blob path');
    return path.join(this.blobsDir, d.algorithm, d.hex);
  }

  async has(digest: Digest | string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /** Size of a stored blob, or undefined if it is not in the store. */
  async size(digest: Digest | string): Promise<number | undefined> {
    const p = this.blobPath(digest);
    try {
      const st = await stat(p);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw wrapError(`stat blob ${digest.toString()}`, err);
    }
  }

  /**
   * A stream of a stored blob that verifies digest (and `size` if given) as
   * it goes and errors at EOF instead of ending if they differ
   * (EDIGEST_MISMATCH / ESIZE_MISMATCH naming the blob). A missing blob is
   * ENOT_FOUND, as a stream error.
   */
  openBlob(digest: Digest | string, opts: { size?: number } = {}): Readable {
    const d = toDigest(digest, 'read blob');
    const size = checkSize(opts.size, `read blob ${d}`);
    return new BlobReader({ path: this.blobPath(d), digest: d, size });
  }

  /** A whole stored blob, verified. */
  async readBlob(digest: Digest | string, opts: ReadBlobOptions = {}): Promise<Buffer> {
    const d = toDigest(digest, 'read blob');
    const what = `read blob ${d}`;
    const size = checkSize(opts.size, what);
    let fh;
    try {
      fh = await open(this.blobPath(d), 'r');
    } catch (err) {
      throw mapOpenError(what, err);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BerthError('ESTORE', `${what}: not a regular file`);
      if (size !== undefined && st.size !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: stored blob has ${st.size} bytes, expected ${size}`, { details: { expected: size, actual: st.size } });
      }
      if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
        throw new BerthError('ETOO_LARGE', `${what}: ${st.size} bytes exceeds the ${opts.maxBytes}-byte limit`);
      }
      const buf = await fh.readFile();
      if (size !== undefined && buf.length !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: got ${buf.length} bytes, expected ${size}`, { details: { expected: size, actual: buf.length } });
      }
      const actual = Digest.of(buf, d.algorithm);
      if (!actual.equals(d)) {
        throw new BerthError('EDIGEST_MISMATCH', `${what}: stored content hashes to ${actual}; the blob is corrupt`, {
          details: { expected: d.toString(), actual: actual.toString() },
        });
      }
      return buf;
    } catch (err) {
      throw wrapError(what, err);
    } finally {
      await fh.close();
    }
  }

  /**
   * Store bytes (or a stream) as a blob. Idempotent: an existing blob is not
   * rewritten (a stream given for it is destroyed unread). Atomic: the data go
   * to a temp file in `tmp/`, hashed while written, fsynced, checked against
   * `opts.size`/`opts.digest` BEFORE the rename into `blobs/`, then the
   * directory is fsynced. On any failure nothing appears under `blobs/`.
   */
  async putBlob(data: Uint8Array | Readable, opts: PutBlobOptions = {}): Promise<{ digest: Digest; size: number }> {
    const expected = opts.digest === undefined ? undefined : toDigest(opts.digest, 'put blob');
    const what = expected ? `put blob ${expected}` : 'put blob';
    const size = checkSize(opts.size, what);
    const algorithm = expected?.algorithm ?? 'sha256';
    if (data instanceof Uint8Array) {
      const digest = Digest.of(data, algorithm);
      if (size !== undefined && data.length !== size) {
        throw new BerthError('ESIZE_MISMATCH', `${what}: got ${data.length} bytes, expected ${size}`, { details: { expected: size, actual: data.length } });
      }
      if (expected && !expected.equals(digest)) {
        throw new BerthError('EDIGEST_MISMATCH', `${what}: content hashes to ${digest}`, { details: { expected: expected.toString(), actual: digest.toString() } });
      }
      if ((await this.size(digest)) === data.length) return { digest, size: data.length };
      return this.writeBlob([data], { algorithm, expected: digest, size: data.length, what: `put blob ${digest}` });
    }
    if (!(data instanceof Readable)) throw new BerthError('EINVAL_ARGUMENT', `${what}: data must be a Buffer/Uint8Array or a Readable`);
    if (expected) {
      const have = await this.size(expected);
      if (have !== undefined && (size === undefined || have === size)) {
        // Consume the caller's stream rather than destroying it: a tar entry or
        // a pipeline upstream expects its data to be read to the end.
        data.resume();
        await finished(data).catch(() => undefined);
        return { digest: expected, size: have };
      }
    }
    return this.writeBlob(data, { algorithm, expected, size, what });
  }

  private async writeBlob(
    source: AsyncIterable<unknown> | Iterable<unknown>,
    opts: { algorithm: Digest['algorithm']; expected: Digest | undefined; size: number | undefined; what: string },
  ): Promise<{ digest: Digest; size: number }> {
    const { what, size, expected } = opts;
    try {
      return await this.withLease(async () => {
        await mkdirPrivate(this.tmpDir);
        const tmp = tempName(this.tmpDir, 'blob');
        const fh = await open(tmp, 'wx', PRIVATE_FILE_MODE);
        let renamed = false;
        try {
          const hash = createHash(opts.algorithm);
          let bytes = 0;
          for await (const raw of source) {
            const chunk = toChunk(raw, what);
            if (size !== undefined && bytes + chunk.length > size) {
              throw new BerthError('ESIZE_MISMATCH', `${what}: more than the expected ${size} bytes`, { details: { expected: size } });
            }
            await writeFully(fh, chunk, bytes);
            hash.update(chunk);
            bytes += chunk.length;
          }
          await fh.sync();
          if (size !== undefined && bytes !== size) {
            throw new BerthError('ESIZE_MISMATCH', `${what}: got ${bytes} bytes, expected ${size}`, { details: { expected: size, actual: bytes } });
          }
          const digest = Digest.fromHash(opts.algorithm, hash);
          if (expected && !expected.equals(digest)) {
            throw new BerthError('EDIGEST_MISMATCH', `${what}: content hashes to ${digest}`, { details: { expected: expected.toString(), actual: digest.toString() } });
          }
          const target = this.blobPath(digest);
          await mkdirPrivate(path.dirname(target));
          await rename(tmp, target);
          renamed = true;
          await fsyncDir(path.dirname(target));
          return { digest, size: bytes };
        } finally {
          await fh.close();
          if (!renamed) await rm(tmp, { force: true });
        }
      });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  /**
   * Begin (or resume) a download of one blob. Waits for the per-digest
   * cross-process lock, held until commit/abort/release. If the blob is
   * already stored once the lock is ours, `exists` is true.
   */
  async ingest(opts: IngestOptions): Promise<BlobIngest> {
    const digest = toDigest(opts?.digest, 'ingest blob');
    const what = `ingest blob ${digest}`;
    const size = checkSize(opts.size, what);
    await mkdirPrivate(this.ingestDir);
    const leaseLock = await FileLock.acquire(this.lockPath(LEASE_LOCK), { mode: 'shared', timeoutMs: this.lockTimeoutMs, what: `${what}: lock the store against gc` });
    let digestLock: FileLock;
    try {
      // Another process downloading the same blob may take long: wait while its
      // partial grows, and give up only once it has stalled for the timeout.
      const partial = this.partialPath(digest);
      digestLock = await FileLock.acquire(this.blobLockPath(digest), {
        mode: 'exclusive',
        timeoutMs: this.lockTimeoutMs,
        progress: () => sizeOrUndefined(partial),
        what: `${what}: lock the digest`,
      });
    } catch (err) {
      await leaseLock.release();
      throw err;
    }
    const ingest = new Ingest({
      digest,
      expectedSize: size,
      partialPath: this.partialPath(digest),
      blobPath: this.blobPath(digest),
      digestLock,
      leaseLock,
    });
    await ingest.start();
    return ingest;
  }

  // ---------------------------------------------------------------- locks

  /**
   * Run `fn` holding a cross-process exclusive lock (flock on `locks/<name>.lock`;
   * released by the kernel if the process dies). Reentrant within one async
   * flow. `index` is the lock guarding `index.json` (tags). Names: letters,
   * digits, `._-`; `gc` and `blob-*` are reserved.
   */
  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (typeof name !== 'string' || !LOCK_NAME_RE.test(name) || name === LEASE_LOCK || name.startsWith('blob-')) {
      throw new BerthError('EINVAL_ARGUMENT', `lock ${JSON.stringify(name)}: invalid or reserved lock name`);
    }
    return withFileLock(this.lockPath(name), { mode: 'exclusive', timeoutMs: this.lockTimeoutMs, what: `lock ${name} of store ${this.root}` }, fn);
  }

  /**
   * Run `fn` with a lease on the store: `gc` waits until no lease is held, so
   * blobs written inside the lease survive until they are tagged. Wrap a whole
   * pull or build (blobs, then manifest, then `setTag`) in one lease.
   */
  async withLease<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.lockPath(LEASE_LOCK), { mode: 'shared', timeoutMs: this.lockTimeoutMs, what: `lease on store ${this.root}` }, fn);
  }

  private lockPath(name: string): string {
    return path.join(this.locksDir, `${name}.lock`);
  }

  private blobLockPath(d: Digest): string {
    return this.lockPath(`blob-${d.algorithm}-${d.hex}`);
  }

  private partialPath(d: Digest): string {
    return path.join(this.ingestDir, `${d.algorithm}-${d.hex}`);
  }

  // ---------------------------------------------------------------- tags

  /** The descriptor tagged with exactly this (full) reference, if any. */
  async resolve(ref: Reference | string): Promise<Descriptor | undefined> {
    const r = toReference(ref, 'resolve');
    const name = r.toString();
    const index = await this.readIndexJson();
    const entry = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === name);
    return entry ? { ...entry } : undefined;
  }

  /**
   * Point `ref` at `descriptor` (normally a platform manifest; an index is
   * allowed). The blob must already be stored. Replaces an existing entry of
   * the same name in place; index.json is rewritten atomically under the lock.
   */
  async setTag(ref: Reference | string, descriptor: Descriptor): Promise<void> {
    const r = toReference(ref, 'tag');
    const name = r.toString();
    const what = `tag ${name}`;
    const issue = validateDescriptor(descriptor);
    if (issue) throw new BerthError('EINVAL_ARGUMENT', `${what}: invalid descriptor: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    const desc: Descriptor = { ...descriptor };
    const have = await this.size(desc.digest);
    if (have === undefined) throw new BerthError('ENOT_FOUND', `${what}: ${desc.digest} is not in the store`);
    if (have !== desc.size) throw new BerthError('ESIZE_MISMATCH', `${what}: descriptor says ${desc.size} bytes, stored blob ${desc.digest} has ${have}`);
    const entry: Descriptor = { ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: name } };
    try {
      await this.withLock(INDEX_LOCK, async () => {
        const index = await this.readIndexJson();
        // Replace in place (first entry of that name; drop duplicates), else append.
        const manifests: Descriptor[] = [];
        let placed = false;
        for (const m of index.manifests) {
          if (m.annotations?.[REF_NAME_ANNOTATION] !== name) manifests.push(m);
          else if (!placed) {
            manifests.push(entry);
            placed = true;
          }
        }
        if (!placed) manifests.push(entry);
        await this.writeIndexJson({ ...index, manifests });
      });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  /** Remove the entry named `ref`; false if there was none. */
  async removeTag(ref: Reference | string): Promise<boolean> {
    const r = toReference(ref, 'untag');
    const name = r.toString();
    try {
      return await this.withLock(INDEX_LOCK, async () => {
        const index = await this.readIndexJson();
        const manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== name);
        if (manifests.length === index.manifests.length) return false;
        await this.writeIndexJson({ ...index, manifests });
        return true;
      });
    } catch (err) {
      throw wrapError(`untag ${name}`, err);
    }
  }

  /**
   * Every tag, in index.json order. Entries whose name is not a full,
   * normalised reference (e.g. a bare `latest` written by another tool) are
   * left out here but kept in the file and treated as GC roots.
   */
  async listTags(): Promise<TagEntry[]> {
    const index = await this.readIndexJson();
    const out: TagEntry[] = [];
    for (const m of index.manifests) {
      const name = m.annotations?.[REF_NAME_ANNOTATION];
      if (name === undefined) continue;
      const reference = Reference.tryParse(name);
      if (!reference || reference.toString() !== name) continue;
      out.push({ reference, descriptor: { ...m } });
    }
    return out;
  }

  private async readIndexJson(): Promise<Index> {
    const p = path.join(this.root, 'index.json');
    const what = `read ${p}`;
    let bytes: Buffer;
    try {
      bytes = await readFile(p);
    } catch (err) {
      throw wrapError(what, err);
    }
    try {
      return parseIndex(bytes, what, { maxBytes: MAX_INDEX_JSON_BYTES, code: 'ESTORE' });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  private async writeIndexJson(index: Index): Promise<void> {
    await writeFileAtomic(path.join(this.root, 'index.json'), Buffer.from(`${JSON.stringify(index, null, 2)}\n`), this.tmpDir, PRIVATE_FILE_MODE);
  }

  // ---------------------------------------------------------------- reading images

  /** A stored image manifest, verified and validated. */
  async readManifest(d: DescriptorLike): Promise<Manifest> {
    const desc = toDescriptorLike(d, 'read manifest');
    const what = `manifest ${desc.digest}`;
    if (desc.mediaType !== undefined && isIndexMediaType(desc.mediaType)) {
      throw new BerthError('EINVAL_MANIFEST', `${what}: is an image index (${desc.mediaType}), not a manifest`);
    }
    const bytes = await this.readBlob(desc.digest, { maxBytes: MAX_MANIFEST_BYTES, size: desc.size });
    const manifest = parseManifest(bytes, what);
    checkMediaType(what, desc.mediaType, manifest.mediaType);
    if (manifest.mediaType !== undefined && isIndexMediaType(manifest.mediaType)) {
      throw new BerthError('EINVAL_MANIFEST', `${what}: is an image index (${manifest.mediaType}), not a manifest`);
    }
    return manifest;
  }

  /** A stored image index, verified and validated. */
  async readIndex(d: DescriptorLike): Promise<Index> {
    const desc = toDescriptorLike(d, 'read index');
    const what = `index ${desc.digest}`;
    const bytes = await this.readBlob(desc.digest, { maxBytes: MAX_MANIFEST_BYTES, size: desc.size });
    const index = parseIndex(bytes, what);
    checkMediaType(what, desc.mediaType, index.mediaType);
    return index;
  }

  /** A stored image config, verified and validated. */
  async readConfig(d: DescriptorLike): Promise<ImageConfig> {
    const desc = toDescriptorLike(d, 'read config');
    const bytes = await this.readBlob(desc.digest, { maxBytes: MAX_CONFIG_BYTES, size: desc.size });
    return parseImageConfig(bytes, `image config ${desc.digest}`);
  }

  /**
   * Find an image by tag (`alpine`, `docker.io/library/alpine:latest`), by
   * digest reference (`alpine@sha256:…`), by digest (`sha256:…` or 64 hex, of
   * a manifest, an index or a config), or by a unique hex prefix of one of
   * those (like docker's short image IDs). An index is narrowed to
   * `opts.platform` (default: the host's); ENO_MATCHING_PLATFORM lists what
   * the index offers.
   */
  async getImage(refOrDigest: Reference | string, opts: GetImageOptions = {}): Promise<StoredImage> {
    const label = typeof refOrDigest === 'string' ? refOrDigest : refOrDigest.toString();
    const what = `get image ${label}`;
    try {
      const wanted = opts.platform ? normalisePlatform(opts.platform) : hostPlatform();
      const found = await this.findImage(refOrDigest, what, wanted);
      return await this.loadImage(found.descriptor, { reference: found.reference, wanted, explicit: opts.platform !== undefined, what }, 0);
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  private async findImage(input: Reference | string, what: string, wanted: Platform): Promise<{ descriptor: Descriptor; reference?: Reference }> {
    if (input instanceof Reference) {
      if (input.digest) return { descriptor: await this.findByDigestReference(input, input.digest, what, wanted), reference: input };
      const d = await this.resolve(input);
      if (!d) throw new BerthError('EIMAGE_UNKNOWN', `${what}: no such image in the store`);
      return { descriptor: d, reference: input };
    }
    if (typeof input !== 'string' || input.length === 0) throw new BerthError('EINVAL_ARGUMENT', `${what}: expected a reference or a digest`);
    if (FULL_DIGEST_RE.test(input)) return { descriptor: await this.describeStored(Digest.parse(input), what) };
    if (/^[a-f0-9]{64}$/.test(input)) return { descriptor: await this.describeStored(Digest.parse(`sha256:${input}`), what) };
    const ref = Reference.tryParse(input);
    if (ref) {
      if (ref.digest) return { descriptor: await this.findByDigestReference(ref, ref.digest, what, wanted), reference: ref };
      const d = await this.resolve(ref);
      if (d) return { descriptor: d, reference: ref };
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,63})$/.exec(input)?.[1];
    if (prefix !== undefined) {
      const d = await this.findByPrefix(prefix, what);
      if (d) return { descriptor: d };
    }
    const shown = ref ? ref.toString() : input;
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: no such image in the store${shown !== input ? ` (${shown})` : ''}`);
  }

  /**
   * `NAME@DIGEST`: the stored manifest or index of that digest; else the tags pulled from an
   * index of that digest, whose platform manifests the store keeps but not the index (the tag
   * `NAME@DIGEST` itself, and tags of NAME annotated with the index digest): the one for
   * `wanted`, else the first.
   */
  private async findByDigestReference(ref: Reference, digest: Digest, what: string, wanted: Platform): Promise<Descriptor> {
    if ((await this.size(digest)) !== undefined) return this.describeStored(digest, what);
    const fullName = ref.toString();
    const candidates = (await this.readIndexJson()).manifests.filter((m) => {
      const tag = m.annotations?.[REF_NAME_ANNOTATION];
      if (tag === undefined) return false;
      return tag === fullName || (m.annotations?.[INDEX_DIGEST_ANNOTATION] === digest.toString() && Reference.tryParse(tag)?.name === ref.name);
    });
    const chosen = selectPlatform(candidates, wanted) ?? candidates[0];
    if (chosen) return { ...chosen };
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not in the store`);
  }

  /** A descriptor for a stored manifest or index found by digest; a config digest leads to its tagged manifest. */
  private async describeStored(digest: Digest, what: string): Promise<Descriptor> {
    const size = await this.size(digest);
    if (size === undefined) throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not in the store`);
    const kind = await this.sniff(digest, size);
    if (kind.mediaType) return { mediaType: kind.mediaType, digest: digest.toString(), size };
    if (kind.config) {
      const owners = (await this.imageCandidates()).filter((c) => c.via === 'config' && c.digest === digest.toString());
      const target = owners[0]?.target;
      if (target) return target;
      throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is an image config that no stored manifest in the tags uses`);
    }
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not an image manifest or index`);
  }

  /** Classify a small JSON blob: manifest, index, image config, or other. */
  private async sniff(digest: Digest, size: number): Promise<{ mediaType?: string; config?: boolean }> {
    if (size > MAX_CONFIG_BYTES) return {};
    let value: unknown;
    try {
      value = JSON.parse((await this.readBlob(digest, { size })).toString('utf8'));
    } catch (err) {
      if (err instanceof SyntaxError) return {};
      throw err;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    const obj = value as Record<string, unknown>;
    const mt = detectMediaType(obj);
    if (mt && isImageMediaType(mt)) return { mediaType: mt };
    if (typeof obj['rootfs'] === 'object' && typeof obj['architecture'] === 'string') return { config: true };
    return {};
  }

  /**
   * What an image ID may name: every index.json entry, the platform manifests
   * of tagged indexes that are stored, and the configs of those manifests.
   */
  private async imageCandidates(): Promise<Array<{ digest: string; target: Descriptor; via: 'self' | 'config' }>> {
    const out: Array<{ digest: string; target: Descriptor; via: 'self' | 'config' }> = [];
    const addManifest = async (d: Descriptor): Promise<void> => {
      out.push({ digest: d.digest, target: d, via: 'self' });
      try {
        const m = await this.readManifest(d);
        out.push({ digest: m.config.digest, target: d, via: 'config' });
      } catch {
        // Not stored or not readable: it simply is not a candidate by config.
      }
    };
    for (const entry of (await this.readIndexJson()).manifests) {
      if (isIndexMediaType(entry.mediaType)) {
        out.push({ digest: entry.digest, target: entry, via: 'self' });
        let index: Index;
        try {
          index = await this.readIndex(entry);
        } catch {
          continue;
        }
        for (const child of index.manifests) {
          if (isManifestMediaType(child.mediaType) && !isUnknownPlatform(child.platform) && (await this.has(child.digest))) await addManifest(child);
        }
      } else {
        await addManifest(entry);
      }
    }
    return out;
  }

  private async findByPrefix(prefix: string, what: string): Promise<Descriptor | undefined> {
    const matches = (await this.imageCandidates()).filter((c) => c.digest.startsWith(`sha256:${prefix}`));
    const targets = new Map(matches.map((m) => [m.target.digest, m.target]));
    if (targets.size > 1) {
      throw new BerthError('EINVAL_ARGUMENT', `${what}: ambiguous image ID prefix, matches ${[...targets.keys()].join(', ')}`);
    }
    const only = [...targets.values()][0];
    if (only) return only;
    // Untagged images (kept by GC roots or not yet collected): look at the blobs themselves.
    let names: string[];
    try {
      names = await readdir(path.join(this.blobsDir, 'sha256'));
    } catch {
      return undefined;
    }
    const found: Descriptor[] = [];
    for (const name of names.filter((n) => n.startsWith(prefix) && Digest.isValid(`sha256:${n}`))) {
      const digest = Digest.parse(`sha256:${name}`);
      const size = (await this.size(digest)) ?? 0;
      const kind = await this.sniff(digest, size);
      if (kind.mediaType) found.push({ mediaType: kind.mediaType, digest: digest.toString(), size });
    }
    if (found.length > 1) throw new BerthError('EINVAL_ARGUMENT', `${what}: ambiguous image ID prefix, matches ${found.map((f) => f.digest).join(', ')}`);
    return found[0];
  }

  private async loadImage(
    desc: Descriptor,
    ctx: { reference: Reference | undefined; wanted: Platform; explicit: boolean; what: string },
    depth: number,
  ): Promise<StoredImage> {
    if (isIndexMediaType(desc.mediaType)) {
      if (depth >= 4) throw new BerthError('EINVAL_MANIFEST', `${ctx.what}: indexes nested more than 4 deep`);
      const index = await this.readIndex(desc);
      const chosen = selectPlatform(index.manifests, ctx.wanted);
      if (!chosen) {
        const available = [...new Set(index.manifests.filter((m) => !isUnknownPlatform(m.platform)).map((m) => formatPlatform(normalisePlatform(m.platform as Platform))))];
        throw new BerthError(
          'ENO_MATCHING_PLATFORM',
          `${ctx.what}: no manifest for ${formatPlatform(ctx.wanted)} (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
          { details: { wanted: formatPlatform(ctx.wanted), available } },
        );
      }
      if (!(await this.has(chosen.digest))) {
        throw new BerthError('EIMAGE_UNKNOWN', `${ctx.what}: the ${formatPlatform(normalisePlatform(chosen.platform as Platform))} manifest ${chosen.digest} is not in the store (pull that platform)`);
      }
      const image = await this.loadImage(chosen, ctx, depth + 1);
      return depth === 0 ? { ...image, index: desc } : image;
    }
    const manifest = await this.readManifest(desc);
    const configDescriptor = manifest.config;
    const config = await this.readConfig(configDescriptor);
    const actual: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) actual.variant = config.variant;
    if (ctx.explicit && !platformMatches(ctx.wanted, actual)) {
      throw new BerthError('ENO_MATCHING_PLATFORM', `${ctx.what}: image is ${formatPlatform(normalisePlatform(actual))}, not ${formatPlatform(ctx.wanted)}`, {
        details: { wanted: formatPlatform(ctx.wanted), available: [formatPlatform(normalisePlatform(actual))] },
      });
    }
    const image: StoredImage = { descriptor: desc, manifest, config, configDescriptor };
    if (ctx.reference) image.reference = ctx.reference;
    return image;
  }

  // ---------------------------------------------------------------- gc

  /**
   * Mark and sweep. Marks everything reachable from every index.json entry
   * and from `opts.roots` (index → manifests → config, layers, subject), then
   * removes unmarked blobs, stale partial downloads in `ingest/` (never one
   * whose digest lock is held by a live ingest) and stale files in `tmp/`.
   * Waits until no lease (withLease, putBlob, ingest) is held, and holds the
   * index lock throughout, so nothing is written while it runs. A stored
   * manifest or index that cannot be read or is corrupt aborts the collection
   * (nothing is removed) rather than losing what it references.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const roots = (opts.roots ?? []).map((r) => toDigest(r, 'gc'));
    const leasePath = this.lockPath(LEASE_LOCK);
    if (heldMode(leasePath) === 'shared') throw new BerthError('EINVAL_ARGUMENT', 'gc: cannot run inside a lease on the same store');
    try {
      return await withFileLock(leasePath, { mode: 'exclusive', timeoutMs: this.lockTimeoutMs, what: `gc: wait for leases on store ${this.root}` }, () =>
        this.withLock(INDEX_LOCK, () => this.collect(roots, opts.dryRun === true)),
      );
    } catch (err) {
      throw wrapError('gc', err);
    }
  }

  private async collect(roots: Digest[], dryRun: boolean): Promise<GcResult> {
    const marked = new Set<string>();
    const visit = async (d: { digest: string; mediaType?: string | undefined; size?: number | undefined }): Promise<void> => {
      if (marked.has(d.digest)) return;
      marked.add(d.digest);
      const digest = Digest.parse(d.digest);
      const size = await this.size(digest);
      if (size === undefined) return; // e.g. platforms of an index that were never pulled
      // A root given by digest has no media type: look at the content.
      const mediaType = d.mediaType ?? (await this.sniff(digest, size)).mediaType;
      if (isIndexMediaType(mediaType)) {
        const index = await this.readIndex({ digest: d.digest, size: d.size ?? size, mediaType: mediaType as string });
        for (const child of index.manifests) await visit(child);
        if (index.subject) await visit(index.subject);
      } else if (isManifestMediaType(mediaType)) {
        const manifest = await this.readManifest({ digest: d.digest, size: d.size ?? size, mediaType: mediaType as string });
        await visit(manifest.config);
        for (const layer of manifest.layers) await visit(layer);
        if (manifest.subject) await visit(manifest.subject);
      }
    };
    for (const entry of (await this.readIndexJson()).manifests) await visit(entry);
    for (const root of roots) await visit({ digest: root.toString() });

    const result: GcResult = { removed: [], temporary: [], bytes: 0 };
    for (const alg of await readdirOrEmpty(this.blobsDir)) {
      const dir = path.join(this.blobsDir, alg);
      let changed = false;
      for (const name of await readdirOrEmpty(dir)) {
        const digest = `${alg}:${name}`;
        if (!Digest.isValid(digest) || marked.has(digest)) continue;
        const st = await lstat(path.join(dir, name));
        if (!st.isFile()) continue;
        if (!dryRun) await rm(path.join(dir, name), { force: true });
        changed = true;
        result.removed.push(digest);
        result.bytes += st.size;
      }
      if (changed && !dryRun) await fsyncDir(dir);
    }
    for (const name of await readdirOrEmpty(this.ingestDir)) {
      const m = PARTIAL_RE.exec(name);
      if (!m || !Digest.isValid(`${m[1]}:${m[2]}`)) continue;
      const digest = Digest.parse(`${m[1]}:${m[2]}`);
      const lock = await FileLock.tryAcquire(this.blobLockPath(digest), 'exclusive', `gc: lock ${digest}`);
      if (!lock) continue; // a live ingest owns it
      try {
        const st = await lstat(path.join(this.ingestDir, name)).catch(() => undefined);
        if (!st?.isFile()) continue;
        if (!dryRun) await rm(path.join(this.ingestDir, name), { force: true });
        result.temporary.push(`ingest/${name}`);
        result.bytes += st.size;
      } finally {
        await lock.release({ unlink: !dryRun });
      }
    }
    // Every writer of tmp/ holds a lease or the index lock, and we hold both: all of tmp/ is stale.
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const st = await lstat(path.join(this.tmpDir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (!dryRun) await rm(path.join(this.tmpDir, name), { force: true });
      result.temporary.push(`tmp/${name}`);
      result.bytes += st.size;
    }
    if (!dryRun) {
      // Lock files of finished or dead ingests.
      for (const name of await readdirOrEmpty(this.locksDir)) {
        if (!name.startsWith('blob-') || !name.endsWith('.lock')) continue;
        const lock = await FileLock.tryAcquire(path.join(this.locksDir, name), 'exclusive', `gc: lock ${name}`);
        if (lock) await lock.release({ unlink: true });
      }
    }
    return result;
  }
}

// ---------------------------------------------------------------- helpers

function toDigest(d: Digest | string | undefined, doing: string): Digest {
  if (d instanceof Digest) return d;
  if (typeof d !== 'string') throw new BerthError('EINVAL_DIGEST', `${doing}: a digest is required`);
  try {
    return Digest.parse(d);
  } catch (err) {
    throw wrapError(doing, err, 'EINVAL_DIGEST');
  }
}

function toReference(r: Reference | string, doing: string): Reference {
  if (r instanceof Reference) return r;
  if (typeof r !== 'string') throw new BerthError('EINVAL_REFERENCE', `${doing}: a reference is required`);
  try {
    return Reference.parse(r);
  } catch (err) {
    throw wrapError(doing, err, 'EINVAL_REFERENCE');
  }
}

function toDescriptorLike(d: DescriptorLike, doing: string): { digest: Digest; size?: number; mediaType?: string } {
  if (d instanceof Digest || typeof d === 'string') return { digest: toDigest(d, doing) };
  if (typeof d !== 'object' || d === null) throw new BerthError('EINVAL_ARGUMENT', `${doing}: expected a descriptor or a digest`);
  const out: { digest: Digest; size?: number; mediaType?: string } = { digest: toDigest(d.digest, doing) };
  if (typeof d.size === 'number') out.size = checkSize(d.size, doing) as number;
  if (typeof d.mediaType === 'string') out.mediaType = d.mediaType;
  return out;
}

function checkSize(size: number | undefined, doing: string): number | undefined {
  if (size === undefined) return undefined;
  if (!Number.isSafeInteger(size) || size < 0) throw new BerthError('EINVAL_ARGUMENT', `${doing}: size must be a non-negative integer, got ${String(size)}`);
  return size;
}

function checkMediaType(what: string, expected: string | undefined, actual: string | undefined): void {
  if (expected !== undefined && actual !== undefined && expected !== actual) {
    throw new BerthError('EINVAL_MANIFEST', `${what}: descriptor says ${expected} but the content says ${actual}`);
  }
}

function toChunk(raw: unknown, what: string): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (typeof raw === 'string') return Buffer.from(raw);
  throw new BerthError('EINVAL_ARGUMENT', `${what}: the stream yielded a ${typeof raw}, not bytes`);
}

function checkLayoutFile(bytes: Buffer, what: string): void {
  let version: unknown;
  try {
    version = (JSON.parse(bytes.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch (err) {
    throw new BerthError('ESTORE', `${what}: oci-layout is not valid JSON`, { cause: err });
  }
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
    throw new BerthError('ESTORE', `${what}: unsupported oci-layout imageLayoutVersion ${JSON.stringify(version)} (expected 1.x)`);
  }
}

async function readSmallFile(p: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(p);
    if (st.size > 64 * 1024) throw new BerthError('ESTORE', `read ${p}: ${st.size} bytes is too large`);
    return await readFile(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Create `target` with `data` unless it exists: temp file, fsync, link (fails if present), fsync dir. */
async function writeFileAtomicNoReplace(tmp: string, target: string, data: Uint8Array): Promise<void> {
  const fh = await open(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, target);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  await fsyncDir(path.dirname(target));
}

function sizeOrUndefined(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
