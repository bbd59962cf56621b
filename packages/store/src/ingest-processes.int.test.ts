/**
 * Ingest across processes (child processes racing, and SIGKILLed mid-ingest): slow, so
 * integration; the in-process cases are in ingest.test.ts.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, MediaType } from '@berth/oci';
import { Store, type BlobIngest } from './index.js';
import { makeData } from './test-support/data.js';
import { blobFile } from './test-support/layout.js';
import { childUnavailable, spawnChild, type Child } from './test-support/spawn.js';

let dir: string;
let root: string;
const children: Child[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-ingest-'));
  root = path.join(dir, 'store');
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function writeAll(w: Writable, data: Buffer): Promise<void> {
  w.end(data);
  await once(w, 'finish');
}

describe('ingest across processes', () => {
  const why = childUnavailable();

  /** Start two children waiting (READY) for the `go` file at once by creating it; both must exit 0. */
  async function releaseTogether(go: string, a: Child, b: Child): Promise<[Awaited<Child['exited']>, Awaited<Child['exited']>]> {
    children.push(a, b);
    await Promise.all([a.waitLine(/^READY/), b.waitLine(/^READY/)]);
    await writeFile(go, '');
    const [ra, rb] = await Promise.all([a.exited, b.exited]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    return [ra, rb];
  }

  it.skipIf(why !== undefined)('two processes ingesting the same blob both succeed and leave one copy', async () => {
    const size = 400_000;
    const data = makeData('race', size);
    const digest = Digest.of(data);
    const go = path.join(dir, 'go');
    await Store.open({ root });
    const a = spawnChild(['ingest', root, digest.toString(), String(size), 'race', go, '40']);
    const b = spawnChild(['ingest', root, digest.toString(), String(size), 'race', go, '40']);
    const [ra, rb] = await releaseTogether(go, a, b);
    const results = [ra.stdout, rb.stdout].map((s) => (JSON.parse(s.trim().split('\n').at(-1) as string) as { result: string }).result).sort();
    expect(results).toEqual(['committed', 'exists']);

    const store = await Store.open({ root });
    expect((await store.readBlob(digest, { size })).equals(data)).toBe(true);
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([digest.hex]);
    expect(await readdir(path.join(root, 'ingest'))).toEqual([]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it.skipIf(why !== undefined)('a child SIGKILLed mid-ingest leaves no blob; the next ingest resumes and finishes', async () => {
    const size = 300_000;
    const data = makeData('killed', size);
    const digest = Digest.of(data);
    await Store.open({ root });
    const child = spawnChild(['ingest-half', root, digest.toString(), String(size), 'killed']);
    children.push(child);
    const line = await child.waitLine(/^HALF \d+/);
    const half = Number(line.split(' ')[1]);
    expect(half).toBe(size / 2);
    child.proc.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');

    const store = await Store.open({ root, lockTimeoutMs: 10_000 });
    expect(await store.has(digest)).toBe(false);
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([]);
    // The kernel dropped the dead child's lock: this does not wait (ELOCKED after 10 s otherwise).
    const ing: BlobIngest = await store.ingest({ digest, size });
    expect(ing.exists).toBe(false);
    expect(ing.offset).toBe(half);
    await writeAll(ing.createWriteStream(), data.subarray(ing.offset));
    expect(await ing.commit()).toEqual({ digest, size });
    expect((await store.readBlob(digest)).equals(data)).toBe(true);
    expect((await stat(blobFile(store, digest))).size).toBe(size);
  });

  it.skipIf(why !== undefined)('a child SIGKILLed mid-putBlob leaves only a temp file, which gc removes', async () => {
    const size = 200_000;
    const data = makeData('put-killed', size);
    await Store.open({ root });
    const child = spawnChild(['put-half', root, String(size), 'put-killed']);
    children.push(child);
    await child.waitLine(/^HALF/);
    child.proc.kill('SIGKILL');
    await child.exited;

    const store = await Store.open({ root, lockTimeoutMs: 10_000 });
    expect(await readdir(path.join(root, 'blobs', 'sha256'))).toEqual([]);
    const temps = await readdir(path.join(root, 'tmp'));
    expect(temps).toHaveLength(1);
    expect((await stat(path.join(root, 'tmp', temps[0] as string))).size).toBe(size / 2);
    const res = await store.gc();
    expect(res.temporary).toEqual([`tmp/${temps[0]}`]);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
    expect((await store.putBlob(data)).digest.equals(Digest.of(data))).toBe(true);
  });

  it.skipIf(why !== undefined)('concurrent tag updates from two processes lose no entries', async () => {
    const store = await Store.open({ root });
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: Digest.of('{}').toString(), size: 2 }, layers: [] }));
    const m = await store.putBlob(manifest);
    const go = path.join(dir, 'go');
    const count = 10;
    const args = (prefix: string) => ['tag', root, go, prefix, String(count), m.digest.toString(), String(m.size), MediaType.OciManifest];
    const a = spawnChild(args('a'));
    const b = spawnChild(args('b'));
    await releaseTogether(go, a, b);
    const names = (await store.listTags()).map((t) => t.reference.toString()).sort();
    const expected = ['a', 'b'].flatMap((p) => Array.from({ length: count }, (_, i) => `localhost/${p}:${i}`)).sort();
    expect(names).toEqual(expected);
  });
});
