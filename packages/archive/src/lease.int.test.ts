// A copy into the store holds a store lease: a gc in another process waits for it, so the blobs
// and the manifest copied before the tag exists are not collected mid-copy.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Reference, type ImageSink } from '@berth/oci';
import { copyImage, storeSink } from '@berth/image';
import { Store } from '@berth/store';
import { layoutSource } from './layout.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const images = path.resolve(repoRoot, '../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json'));
const storeBuilt = existsSync(path.join(repoRoot, 'packages', 'store', 'dist', 'index.js'));

let tmp: string | undefined;
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveImages || !storeBuilt)('copyImage into the store and a concurrent gc', () => {
  it('gc in another process waits for the copy; every blob of the image survives it', async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-lease-'));
    const root = path.join(tmp, 'store');
    const store = await Store.open({ root });
    const sink = storeSink(store);
    let entered!: () => void;
    const beforeTag = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The store sink, held before the tag: every blob and the manifest are in, untagged, and no
    // ingest is open; only the copy's lease keeps them from a gc.
    const gated: ImageSink = {
      ...sink,
      name: sink.name,
      tag: async (ref, d) => {
        entered();
        await gate;
        return sink.tag(ref, d);
      },
    };
    const dest = Reference.parse('localhost/lease/alpine:1');
    const order: string[] = [];
    const copy = copyImage(layoutSource(path.join(images, 'alpine')), gated, { reference: Reference.parse('docker.io/library/alpine:3.20.3'), destination: dest, platform: { os: 'linux', architecture: 'amd64' } }).then((r) => {
      order.push('copy');
      return r;
    });
    await beforeTag;

    const script = `import { Store } from '@berth/store';
const store = await Store.open({ root: ${JSON.stringify(root)} });
process.stdout.write('waiting\\n');
const r = await store.gc();
process.stdout.write(JSON.stringify(r) + '\\n');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const gcDone = new Promise<number | null>((resolve) => child.on('close', resolve)).then((code) => {
      order.push('gc');
      return code;
    });
    while (!out.includes('waiting') && child.exitCode === null) await sleep(20);
    await sleep(500); // room for a gc that did not wait to do its damage
    release();

    const copied = await copy;
    expect(await gcDone, err).toBe(0);
    expect(order).toEqual(['copy', 'gc']);
    const image = await store.getImage(dest);
    expect(image.descriptor.digest).toBe(copied.descriptor.digest);
    for (const d of [image.configDescriptor, ...image.manifest.layers]) expect(await store.has(d.digest)).toBe(true);
  });
});
