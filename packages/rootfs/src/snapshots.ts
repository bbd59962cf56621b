/**
 * Snapshots: each image's layers applied once into `<root>/<chain-id hex>`.
 *
 * Layout under the snapshots root:
 *   <hex>/           a finished snapshot (the root file system itself); never modified
 *   .tmp/<hex>.XXXX  a build in progress (or left by a crashed builder)
 *   .locks/<hex>.lock  flock (@berth/store's FileLock): exclusive while building/removing, shared while copying from it
 *
 * A build applies every layer into a fresh temp dir and renames it into place
 * only when all layers applied and verified; a failure removes the temp dir.
 *
 * On btrfs the temp dir is made as a subvolume (BTRFS_IOC_SUBVOL_CREATE), so
 * createRootfs can give each container a btrfs snapshot of it (one ioctl), and
 * once renamed into place it is made read-only (BTRFS_SUBVOL_RDONLY): the
 * kernel then refuses every change to the image's tree. Everything berth keeps
 * beside a snapshot (locks, temp dirs) lives outside it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { join, resolve } from 'node:path';
import { applyLayer } from '@berth/layers';
import { BerthError, chainId as computeChainId, Digest, describeError, isBerthError } from '@berth/oci';
import type { ImageConfig, Manifest } from '@berth/oci';
import { FileLock, type LockMode, type Store, type StoredImage } from '@berth/store';
import { createSubvolume, destroySubvolume, isSubvolumeRoot, onBtrfs, setReadOnly, withDirFd } from './btrfs.js';
import { removeTreeSync } from './remove.js';

export interface SnapshotsOptions {
  /** The snapshots directory, e.g. `$BERTH_ROOT/snapshots`. Created on first use. */
  root: string;
  /** Where layer blobs are read from. */
  store: Store;
  /** Notes on how snapshots are made (a btrfs subvolume or a plain directory, and why). */
  log?: (msg: string) => void;
  /**
   * Give up waiting for a snapshot's lock after this long, with ELOCKED naming the
   * lock file and the pid holding it. Default DEFAULT_SNAPSHOT_LOCK_TIMEOUT_MS
   * (10 minutes: the holder may be building or copying a big image); Infinity waits for ever.
   */
  lockTimeoutMs?: number;
}

/** How long a snapshot's lock is waited for by default. */
export const DEFAULT_SNAPSHOT_LOCK_TIMEOUT_MS = 10 * 60_000;

export interface SnapshotProgress {
  /** 1-based index of the layer being applied. */
  layer: number;
  of: number;
  /** The layer blob's digest. */
  digest: string;
}

export interface EnsureOptions {
  /** The image (only `manifest` and `config` are used), e.g. from `store.getImage()`. */
  image: Pick<StoredImage, 'manifest' | 'config'>;
  /** Called before each layer is applied (only when this call builds the snapshot). */
  onProgress?: (e: SnapshotProgress) => void;
}

export interface EnsureResult {
  path: string;
  chainId: Digest;
  /** True when this call built it; false when it existed or another builder made it meanwhile. */
  created: boolean;
}

export interface SnapshotsGcOptions {
  /** Chain IDs to keep (Digest, `sha256:…`, or bare hex). Everything else goes. */
  keep: Array<Digest | string>;
}

export interface SnapshotsGcResult {
  /** Chain IDs of the snapshots removed. */
  removed: string[];
  /** Snapshots not removed because a copy was reading them or a build holding them (still referenced elsewhere). */
  busy: string[];
  /** Leftover temp dirs of crashed builds removed (names under `.tmp/`). */
  temporary: string[];
}

const HEX_RE = /^(?:[a-f0-9]{64}|[a-f0-9]{128})$/;
const TMP = '.tmp';
const LOCKS = '.locks';
/** Snapshot lock files are private, and errors about them are the rootfs's. */
const LOCK_FILE = { errorCode: 'EROOTFS', fileMode: 0o600 } as const;
const never = (): boolean => false;

