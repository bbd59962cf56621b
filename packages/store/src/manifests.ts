import { BerthError, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, detectMediaType, isImageMediaType, isIndexMediaType, parseImageConfig, parseIndex, parseManifest } from '@berth/oci';
import type { Digest, ImageConfig, Index, Manifest } from '@berth/oci';
import type { BlobStore } from './blobs.js';
import { toDescriptorLike, type DescriptorLike } from './check.js';

/** A stored image manifest, verified and validated (`d`'s size and media type checked too). */
export async function readManifest(blobs: BlobStore, d: DescriptorLike): Promise<Manifest> {
  const desc = toDescriptorLike(d, 'read manifest');
  const what = `manifest ${desc.digest}`;
  if (desc.mediaType !== undefined && isIndexMediaType(desc.mediaType)) {
    throw new BerthError('EINVAL_MANIFEST', `${what}: is an image index (${desc.mediaType}), not a manifest`);
  }
  const bytes = await blobs.read(desc.digest, { maxBytes: MAX_MANIFEST_BYTES, size: desc.size });
  const manifest = parseManifest(bytes, what);
  checkMediaType(what, desc.mediaType, manifest.mediaType);
  if (manifest.mediaType !== undefined && isIndexMediaType(manifest.mediaType)) {
    throw new BerthError('EINVAL_MANIFEST', `${what}: is an image index (${manifest.mediaType}), not a manifest`);
  }
  return manifest;
}

/** A stored image index, verified and validated. */
export async function readIndex(blobs: BlobStore, d: DescriptorLike): Promise<Index> {
  const desc = toDescriptorLike(d, 'read index');
  const what = `index ${desc.digest}`;
  const bytes = await blobs.read(desc.digest, { maxBytes: MAX_MANIFEST_BYTES, size: desc.size });
  const index = parseIndex(bytes, what);
  checkMediaType(what, desc.mediaType, index.mediaType);
  return index;
}

/** A stored image config, verified and validated. */
export async function readConfig(blobs: BlobStore, d: DescriptorLike): Promise<ImageConfig> {
  const desc = toDescriptorLike(d, 'read config');
  const bytes = await blobs.read(desc.digest, { maxBytes: MAX_CONFIG_BYTES, size: desc.size });
  return parseImageConfig(bytes, `image config ${desc.digest}`);
}

/** What a small JSON blob is: a manifest or index (its media type), an image config, or other (`{}`). */
export interface BlobKind {
  mediaType?: string;
  config?: boolean;
}

/** Classify a stored blob by its content, for blobs known only by digest (a GC root, an image ID). */
export async function sniff(blobs: BlobStore, digest: Digest, size: number): Promise<BlobKind> {
  if (size > MAX_CONFIG_BYTES) return {};
  let value: unknown;
  try {
    value = JSON.parse((await blobs.read(digest, { size })).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) return {};
    throw err;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const obj = value as Record<string, unknown>;
  const mt = detectMediaType(obj);
  if (mt && isImageMediaType(mt)) return { mediaType: mt };
  if (typeof obj['rootfs'] === 'object' && typeof obj['architecture'] === 'string') return { config: true };
  return {};
}

function checkMediaType(what: string, expected: string | undefined, actual: string | undefined): void {
  if (expected !== undefined && actual !== undefined && expected !== actual) {
    throw new BerthError('EINVAL_MANIFEST', `${what}: descriptor says ${expected} but the content says ${actual}`);
  }
}
