import { constants as osConstants } from 'node:os';
import { SysError } from './errors.js';
import { lastErrno, lazyFunc } from './libc.js';

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const flockFn = /* @__PURE__ */ lazyFunc('int flock(int fd, int operation)');

/**
 * flock(2) with LOCK_NB added: true when the lock was taken, false when another
 * open file description holds it (EWOULDBLOCK); EINTR is retried. Any other
 * failure throws a SysError (`flock <path>: EBADF`); `path` only labels it.
 * Throws BerthError 'EUNSUPPORTED' when libc cannot be loaded.
 */
export function tryFlock(fd: number, operation: number, path?: string): boolean {
  const fn = flockFn();
  for (;;) {
    if (fn(fd, operation | LOCK_NB) === 0) return true;
    const errno = lastErrno();
    if (errno === osConstants.errno.EINTR) continue;
    if (errno === osConstants.errno.EWOULDBLOCK || errno === osConstants.errno.EAGAIN) return false;
    throw new SysError('flock', errno, { path });
  }
}

/** Declares flock now: a process that cannot lock finds out before it starts work. */
export function loadFlock(): void {
  flockFn();
}
