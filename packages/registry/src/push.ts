import { Digest, type Reference } from '@berth/oci';
import { copyImage, storeSource, type ContentStore, type CopyProgressEvent } from '@berth/image';
import type { RegistryClient } from './client.js';
import { registrySink } from './source.js';

export const DEFAULT_MAX_CONCURRENT_UPLOADS = 3;

/** copyImage's progress event in a push's words: `copying` is `uploading`, a blob's `done` is `pushed`. */
export interface PushProgressEvent extends Omit<CopyProgressEvent, 'status' | 'message'> {
  status: 'waiting' | 'uploading' | 'exists' | 'mounted' | 'pushed' | 'done';
}

export interface PushOptions {
  client: RegistryClient;
  store: ContentStore;
  /** A tag (or digest reference) in the store. */
  source: Reference;
  /** Where to push; its tag (or digest) names the pushed manifest. */
  destination: Reference;
  onProgress?: (e: PushProgressEvent) => void;
  signal?: AbortSignal;
  /** Blob uploads at once. Default 3. */
  maxConcurrentUploads?: number;
  /** Passed to uploadBlob: blobs at least this large go up in PATCH chunks. */
  chunkSize?: number;
}

/**
 * Push a stored image: `copyImage` from the store (`storeSource`) to the registry
 * (`registrySink`), every platform of an index (`platforms: 'all'`). For a manifest: its config
 * and layers (each skipped if the registry has it, mounted from the source repository when
 * source and destination share a registry, else uploaded), then the manifest under the
 * destination's tag; for an index, each stored child manifest first (by digest), then the
 * index. Never uses mirrors. Returns the digest and size of what the destination now names.
 */
export async function pushImage(opts: PushOptions): Promise<{ digest: Digest; size: number }> {
  const doing = `push ${opts.destination}`;
  const emit = (e: CopyProgressEvent): void => {
    if (!opts.onProgress || e.status === 'resolving' || e.status === 'retrying') return;
    const status: PushProgressEvent['status'] = e.status === 'copying' ? 'uploading' : e.status === 'done' && (e.kind === 'config' || e.kind === 'layer') ? 'pushed' : e.status;
    const out: PushProgressEvent = { id: e.id, kind: e.kind, status };
    if (e.current !== undefined) out.current = e.current;
    if (e.total !== undefined) out.total = e.total;
    opts.onProgress(out);
  };
  const copied = await copyImage(storeSource(opts.store), registrySink(opts.client, opts.chunkSize ? { chunkSize: opts.chunkSize } : {}), {
    reference: opts.source,
    destination: opts.destination,
    platforms: 'all',
    concurrency: opts.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS,
    doing,
    errorCode: 'EREGISTRY',
    onProgress: emit,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { digest: Digest.parse(copied.descriptor.digest), size: copied.descriptor.size };
}
