/**
 * Cross-process locks for snapshots: flock(2) on `<snapshots>/.locks/<hex>.lock`.
 *
 * flock because the kernel drops it the moment the holder dies (SIGKILL
 * included): a crashed builder never blocks the next one. Always LOCK_NB, so
 * the event loop never blocks; waiting is a poll with capped backoff. Locks
 * are per open file description, so two ensure() calls in one process exclude
 * each other just like two processes do.
 *
 * Exclusive: building or removing a snapshot. Shared: copying from it
 * (unpackImage), so gc/remove never pull a snapshot from under a copy.
 */
import { closeSync, fstatSync, openSync, constants as fsConstants, statSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, describeError } from '@berth/oci';
import { flock, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from './native.js';

export type LockMode = 'shared' | 'exclusive';

export class SnapshotLock {
  private released = false;

  private constructor(
    readonly path: string,
    readonly mode: LockMode,
    private readonly fd: number,
  ) {}

  /** One attempt; undefined when a conflicting holder has it. */
  static tryAcquire(path: string, mode: LockMode, what: string): SnapshotLock | undefined {
    for (;;) {
      let fd: number;
      try {
        fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600);
      } catch (err) {
        throw new BerthError('EROOTFS', `${what}: open lock ${path}: ${describeError(err)}`, { cause: err });
      }
      let got: boolean;
      try {
        got = flock(fd, (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB);
      } catch (err) {
        closeSync(fd);
        throw new BerthError('EROOTFS', `${what}: ${describeError(err)}`, { cause: err });
      }
      if (!got) {
        closeSync(fd);
        return undefined;
      }
      // (Node opens every file O_CLOEXEC: spawned children never inherit the lock.)
      // The previous holder may have unlinked the file (remove/gc do) before we locked it.
      const mine = fstatSync(fd);
      let current;
      try {
        current = statSync(path);
      } catch {
        current = undefined;
      }
      if (current && current.ino === mine.ino && current.dev === mine.dev) return new SnapshotLock(path, mode, fd);
      closeSync(fd);
    }
  }

  /** Poll until acquired. `stop()` is asked between attempts: when it returns true, give up (undefined). */
  static async acquire(path: string, mode: LockMode, what: string, stop?: () => boolean): Promise<SnapshotLock | undefined> {
    let delay = 5;
    for (;;) {
      const lock = SnapshotLock.tryAcquire(path, mode, what);
      if (lock) return lock;
      if (stop?.()) return undefined;
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 250);
    }
  }

  /** Release; with `unlink` remove the lock file first (only safe while holding it exclusively). */
  release(opts: { unlink?: boolean } = {}): void {
    if (this.released) return;
    this.released = true;
    try {
      if (opts.unlink && this.mode === 'exclusive') unlinkSync(this.path);
    } catch {
      // already gone
    } finally {
      try {
        flock(this.fd, LOCK_UN);
      } finally {
        closeSync(this.fd);
      }
    }
  }
}
