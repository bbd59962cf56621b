import type { ContainerConfig, ImageConfig, Reference } from '@berth/oci';
import type { PutImageResult, Store } from '@berth/store';
import { pickConfig } from './base.js';
import { imageKey, type CachePolicy } from './cachekeys.js';
import type { Recipe } from './recipe/parse.js';
import type { StageState } from './stages.js';

/** The stored image (`digest` is the manifest's, what the tags point at) and its config. */
export interface WrittenImage extends PutImageResult {
  config: ImageConfig;
}

/**
 * Write the image of the final stage into the store: the recipe's `entrypoint`, `cmd` and
 * `stopsignal` applied to its config, the config and manifest blobs, then each tag (a tag already
 * pointing at this very manifest is left alone: rewriting index.json is the slowest part of a
 * cached build). The config's `created` comes from the cache policy (SOURCE_DATE_EPOCH, or when
 * the cache first saw this image's key), so the same inputs give the same digest.
 */
export async function writeImage(opts: {
  store: Store;
  policy: CachePolicy;
  recipe: Pick<Recipe, 'entrypoint' | 'cmd' | 'stopsignal'>;
  final: StageState;
  tags: readonly Reference[];
}): Promise<WrittenImage> {
  const { store, recipe, final: state } = opts;
  const c = state.config;
  if (recipe.entrypoint !== undefined) {
    c.Entrypoint = recipe.entrypoint;
    if (recipe.cmd === undefined) c.Cmd = null;
  }
  if (recipe.cmd !== undefined) c.Cmd = recipe.cmd;
  if (recipe.stopsignal !== undefined) c.StopSignal = recipe.stopsignal;
  const key = imageKey(state.key, { entrypoint: recipe.entrypoint, cmd: recipe.cmd, stopsignal: recipe.stopsignal });
  const config: ImageConfig = {
    created: (await opts.policy.createdFor(key)).created,
    architecture: state.platform.architecture,
    os: state.platform.os,
    ...(state.platform.variant ? { variant: state.platform.variant } : {}),
    config: cleanConfig(c),
    rootfs: { type: 'layers', diff_ids: state.diffIds },
    history: state.history,
  };
  const written = await store.putImage({ config, layers: state.layers, platform: state.platform });
  const { descriptor } = written;
  for (const tag of opts.tags) {
    const current = await store.resolve(tag);
    if (current && current.digest === descriptor.digest && current.size === descriptor.size && current.mediaType === descriptor.mediaType) continue;
    await store.setTag(tag, descriptor);
  }
  return { ...written, config };
}

/** The image's config fields: an entrypoint set by the recipe without a cmd clears the base's cmd. */
function cleanConfig(c: ContainerConfig): ContainerConfig {
  const out = pickConfig(c);
  if (c.Cmd === null && c.Entrypoint) delete out.Cmd;
  return out;
}
