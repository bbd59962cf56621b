import path from 'node:path';
import { BerthError, type Digest } from '@berth/oci';
import { readdirOrEmpty } from './fsutil.js';
import { FileLock, heldMode, withFileLock } from './lock.js';
import type { StoreLayout } from './layout.js';

/** How long a store lock is waited for by default (index, leases, gc, a stalled ingest). */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
const LEASE_LOCK = 'gc';
const INDEX_LOCK = 'index';
const LOCK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The store's named locks, all flock files in `locks/` (see lock.ts for the
 * primitive): `index` guards index.json, `gc` is the lease lock (shared by
 * writers, exclusive for gc), `blob-<alg>-<hex>` is one digest's ingest lock.
 * Every wait is bounded by `timeoutMs`.
 */
export class StoreLocks {
  constructor(
    private readonly layout: StoreLayout,
    readonly timeoutMs: number,
  ) {}

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
    return withFileLock(this.path(name), { mode: 'exclusive', timeoutMs: this.timeoutMs, what: `lock ${name} of store ${this.layout.root}` }, fn);
  }

  /** `fn` under the lock that guards index.json. */
  withIndexLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.withLock(INDEX_LOCK, fn);
  }

  /**
   * Run `fn` with a lease on the store: `gc` waits until no lease is held, so
   * blobs written inside the lease survive until they are tagged.
   */
  async withLease<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.path(LEASE_LOCK), { mode: 'shared', timeoutMs: this.timeoutMs, what: `lease on store ${this.layout.root}` }, fn);
  }

  /** A lease held until the returned lock is released (an ingest holds one from start to commit). */
  acquireLease(what: string): Promise<FileLock> {
    return FileLock.acquire(this.path(LEASE_LOCK), { mode: 'shared', timeoutMs: this.timeoutMs, what });
  }

  /** `fn` once no lease is held, excluding new ones until it returns. Refused inside a lease (it would wait for itself). */
  async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const leasePath = this.path(LEASE_LOCK);
    if (heldMode(leasePath) === 'shared') throw new BerthError('EINVAL_ARGUMENT', `${what}: cannot run inside a lease on the same store`);
    return withFileLock(leasePath, { mode: 'exclusive', timeoutMs: this.timeoutMs, what: `${what}: wait for leases on store ${this.layout.root}` }, fn);
  }

  /**
   * The per-digest ingest lock. `progress` is sampled while another holder has it:
   * while its value changes the timeout starts again.
   */
  acquireDigest(d: Digest, opts: { what: string; progress: () => unknown }): Promise<FileLock> {
    return FileLock.acquire(this.digestPath(d), { mode: 'exclusive', timeoutMs: this.timeoutMs, progress: opts.progress, what: opts.what });
  }

  /** The digest's ingest lock if nobody holds it, else undefined. */
  tryDigest(d: Digest, what: string): Promise<FileLock | undefined> {
    return FileLock.tryAcquire(this.digestPath(d), 'exclusive', what);
  }

  /** Remove the lock files of finished or dead ingests (those nobody holds). */
  async sweepDigestLocks(): Promise<void> {
    for (const name of await readdirOrEmpty(this.layout.locksDir)) {
      if (!name.startsWith('blob-') || !name.endsWith('.lock')) continue;
      const lock = await FileLock.tryAcquire(path.join(this.layout.locksDir, name), 'exclusive', `gc: lock ${name}`);
      if (lock) await lock.release({ unlink: true });
    }
  }

  private path(name: string): string {
    return path.join(this.layout.locksDir, `${name}.lock`);
  }

  private digestPath(d: Digest): string {
    return this.path(`blob-${d.algorithm}-${d.hex}`);
  }
}
