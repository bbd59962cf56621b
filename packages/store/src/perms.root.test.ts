/**
 * The store is private to its owner, seen from another user (nobody; needs root to switch
 * the effective uid). The modes themselves are checked in perms.test.ts.
 */
import { chmodSync, closeSync, openSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from './index.js';
import { populate } from './test-support/populate.js';

let dir: string;
let berthRoot: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-perms-'));
  // Like /var/lib: other users may traverse it, so only berth's own modes keep them out.
  chmodSync(dir, 0o755);
  berthRoot = path.join(dir, 'berth');
  root = path.join(berthRoot, 'store');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run `fn` as nobody (effective uid and gid 65534; root only), root again afterwards whatever happens. */
function asNobody<T>(fn: () => T): T {
  process.setegid?.(65534);
  process.seteuid?.(65534);
  try {
    return fn();
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
  }
}

/** The errno code `fn` fails with, or 'ok'. */
function errnoOf(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

describe('the store is private to its owner', () => {
  it('another user (nobody) can neither read a blob nor open a lock file to hold it', async () => {
    const store = await Store.open({ root });
    await populate(store);
    const blob = path.join(root, 'blobs', 'sha256', readdirSync(path.join(root, 'blobs', 'sha256'))[0] as string);
    const lock = path.join(root, 'locks', 'index.lock');
    const tryOpen = (p: string) => () => closeSync(openSync(p, 'r'));
    expect(asNobody(() => errnoOf(tryOpen(blob)))).toBe('EACCES');
    expect(asNobody(() => errnoOf(tryOpen(lock)))).toBe('EACCES');
    expect(asNobody(() => errnoOf(() => readdirSync(root)))).toBe('EACCES');
    // Even with the directories opened up again, the files themselves are owner-only.
    for (const d of [berthRoot, root, path.dirname(blob), path.dirname(lock)]) chmodSync(d, 0o755);
    expect(asNobody(() => errnoOf(tryOpen(blob)))).toBe('EACCES');
    expect(asNobody(() => errnoOf(tryOpen(lock)))).toBe('EACCES');
    expect(asNobody(() => errnoOf(tryOpen(path.join(root, 'index.json'))))).toBe('EACCES');
  });
});
