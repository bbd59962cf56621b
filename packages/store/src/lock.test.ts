import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { FileLock, withFileLock } from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('FileLock', () => {
  it('shared holders coexist, an exclusive holder excludes both kinds (per open file, so within one process too)', async () => {
    const p = path.join(dir, 'a.lock');
    const s1 = await FileLock.tryAcquire(p, 'shared', 'first reader');
    const s2 = await FileLock.tryAcquire(p, 'shared', 'second reader');
    expect(s1).toBeDefined();
    expect(s2).toBeDefined();
    expect(await FileLock.tryAcquire(p, 'exclusive', 'writer')).toBeUndefined();
    await s1?.release();
    expect(await FileLock.tryAcquire(p, 'exclusive', 'writer')).toBeUndefined();
    await s2?.release();
    const x = await FileLock.tryAcquire(p, 'exclusive', 'writer');
    expect(x?.mode).toBe('exclusive');
    expect(await FileLock.tryAcquire(p, 'shared', 'reader')).toBeUndefined();
    expect(await FileLock.tryAcquire(p, 'exclusive', 'writer 2')).toBeUndefined();
    await x?.release();
    await x?.release(); // twice: nothing
    expect(await FileLock.tryAcquire(p, 'shared', 'reader')).toBeDefined();
  });

  it('stop() ends a wait with undefined; without a holder the lock is returned', async () => {
    const p = path.join(dir, 'b.lock');
    const holder = await FileLock.acquire(p, { mode: 'exclusive', what: 'hold' });
    let asked = 0;
    const none = await FileLock.acquire(p, { mode: 'shared', what: 'wait', stop: () => ++asked >= 3 });
    expect(none).toBeUndefined();
    expect(asked).toBe(3);
    await holder.release();
    const got = await FileLock.acquire(p, { mode: 'shared', what: 'wait', stop: () => true });
    expect(got?.mode).toBe('shared');
    await got?.release();
  });

  it('a waiter gets the lock after the holder unlinks the file, on the file now at the path', async () => {
    const p = path.join(dir, 'c.lock');
    const holder = await FileLock.acquire(p, { mode: 'exclusive', what: 'hold' });
    const waiting = FileLock.acquire(p, { mode: 'exclusive', what: 'wait' });
    await new Promise((r) => setTimeout(r, 30));
    await holder.release({ unlink: true });
    const next = await waiting;
    expect(existsSync(p)).toBe(true);
    // The lock is on the inode the path names: a fresh attempt on the path conflicts.
    expect(await FileLock.tryAcquire(p, 'shared', 'probe')).toBeUndefined();
    await next.release({ unlink: true });
    expect(existsSync(p)).toBe(false);
  });

  it('unlink is only done by an exclusive holder', async () => {
    const p = path.join(dir, 'd.lock');
    const s = await FileLock.acquire(p, { mode: 'shared', what: 'read' });
    await s.release({ unlink: true });
    expect(existsSync(p)).toBe(true);
  });

  it('creates the file with fileMode, and reports failures with errorCode and what', async () => {
    const p = path.join(dir, 'e.lock');
    const lock = await FileLock.acquire(p, { mode: 'exclusive', what: 'private', fileMode: 0o600 });
    expect(statSync(p).mode & 0o777).toBe(0o600);
    await lock.release();
    const missing = path.join(dir, 'no-such-dir', 'f.lock');
    const e1 = await FileLock.tryAcquire(missing, 'shared', 'lock snapshot x', { errorCode: 'EROOTFS' }).catch((e: unknown) => e);
    expect(isBerthError(e1, 'EROOTFS')).toBe(true);
    expect((e1 as Error).message).toMatch(/^lock snapshot x: open .*f\.lock: ENOENT/);
    const e2 = await FileLock.acquire(missing, { mode: 'shared', what: 'lock the index' }).catch((e: unknown) => e);
    expect(isBerthError(e2, 'ESTORE')).toBe(true);
  });

  it('withFileLock is reentrant in one flow and refuses shared → exclusive', async () => {
    const p = path.join(dir, 'g.lock');
    const r = await withFileLock(p, { mode: 'exclusive', what: 'outer' }, () => withFileLock(p, { mode: 'shared', what: 'inner' }, async () => 7));
    expect(r).toBe(7);
    const e = await withFileLock(p, { mode: 'shared', what: 'outer' }, () => withFileLock(p, { mode: 'exclusive', what: 'inner' }, async () => 1)).catch(
      (err: unknown) => err,
    );
    expect(isBerthError(e, 'EINVAL_ARGUMENT')).toBe(true);
  });
});
