import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, lstatSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, MediaType } from '@berth/oci';
import { FileLock, Store, securePrivateRoot } from './index.js';
import { makeData } from './test-support/data.js';
import { populate } from './test-support/populate.js';
import { rejection } from './test-support/rejection.js';

let dir: string;
let berthRoot: string;
let root: string;
let savedUmask: number;
const children: ChildProcess[] = [];

beforeEach(async () => {
  savedUmask = process.umask();
  dir = await mkdtemp(path.join(tmpdir(), 'berth-perms-'));
  // Like /var/lib: other users may traverse it, so only berth's own modes keep them out.
  chmodSync(dir, 0o755);
  berthRoot = path.join(dir, 'berth');
  root = path.join(berthRoot, 'store');
});
afterEach(async () => {
  process.umask(savedUmask);
  for (const c of children.splice(0)) killGroup(c);
  await rm(dir, { recursive: true, force: true });
});

/** Every path under `top` (itself included) with its permission bits; symlinks are reported, not followed. */
function walk(top: string): Array<{ path: string; kind: 'dir' | 'file' | 'other'; mode: number }> {
  const out: Array<{ path: string; kind: 'dir' | 'file' | 'other'; mode: number }> = [];
  const visit = (p: string): void => {
    const st = lstatSync(p);
    out.push({ path: p, kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other', mode: st.mode & 0o7777 });
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(path.join(p, n));
  };
  visit(top);
  return out;
}

/** The entries of `top` whose mode is not owner-only (0700 dirs, 0600 files), as `path mode` lines. */
function notPrivate(top: string): string[] {
  return walk(top)
    .filter((e) => (e.kind === 'dir' && e.mode !== 0o700) || (e.kind === 'file' && e.mode !== 0o600))
    .map((e) => `${path.relative(dir, e.path) || '.'} ${e.mode.toString(8)}`);
}

/** SIGKILL a holdWithFlock process and its sleep (its own process group). */
function killGroup(c: ChildProcess): void {
  try {
    if (c.pid !== undefined && c.exitCode === null) process.kill(-c.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A flock(1) process holding `lockFile` (exclusive or shared) until killed with killGroup;
 * resolves once it holds it. `-o`: the command it runs (sleep) does not inherit the lock,
 * so the pid holding it is flock's own.
 */
async function holdWithFlock(lockFile: string, mode: '-x' | '-s'): Promise<ChildProcess> {
  const child = spawn('flock', [mode, '-o', lockFile, '-c', 'echo HELD; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.push(child);
  let out = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (s: string) => {
      out += s;
      if (out.includes('HELD')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`flock exited with ${code} before holding ${lockFile}`)));
    child.on('error', reject);
  });
  return child;
}

describe('the store is private to its owner', () => {
  for (const umask of [0o022, 0o000]) {
    it(`with umask ${umask.toString(8).padStart(3, '0')}, every directory berth makes is 0700 and every file 0600, $BERTH_ROOT included`, async () => {
      process.umask(umask);
      const store = await Store.open({ root });
      await populate(store);
      expect(readdirSync(path.join(root, 'ingest'))).toHaveLength(1); // the kept partial is checked too
      expect(readdirSync(path.join(root, 'locks')).length).toBeGreaterThan(0);
      expect(notPrivate(berthRoot)).toEqual([]);
    });
  }

  it('opening a store made with 0755 directories and 0644 files repairs it, once, without following symlinks', async () => {
    const store = await Store.open({ root });
    await populate(store);
    const outside = path.join(dir, 'outside');
    writeFileSync(outside, 'not the store’s', { mode: 0o644 });
    chmodSync(outside, 0o644);
    symlinkSync(outside, path.join(root, 'tmp', 'link'));
    // What berth before this change left behind.
    for (const e of walk(berthRoot)) if (e.kind !== 'other') chmodSync(e.path, e.kind === 'dir' ? 0o755 : 0o644);
    expect(notPrivate(root).length).toBeGreaterThan(5);

    const reopened = await Store.open({ root });
    expect(notPrivate(root)).toEqual([]);
    expect(lstatSync(outside).mode & 0o777).toBe(0o644);
    expect((await reopened.listTags()).map((t) => t.reference.toString())).toEqual(['localhost/private:1']);

    // The layout directory's mode is the mark: a store already 0700 is not walked again.
    const later = path.join(root, 'blobs', 'sha256', readdirSync(path.join(root, 'blobs', 'sha256'))[0] as string);
    chmodSync(later, 0o644);
    await Store.open({ root });
    expect(lstatSync(later).mode & 0o777).toBe(0o644);
  });

  it('securePrivateRoot makes $BERTH_ROOT and the named top-level directories 0700, leaves what is in them, walks the trees only on repair', async () => {
    const snapshot = path.join(berthRoot, 'snapshots', 'abc');
    const cacheEntry = path.join(berthRoot, 'buildcache', 'k.json');
    for (const d of [snapshot, path.dirname(cacheEntry)]) await mkdir(d, { recursive: true, mode: 0o755 });
    writeFileSync(cacheEntry, '{}', { mode: 0o644 });
    for (const p of [berthRoot, path.dirname(snapshot), snapshot, path.dirname(cacheEntry)]) chmodSync(p, 0o755);
    chmodSync(cacheEntry, 0o644);

    expect(await securePrivateRoot(berthRoot, { dirs: ['snapshots', 'containers'], trees: ['buildcache'] })).toEqual({ repaired: true, foreign: [] });
    expect(lstatSync(berthRoot).mode & 0o7777).toBe(0o700);
    expect(lstatSync(path.dirname(snapshot)).mode & 0o7777).toBe(0o700);
    expect(lstatSync(snapshot).mode & 0o7777).toBe(0o755); // an image's root directory keeps the image's mode
    expect(lstatSync(path.dirname(cacheEntry)).mode & 0o7777).toBe(0o700);
    expect(lstatSync(cacheEntry).mode & 0o7777).toBe(0o600);
    expect(await securePrivateRoot(berthRoot, { dirs: ['snapshots', 'containers'], trees: ['buildcache'] })).toEqual({ repaired: false, foreign: [] });
    const fresh = path.join(dir, 'new', 'berth');
    await securePrivateRoot(fresh);
    expect(lstatSync(fresh).mode & 0o7777).toBe(0o700);
  });

  it('securePrivateRoot leaves the mode of a root that holds other things than berth\'s (BERTH_ROOT=/tmp), securing only berth\'s directories', async () => {
    const shared = path.join(dir, 'shared');
    await mkdir(path.join(shared, 'snapshots'), { recursive: true });
    writeFileSync(path.join(shared, 'someone-elses.txt'), '');
    chmodSync(shared, 0o1777);
    chmodSync(path.join(shared, 'snapshots'), 0o755);
    expect(await securePrivateRoot(shared, { dirs: ['snapshots'], known: ['store'] })).toEqual({ repaired: true, foreign: ['someone-elses.txt'] });
    expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(path.join(shared, 'snapshots')).mode & 0o7777).toBe(0o700);
  });

});

describe('lock waits are bounded', () => {
  it('a store operation fails with ELOCKED naming the lock file and the pid holding it', async () => {
    const store = await Store.open({ root, lockTimeoutMs: 200 });
    const lockFile = path.join(root, 'locks', 'index.lock');
    const holder = await holdWithFlock(lockFile, '-x');
    const blob = await store.putBlob(Buffer.from('{}'));
    const e = await rejection(store.setTag('localhost/x:1', { mediaType: MediaType.OciConfig, digest: blob.digest.toString(), size: blob.size }));
    expect(e.code).toBe('ELOCKED');
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain(lockFile);
    expect(e.message).toContain(`(pid ${holder.pid})`);
    expect(e.message).toMatch(/^tag localhost\/x:1: .*gave up after 200 ms/);

    // gc waits for leases the same bounded way.
    const lease = await holdWithFlock(path.join(root, 'locks', 'gc.lock'), '-s');
    const g = await rejection(store.gc());
    expect(g.code).toBe('ELOCKED');
    expect(g.message).toContain(path.join(root, 'locks', 'gc.lock'));
    expect(g.message).toContain(`(pid ${lease.pid})`);
    for (const c of [holder, lease]) {
      const exited = once(c, 'exit');
      killGroup(c);
      await exited;
    }
    await store.setTag('localhost/x:1', { mediaType: MediaType.OciConfig, digest: blob.digest.toString(), size: blob.size });
  });

  it('says "pid unknown" when /proc/locks names no holder', async () => {
    // Another open file description in this process holds it: /proc/locks lists this pid.
    const lockFile = path.join(dir, 'a.lock');
    const mine = await FileLock.acquire(lockFile, { mode: 'exclusive', what: 'hold' });
    const e1 = await rejection(FileLock.acquire(lockFile, { mode: 'exclusive', what: 'wait', timeoutMs: 0 }));
    expect(e1.message).toContain(`(pid ${process.pid})`);
    await mine.release();
    // Once the file at the path is another inode (the holder replaced it), no holder of
    // what the path names is found: the message says so instead of naming a wrong pid.
    const held = await FileLock.acquire(lockFile, { mode: 'exclusive', what: 'hold' });
    writeFileSync(`${lockFile}.new`, '');
    const e2 = await rejection(
      FileLock.acquire(lockFile, {
        mode: 'exclusive',
        what: 'wait',
        timeoutMs: 0,
        stop: () => {
          renameSync(`${lockFile}.new`, lockFile);
          return false;
        },
      }),
    );
    await held.release();
    expect(e2.code).toBe('ELOCKED');
    expect(e2.message).toContain('(pid unknown)');
  });

  it('an ingest waits while the other holder of the digest makes progress, and gives up once it stalls', async () => {
    const store = await Store.open({ root, lockTimeoutMs: 1000 });
    const data = makeData('slow', 4000);
    const digest = Digest.of(data);
    const lockFile = path.join(root, 'locks', `blob-sha256-${digest.hex}.lock`);
    const partial = path.join(root, 'ingest', `sha256-${digest.hex}`);
    const holder = await holdWithFlock(lockFile, '-x');
    // The "other downloader": 40 chunks, one every 50 ms (2 s in all, twice the timeout).
    let written = 0;
    const timer = setInterval(() => {
      if (written < 40) {
        appendFileSync(partial, data.subarray(written * 100, (written + 1) * 100));
        written++;
      }
    }, 50);
    try {
      const e = await rejection(store.ingest({ digest, size: data.length }));
      expect(e.code).toBe('ELOCKED');
      expect(e.message).toContain(lockFile);
      expect(e.message).toContain(`(pid ${holder.pid})`);
      // It did not give up while the partial was growing.
      expect(written).toBe(40);
    } finally {
      clearInterval(timer);
    }
  });
});
