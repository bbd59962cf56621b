import { BerthError, Digest, INDEX_DIGEST_ANNOTATION, type Descriptor, type ImageConfig, type Manifest, type Platform, type Reference } from '@berth/oci';
import { copyImage, storeSink, type ContentStore, type CopyProgressEvent } from '@berth/image';
import type { RegistryClient } from './client.js';
import { reasonOf } from './errors.js';
import { registrySource } from './source.js';

/** Annotation on a tag pulled through an index: the digest of that index (defined by @berth/oci; the store reads it). */
export { INDEX_DIGEST_ANNOTATION };
export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3;

/** copyImage's progress event in a pull's words: `copying` is `downloading`, then `verifying` once every byte is in. */
export interface PullProgressEvent extends Omit<CopyProgressEvent, 'status'> {
  status: 'resolving' | 'waiting' | 'downloading' | 'retrying' | 'verifying' | 'exists' | 'done';
}

export interface PullResult {
  reference: Reference;
  /** The platform manifest as tagged in the store (with `platform`, and the index annotation when pulled through one). */
  descriptor: Descriptor;
  indexDigest?: Digest;
  manifest: Manifest;
  config: ImageConfig;
  platform: Platform;
  layersDownloaded: number;
  layersExisting: number;
}

export interface PullOptions {
  client: RegistryClient;
  store: ContentStore;
  reference: Reference;
  /** Default: the host's platform. Also checked against a single-platform image's config when given. */
  platform?: Platform;
  /** Layers fetched at once. Default 3. */
  maxConcurrentDownloads?: number;
  onProgress?: (e: PullProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * Pull an image into the store: `copyImage` from the registry (`registrySource`) to the store
 * (`storeSink`). It resolves the reference (an index is narrowed to one platform), fetches the
 * config and the layers (bounded concurrency; blobs already stored are not fetched), stores the
 * manifest last, then tags the reference with the manifest's descriptor. Everything runs inside
 * a store lease, so a concurrent gc cannot remove blobs before the tag exists. A pull by digest
 * verifies the registry's bytes against that digest and tags the digest reference (docker's
 * `<none>` tag).
 */
export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const doing = `pull ${opts.reference}`;
  const max = opts.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS;
  if (!Number.isInteger(max) || max < 1) throw new BerthError('EINVAL_ARGUMENT', `${doing}: maxConcurrentDownloads must be a positive integer, got ${max}`);
  const { store, signal } = opts;
  const verifying = new Set<string>();
  const onProgress = (e: CopyProgressEvent): void => {
    if (!opts.onProgress) return;
    const key = `${e.kind} ${e.id}`;
    let status: PullProgressEvent['status'];
    if (e.status === 'copying') {
      if (verifying.has(key)) return;
      if (e.current === e.total) verifying.add(key);
      status = e.current === e.total ? 'verifying' : 'downloading';
    } else if (e.status === 'mounted') {
      status = 'done';
    } else {
      if (e.status === 'retrying') verifying.delete(key);
      status = e.status;
    }
    const out: PullProgressEvent = { id: e.id, kind: e.kind, status };
    if (e.current !== undefined) out.current = e.current;
    if (e.total !== undefined) out.total = e.total;
    if (e.message !== undefined) out.message = e.message;
    opts.onProgress(out);
  };
  const copied = await copyImage(registrySource(opts.client), storeSink(store), {
    reference: opts.reference,
    concurrency: max,
    doing,
    errorCode: 'EREGISTRY',
    onProgress,
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(signal ? { signal } : {}),
  });
  const { manifest, platform } = copied;
  if (!manifest || !platform) throw new BerthError('EUNSUPPORTED', `${doing}: no image manifest was copied`); // one platform: never
  let config = copied.config;
  if (!config) {
    try {
      config = await store.readConfig(manifest.config);
    } catch (err) {
      const what = `${doing}: config ${Digest.parse(manifest.config.digest).short()}`;
      if (err instanceof BerthError) throw new BerthError(err.code, `${what}: ${reasonOf(err)}`, { cause: err, details: err.details });
      throw BerthError.wrap(what, err, 'EREGISTRY');
    }
  }
  const result: PullResult = {
    reference: opts.reference,
    descriptor: copied.descriptor,
    manifest,
    config,
    platform,
    layersDownloaded: copied.layersCopied,
    layersExisting: copied.layersExisting,
  };
  if (copied.indexDigest) result.indexDigest = copied.indexDigest;
  return result;
}
