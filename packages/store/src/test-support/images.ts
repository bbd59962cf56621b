import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { MediaType, encodeJson } from '@berth/oci';
import type { Descriptor, Platform } from '@berth/oci';
import type { Store } from '../index.js';
import { makeData } from './data.js';

/** A fresh temp directory and the (not yet created) store path in it; the caller removes `dir`. */
export async function tempStoreRoot(): Promise<{ dir: string; root: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-store-'));
  return { dir, root: path.join(dir, 'store') };
}

/**
 * Registers hooks that give each test a fresh temp directory (`dir`) with a store path
 * in it (`root`, not yet created), passed to `set`, and remove the directory afterwards.
 */
export function useTempStoreRoot(set: (t: { dir: string; root: string }) => void): void {
  let dir: string | undefined;
  beforeEach(async () => {
    const t = await tempStoreRoot();
    dir = t.dir;
    set(t);
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
}

/** The names in a store's `blobs/sha256/`. */
export async function blobNames(r: string): Promise<string[]> {
  return readdir(path.join(r, 'blobs', 'sha256'));
}

/** A small image (random "layer", config, manifest) for platform `p`, stored; returns its manifest descriptor. */
export async function putImage(store: Store, seed: string, p: Platform = { os: 'linux', architecture: 'amd64' }) {
  const layer = makeData(`layer-${seed}`, 3000);
  const layerDesc = { mediaType: MediaType.OciLayer, ...(await store.putBlob(layer)) };
  const config = encodeJson({ ...p, rootfs: { type: 'layers', diff_ids: [layerDesc.digest.toString()] }, config: { Cmd: ['/bin/sh'] } });
  const configDesc = { mediaType: MediaType.OciConfig, ...(await store.putBlob(config)) };
  const manifest = encodeJson({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: configDesc.mediaType, digest: configDesc.digest.toString(), size: configDesc.size },
    layers: [{ mediaType: layerDesc.mediaType, digest: layerDesc.digest.toString(), size: layerDesc.size }],
  });
  const m = await store.putBlob(manifest);
  const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest.toString(), size: m.size };
  return { descriptor, layer: layerDesc.digest.toString(), config: configDesc.digest.toString() };
}