/** The chain ID an image's snapshot is stored under. An image without layers gets the digest of nothing. */
export function imageChainId(image: { manifest: Manifest; config: ImageConfig }): Digest {
  const diffIds = image.config.rootfs.diff_ids;
  if (image.manifest.layers.length !== diffIds.length) {
    throw new BerthError(
      'EINVAL_CONFIG',
      `image has ${image.manifest.layers.length} layers but its config lists ${diffIds.length} diff_ids`,
    );
  }
  return computeChainId(diffIds) ?? Digest.of('');
}

/**
 * After a failed build into the temp tree `tmp` (a snapshot, or unpackImage's
 * layers): remove it, and return the error to throw, `doing: what went wrong`
 * (plus the removal's own failure, if any).
 */
export function discardFailedBuild(tmp: string, doing: string, err: unknown): BerthError {
  try {
    removeTreeSync(tmp);
  } catch (cleanupErr) {
    return new BerthError('EROOTFS', `${doing}: ${describeError(err)} (and removing ${tmp} failed: ${describeError(cleanupErr)})`, { cause: err });
  }
  return BerthError.wrap(doing, err, 'EROOTFS');
}

function toDigest(id: Digest | string, doing: string): Digest {
  if (typeof id !== 'string') return id;
  if (HEX_RE.test(id)) return Digest.parse(`${id.length === 64 ? 'sha256' : 'sha512'}:${id}`);
  try {
    return Digest.parse(id);
  } catch (err) {
    throw BerthError.wrap(doing, err, 'EINVAL_DIGEST');
  }
}

export class Snapshots {
  readonly root: string;
  readonly store: Store;
  private readonly log: ((msg: string) => void) | undefined;
  private readonly lockTimeoutMs: number;

  constructor(opts: SnapshotsOptions) {
    this.root = resolve(opts.root);
    this.store = opts.store;
    this.log = opts.log;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_SNAPSHOT_LOCK_TIMEOUT_MS;
  }

  /** Where the snapshot of `chainId` lives (whether or not it exists). */
  path(chainId: Digest | string): string {
    return join(this.root, toDigest(chainId, 'snapshot path').hex);
  }

  async has(chainId: Digest | string): Promise<boolean> {
    return this.exists(this.path(chainId));
  }

  private exists(p: string): boolean {
    try {
      return lstatSync(p).isDirectory();
    } catch {
      return false;
    }
  }

