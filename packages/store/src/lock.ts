import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, describeError, type ErrorCode } from '@berth/oci';
import { errnoCode } from './fsutil.js';
import { LOCK_EX, LOCK_SH, loadFlock, tryFlock as flockNonBlocking } from '@berth/sys';

/**
 * Cross-process locks with flock(2) on lock files (the store's are under
 * `locks/`; @berth/rootfs locks its snapshots with the same class).
 *
 * Why flock and not a lock directory with heartbeats (proper-lockfile): the
 * kernel drops a flock the moment its holder dies (SIGKILL included), so a dead
 * process never leaves a lock behind and nobody has to guess at staleness.
 * Node opens every file O_CLOEXEC, so spawned children never inherit a lock.
 *
 * Lock files may be unlinked by the holder when it is done (ingest locks are),
 * so acquiring checks, after flock succeeds, that the path still names the
 * inode it locked; if not, it retries on the new file.
 *
 * flock is always called with LOCK_NB (it never blocks the event loop); waiting
 * is a poll with capped backoff. Locks are per open file description, so two
 * acquirers in one process exclude each other just as two processes do.
 *
 * A wait with `timeoutMs` ends in ELOCKED naming the lock file and the pid(s)
 * /proc/locks says hold it. `progress` lets a caller keep waiting while the
 * holder visibly works (the store's per-digest ingest lock: the partial grows).
 */

export type LockMode = 'shared' | 'exclusive';

let flockLoaded = false;

/** Loads flock from libc (@berth/sys) once; a libc without it is EUNSUPPORTED. */
function ensureFlock(): void {
  if (flockLoaded) return;
  try {
    loadFlock();
  } catch (err) {
    throw new BerthError('EUNSUPPORTED', `load flock from libc: ${describeError(err)}`, { cause: err });
  }
  flockLoaded = true;
}

/** How a lock file is made, and the code of the errors about it. */
export interface LockFileOptions {
  /** Code of the errors opening, locking or removing the lock file (default ESTORE). */
  errorCode?: ErrorCode | undefined;
  /** Permission bits of a lock file this call creates (default 0o600: another user who can open a lock file can hold it). */
  fileMode?: number | undefined;
}

export interface AcquireOptions extends LockFileOptions {
  mode: LockMode;
  /** Give up with ELOCKED after this long; undefined (or Infinity) waits for ever. */
  timeoutMs?: number | undefined;
  /**
   * Sampled after each attempt that found the lock held: while its value changes
   * (compared with `!==`), the holder is making progress and the timeout restarts.
   */
  progress?: (() => unknown) | undefined;
  /** Named in errors, e.g. `lock index.json of /var/lib/berth/store`. */
  what: string;
}

export interface StoppableAcquireOptions extends AcquireOptions {
  /** Asked after each attempt that found the lock held: true ends the wait, and `acquire` resolves undefined. */
  stop: () => boolean;
}

/** A held flock on one lock file. Release exactly once. */
export class FileLock {
  private released = false;

  private constructor(
    readonly path: string,
    readonly mode: LockMode,
    private readonly fd: number,
    private readonly errorCode: ErrorCode,
  ) {}

