import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BerthError, type LayerCompression, type Platform, type Reference } from '@berth/oci';
import type { Snapshots } from '@berth/rootfs';
import type { Store, StoredImage } from '@berth/store';
import { BuildCache } from './cache.js';
import { CachePolicy } from './cachekeys.js';
import { IgnoreMatcher } from './context/pattern.js';
import type { CopySource } from './context/sources.js';
import type { BuildEvent } from './events.js';
import { writeImage, type WrittenImage } from './image-writer.js';
import { loadRecipe, parseRecipe, validateRecipe, type Recipe } from './recipe/parse.js';
import type { RecipeInput } from './recipe/schema.js';
import { StageExecutor, type StepResult } from './stage-executor.js';
import { StageArgs, planStages, type StageState } from './stages.js';
import type { StepRuntime } from './steps/run.js';
import { BuildTrees } from './trees.js';

export type { StepResult } from './stage-executor.js';
export { describeStep } from './steps/describe.js';

export interface BuildOptions {
  store: Store;
  snapshots: Snapshots;
  /**
   * Runs `run` steps: a `Runtime` from @berth/runtime, or a function making one
   * (called on the first run step that executes, so a cached build never loads
   * the runtime). Only needed when the recipe has run steps.
   */
  runtime?: StepRuntime | (() => StepRuntime | Promise<StepRuntime>);
  /** The build context directory: `copy` reads only from here. */
  context: string;
  /** The recipe file; default `<context>/berth.yaml`. Relative paths are relative to the working directory. */
  file?: string;
  /**
   * A recipe given directly instead of a file: YAML text, a `RecipeInput` object (what the YAML
   * holds, written in code; validated like text, errors name the path: `recipe: steps[0].run: …`),
   * or a `Recipe` from `parseRecipe`/`validateRecipe`.
   */
  recipe?: string | RecipeInput | Recipe;
  /** Tags for the result (`-t`, several allowed). */
  tags: Reference[];
  /** `--build-arg NAME=VALUE`: overrides the recipe's `args` defaults. */
  buildArgs?: Record<string, string>;
  /** Execute every step, ignoring (and refreshing) the cache. */
  noCache?: boolean;
  /** Network for `run` steps: none (default) or the host's. */
  network?: 'none' | 'host';
  /** Layer compression (default gzip). */
  compression?: LayerCompression;
  /** SOURCE_DATE_EPOCH: clamps file times and sets config/history timestamps, for reproducible images. */
  sourceDateEpoch?: number;
  /** Platform of `from` images (default the host's). */
  platform?: Platform;
  /** Called for a `from` image missing from the store (e.g. `pullImage`); without it a missing image is an error. */
  pull?: (ref: Reference) => Promise<StoredImage>;
  onEvent?: (e: BuildEvent) => void;
  /** Cache entries; default `<store root>/../buildcache` ($BERTH_ROOT/buildcache). */
  cacheDir?: string;
  /** Scratch space for build trees; default `<store root>/../builds` (same file system as the snapshots, for reflinks). */
  workDir?: string;
  /**
   * How steps get a writable tree: `overlay` (an overlayfs mount per step over the previous ones: nothing copied;
   * needs root), `copy` (a full copy of the previous tree per step), `auto` (default: overlay when it works).
   * BERTH_BUILD_OVERLAY=0 in the environment forces `copy` under `auto`.
   */
  treeMode?: 'auto' | 'overlay' | 'copy';
}

/** The image written (its manifest's digest is what `-t` tags point at) and what each step did. */
export interface BuildResult extends WrittenImage {
  steps: StepResult[];
}


