import { Readable, Writable } from 'node:stream';
import {
  BerthError,
  Digest,
  describeError,
  type ErrorCode,
  INDEX_DIGEST_ANNOTATION,
  MAX_CONFIG_BYTES,
  formatPlatform,
  hostPlatform,
  isImageMediaType,
  isIndexMediaType,
  isManifestMediaType,
  availablePlatforms,
  configPlatform,
  normalisePlatform,
  parseImageConfig,
  parseIndex,
  parseManifest,
  platformMatches,
  selectPlatform,
  type BlobReadOptions,
  type BlobTarget,
  type BlobWriteResult,
  type Descriptor,
  type ImageConfig,
  type ImageSink,
  type ImageSource,
  type Manifest,
  type Platform,
  type Reference,
  type ResolvedManifest,
} from '@berth/oci';
import { linkedController, runBounded } from './limit.js';

export const DEFAULT_COPY_CONCURRENCY = 3;

export interface CopyProgressEvent {
  /** Short digest (12 hex) of the item; the tag or digest asked for while resolving. */
  id: string;
  kind: 'index' | 'manifest' | 'config' | 'layer';
  status: 'resolving' | 'waiting' | 'copying' | 'retrying' | 'exists' | 'mounted' | 'done';
  current?: number;
  total?: number;
  message?: string;
}

export interface CopyImageOptions {
  /** What to copy, as the source names it. */
  reference: Reference;
  /** The name in the sink; default `reference`. */
  destination?: Reference;
  /** Default: the host's. Also checked against a single-platform image's config when given. */
  platform?: Platform;
  /**
   * `'one'` (default): an index is narrowed to `platform`, and the platform manifest is copied and
   * tagged. `'all'`: every image manifest an index names is copied, then the index, which is tagged.
   */
  platforms?: 'one' | 'all';
  /** Name what was copied in the sink (default true); false leaves the naming to the caller, who must hold the sink's lease. */
  tag?: boolean;
  /** Blobs copied at once. Default 3. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: CopyProgressEvent) => void;
  /** What the caller calls this copy, for messages (`pull docker.io/library/alpine:latest`). Default `copy REF from SOURCE to SINK`. */
  doing?: string;
  /** The code of a failure that is not a BerthError already. Default `EIMAGE_COPY`. */
  errorCode?: ErrorCode;
}

export interface CopyImageResult {
  /**
   * What was (or, with `tag: false`, would be) tagged: the platform manifest (with `platform`, and
   * the index annotation when chosen from an index), or the index itself with `platforms: 'all'`.
   */
  descriptor: Descriptor;
  /** The platform manifest; with `platforms: 'all'` over an index, its first image manifest (none if it names none). */
  manifest?: Manifest;
  platform?: Platform;
  /** Every image manifest copied (one, or each of an index's with `platforms: 'all'`). */
  manifests: Manifest[];
  indexDigest?: Digest;
  /** The config, when copyImage read it (a single-platform image, whose platform it checks). */
  config?: ImageConfig;
  /** Layers the sink did not have. */
  layersCopied: number;
  layersExisting: number;
}

/**
 * Copy one image from `source` to `sink`, as a pull does: resolve the reference (an index is
 * narrowed to one platform), then the config and the layers (at most `concurrency` at a time,
 * each digest once, blobs the sink has are skipped; the config goes first when its platform
 * must be checked, alongside the layers when an index entry chose the manifest), the manifest
 * last, then the tag. The first failure stops the other transfers. Runs inside the sink's lease.
 * With `platforms: 'all'` an index is copied whole: each image manifest it names (blobs, then
 * the manifest, one after another), then the index, which is tagged.
 */
export async function copyImage(source: ImageSource, sink: ImageSink, opts: CopyImageOptions): Promise<CopyImageResult> {
  const doing = opts.doing ?? `copy ${opts.reference} from ${source.name} to ${sink.name}`;
  const max = opts.concurrency ?? DEFAULT_COPY_CONCURRENCY;
  if (!Number.isInteger(max) || max < 1) throw new BerthError('EINVAL_ARGUMENT', `${doing}: concurrency must be a positive integer, got ${max}`);
  const run = (): Promise<CopyImageResult> => copyInLease(source, sink, opts, doing, max);
  try {
    return await (sink.withLease ? sink.withLease(run) : run());
  } catch (err) {
    if (isAbort(err, opts.signal)) {
      const reason: unknown = opts.signal?.reason;
      throw new BerthError('EABORTED', `${doing}: aborted`, reason === undefined ? {} : { cause: reason });
    }
    if (err instanceof BerthError && err.message.startsWith(`${doing}: `)) throw err;
    if (err instanceof BerthError) fail(doing, undefined, err);
    throw BerthError.wrap(doing, err, opts.errorCode ?? 'EIMAGE_COPY');
  }
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  if (err instanceof BerthError) return err.code === 'EABORTED';
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}

