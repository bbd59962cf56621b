import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { text } from 'node:stream/consumers';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest, MediaType, encodeJson } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import { Store } from './index.js';
import { makeData } from './test-support/data.js';
import { repoRoot } from './test-support/spawn.js';

const run = promisify(execFile);

const skopeoSkip = toolsMissing(['skopeo']);
const umociSkip = toolsMissing(['umoci']);

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-interop-'));
  root = path.join(dir, 'store');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A real one-layer image: a gzipped tar holding hello.txt with random content. */
async function writeTestImage(store: Store): Promise<{ manifest: Digest; layer: Digest; hello: string }> {
  const hello = makeData(`hello-${Math.random()}`, 48).toString('hex');
  const pack = tar.pack();
  pack.entry({ name: 'hello.txt', mode: 0o644, mtime: new Date(0) }, hello);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const tarBytes = Buffer.concat(chunks);
  const layer = await store.putBlob(gzipSync(tarBytes));
  const config = await store.putBlob(
    encodeJson({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [Digest.of(tarBytes).toString()] },
      history: [{ created_by: 'berth store test' }],
    }),
  );
  const manifest = await store.putBlob(
    encodeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: config.digest.toString(), size: config.size },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest.toString(), size: layer.size }],
    }),
  );
  await store.setTag('localhost/test:1', { mediaType: MediaType.OciManifest, digest: manifest.digest.toString(), size: manifest.size });
  return { manifest: manifest.digest, layer: layer.digest, hello };
}

describe('interoperability with skopeo and umoci', () => {
  it.skipIf(!!skopeoSkip)('skopeo inspects and copies an image the store wrote', async () => {
    const store = await Store.open({ root });
    const img = await writeTestImage(store);
    const { stdout } = await run('skopeo', ['inspect', `oci:${root}:localhost/test:1`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
    expect(info.Digest).toBe(img.manifest.toString());
    expect(info.Layers).toEqual([img.layer.toString()]);
    expect(info.Architecture).toBe('amd64');
    // A copy reads (and digests) every blob.
    await run('skopeo', ['copy', '-q', `oci:${root}:localhost/test:1`, `oci:${path.join(dir, 'copy')}:x`]);
    expect(existsSync(path.join(dir, 'copy', 'blobs', 'sha256', img.layer.hex))).toBe(true);
  });

  it.skipIf(!!umociSkip)('umoci lists, stats and unpacks an image the store wrote', async () => {
    const store = await Store.open({ root });
    const img = await writeTestImage(store);
    const ls = await run('umoci', ['ls', '--layout', root]);
    expect(ls.stdout.split('\n')).toContain('localhost/test:1');
    const st = await run('umoci', ['stat', '--json', '--image', `${root}:localhost/test:1`]);
    expect((JSON.parse(st.stdout) as { history: Array<{ created_by?: string }> }).history[0]?.created_by).toBe('berth store test');
    const bundle = path.join(dir, 'bundle');
    const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
    await run('umoci', ['unpack', ...rootless, '--image', `${root}:localhost/test:1`, bundle]);
    expect(await readFile(path.join(bundle, 'rootfs', 'hello.txt'), 'utf8')).toBe(img.hello);
  });

  it.skipIf(!!skopeoSkip)('reads an image skopeo copied into the store (real busybox)', async (ctx) => {
    const busybox = path.resolve(repoRoot, '../shared/images/busybox');
    if (!existsSync(path.join(busybox, 'index.json'))) {
      ctx.skip(`shared images not found at ${busybox}`);
      return;
    }
    await Store.open({ root });
    await run('skopeo', ['copy', '-q', '--override-os', 'linux', '--override-arch', 'arm64', `oci:${busybox}:latest`, `oci:${root}:docker.io/library/busybox:latest`]);
    const store = await Store.open({ root });
    expect((await store.listTags()).map((t) => t.reference.toString())).toEqual(['docker.io/library/busybox:latest']);
    const image = await store.getImage('busybox', { platform: { os: 'linux', architecture: 'arm64' } });
    expect(image.config.architecture).toBe('arm64');
    const layer = image.manifest.layers[0];
    expect(layer).toBeDefined();
    await text(store.openBlob(layer?.digest as string, { size: layer?.size as number })); // verified to EOF
    const res = await store.gc();
    expect(res.removed).toEqual([]);
  });
});
