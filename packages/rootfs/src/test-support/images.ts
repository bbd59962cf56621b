/** Synthetic images in a store, for the snapshot tests. */
import { Digest, encodeJson, MediaType } from '@berth/oci';
import type { Store, StoredImage } from '@berth/store';
import { buildLayer, buildTar, type EntrySpec } from '../../../../fixtures/layers/index.js';

/** An image from layer descriptions; `corruptDiffId` makes the config lie about one layer. */
export async function putImage(store: Store, layers: EntrySpec[][], opts: { corruptDiffId?: number } = {}): Promise<StoredImage> {
  const descriptors = [];
  const diffIds: string[] = [];
  for (const [i, entries] of layers.entries()) {
    const tar = await buildTar(entries);
    const blob = await buildLayer(entries, { compression: 'gzip' });
    const { digest, size } = await store.putBlob(blob);
    descriptors.push({ mediaType: MediaType.OciLayerGzip, digest: digest.toString(), size });
    diffIds.push(opts.corruptDiffId === i ? Digest.of(`not ${i}`).toString() : Digest.of(tar).toString());
  }
  const config = encodeJson({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } });
  const c = await store.putBlob(config);
  const manifest = encodeJson({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: c.digest.toString(), size: c.size },
    layers: descriptors,
  });
  const m = await store.putBlob(manifest);
  return store.getImage(m.digest.toString());
}

/** A base layer, and one above it that whites out a file, replaces one and adds a symlink. */
export const lower: EntrySpec[] = [
  { path: 'etc/', type: 'dir', mode: 0o755 },
  { path: 'etc/os-release', content: 'ID=berth\n' },
  { path: 'etc/gone', content: 'whited out above' },
  { path: 'bin/', type: 'dir' },
  { path: 'bin/tool', content: 'v1', mode: 0o755 },
];
export const upper: EntrySpec[] = [
  { path: 'etc/.wh.gone', content: '' },
  { path: 'bin/tool', content: 'v2', mode: 0o755 },
  { path: 'bin/link', type: 'symlink', linkname: 'tool' },
];
