import { formatPlatform, type Descriptor, type LayerCompression, type Platform } from '@berth/oci';
import type { Store } from '@berth/store';
import { cacheKey, type BuildCache, type CacheEntry } from './cache.js';

/**
 * The cache keys of a build, each chained from its parent's (README "Cache contract"), and the
 * policy for looking them up. The JSON each key hashes is part of the cache format: changing a
 * field or its order makes every existing entry miss (bump CACHE_VERSION when that is meant).
 */

/** The key a stage's first step chains from. */
export const baseKey = {
  /** `from: scratch`: the platform alone. */
  scratch: (platform: Platform): string => cacheKey('', { scratch: formatPlatform(platform) }),
  /** `from: <image>`: the base manifest's digest. */
  image: (manifestDigest: string): string => cacheKey('', { image: manifestDigest }),
  /** `from: <stage>`: that stage's final key. */
  stage: (stageKey: string): string => cacheKey(stageKey, { stage: 'from' }),
};

/** What a step that makes a layer adds to its key: how the layer is written. */
export interface LayerParams {
  compression: LayerCompression;
  sourceDateEpoch?: number | undefined;
}

function layerFields(p: LayerParams): { compression: LayerCompression; sourceDateEpoch: number | null } {
  return { compression: p.compression, sourceDateEpoch: p.sourceDateEpoch ?? null };
}

/** A config-only step (`env`, `workdir`, …): its kind and what it set, after substitution. */
export function configStepKey(parent: string, kind: string, def: unknown): string {
  return cacheKey(parent, { kind, def });
}

export interface CopyKeyFields {
  src: string[];
  dest: string;
  workdir: string;
  chown: string | undefined;
  chmod: number | undefined;
  /** `copyContent.context(digest)` or `copyContent.stage(key)`. */
  content: string;
}

/** What a copy step reads: the content digest of its context sources, or the key of the stage it copies from. */
export const copyContent = {
  context: (planDigest: string): string => `context:${planDigest}`,
  stage: (stageKey: string): string => `stage:${stageKey}`,
};

export function copyStepKey(parent: string, f: CopyKeyFields, layer: LayerParams): string {
  return cacheKey(parent, {
    kind: 'copy',
    src: f.src,
    dest: f.dest,
    workdir: f.workdir,
    chown: f.chown ?? null,
    chmod: f.chmod ?? null,
    content: f.content,
    ...layerFields(layer),
  });
}

export interface RunKeyFields {
  argv: string[];
  /** The environment the step adds (args not in the config's env, then the step's `env`). */
  env: string[];
  /** The config's env, user and workdir the container gets. */
  imageEnv: string[];
  user: string;
  workdir: string;
  network: 'none' | 'host';
}

export function runStepKey(parent: string, f: RunKeyFields, layer: LayerParams): string {
  return cacheKey(parent, {
    kind: 'run',
    argv: f.argv,
    env: f.env,
    imageEnv: f.imageEnv,
    user: f.user,
    workdir: f.workdir,
    network: f.network,
    ...layerFields(layer),
  });
}

/** The image written after the final stage: its entrypoint, cmd and stopsignal over the final key. */
export function imageKey(parent: string, f: { entrypoint?: string[] | undefined; cmd?: string[] | undefined; stopsignal?: string | undefined }): string {
  return cacheKey(parent, { image: { entrypoint: f.entrypoint ?? null, cmd: f.cmd ?? null, stopsignal: f.stopsignal ?? null } });
}

/**
 * How a build uses its cache: with `noCache` nothing is read (and every entry is rewritten); a
 * layer entry whose blob is gone from the store is a miss; `created` comes from SOURCE_DATE_EPOCH
 * when set, else from when the cache first saw the key (so a fully cached rebuild gives the very
 * same config and digest).
 */
export class CachePolicy {
  private readonly cache: BuildCache;
  private readonly store: Pick<Store, 'has'>;
  private readonly noCache: boolean;
  readonly sourceDateEpoch: number | undefined;

  constructor(opts: { cache: BuildCache; store: Pick<Store, 'has'>; noCache?: boolean | undefined; sourceDateEpoch?: number | undefined }) {
    this.cache = opts.cache;
    this.store = opts.store;
    this.noCache = opts.noCache === true;
    this.sourceDateEpoch = opts.sourceDateEpoch;
  }

  /** The time recorded for new steps and images: SOURCE_DATE_EPOCH, or now. */
  now(): string {
    const sde = this.sourceDateEpoch;
    return sde !== undefined ? new Date(sde * 1000).toISOString() : new Date().toISOString();
  }

  /** The entry of a file system step, if it can be used: not `noCache`, and its layer (if any) still in the store. */
  async layerHit(key: string): Promise<CacheEntry | undefined> {
    if (this.noCache) return undefined;
    const hit = await this.cache.get(key);
    if (hit && (!hit.layer || (await this.store.has(hit.layer.digest)))) return hit;
    return undefined;
  }

  /** `created` for a history entry taken from the cache: the entry's time unless SOURCE_DATE_EPOCH decides. */
  createdOfHit(hit: CacheEntry, fresh: string): string {
    return this.sourceDateEpoch === undefined ? hit.created : fresh;
  }

  /** Record what an executed file system step produced. */
  async recordLayer(entry: { key: string; created: string; layer?: Descriptor | undefined; diffId?: string | undefined }): Promise<void> {
    await this.cache.put({ key: entry.key, created: entry.created, ...(entry.layer ? { layer: entry.layer } : {}), ...(entry.diffId ? { diffId: entry.diffId } : {}) });
  }

  /**
   * `created` for a config step or the image with this key, and whether the cache had seen the
   * key: SOURCE_DATE_EPOCH when set, else when the cache first saw the key. Records the key when new.
   */
  async createdFor(key: string): Promise<{ created: string; cached: boolean }> {
    const hit = this.noCache ? undefined : await this.cache.get(key);
    const created = this.sourceDateEpoch !== undefined ? this.now() : (hit?.created ?? this.now());
    if (!hit) await this.cache.put({ key, created });
    return { created, cached: hit !== undefined };
  }
}
