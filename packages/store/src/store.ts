import { link, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, MediaType, encodeJson } from '@berth/oci';
import type { Descriptor, Digest, ImageConfig, Index, Manifest, Reference } from '@berth/oci';
import { BlobStore, type IngestOptions, type OpenBlobOptions, type PutBlobOptions, type ReadBlobOptions } from './blobs.js';
import type { DescriptorLike } from './check.js';
import { errnoCode, fsyncDir, tempName, wrapError } from './fsutil.js';
import { Collector, type GcOptions, type GcResult } from './gc.js';
import type { BlobIngest } from './ingest.js';
import { IMAGE_LAYOUT_VERSION, OWN_ENTRIES, storeLayout, type StoreLayout } from './layout.js';
import { DEFAULT_LOCK_TIMEOUT_MS, StoreLocks } from './locks.js';
import { readConfig, readIndex, readManifest } from './manifests.js';
import { makeTreePrivate, mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './perms.js';
import { RefStore, type TagEntry } from './refs.js';
import { ImageResolver, type GetImageOptions, type StoredImage } from './resolve.js';

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

/** What `Store.putImage` wrote: the manifest (its digest and descriptor) and the config's digest. */
export interface PutImageResult {
  digest: Digest;
  descriptor: Descriptor;
  manifest: Manifest;
  configDigest: Digest;
}

/**
 * A content store on disk that is a plain OCI image layout (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`), readable by skopeo and umoci, plus
 * berth's own working directories beside them: `tmp/` (atomic writes),
 * `ingest/` (resumable partial downloads) and `locks/` (flock files).
 *
 * A facade over its parts: `blobs` (content by digest, blobs.ts), `refs`
 * (index.json, refs.ts), image resolution (resolve.ts), garbage collection
 * (gc.ts) and the store's locks (locks.ts). See README.md for the contracts.
 */
export class Store {
  readonly root: string;
  /** The blobs, by digest: has/size/open/openFile/read/put/ingest/list. */
  readonly blobs: BlobStore;
  /** The tags: the entries of index.json. */
  readonly refs: RefStore;
  private readonly layout: StoreLayout;
  private readonly locks: StoreLocks;
  private readonly resolver: ImageResolver;
  private readonly collector: Collector;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.layout = storeLayout(root);
    this.locks = new StoreLocks(this.layout, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    this.blobs = new BlobStore(this.layout, this.locks);
    this.refs = new RefStore(this.layout, this.blobs, this.locks);
    this.resolver = new ImageResolver(this.blobs, this.refs);
    this.collector = new Collector({ blobs: this.blobs, refs: this.refs, locks: this.locks });
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
    const { layout } = this;
    for (const dir of [path.join(layout.blobsDir, 'sha256'), layout.tmpDir, layout.ingestDir, layout.locksDir]) {
      await mkdirPrivate(dir);
    }
    if (createLayoutFile) {
      await this.withLease(async () => {
        const tmp = tempName(layout.tmpDir, 'oci-layout');
        await writeFileAtomicNoReplace(tmp, layout.layoutFile, encodeJson({ imageLayoutVersion: IMAGE_LAYOUT_VERSION }));
      });
      const raced = await readSmallFile(layout.layoutFile);
      if (raced !== undefined) checkLayoutFile(raced, `open store ${this.root}`);
    }
    await this.refs.init();
  }

  // ---------------------------------------------------------------- blobs (blobs.ts)

  has(digest: Digest | string): Promise<boolean> {
    return this.blobs.has(digest);
  }

  /** Size of a stored blob, or undefined if it is not in the store. */
  size(digest: Digest | string): Promise<number | undefined> {
    return this.blobs.size(digest);
  }

  /** A verifying stream of a stored blob (see `BlobStore.open`). */
  openBlob(digest: Digest | string, opts: OpenBlobOptions = {}): Readable {
    return this.blobs.open(digest, opts);
  }

  /** A whole stored blob, verified. */
  readBlob(digest: Digest | string, opts: ReadBlobOptions = {}): Promise<Buffer> {
    return this.blobs.read(digest, opts);
  }

  /** Store bytes (or a stream) as a blob, atomically and idempotently (see `BlobStore.put`). */
  putBlob(data: Uint8Array | Readable, opts: PutBlobOptions = {}): Promise<{ digest: Digest; size: number }> {
    return this.blobs.put(data, opts);
  }

  /** Begin (or resume) a download of one blob (see `BlobStore.ingest`). */
  ingest(opts: IngestOptions): Promise<BlobIngest> {
    return this.blobs.ingest(opts);
  }

  // ---------------------------------------------------------------- locks (locks.ts)

  /** Run `fn` holding the store's cross-process exclusive lock `name` (see `StoreLocks.withLock`). */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.withLock(name, fn);
  }

  /**
   * Run `fn` with a lease on the store: `gc` waits until no lease is held, so
   * blobs written inside the lease survive until they are tagged. Wrap a whole
   * pull or build (blobs, then manifest, then `setTag`) in one lease.
   */
  withLease<T>(fn: () => Promise<T>): Promise<T> {
    return this.locks.withLease(fn);
  }

  // ---------------------------------------------------------------- tags (refs.ts)

  /** The descriptor tagged with exactly this (full) reference, if any. */
  resolve(ref: Reference | string): Promise<Descriptor | undefined> {
    return this.refs.get(ref);
  }

  /** Point `ref` at a stored `descriptor` (see `RefStore.set`). */
  setTag(ref: Reference | string, descriptor: Descriptor): Promise<void> {
    return this.refs.set(ref, descriptor);
  }

  /** Remove the entry named `ref`; false if there was none. */
  removeTag(ref: Reference | string): Promise<boolean> {
    return this.refs.remove(ref);
  }

  /** Every tag with a full reference as its name, in index.json order. */
  listTags(): Promise<TagEntry[]> {
    return this.refs.list();
  }

  // ---------------------------------------------------------------- images (manifests.ts, resolve.ts)

  /** A stored image manifest, verified and validated. */
  readManifest(d: DescriptorLike): Promise<Manifest> {
    return readManifest(this.blobs, d);
  }

  /** A stored image index, verified and validated. */
  readIndex(d: DescriptorLike): Promise<Index> {
    return readIndex(this.blobs, d);
  }

  /** A stored image config, verified and validated. */
  readConfig(d: DescriptorLike): Promise<ImageConfig> {
    return readConfig(this.blobs, d);
  }

  /**
   * Store an image whose layers are stored already: its config blob, then an OCI image manifest
   * naming that config and `layers` (so a stored manifest never names a missing config). Returns
   * the manifest's descriptor (with `platform` when given), ready for `setTag`; tags are the caller's.
   */
  async putImage(opts: { config: ImageConfig; layers: Descriptor[]; platform?: Descriptor['platform'] }): Promise<PutImageResult> {
    const configPut = await this.putBlob(encodeJson(opts.config));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configPut.digest.toString(), size: configPut.size },
      layers: opts.layers,
    };
    const manifestPut = await this.putBlob(encodeJson(manifest));
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: manifestPut.digest.toString(), size: manifestPut.size };
    if (opts.platform) descriptor.platform = { ...opts.platform };
    return { digest: manifestPut.digest, descriptor, manifest, configDigest: configPut.digest };
  }

  /** Find an image by tag, digest reference, digest or short ID (see `ImageResolver.getImage`). */
  getImage(refOrDigest: Reference | string, opts: GetImageOptions = {}): Promise<StoredImage> {
    return this.resolver.getImage(refOrDigest, opts);
  }

  // ---------------------------------------------------------------- gc (gc.ts)

  /** Mark and sweep (see `Collector.gc`). */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return this.collector.gc(opts);
  }
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
