import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MediaType, type Descriptor, type Platform } from '@berth/oci';
import { Store } from '@berth/store';
import { sha256, type FakeRegistry } from './fake-registry.js';

export interface FakeImage {
  manifest: { digest: string; size: number; bytes: Buffer };
  config: Descriptor;
  layers: Descriptor[];
  layerData: Buffer[];
}

/** Put an image (random layer bytes unless given) into a fake registry repo under `tags`. */
export function addImage(
  reg: FakeRegistry,
  repo: string,
  tags: string[],
  opts: { layers?: Buffer[]; platform?: Platform; mediaType?: string } = {},
): FakeImage {
  const layerData = opts.layers ?? [randomBytes(3000), randomBytes(5000)];
  const layers = layerData.map((b) => ({ mediaType: MediaType.OciLayerGzip, ...reg.addBlob(repo, b) }));
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const configJson = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layerData.map((b) => sha256(b)) },
  };
  const config = { mediaType: MediaType.OciConfig, ...reg.addBlob(repo, JSON.stringify(configJson)) };
  const mediaType = opts.mediaType ?? MediaType.OciManifest;
  const manifest = reg.addManifest(repo, tags, { schemaVersion: 2, mediaType, config, layers }, mediaType);
  return { manifest, config, layers, layerData };
}

/** An index over images (plus an attestation-like unknown/unknown entry). */
export function addIndex(reg: FakeRegistry, repo: string, tags: string[], entries: Array<{ image: FakeImage; platform: Platform }>): { digest: string; size: number; bytes: Buffer } {
  const manifests: Descriptor[] = entries.map((e) => ({ mediaType: MediaType.OciManifest, digest: e.image.manifest.digest, size: e.image.manifest.size, platform: e.platform }));
  const att = reg.addManifest(repo, [], { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: reg.addBlob(repo, '{}').digest, size: 2 }, layers: [] }, MediaType.OciManifest);
  manifests.push({ mediaType: MediaType.OciManifest, digest: att.digest, size: att.size, platform: { os: 'unknown', architecture: 'unknown' } });
  return reg.addManifest(repo, tags, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, MediaType.OciIndex);
}

/** A fresh store in a temp dir. */
export async function tempStore(): Promise<{ store: Store; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-registry-test-'));
  const store = await Store.open({ root: path.join(dir, 'store') });
  return { store, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `<repo>/../shared/images`, or undefined when absent (CI without the shared images). */
export function sharedImagesDir(): string | undefined {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
  const dir = path.resolve(repoRoot, '../shared/images');
  return existsSync(path.join(dir, 'alpine', 'index.json')) ? dir : undefined;
}

/** Serve an OCI layout's blobs and tags from a fake registry repo. */
export async function loadLayout(reg: FakeRegistry, layoutDir: string, repo: string): Promise<void> {
  const blobDir = path.join(layoutDir, 'blobs', 'sha256');
  for (const name of await readdir(blobDir)) {
    const data = await readFile(path.join(blobDir, name));
    reg.addBlob(repo, data);
    // Manifests and indexes are also served from the manifests endpoint by digest.
    const text = data.length < 1 << 20 ? data.toString('utf8') : '';
    if (text.startsWith('{')) {
      try {
        const v = JSON.parse(text) as { mediaType?: string; manifests?: unknown; config?: unknown };
        const mt = v.mediaType ?? (v.manifests ? MediaType.OciIndex : v.config ? MediaType.OciManifest : undefined);
        if (mt && (v.manifests || v.config)) reg.addManifest(repo, [], data, mt);
      } catch {
        /* not JSON */
      }
    }
  }
  const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  for (const m of index.manifests) {
    const tag = m.annotations?.['org.opencontainers.image.ref.name'];
    if (!tag) continue;
    const data = await readFile(path.join(blobDir, m.digest.slice('sha256:'.length)));
    reg.addManifest(repo, [tag], data, m.mediaType);
  }
}