  /** Chain IDs of the finished snapshots. */
  async list(): Promise<Digest[]> {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw BerthError.wrap(`list snapshots in ${this.root}`, err, 'EROOTFS');
    }
    return names.filter((n) => HEX_RE.test(n) && this.exists(join(this.root, n))).map((n) => toDigest(n, 'list snapshots'));
  }

  private prepare(): void {
    mkdirSync(join(this.root, TMP), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.root, LOCKS), { recursive: true, mode: 0o700 });
  }

  private lockPath(chain: Digest): string {
    return join(this.root, LOCKS, `${chain.hex}.lock`);
  }

  /** Wait for the chain's lock (ELOCKED after `lockTimeoutMs`); `stop` ends the wait early (returns undefined). */
  async lock(chain: Digest, mode: LockMode, stop?: () => boolean): Promise<FileLock | undefined> {
    this.prepare();
    return FileLock.acquire(this.lockPath(chain), { ...LOCK_FILE, mode, what: `lock snapshot ${chain}`, stop: stop ?? never, timeoutMs: this.lockTimeoutMs });
  }

  /**
   * The image's snapshot, built if missing. Concurrent callers (in this or other
   * processes) for the same chain ID wait for the one builder and get
   * `created: false`. A failed build leaves nothing behind and rejects.
   */
  async ensure(opts: EnsureOptions): Promise<EnsureResult> {
    const { manifest, config } = opts.image;
    const chain = imageChainId({ manifest, config });
    const final = this.path(chain);
    if (this.exists(final)) return { path: final, chainId: chain, created: false };
    const doing = `build snapshot ${chain.hex.slice(0, 12)}`;
    try {
      this.prepare();
    } catch (err) {
      throw BerthError.wrap(`${doing}: create ${this.root}`, err, 'EROOTFS');
    }
    // Waiting ends early when the other builder finishes.
    const lock = await this.lock(chain, 'exclusive', () => this.exists(final));
    if (!lock) return { path: final, chainId: chain, created: false };
    try {
      if (this.exists(final)) return { path: final, chainId: chain, created: false };
      this.removeStaleTemps(chain.hex);
      const { path: tmp, subvolume } = this.makeBuildDir(chain.hex);
      try {
        await this.applyImage({ image: { manifest, config }, dir: tmp, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
        renameSync(tmp, final);
        // Read-only only once in place: a read-only subvolume cannot move to another directory (EROFS).
        if (subvolume) this.seal(final);
      } catch (err) {
        throw discardFailedBuild(tmp, doing, err);
      }
      return { path: final, chainId: chain, created: true };
    } finally {
      await lock.release();
    }
  }

  /**
   * A fresh temp dir for building `hex`: a btrfs subvolume where the snapshots
   * live on btrfs (so copies of it can be btrfs snapshots), else mkdtemp's
   * directory. The name is `<hex>.<random>` either way.
   */
  private makeBuildDir(hex: string): { path: string; subvolume: boolean } {
    const dir = join(this.root, TMP);
    if (onBtrfs(dir)) {
      for (let attempt = 0; ; attempt++) {
        const name = `${hex}.${randomBytes(6).toString('hex')}`;
        const path = join(dir, name);
        try {
          withDirFd(dir, (fd) => createSubvolume(fd, name, path));
          return { path, subvolume: true };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 4) continue;
          this.log?.(`snapshot ${hex.slice(0, 12)}: cannot create a btrfs subvolume (${describeError(err)}): building in a plain directory`);
          break;
        }
      }
    }
    return { path: mkdtempSync(join(dir, `${hex}.`)), subvolume: false };
  }

  /** Make a finished snapshot's subvolume read-only; a refusal only costs the protection (logged). */
  private seal(path: string): void {
    try {
      withDirFd(path, (fd) => setReadOnly(fd, true, path));
    } catch (err) {
      this.log?.(`snapshot ${path}: left writable, cannot make the subvolume read-only: ${describeError(err)}`);
    }
  }

  /**
   * Apply the image's layers, in order, each verified against its digest and
   * diff ID, into `dir` (an existing empty directory, made mode 0755 unless a
   * layer says otherwise). On failure `dir` is left half-made: the caller
   * removes it. Returns the number of entries applied.
   */
  async applyImage(opts: { image: Pick<StoredImage, 'manifest' | 'config'>; dir: string; onProgress?: (e: SnapshotProgress) => void }): Promise<number> {
    const { manifest, config } = opts.image;
    chmodSync(opts.dir, 0o755);
    const diffIds = config.rootfs.diff_ids;
    let entries = 0;
    for (const [i, layer] of manifest.layers.entries()) {
      opts.onProgress?.({ layer: i + 1, of: manifest.layers.length, digest: layer.digest });
      const source = await this.openLayer(layer.digest, layer.size);
      try {
        const applied = await applyLayer({
          root: opts.dir,
          source,
          mediaType: layer.mediaType,
          digest: layer.digest,
          diffId: diffIds[i] as string,
          name: `${i + 1}/${manifest.layers.length} ${layer.digest}`,
        });
        entries += applied.entries;
      } finally {
        // applyLayer may refuse the layer before it reads the stream (a media type it
        // does not know): close the blob's file here, not at garbage collection.
        await closeStream(source);
      }
    }
    return entries;
  }

  /**
   * The stored layer blob as a plain file stream, opened by digest with the
   * store's unverified `openFile` (the caller verifies): applyLayer verifies its
   * digest (and the diff ID) once the stream is drained, before the snapshot is
   * renamed into place, so a second hash pass in the store's verifying reader
   * would only cost time. Presence and size are checked here, for a clear early error.
   */
  private async openLayer(digest: string, size: number): Promise<Readable> {
    let fh;
    try {
      fh = await this.store.blobs.openFile(digest);
    } catch (err) {
      if (isBerthError(err, 'ENOT_FOUND')) throw new BerthError('ENOT_FOUND', `layer ${digest} is not in the store`, { cause: err });
      throw BerthError.wrap(`read layer ${digest}`, err, 'ESTORE');
    }
    try {
      const st = await fh.stat();
      if (st.size !== size) {
        throw new BerthError('ESIZE_MISMATCH', `read layer ${digest}: stored blob has ${st.size} bytes, the manifest says ${size}`, {
          details: { expected: size, actual: st.size },
        });
      }
    } catch (err) {
      await fh.close();
      throw isBerthError(err) ? err : BerthError.wrap(`read layer ${digest}`, err, 'ESTORE');
    }
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  }

  /** Temp dirs of `hex` from builders that died (we hold its lock, so none is live). */
  private removeStaleTemps(hex: string): string[] {
    const removed: string[] = [];
    const dir = join(this.root, TMP);
    for (const name of readdirSync(dir)) {
      if (name.startsWith(`${hex}.`)) {
        removeTreeSync(join(dir, name));
        removed.push(name);
      }
    }
    return removed;
  }

  /** Remove one snapshot (waits for builders and copies of it to finish). Absent: nothing to do. */
  async remove(chainId: Digest | string): Promise<void> {
    const chain = toDigest(chainId, 'remove snapshot');
    const lock = await this.lock(chain, 'exclusive');
    if (!lock) return;
    try {
      this.removeLocked(chain);
    } finally {
      await lock.release({ unlink: true });
    }
  }

  private removeLocked(chain: Digest): void {
    const final = this.path(chain);
    if (!this.exists(final)) return;
    if (isSubvolumeRoot(final)) {
      // One ioctl takes the whole subvolume out of sight (the kernel frees its extents in the background).
      try {
        withDirFd(this.root, (fd) => destroySubvolume(fd, chain.hex, final));
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTEMPTY') throw BerthError.wrap(`remove snapshot ${chain}`, err, 'EROOTFS');
      }
      // Not ours to destroy (unprivileged): writable again, so it can move to .tmp and be emptied below.
      try {
        withDirFd(final, (fd) => setReadOnly(fd, false, final));
      } catch {
        // the rename or the removal below reports what is in the way
      }
    }
    // Out of sight first (atomic), then the slow part.
    const trash = mkdtempSync(join(this.root, TMP, `${chain.hex}.removing.`));
    try {
      renameSync(final, join(trash, 'rootfs'));
      removeTreeSync(trash);
    } catch (err) {
      throw BerthError.wrap(`remove snapshot ${chain}`, err, 'EROOTFS');
    }
  }

  /**
   * Remove every snapshot whose chain ID is not in `keep` (the caller passes the
   * chain IDs of all images still in the store), and temp dirs left by crashed
   * builds. Snapshots being built or copied right now are skipped (`busy`).
   */
  async gc(opts: SnapshotsGcOptions): Promise<SnapshotsGcResult> {
    const keep = new Set(opts.keep.map((k) => toDigest(k, 'snapshot gc').hex));
    const result: SnapshotsGcResult = { removed: [], busy: [], temporary: [] };
    for (const chain of await this.list()) {
      if (keep.has(chain.hex)) continue;
      this.prepare();
      const lock = await FileLock.tryAcquire(this.lockPath(chain), 'exclusive', `gc snapshot ${chain}`, LOCK_FILE);
      if (!lock) {
        result.busy.push(chain.toString());
        continue;
      }
      try {
        this.removeLocked(chain);
        result.removed.push(chain.toString());
      } finally {
        await lock.release({ unlink: true });
      }
    }
    // Leftovers of dead builders (and of interrupted removals): only where nobody holds the chain's lock.
    let temps: string[] = [];
    try {
      temps = readdirSync(join(this.root, TMP));
    } catch {
      temps = [];
    }
    for (const name of temps) {
      const hex = name.split('.')[0] ?? '';
      if (!HEX_RE.test(hex)) continue;
      const chain = toDigest(hex, 'snapshot gc');
      const lock = await FileLock.tryAcquire(this.lockPath(chain), 'exclusive', `gc snapshot temp ${name}`, LOCK_FILE);
      if (!lock) continue;
      try {
        removeTreeSync(join(this.root, TMP, name));
        result.temporary.push(name);
      } finally {
        await lock.release();
      }
    }
    return result;
  }
}

/** Destroy `stream` unless it is closed, and wait until its file is closed. */
async function closeStream(stream: Readable): Promise<void> {
  if (stream.closed) return;
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.destroy();
  await closed;
}