/**
 * Build an image from a recipe: the stages the final stage needs, in dependency order
 * (`stages.ts`), each step taken from the cache or executed over the build's trees
 * (`stage-executor.ts`, keys and lookups from `cachekeys.ts`, trees from `trees.ts`), the image
 * written and tagged in the store (`image-writer.ts`), all inside a store lease. See README.md
 * for the recipe reference and the cache contract.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const context = path.resolve(opts.context);
  const st = await stat(context).catch((err: unknown) => {
    throw BerthError.wrap(`build: context ${opts.context}`, err, 'EBUILD');
  });
  if (!st.isDirectory()) throw new BerthError('EBUILD', `build: context ${opts.context}: not a directory`);
  const varRoot = path.dirname(opts.store.root);
  const cacheDir = opts.cacheDir ?? path.join(varRoot, 'buildcache');
  const recipe = await resolveRecipe(opts, context, cacheDir);
  if (opts.sourceDateEpoch !== undefined && (!Number.isSafeInteger(opts.sourceDateEpoch) || opts.sourceDateEpoch < 0)) {
    throw new BerthError('EINVAL_ARGUMENT', `build: SOURCE_DATE_EPOCH must be a non-negative integer, got ${opts.sourceDateEpoch}`);
  }
  const emit = (e: BuildEvent): void => opts.onEvent?.(e);
  const policy = new CachePolicy({ cache: new BuildCache(cacheDir), store: opts.store, noCache: opts.noCache, sourceDateEpoch: opts.sourceDateEpoch });
  // The workspace is made on the first step that executes: a fully cached build touches no trees.
  const trees = new BuildTrees({ snapshots: opts.snapshots, root: opts.workDir ?? path.join(varRoot, 'builds'), mode: opts.treeMode ?? 'auto' });
  try {
    return await opts.store.withLease(async () => {
      const executor = new StageExecutor({
        store: opts.store,
        platform: opts.platform,
        pull: opts.pull,
        emit,
        policy,
        trees,
        runtime: lazyRuntime(opts.runtime),
        contextSource: await contextSource(context),
        compression: opts.compression ?? 'gzip',
        network: opts.network ?? 'none',
      });
      const args = new StageArgs(recipe.args, opts.buildArgs);
      let final: StageState | undefined;
      for (const { stage, skip } of planStages(recipe)) {
        if (skip) emit({ type: 'warning', message: `stage ${stage.name} is not used by the final image (skipped)` });
        else final = await executor.run(stage, args.forStage(stage));
      }
      for (const name of args.unused()) emit({ type: 'warning', message: `build arg ${name} is not declared in the recipe's args (ignored)` });
      // planStages always ends with the final stage, which is never skipped.
      const image = await writeImage({ store: opts.store, policy, recipe, final: final as StageState, tags: opts.tags });
      emit({ type: 'done', digest: image.digest, tags: opts.tags, ms: Math.round(performance.now() - started) });
      return { ...image, steps: executor.results };
    });
  } finally {
    await trees.dispose();
  }
}

/** The recipe: `opts.recipe` (text, a `RecipeInput` or a parsed `Recipe`), else the file (parsed recipes cached by content). */
async function resolveRecipe(opts: BuildOptions, context: string, cacheDir: string): Promise<Recipe> {
  if (typeof opts.recipe === 'string') return parseRecipe(opts.recipe, { file: opts.file ?? 'berth.yaml' });
  if (isParsedRecipe(opts.recipe)) return opts.recipe;
  if (opts.recipe !== undefined && opts.recipe !== null) return validateRecipe(opts.recipe, { file: opts.file ?? 'recipe' });
  return loadRecipe(opts.file ? path.resolve(opts.file) : path.join(context, 'berth.yaml'), { cacheDir: path.join(cacheDir, 'recipes') });
}

/** Where context copies read from: the context directory, with its `.berthignore` when there is one. */
async function contextSource(context: string): Promise<CopySource> {
  const ignore = new IgnoreMatcher(await readFile(path.join(context, '.berthignore'), 'utf8').catch(() => ''));
  const s: CopySource = { root: context, kind: 'context' };
  if (!ignore.empty) s.ignore = ignore;
  return s;
}

/** The runtime for run steps; a factory is called on the first run step that executes, and once. */
function lazyRuntime(r: BuildOptions['runtime']): () => Promise<StepRuntime> {
  let made: StepRuntime | undefined;
  return async () => {
    if (!r) throw new BerthError('EINVAL_ARGUMENT', 'run steps need a runtime (BuildOptions.runtime)');
    made ??= typeof r === 'function' ? await r() : r;
    return made;
  };
}

/**
 * A `Recipe` already parsed (by `parseRecipe` or `validateRecipe`), as opposed to a `RecipeInput`:
 * it has the `final` stage and a list of `stages`, which a recipe input never has (they would be
 * an unknown key and a map).
 */
function isParsedRecipe(r: BuildOptions['recipe']): r is Recipe {
  return typeof r === 'object' && r !== null && 'final' in r && typeof r.final === 'object' && r.final !== null && Array.isArray(r.stages);
}