/** `DOING: WHAT: reason`, keeping the code and details of a BerthError (an abort passes through). */
function fail(doing: string, what: string | undefined, err: unknown): never {
  if (err instanceof BerthError) {
    if (err.code === 'EABORTED') throw err;
    const reason = typeof err.details['reason'] === 'string' ? err.details['reason'] : describeError(err);
    throw new BerthError(err.code, `${doing}: ${what ? `${what}: ` : ''}${reason}`, { cause: err, details: err.details });
  }
  throw BerthError.wrap(what ? `${doing}: ${what}` : doing, err, 'EIMAGE_COPY');
}

async function copyInLease(source: ImageSource, sink: ImageSink, opts: CopyImageOptions, doing: string, max: number): Promise<CopyImageResult> {
  const { reference: ref, signal } = opts;
  const dest = opts.destination ?? ref;
  const emit = (e: CopyProgressEvent): void => opts.onProgress?.(e);
  const wanted = opts.platform ? normalisePlatform(opts.platform) : hostPlatform();
  const sig = signal ? { signal } : {};
  const run: CopyRun = { source, sink, ref, dest, doing, max, emit, signal, copied: new Set() };

  emit({ id: ref.digest ? ref.digest.short() : (ref.tag ?? ref.identifier), kind: 'manifest', status: 'resolving' });
  const top = await source.resolve(ref, sig).catch((err: unknown) => fail(doing, undefined, err));

  if (isIndexMediaType(top.descriptor.mediaType) && opts.platforms === 'all') {
    // Every image manifest the index names, then the index itself, then the tag.
    const indexDigest = Digest.parse(top.descriptor.digest);
    const index = parseIndex(top.bytes, `index ${indexDigest} of ${ref.name}`);
    const images: CopiedImage[] = [];
    for (const entry of index.manifests) {
      if (!isImageMediaType(entry.mediaType)) continue; // artifacts the index names are not images
      if (!isManifestMediaType(entry.mediaType)) throw new BerthError('EUNSUPPORTED', `${doing}: nested index ${entry.digest} is not supported`);
      const child = await childManifest(run, entry, indexDigest);
      images.push(await copyManifest(run, child, entry.platform));
    }
    await sink.writeManifest(dest, top, sig);
    const descriptor: Descriptor = { ...top.descriptor };
    if (opts.tag !== false) await sink.tag(dest, descriptor);
    emit({ id: indexDigest.short(), kind: 'index', status: 'done', total: top.bytes.length });
    const first = images[0];
    const result: CopyImageResult = {
      descriptor,
      indexDigest,
      manifests: images.map((i) => i.manifest),
      layersCopied: images.reduce((n, i) => n + i.copied, 0),
      layersExisting: images.reduce((n, i) => n + i.existing, 0),
    };
    if (first) {
      result.manifest = first.manifest;
      result.platform = first.platform;
    }
    return result;
  }

  let chosen: ResolvedManifest = top;
  let indexDigest: Digest | undefined;
  let platform: Platform | undefined;
  if (isIndexMediaType(top.descriptor.mediaType)) {
    indexDigest = Digest.parse(top.descriptor.digest);
    emit({ id: indexDigest.short(), kind: 'index', status: 'done', total: top.bytes.length });
    const index = parseIndex(top.bytes, `index ${indexDigest} of ${ref.name}`);
    const entry = selectPlatform(index.manifests, wanted);
    if (!entry) {
      const available = availablePlatforms(index.manifests);
      throw new BerthError(
        'ENO_MATCHING_PLATFORM',
        `${doing}: no matching manifest for ${formatPlatform(wanted)} in the manifest list entries (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
        { details: { wanted: formatPlatform(wanted), available } },
      );
    }
    if (!isManifestMediaType(entry.mediaType)) {
      throw new BerthError('EUNSUPPORTED', `${doing}: the ${formatPlatform(wanted)} entry of index ${indexDigest.short()} is a ${entry.mediaType}, not an image manifest`);
    }
    chosen = await childManifest(run, entry, indexDigest);
    platform = entry.platform;
  } else if (!isManifestMediaType(top.descriptor.mediaType)) {
    throw new BerthError('EUNSUPPORTED', `${doing}: ${ref} is a ${top.descriptor.mediaType}, not an image manifest or index`);
  }
  const copied = await copyManifest(run, chosen, platform, opts.platform ? wanted : undefined);

  const descriptor: Descriptor = { ...chosen.descriptor, platform: copied.platform };
  if (indexDigest) descriptor.annotations = { ...chosen.descriptor.annotations, [INDEX_DIGEST_ANNOTATION]: indexDigest.toString() };
  if (opts.tag !== false) await sink.tag(dest, descriptor);
  emit({ id: Digest.parse(chosen.descriptor.digest).short(), kind: 'manifest', status: 'done', total: chosen.bytes.length });

  const result: CopyImageResult = {
    descriptor,
    manifest: copied.manifest,
    manifests: [copied.manifest],
    platform: copied.platform,
    layersCopied: copied.copied,
    layersExisting: copied.existing,
  };
  if (indexDigest) result.indexDigest = indexDigest;
  if (copied.config) result.config = copied.config;
  return result;
}

/** What one copy shares between its manifests: the ends, the names, the digests already copied. */
interface CopyRun {
  source: ImageSource;
  sink: ImageSink;
  ref: Reference;
  dest: Reference;
  doing: string;
  max: number;
  emit: (e: CopyProgressEvent) => void;
  signal: AbortSignal | undefined;
  copied: Set<string>;
}

interface CopiedImage {
  manifest: Manifest;
  platform: Platform;
  config?: ImageConfig;
  copied: number;
  existing: number;
}

/** The manifest an index entry names, checked against the entry's size and kind. */
async function childManifest(run: CopyRun, entry: Descriptor, indexDigest: Digest): Promise<ResolvedManifest> {
  const { doing, source, ref, signal } = run;
  run.emit({ id: Digest.parse(entry.digest).short(), kind: 'manifest', status: 'resolving' });
  const chosen = await source
    .manifest(ref.withDigest(entry.digest), entry, signal ? { signal } : {})
    .catch((err: unknown) => fail(doing, `manifest ${Digest.parse(entry.digest).short()} of index ${indexDigest.short()}`, err));
  if (chosen.bytes.length !== entry.size) {
    throw new BerthError('ESIZE_MISMATCH', `${doing}: manifest ${entry.digest} has ${chosen.bytes.length} bytes, the index says ${entry.size}`, {
      details: { expected: entry.size, actual: chosen.bytes.length },
    });
  }
  if (!isManifestMediaType(chosen.descriptor.mediaType)) {
    throw new BerthError('EUNSUPPORTED', `${doing}: manifest ${entry.digest} is a ${chosen.descriptor.mediaType}, not an image manifest`);
  }
  return chosen;
}

/**
 * One image manifest's blobs, then the manifest. With no `platform` (not chosen from an index)
 * the config goes first and gives the platform, checked against `check` when given.
 */
async function copyManifest(run: CopyRun, chosen: ResolvedManifest, platform: Platform | undefined, check?: Platform): Promise<CopiedImage> {
  const { source, sink, ref, dest, doing, max, emit, signal } = run;
  const manifestDigest = Digest.parse(chosen.descriptor.digest);
  const manifest = parseManifest(chosen.bytes, `${doing}: manifest ${manifestDigest.short()}`);

  const copyBlob = async (kind: 'config' | 'layer', d: Descriptor, from: ImageSource, s: AbortSignal | undefined): Promise<boolean> => {
    const id = Digest.parse(d.digest).short();
    if (run.copied.has(d.digest) || (await sink.hasBlob(d))) {
      emit({ id, kind, status: 'exists', current: d.size, total: d.size });
      return true;
    }
    let status: BlobWriteResult['status'];
    try {
      ({ status } = await sink.writeBlob({
        ref: dest,
        descriptor: d,
        source: from,
        sourceRef: ref,
        ...(s ? { signal: s } : {}),
        onProgress: (current) => emit({ id, kind, status: 'copying', current, total: d.size }),
        onRetry: (message) => emit({ id, kind, status: 'retrying', message }),
      }));
    } catch (err) {
      fail(doing, source.locate?.(d) ?? `${kind} ${id}`, err);
    }
    run.copied.add(d.digest);
    emit({ id, kind, status: status === 'written' ? 'done' : status, current: d.size, total: d.size });
    return status === 'exists';
  };

  // A single-platform image: its config first, read once from the source, checked, then written.
  let config: ImageConfig | undefined;
  if (!platform) {
    const configId = source.locate?.(manifest.config) ?? `config ${Digest.parse(manifest.config.digest).short()}`;
    const held = sink.readBlob && (await sink.hasBlob(manifest.config)) ? await sink.readBlob(manifest.config) : undefined;
    const bytes = held ? Buffer.from(held) : await readConfigBytes(source, ref, manifest.config, signal).catch((err: unknown) => fail(doing, configId, err));
    const cfg = parseImageConfig(bytes, `${doing}: ${configId}`);
    const actual = configPlatform(cfg);
    if (check && !platformMatches(check, actual)) {
      throw new BerthError(
        'ENO_MATCHING_PLATFORM',
        `${doing}: the image is ${formatPlatform(normalisePlatform(actual))}, which does not match the requested platform ${formatPlatform(check)}`,
        { details: { wanted: formatPlatform(check), available: [formatPlatform(normalisePlatform(actual))] } },
      );
    }
    await copyBlob('config', manifest.config, bytesSource(source, bytes), signal);
    config = cfg;
    platform = actual;
  }

  const layers = dedupe(manifest.layers);
  for (const l of layers) emit({ id: Digest.parse(l.digest).short(), kind: 'layer', status: 'waiting', total: l.size });
  const tasks: (Descriptor | 'config')[] = config ? [...layers] : ['config', ...layers];
  let copied = 0;
  let existing = 0;
  const { controller, dispose } = linkedController(signal);
  try {
    await runBounded(tasks, config ? max : max + 1, controller, async (task, s) => {
      if (task === 'config') {
        await copyBlob('config', manifest.config, source, s);
        return;
      }
      if (await copyBlob('layer', task, source, s)) existing++;
      else copied++;
    });
  } finally {
    dispose();
  }

  await sink.writeManifest(dest, chosen, signal ? { signal } : {});
  const out: CopiedImage = { manifest, platform, copied, existing };
  if (config) out.config = config;
  return out;
}

function dedupe(layers: readonly Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return layers.filter((l) => (seen.has(l.digest) ? false : (seen.add(l.digest), true)));
}

/** A config's bytes from the source, bounded and checked against its descriptor. */
async function readConfigBytes(source: ImageSource, ref: Reference, d: Descriptor, signal: AbortSignal | undefined): Promise<Buffer> {
  if (d.size > MAX_CONFIG_BYTES) throw new BerthError('ETOO_LARGE', `config ${d.digest} is ${d.size} bytes, more than ${MAX_CONFIG_BYTES}`);
  const target = new MemoryTarget();
  await source.fetchBlob(ref, d, target, signal ? { signal } : {});
  const bytes = target.bytes();
  const digest = Digest.parse(d.digest);
  if (bytes.length !== d.size) throw new BerthError('ESIZE_MISMATCH', `config ${digest.short()} has ${bytes.length} bytes, the manifest says ${d.size}`);
  if (!Digest.of(bytes, digest.algorithm).equals(digest)) throw new BerthError('EDIGEST_MISMATCH', `config ${digest.short()} does not hash to its digest`);
  return bytes;
}

/** A BlobTarget in memory (small blobs: configs). */
export class MemoryTarget implements BlobTarget {
  private chunks: Buffer[] = [];
  get offset(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  createWriteStream(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.chunks.push(Buffer.from(chunk));
        cb();
      },
    });
  }
  async reset(): Promise<void> {
    this.chunks = [];
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A source of one blob already in memory (the config copyImage read). */
function bytesSource(from: ImageSource, bytes: Buffer): ImageSource {
  const unsupported = (): never => {
    throw new BerthError('EUNSUPPORTED', `${from.name}: only the config is held in memory`);
  };
  return {
    name: from.name,
    resolve: async () => unsupported(),
    manifest: async () => unsupported(),
    fetchBlob: async (_ref, _d, target: BlobTarget, o: BlobReadOptions = {}) => {
      const w = target.createWriteStream();
      await new Promise<void>((resolve, reject) => {
        w.on('error', reject);
        w.end(bytes.subarray(target.offset), () => resolve());
      });
      o.onProgress?.(bytes.length);
    },
    openBlob: async (_ref, _d, o = {}) => Readable.from([bytes.subarray(o.start ?? 0)]),
    ...(from.locate ? { locate: (d: Descriptor) => from.locate?.(d) } : {}),
  };
}
