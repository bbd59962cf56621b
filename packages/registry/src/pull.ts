import {
  BerthError,
  Digest,
  formatPlatform,
  hostPlatform,
  isIndexMediaType,
  isManifestMediaType,
  isUnknownPlatform,
  normalisePlatform,
  parseIndex,
  parseManifest,
  platformMatches,
  selectPlatform,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  type Platform,
  type Reference,
} from '@berth/oci';
import { INDEX_DIGEST_ANNOTATION, type Store } from '@berth/store';
import type { ManifestResult, RegistryClient } from './client.js';
import { reasonOf } from './errors.js';
import { linkedController, runBounded } from './limit.js';
import { abortError, isAbortError } from './retry.js';

/** Annotation on a tag pulled through an index: the digest of that index (defined by @berth/store, which reads it). */
export { INDEX_DIGEST_ANNOTATION };
export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3;

export interface PullProgressEvent {
  /** Short digest (12 hex) of the item; the tag or digest asked for while resolving. */
  id: string;
  kind: 'index' | 'manifest' | 'config' | 'layer';
  status: 'resolving' | 'waiting' | 'downloading' | 'retrying' | 'verifying' | 'exists' | 'done';
  current?: number;
  total?: number;
  message?: string;
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
  store: Store;
  reference: Reference;
  /** Default: the host's platform. Also checked against a single-platform image's config when given. */
  platform?: Platform;
  /** Layers fetched at once. Default 3. */
  maxConcurrentDownloads?: number;
  onProgress?: (e: PullProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * Pull an image into the store: resolve the reference (an index is narrowed to
 * one platform), fetch the config and the layers (bounded concurrency; blobs
 * already stored are not fetched), store the manifest last, then tag the
 * reference with the manifest's descriptor. Everything runs inside a store
 * lease, so a concurrent gc cannot remove blobs before the tag exists. A pull
 * by digest verifies the registry's bytes against that digest and tags the
 * digest reference (docker's `<none>` tag).
 */
export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const doing = `pull ${opts.reference}`;
  const max = opts.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS;
  if (!Number.isInteger(max) || max < 1) throw new BerthError('EINVAL_ARGUMENT', `${doing}: maxConcurrentDownloads must be a positive integer, got ${max}`);
  try {
    return await opts.store.withLease(() => pullInLease(opts, doing, max));
  } catch (err) {
    if (isAbortError(err, opts.signal)) throw abortError(doing, opts.signal);
    if (err instanceof BerthError && err.message.startsWith(`${doing}: `)) throw err;
    throw BerthError.wrap(doing, err, 'EREGISTRY');
  }
}

function fail(doing: string, what: string | undefined, err: unknown): never {
  if (err instanceof BerthError) {
    if (err.code === 'EABORTED') throw err;
    throw new BerthError(err.code, `${doing}: ${what ? `${what}: ` : ''}${reasonOf(err)}`, { cause: err, details: err.details });
  }
  throw BerthError.wrap(what ? `${doing}: ${what}` : doing, err, 'EREGISTRY');
}

async function pullInLease(opts: PullOptions, doing: string, max: number): Promise<PullResult> {
  const { client, store, reference: ref, signal } = opts;
  const emit = (e: PullProgressEvent): void => opts.onProgress?.(e);
  const wanted = opts.platform ? normalisePlatform(opts.platform) : hostPlatform();

  emit({ id: ref.digest ? ref.digest.short() : (ref.tag ?? ref.identifier), kind: 'manifest', status: 'resolving' });
  let top: ManifestResult;
  try {
    top = await client.getManifest(ref, signal ? { signal } : {});
  } catch (err) {
    fail(doing, undefined, err);
  }

  let chosen: ManifestResult = top;
  let indexDigest: Digest | undefined;
  let platform: Platform | undefined;
  if (isIndexMediaType(top.mediaType)) {
    indexDigest = top.digest;
    emit({ id: top.digest.short(), kind: 'index', status: 'done', total: top.bytes.length });
    const index = parseIndex(top.bytes, `index ${top.digest} of ${ref.name}`);
    const entry = selectPlatform(index.manifests, wanted);
    if (!entry) {
      const available = [...new Set(index.manifests.filter((m) => !isUnknownPlatform(m.platform)).map((m) => formatPlatform(normalisePlatform(m.platform as Platform))))];
      throw new BerthError(
        'ENO_MATCHING_PLATFORM',
        `${doing}: no matching manifest for ${formatPlatform(wanted)} in the manifest list entries (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
        { details: { wanted: formatPlatform(wanted), available } },
      );
    }
    if (!isManifestMediaType(entry.mediaType)) {
      throw new BerthError('EUNSUPPORTED', `${doing}: the ${formatPlatform(wanted)} entry of index ${top.digest.short()} is a ${entry.mediaType}, not an image manifest`);
    }
    emit({ id: Digest.parse(entry.digest).short(), kind: 'manifest', status: 'resolving' });
    try {
      chosen = await client.getManifest(ref.withDigest(entry.digest), signal ? { signal } : {});
    } catch (err) {
      fail(doing, `manifest ${Digest.parse(entry.digest).short()}`, err);
    }
    if (chosen.bytes.length !== entry.size) {
      throw new BerthError('ESIZE_MISMATCH', `${doing}: manifest ${entry.digest} has ${chosen.bytes.length} bytes, the index says ${entry.size}`, {
        details: { expected: entry.size, actual: chosen.bytes.length },
      });
    }
    if (!isManifestMediaType(chosen.mediaType)) {
      throw new BerthError('EUNSUPPORTED', `${doing}: manifest ${entry.digest} is a ${chosen.mediaType}, not an image manifest`);
    }
    platform = entry.platform;
  }
  const manifest = parseManifest(chosen.bytes, `${doing}: manifest ${chosen.digest.short()}`);
  const manifestId = chosen.digest.short();

  // The config: first when the platform check needs it (a single-manifest image). When an index
  // entry chose the manifest, the platform is known, and the config downloads alongside the
  // layers (one round trip less before the first layer starts).
  const configDigest = Digest.parse(manifest.config.digest);
  const fetchConfig = async (s: AbortSignal | undefined): Promise<void> => {
    await fetchOne({ opts, doing, kind: 'config', descriptor: manifest.config, signal: s, emit });
  };
  const readConfig = (): Promise<ImageConfig> => store.readConfig(manifest.config).catch((err: unknown) => fail(doing, `config ${configDigest.short()}`, err));
  let config: ImageConfig | undefined;
  if (!platform) {
    await fetchConfig(signal);
    const cfg = await readConfig();
    config = cfg;
    const actual: Platform = { os: cfg.os, architecture: cfg.architecture };
    if (cfg.variant) actual.variant = cfg.variant;
    if (cfg['os.version']) actual['os.version'] = cfg['os.version'];
    if (opts.platform && !platformMatches(wanted, actual)) {
      throw new BerthError(
        'ENO_MATCHING_PLATFORM',
        `${doing}: the image is ${formatPlatform(normalisePlatform(actual))}, which does not match the requested platform ${formatPlatform(wanted)}`,
        { details: { wanted: formatPlatform(wanted), available: [formatPlatform(normalisePlatform(actual))] } },
      );
    }
    platform = actual;
  }

  // Layers: each digest once, at most `max` at a time (the config, when still to fetch, on top);
  // the first failure stops the others.
  const layers = dedupe(manifest.layers);
  for (const l of layers) emit({ id: Digest.parse(l.digest).short(), kind: 'layer', status: 'waiting', total: l.size });
  const tasks: (Descriptor | 'config')[] = config ? [...layers] : ['config', ...layers];
  let downloaded = 0;
  let existing = 0;
  const { controller, dispose } = linkedController(signal);
  try {
    await runBounded(tasks, config ? max : max + 1, controller, async (task, s) => {
      if (task === 'config') return fetchConfig(s);
      const existed = await fetchOne({ opts, doing, kind: 'layer', descriptor: task, signal: s, emit });
      if (existed) existing++;
      else downloaded++;
    });
  } catch (err) {
    if (signal?.aborted) throw abortError(doing, signal);
    throw err;
  } finally {
    dispose();
  }
  config ??= await readConfig();

  // The manifest last, then the tag.
  await store.putBlob(chosen.bytes, { digest: chosen.digest, size: chosen.bytes.length });
  const descriptor: Descriptor = { mediaType: chosen.mediaType, digest: chosen.digest.toString(), size: chosen.bytes.length, platform };
  if (indexDigest) descriptor.annotations = { [INDEX_DIGEST_ANNOTATION]: indexDigest.toString() };
  await store.setTag(ref, descriptor);
  emit({ id: manifestId, kind: 'manifest', status: 'done', total: chosen.bytes.length });

  const result: PullResult = { reference: ref, descriptor, manifest, config, platform, layersDownloaded: downloaded, layersExisting: existing };
  if (indexDigest) result.indexDigest = indexDigest;
  return result;
}

function dedupe(layers: readonly Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return layers.filter((l) => (seen.has(l.digest) ? false : (seen.add(l.digest), true)));
}

/** Fetch one blob into the store unless it is there. Returns true when it already existed. */
async function fetchOne(o: {
  opts: PullOptions;
  doing: string;
  kind: 'config' | 'layer';
  descriptor: Descriptor;
  signal: AbortSignal | undefined;
  emit: (e: PullProgressEvent) => void;
}): Promise<boolean> {
  const { opts, descriptor, kind, emit } = o;
  const digest = Digest.parse(descriptor.digest);
  const id = digest.short();
  const total = descriptor.size;
  if ((await opts.store.size(digest)) === total) {
    emit({ id, kind, status: 'exists', current: total, total });
    return true;
  }
  const ingest = await opts.store.ingest({ digest, size: total });
  if (ingest.exists) {
    await ingest.release();
    emit({ id, kind, status: 'exists', current: total, total });
    return true;
  }
  let verifying = false;
  try {
    await opts.client.fetchBlob({
      reference: opts.reference,
      descriptor,
      ingest,
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (current) => {
        if (current === total && !verifying) {
          verifying = true;
          emit({ id, kind, status: 'verifying', current, total });
        } else if (!verifying) emit({ id, kind, status: 'downloading', current, total });
      },
      onRetry: (e) => {
        verifying = false;
        emit({ id, kind, status: 'retrying', message: `${e.reason}; retry ${e.attempt} in ${e.delayMs} ms` });
      },
    });
  } catch (err) {
    fail(o.doing, `${kind} ${id}`, err);
  }
  emit({ id, kind, status: 'done', current: total, total });
  return false;
}