  /** Try once (no waiting). Undefined if another holder conflicts. */
  static async tryAcquire(path: string, mode: LockMode, what: string, options: LockFileOptions = {}): Promise<FileLock | undefined> {
    const code = options.errorCode ?? 'ESTORE';
    for (;;) {
      let fd: number;
      try {
        fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, options.fileMode ?? 0o600);
      } catch (err) {
        throw new BerthError(code, `${what}: open ${path}: ${describeError(err)}`, { cause: err });
      }
      let got: boolean;
      try {
        got = tryFlock(fd, mode === 'shared' ? LOCK_SH : LOCK_EX);
      } catch (err) {
        closeSync(fd);
        throw new BerthError(code, `${what}: ${describeError(err)}`, { cause: err });
      }
      if (!got) {
        closeSync(fd);
        return undefined;
      }
      // The previous holder may have unlinked the file before we locked it.
      let same: boolean;
      try {
        const mine = fstatSync(fd);
        const current = statOrUndefined(path);
        same = current !== undefined && current.ino === mine.ino && current.dev === mine.dev;
      } catch (err) {
        closeSync(fd);
        throw new BerthError(code, `${what}: stat ${path}: ${describeError(err)}`, { cause: err });
      }
      if (same) return new FileLock(path, mode, fd, code);
      closeSync(fd);
    }
  }

  /**
   * Wait (polling with backoff) until the lock is ours, or time out with ELOCKED.
   * With `stop`, the wait can also end early: then it resolves undefined.
   */
  static acquire(path: string, options: StoppableAcquireOptions): Promise<FileLock | undefined>;
  static acquire(path: string, options: AcquireOptions): Promise<FileLock>;
  static async acquire(path: string, options: AcquireOptions & { stop?: () => boolean }): Promise<FileLock | undefined> {
    let since = Date.now();
    let seen = options.progress?.();
    let delay = 2;
    for (;;) {
      const lock = await FileLock.tryAcquire(path, options.mode, options.what, options);
      if (lock) return lock;
      if (options.stop?.()) return undefined;
      if (options.progress) {
        const now = options.progress();
        if (now !== seen) {
          seen = now;
          since = Date.now();
        }
      }
      if (options.timeoutMs !== undefined && Date.now() - since >= options.timeoutMs) {
        const pids = lockHolders(path);
        const holder = pids.length === 0 ? 'pid unknown' : `pid ${pids.join(', ')}`;
        throw new BerthError('ELOCKED', `${options.what}: gave up after ${formatWait(options.timeoutMs)}: ${path} is held by another process (${holder})`, {
          details: { path, pids },
        });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  /**
   * Drop the lock. With `unlink`, remove the lock file first (only while held
   * exclusively: a shared holder leaves it). The work is done before this
   * returns, so a caller that cannot await still frees the lock at once.
   */
  async release(opts: { unlink?: boolean } = {}): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if (opts.unlink && this.mode === 'exclusive') unlinkSync(this.path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw new BerthError(this.errorCode, `remove lock file ${this.path}: ${describeError(err)}`, { cause: err });
    } finally {
      closeSync(this.fd);
    }
  }
}

function formatWait(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * The pids that /proc/locks lists as holding a lock on the file at `path`
 * (sorted, without duplicates; empty when none is found or /proc is not there).
 * A line is `N: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF`
 * (major and minor in hex); waiters (`N: -> ...`) are skipped. The device is
 * matched when it can be: stat's st_dev differs from the superblock's on btrfs
 * subvolumes and overlayfs, so then the inode alone identifies the file. A pid
 * the kernel cannot show in this pid namespace is 0 (or -1 for OFD locks): not listed.
 */
export function lockHolders(path: string): number[] {
  let st;
  let table: string;
  try {
    st = statSync(path, { bigint: true });
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  const exact = new Set<number>();
  const byInode = new Set<number>();
  for (const line of table.split('\n')) {
    const m = /^\d+:\s+(?!->)\S+\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m || BigInt(m[4] as string) !== st.ino) continue;
    const pid = Number(m[1]);
    if (pid <= 0) continue;
    byInode.add(pid);
    if (BigInt(`0x${m[2] as string}`) === major && BigInt(`0x${m[3] as string}`) === minor) exact.add(pid);
  }
  return [...(exact.size > 0 ? exact : byInode)].sort((a, b) => a - b);
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function tryFlock(fd: number, op: number): boolean {
  ensureFlock();
  return flockNonBlocking(fd, op);
}

/**
 * Which lock files the current async context already holds, so nested
 * `withLock` calls for the same name in one flow do not deadlock on themselves.
 */
const held = new AsyncLocalStorage<ReadonlyMap<string, LockMode>>();

export function heldMode(path: string): LockMode | undefined {
  return held.getStore()?.get(path);
}

/** Run `fn` holding the lock at `path`; reentrant within one async flow. */
export async function withFileLock<T>(path: string, options: AcquireOptions, fn: () => Promise<T>): Promise<T> {
  const current = heldMode(path);
  if (current === 'exclusive' || (current === 'shared' && options.mode === 'shared')) return fn();
  if (current === 'shared') {
    throw new BerthError('EINVAL_ARGUMENT', `${options.what}: cannot take it exclusively while this flow holds it shared`);
  }
  const lock = await FileLock.acquire(path, options);
  try {
    const next = new Map(held.getStore() ?? []);
    next.set(path, options.mode);
    return await held.run(next, fn);
  } finally {
    await lock.release();
  }
}
