import {
  BerthError,
  Reference,
  hostPlatform,
  isBerthError,
  layerMediaInfo,
  normalisePlatform,
  ociLayerMediaType,
  type ContainerConfig,
  type Descriptor,
  type Platform,
} from '@berth/oci';
import type { Store, StoredImage } from '@berth/store';
import { baseKey } from './cachekeys.js';
import type { BuildEvent } from './events.js';
import { located } from './located.js';
import type { RecipeStage } from './recipe/parse.js';
import type { StageState } from './stages.js';
import type { BuildTrees } from './trees.js';

/** The config fields an image keeps (OCI's); others of a base image are dropped. */
const OCI_CONFIG_FIELDS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal'] as const;

export interface BaseOptions {
  store: Store;
  /** Platform of `from` images (default the host's). */
  platform?: Platform | undefined;
  /** Called for a `from` image missing from the store. */
  pull?: ((ref: Reference) => Promise<StoredImage>) | undefined;
  emit: (e: BuildEvent) => void;
}

/**
 * Where a stage starts (`from`, already substituted): `scratch`, a stage built before (its layers,
 * config and history, and a fork of its tree if it has one), or an image from the store (pulled
 * through `pull` when missing). The state's key is the first link of the stage's key chain.
 */
export async function stageBase(
  opts: BaseOptions,
  ctx: { stage: RecipeStage; from: string; args: Map<string, string>; built: ReadonlyMap<string, StageState>; trees: BuildTrees },
): Promise<StageState> {
  const { stage, from, args } = ctx;
  if (from === 'scratch') {
    const platform = normalisePlatform(opts.platform ?? hostPlatform());
    return { args, platform, layers: [], diffIds: [], config: {}, history: [], key: baseKey.scratch(platform) };
  }
  const other = ctx.built.get(from);
  if (other) {
    const state: StageState = {
      args,
      platform: other.platform,
      layers: [...other.layers],
      diffIds: [...other.diffIds],
      config: structuredClone(other.config),
      history: [...other.history],
      key: baseKey.stage(other.key),
    };
    if (other.stack) state.stack = ctx.trees.fork(other.stack);
    return state;
  }
  let ref: Reference;
  try {
    ref = Reference.parse(from);
  } catch (err) {
    throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'ERECIPE');
  }
  const image = await baseImage(opts, ref).catch((err: unknown) => {
    throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'EIMAGE_UNKNOWN');
  });
  const platform: Platform = { os: image.config.os, architecture: image.config.architecture };
  if (image.config.variant) platform.variant = image.config.variant;
  return {
    args,
    platform,
    layers: image.manifest.layers.map(toOciLayer),
    diffIds: [...image.config.rootfs.diff_ids],
    config: pickConfig(image.config.config ?? {}),
    history: [...(image.config.history ?? [])],
    key: baseKey.image(image.descriptor.digest),
  };
}

async function baseImage(opts: BaseOptions, ref: Reference): Promise<StoredImage> {
  const getOpts = opts.platform ? { platform: opts.platform } : {};
  try {
    return await opts.store.getImage(ref, getOpts);
  } catch (err) {
    if (!isBerthError(err, 'EIMAGE_UNKNOWN')) throw err;
    if (!opts.pull) throw new BerthError('EIMAGE_UNKNOWN', `${ref}: not in the store (pull it first)`, { cause: err });
  }
  opts.emit({ type: 'pull', reference: ref.toString() });
  await opts.pull(ref);
  return opts.store.getImage(ref, getOpts);
}

/** Base layers keep their bytes; Docker media types become their OCI equivalents so the manifest is pure OCI. */
function toOciLayer(l: Descriptor): Descriptor {
  const info = layerMediaInfo(l.mediaType);
  if (!info || l.mediaType.startsWith('application/vnd.oci.')) return { ...l };
  const mediaType = info.nondistributable ? ociLayerMediaType(info.compression).replace('.layer.v1', '.layer.nondistributable.v1') : ociLayerMediaType(info.compression);
  return { ...l, mediaType };
}

/** The OCI config fields of `c`, deep-copied; unset and null ones left out. */
export function pickConfig(c: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = {};
  for (const k of OCI_CONFIG_FIELDS) {
    const v = c[k];
    if (v !== undefined && v !== null) (out as Record<string, unknown>)[k] = structuredClone(v);
  }
  return out;
}
