// Pulls in real, separate processes (test/helpers/pull.mjs, against the built
// packages: run `npm run build` first) sharing one store: two at once, and one killed
// with SIGKILL in the middle of a blob.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform, Reference } from '@berth/oci';
import { Store } from '@berth/store';
import { makeTempDir, runChecked, startFaultProxy, startRegistry, type FaultProxy, type RunningRegistry, type TempDir } from '@berth/testing';
import { buildImage, pushLayout, type BuiltImage } from '../../fixtures/images/index.js';
import { distMissing, dockerConfig, freshStoreRoot, pullProcess, toolsSkip, until, verifyStoreBlobs } from '../helpers/registry.js';

const skip = toolsSkip ?? distMissing();
if (skip) console.warn(`skipping multi-process pull tests: ${skip}`);
const platform = formatPlatform(hostPlatform());

describe.skipIf(!!skip)('pulls in separate processes', () => {
  let tmp: TempDir;
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  let layers: string[];
  let dockerDir: string;
  let ref: string;

  beforeAll(async () => {
    tmp = await makeTempDir('berth-proc-it-');
    registry = await startRegistry();
    const layout = path.join(tmp.path, 'layout');
    image = await buildImage({ layout, layers: [{ randomBytes: 3_000_000 }, { randomBytes: 1_000_000 }, { compressibleBytes: 2_000_000 }] });
    await pushLayout({ url: registry.url, repository: 'test/proc', layout });
    layers = (image.images[0]?.layers ?? []).map((l) => l.descriptor.digest);
    proxy = await startFaultProxy({ target: registry.url });
    dockerDir = await dockerConfig(path.join(tmp.path, 'docker'));
    ref = `${proxy.host}/test/proc:latest`;
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  const storeRoot = (name: string): Promise<string> => freshStoreRoot(tmp, name);

  it('two processes pulling the same image into one store both succeed, leaving one consistent copy', async () => {
    const root = await storeRoot('concurrent');
    const first = layers[0] ?? '';
    // Hold the first GET of the big layer so the two pulls are certainly in flight together.
    proxy.setFaults([{ method: 'GET', path: new RegExp(`/blobs/${first}$`), nth: 1, action: { kind: 'hold' } }]);
    const logStart = proxy.log.length;
    const a = pullProcess({ store: root, ref, platform, dockerConfigDir: dockerDir });
    await until(() => proxy.held() === 1, 'process A to ask for the big layer');
    const b = pullProcess({ store: root, ref, platform, dockerConfigDir: dockerDir });
    // B has resolved the image (its manifest request reached the registry) before A may go on.
    await until(() => proxy.log.slice(logStart).filter((e) => e.path.endsWith('/manifests/latest')).length >= 2, 'process B to fetch the manifest');
    proxy.release();
    const [ra, rb] = await Promise.all([a.done, b.done]);
    proxy.setFaults([]);
    expect(ra.status, ra.stderr).toBe(0);
    expect(rb.status, rb.stderr).toBe(0);
    const results = [ra, rb].map((r) => r.lines.at(-1));
    for (const r of results) expect(r).toMatchObject({ ok: true, digest: image.descriptor.digest });
    // Between them, each layer was downloaded once or found existing by the other.
    const downloaded = results.reduce((n, r) => n + Number(r?.layersDownloaded), 0);
    const existing = results.reduce((n, r) => n + Number(r?.layersExisting), 0);
    expect(downloaded + existing).toBe(2 * layers.length);
    expect(downloaded).toBeGreaterThanOrEqual(layers.length);

    const blobs = await verifyStoreBlobs(root);
    for (const l of layers) expect(blobs).toContain(l);
    const store = await Store.open({ root });
    expect((await store.listTags()).map((t) => t.reference.toString())).toEqual([Reference.parse(ref).toString()]);
    await runChecked('skopeo', ['--insecure-policy', 'inspect', `oci:${root}:${Reference.parse(ref).toString()}`], { doing: 'skopeo inspect' });
  });

  it('a process killed with SIGKILL mid-blob leaves nothing corrupt, and the next pull completes', async () => {
    const root = await storeRoot('killed');
    const big = layers[0] ?? '';
    // The big layer's body stops after 1 MB and waits: the process is certainly mid-blob.
    proxy.setFaults([{ method: 'GET', path: new RegExp(`/blobs/${big}$`), nth: 1, action: { kind: 'stall', afterBytes: 1_000_000 } }]);
    const logStart = proxy.log.length;
    const victim = pullProcess({ store: root, ref, platform, dockerConfigDir: dockerDir, events: true });
    await until(() => proxy.held() === 1, 'the pull to be stalled mid-blob');
    // Kill only once some of what arrived is on disk (under load it may still sit in socket buffers).
    const partial = path.join(root, 'ingest', big.replace(':', '-'));
    await until(async () => ((await stat(partial).catch(() => undefined))?.size ?? 0) > 0, 'part of the big layer to reach its partial file');
    victim.child.kill('SIGKILL');
    const killed = await victim.done;
    expect(killed.signal).toBe('SIGKILL');
    proxy.release();
    proxy.setFaults([]);

    // Nothing half-written is visible, nothing is tagged.
    const afterKill = await verifyStoreBlobs(root);
    expect(afterKill).not.toContain(big);
    const store = await Store.open({ root });
    expect(await store.listTags()).toEqual([]);

    const again = pullProcess({ store: root, ref, platform, dockerConfigDir: dockerDir });
    const done = await again.done;
    expect(done.status, done.stderr + JSON.stringify(done.lines)).toBe(0);
    expect(done.lines.at(-1)).toMatchObject({ ok: true, digest: image.descriptor.digest });
    const blobs = await verifyStoreBlobs(root);
    for (const l of layers) expect(blobs).toContain(l);
    // The bytes that arrived before the kill were kept: the second pull resumed the big layer.
    const bigGets = proxy.log.slice(logStart).filter((e) => e.path.endsWith(`/blobs/${big}`));
    expect(bigGets.at(-1)?.range).toMatch(/^bytes=[1-9]\d*-$/);
  });
});
