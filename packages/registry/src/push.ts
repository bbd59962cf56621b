import type { Readable } from 'node:stream';
import { BerthError, Digest, isImageMediaType, isIndexMediaType, type Descriptor, type Reference } from '@berth/oci';
import { describeStored, type ContentStore } from '@berth/image';
import type { RegistryClient, UploadResult } from './client.js';
import { reasonOf } from './errors.js';
import { linkedController, runBounded } from '@berth/image';
import { abortError, isAbortError } from './retry.js';

export const DEFAULT_MAX_CONCURRENT_UPLOADS = 3;

export interface PushProgressEvent {
  /** Short digest (12 hex). */
  id: string;
  kind: 'index' | 'manifest' | 'config' | 'layer';
  status: 'waiting' | 'uploading' | 'exists' | 'mounted' | 'pushed' | 'done';
  current?: number;
  total?: number;
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
 * Push a stored image: for a manifest, its config and layers (each skipped if
 * the registry has it, mounted from the source repository when source and
 * destination share a registry, else uploaded), then the manifest under the
 * destination's tag; for an index, each stored child manifest first (by digest),
 * then the index. Never uses mirrors. Returns the digest and size of what the
 * destination now names.
 */
export async function pushImage(opts: PushOptions): Promise<{ digest: Digest; size: number }> {
  const doing = `push ${opts.destination}`;
  try {
    const top = await describeSource(opts.store, opts.source, doing);
    if (isIndexMediaType(top.mediaType)) {
      const index = await opts.store.readIndex(top);
      for (const child of index.manifests) {
        if (!isImageMediaType(child.mediaType)) continue;
        if (!(await opts.store.has(child.digest))) {
          throw new BerthError('EIMAGE_UNKNOWN', `${doing}: manifest ${child.digest} of index ${top.digest} is not in the store (pull every platform first)`);
        }
        if (isIndexMediaType(child.mediaType)) throw new BerthError('EUNSUPPORTED', `${doing}: nested index ${child.digest} is not supported`);
        await pushManifest(opts, child, opts.destination.withDigest(child.digest), doing);
      }
      return await putStored(opts, top, opts.destination, 'index', doing);
    }
    return await pushManifest(opts, top, opts.destination, doing);
  } catch (err) {
    if (isAbortError(err, opts.signal)) throw abortError(doing, opts.signal);
    if (err instanceof BerthError) {
      if (err.message.startsWith(`${doing}: `)) throw err;
      throw new BerthError(err.code, `${doing}: ${reasonOf(err)}`, { cause: err, details: err.details });
    }
    throw BerthError.wrap(doing, err, 'EREGISTRY');
  }
}

async function describeSource(store: ContentStore, source: Reference, doing: string): Promise<Descriptor> {
  const d = await describeStored(store, source);
  if (!d) throw new BerthError('EIMAGE_UNKNOWN', `${doing}: no such image in the store: ${source}`);
  return d;
}

/** A fresh stream of a stored blob from `offset`, verified over the whole blob (the bytes before `offset` are hashed, not sent). */
function openStored(store: ContentStore, d: Descriptor): (offset: number) => Readable {
  return (offset) => store.openBlob(d.digest, { size: d.size, start: offset });
}

async function pushManifest(opts: PushOptions, desc: Descriptor, dest: Reference, doing: string): Promise<{ digest: Digest; size: number }> {
  const manifest = await opts.store.readManifest(desc);
  const emit = (e: PushProgressEvent): void => opts.onProgress?.(e);
  const blobs: Array<{ d: Descriptor; kind: 'config' | 'layer' }> = [];
  const seen = new Set<string>();
  for (const [d, kind] of [[manifest.config, 'config'], ...manifest.layers.map((l) => [l, 'layer'] as const)] as const) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    blobs.push({ d, kind });
    emit({ id: Digest.parse(d.digest).short(), kind, status: 'waiting', total: d.size });
  }
  const src = opts.source;
  const mountFrom = src.registry === dest.registry && src.repository !== dest.repository ? src.repository : undefined;
  const { controller, dispose } = linkedController(opts.signal);
  try {
    await runBounded(blobs, opts.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS, controller, async ({ d, kind }, signal) => {
      const id = Digest.parse(d.digest).short();
      if (!(await opts.store.has(d.digest))) {
        throw new BerthError('EIMAGE_UNKNOWN', `${doing}: ${kind} ${d.digest} is not in the store`);
      }
      let result: UploadResult;
      try {
        result = await opts.client.uploadBlob({
          reference: dest,
          descriptor: d,
          open: openStored(opts.store, d),
          ...(mountFrom ? { mountFrom } : {}),
          ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
          onProgress: (current, total) => emit({ id, kind, status: 'uploading', current, total }),
          signal,
        });
      } catch (err) {
        if (err instanceof BerthError && err.code !== 'EABORTED') {
          throw new BerthError(err.code, `${doing}: ${kind} ${id}: ${reasonOf(err)}`, { cause: err, details: err.details });
        }
        throw err;
      }
      emit({ id, kind, status: result === 'uploaded' ? 'pushed' : result, current: d.size, total: d.size });
    });
  } catch (err) {
    if (opts.signal?.aborted) throw abortError(doing, opts.signal);
    throw err;
  } finally {
    dispose();
  }
  return putStored(opts, desc, dest, 'manifest', doing);
}

async function putStored(opts: PushOptions, desc: Descriptor, dest: Reference, kind: 'index' | 'manifest', doing: string): Promise<{ digest: Digest; size: number }> {
  const bytes = await opts.store.readBlob(desc.digest, { size: desc.size });
  const digest = await opts.client.putManifest({ reference: dest, bytes, mediaType: desc.mediaType, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!digest.equals(desc.digest)) {
    throw new BerthError('EDIGEST_MISMATCH', `${doing}: ${kind} hashes to ${digest}, the store says ${desc.digest}`);
  }
  opts.onProgress?.({ id: digest.short(), kind, status: 'done', current: bytes.length, total: bytes.length });
  return { digest, size: bytes.length };
}
