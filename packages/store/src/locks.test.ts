import { describe, expect, it } from 'vitest';
import { Store } from './index.js';
import { useTempStoreRoot } from './test-support/images.js';
import { rejection } from './test-support/rejection.js';

let root: string;
useTempStoreRoot((t) => ({ root } = t));

describe('locks', () => {
  it('serialises withLock holders, is reentrant, and validates names', async () => {
    const store = await Store.open({ root });
    const events: string[] = [];
    const hold = (id: string) =>
      store.withLock('build-cache', async () => {
        events.push(`${id}+`);
        await new Promise((r) => setTimeout(r, 20));
        await store.withLock('build-cache', async () => events.push(`${id}.nested`));
        events.push(`${id}-`);
      });
    await Promise.all([hold('a'), hold('b')]);
    // Never interleaved.
    expect(events.join(' ')).toMatch(/^(a\+ a\.nested a- b\+ b\.nested b-|b\+ b\.nested b- a\+ a\.nested a-)$/);
    for (const bad of ['../x', 'a/b', '', 'gc', 'blob-sha256-x', '.hidden']) {
      await expect(store.withLock(bad, async () => 1)).rejects.toMatchObject({ code: 'EINVAL_ARGUMENT' });
    }
  });

  it('times out with ELOCKED when asked to', async () => {
    const store = await Store.open({ root, lockTimeoutMs: 50 });
    const other = await Store.open({ root });
    let release!: () => void;
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const holder = other.withLock('x', async () => {
      held();
      await new Promise<void>((r) => (release = r));
    });
    await isHeld;
    const e = await rejection(store.withLock('x', async () => 1));
    expect(e.code).toBe('ELOCKED');
    release();
    await holder;
    expect(await store.withLock('x', async () => 2)).toBe(2);
  });
});
