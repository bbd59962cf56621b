import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BerthError,
  Digest,
  MediaType,
  Reference,
  encodeJson,
  hostPlatform,
  isBerthError,
  layerMediaInfo,
  normalisePlatform,
  ociLayerMediaType,
  type ContainerConfig,
  type Descriptor,
  type History,
  type ImageConfig,
  type LayerCompression,
  type Manifest,
  type Platform,
} from '@berth/oci';
import type { Snapshots } from '@berth/rootfs';
import type { Store, StoredImage } from '@berth/store';
import { BuildCache } from './cache.js';
import { CachePolicy, baseKey, configStepKey, copyContent, copyStepKey, imageKey, runStepKey, type LayerParams } from './cachekeys.js';
import { IgnoreMatcher } from './context/pattern.js';
import { hashPlan, planCopy, type CopyPlan, type CopySource } from './context/sources.js';
import type { BuildEvent } from './events.js';
import { applyCopy } from './fsutil/copy.js';
import { resolveOwner } from './fsutil/owner.js';
import { located } from './located.js';
import { expand } from './recipe/expand.js';
import {
  loadRecipe,
  parseRecipe,
  validateRecipe,
  type CopyStep,
  type Recipe,
  type RecipeStage,
  type RecipeStep,
  type RunStep,
} from './recipe/parse.js';
import type { RecipeInput } from './recipe/schema.js';
import { planStages, StageArgs, stageVars, type StageState } from './stages.js';
import { applyConfigStep, type ConfigStep } from './steps/config.js';
import { describeStep } from './steps/describe.js';
import { runInContainer, type StepRuntime } from './steps/run.js';
import type { TreeStack, Workspace } from './workspace.js';

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

export interface StepResult {
  stage?: string;
  index: number;
  path: string;
  kind: RecipeStep['kind'];
  cached: boolean;
  ms: number;
  layer?: { digest: string; size: number };
}

export interface BuildResult {
  /** The image manifest's digest (what `-t` tags point at). */
  digest: Digest;
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: Digest;
  steps: StepResult[];
}

const OCI_CONFIG_FIELDS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal'] as const;

/**
 * Build an image from a recipe: stages in dependency order, each step either
 * taken from the cache or executed (`run` in a container over a copy of the
 * current tree, `copy` into such a copy), every filesystem change a layer
 * (createLayer: the diff against the previous tree), the result tagged in the
 * store. See README.md for the recipe reference and the cache contract.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const context = path.resolve(opts.context);
  const st = await stat(context).catch((err: unknown) => {
    throw BerthError.wrap(`build: context ${opts.context}`, err, 'EBUILD');
  });
  if (!st.isDirectory()) throw new BerthError('EBUILD', `build: context ${opts.context}: not a directory`);
  const varRoot = path.dirname(opts.store.root);
  const cacheDir = opts.cacheDir ?? path.join(varRoot, 'buildcache');
  let recipe: Recipe;
  if (typeof opts.recipe === 'string') recipe = parseRecipe(opts.recipe, { file: opts.file ?? 'berth.yaml' });
  else if (isParsedRecipe(opts.recipe)) recipe = opts.recipe;
  else if (opts.recipe !== undefined && opts.recipe !== null) recipe = validateRecipe(opts.recipe, { file: opts.file ?? 'recipe' });
  else recipe = await loadRecipe(opts.file ? path.resolve(opts.file) : path.join(context, 'berth.yaml'), { cacheDir: path.join(cacheDir, 'recipes') });
  if (opts.sourceDateEpoch !== undefined && (!Number.isSafeInteger(opts.sourceDateEpoch) || opts.sourceDateEpoch < 0)) {
    throw new BerthError('EINVAL_ARGUMENT', `build: SOURCE_DATE_EPOCH must be a non-negative integer, got ${opts.sourceDateEpoch}`);
  }
  // Made on the first step that executes: a fully cached build touches no trees (and loads neither rootfs nor layers).
  let ws: Promise<Workspace> | undefined;
  const workspace = (): Promise<Workspace> =>
    (ws ??= import('./workspace.js').then(({ Workspace }) =>
      Workspace.create(opts.workDir ?? path.join(varRoot, 'builds'), { lowerDirs: [opts.snapshots.root], mode: opts.treeMode ?? 'auto' }),
    ));
  const policy = new CachePolicy({ cache: new BuildCache(cacheDir), store: opts.store, noCache: opts.noCache, sourceDateEpoch: opts.sourceDateEpoch });
  const builder = new Builder(opts, recipe, context, workspace, policy);
  try {
    return await opts.store.withLease(() => builder.run());
  } finally {
    await builder.cleanup();
  }
}

class Builder {
  private readonly stages = new Map<string, StageState>();
  private readonly results: StepResult[] = [];
  private readonly releases: Array<() => void> = [];
  private readonly stacks: TreeStack[] = [];
  private ws: Workspace | undefined;
  private ignore: IgnoreMatcher | undefined;
  private readonly args: StageArgs;
  private readonly compression: LayerCompression;
  private readonly started = performance.now();

  constructor(
    private readonly opts: BuildOptions,
    private readonly recipe: Recipe,
    private readonly context: string,
    private readonly workspace: () => Promise<Workspace>,
    private readonly policy: CachePolicy,
  ) {
    this.compression = opts.compression ?? 'gzip';
    this.args = new StageArgs(recipe.args, opts.buildArgs);
  }

  private emit(e: BuildEvent): void {
    this.opts.onEvent?.(e);
  }

  async run(): Promise<BuildResult> {
    const ignoreText = await readFile(path.join(this.context, '.berthignore'), 'utf8').catch(() => '');
    this.ignore = new IgnoreMatcher(ignoreText);

    let final: StageState | undefined;
    for (const { stage, skip } of planStages(this.recipe)) {
      if (skip) {
        this.emit({ type: 'warning', message: `stage ${stage.name} is not used by the final image (skipped)` });
        continue;
      }
      final = await this.runStage(stage);
      if (stage.name !== undefined) this.stages.set(stage.name, final);
    }
    for (const name of this.args.unused()) this.emit({ type: 'warning', message: `build arg ${name} is not declared in the recipe's args (ignored)` });
    // planStages always ends with the final stage, which is never skipped.
    return this.finish(final as StageState);
  }

  async cleanup(): Promise<void> {
    for (const s of this.stacks.splice(0)) await s.dispose().catch(() => undefined);
    await this.ws?.dispose();
    for (const r of this.releases.splice(0)) r();
  }

  // ------------------------------------------------------------------ stages

  private async runStage(stage: RecipeStage): Promise<StageState> {
    const args = this.args.forStage(stage);
    let from: string;
    try {
      from = expand(stage.from, args);
    } catch (err) {
      throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'ERECIPE');
    }
    const state = await this.baseState(stage, from, args);
    this.emit({ type: 'stage', stage: stage.name, from, steps: stage.steps.length });
    for (const step of stage.steps) await this.runStep(stage, state, step);
    return state;
  }

  private async baseState(stage: RecipeStage, from: string, args: Map<string, string>): Promise<StageState> {
    const common = { args };
    if (from === 'scratch') {
      const platform = normalisePlatform(this.opts.platform ?? hostPlatform());
      return { ...common, platform, layers: [], diffIds: [], config: {}, history: [], key: baseKey.scratch(platform) };
    }
    const other = this.stages.get(from);
    if (other) {
      const state: StageState = {
        ...common,
        platform: other.platform,
        layers: [...other.layers],
        diffIds: [...other.diffIds],
        config: structuredClone(other.config),
        history: [...other.history],
        key: baseKey.stage(other.key),
      };
      if (other.stack) state.stack = this.track(other.stack.fork());
      return state;
    }
    let ref: Reference;
    try {
      ref = Reference.parse(from);
    } catch (err) {
      throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'ERECIPE');
    }
    const image = await this.baseImage(ref).catch((err: unknown) => {
      throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'EIMAGE_UNKNOWN');
    });
    const platform: Platform = { os: image.config.os, architecture: image.config.architecture };
    if (image.config.variant) platform.variant = image.config.variant;
    return {
      ...common,
      platform,
      layers: image.manifest.layers.map(toOciLayer),
      diffIds: [...image.config.rootfs.diff_ids],
      config: pickConfig(image.config.config ?? {}),
      history: [...(image.config.history ?? [])],
      key: baseKey.image(image.descriptor.digest),
    };
  }

  private async baseImage(ref: Reference): Promise<StoredImage> {
    const getOpts = this.opts.platform ? { platform: this.opts.platform } : {};
    try {
      return await this.opts.store.getImage(ref, getOpts);
    } catch (err) {
      if (!isBerthError(err, 'EIMAGE_UNKNOWN')) throw err;
      if (!this.opts.pull) throw new BerthError('EIMAGE_UNKNOWN', `${ref}: not in the store (pull it first)`, { cause: err });
    }
    this.emit({ type: 'pull', reference: ref.toString() });
    await this.opts.pull(ref);
    return this.opts.store.getImage(ref, getOpts);
  }

  // ------------------------------------------------------------------ steps

  private async runStep(stage: RecipeStage, state: StageState, step: RecipeStep): Promise<void> {
    const t0 = performance.now();
    this.emit({ type: 'step', stage: stage.name, index: step.index, of: stage.steps.length, path: step.path, location: step.location, text: describeStep(step) });
    let cached: boolean;
    let layer: { digest: string; size: number } | undefined;
    try {
      if (step.kind === 'run' || step.kind === 'copy') {
        const r = step.kind === 'run' ? await this.runRun(stage, state, step) : await this.runCopy(state, step);
        cached = r.cached;
        layer = r.layer;
      } else {
        cached = await this.runConfig(state, step);
      }
    } catch (err) {
      throw located(step.location, step.path, err, 'EBUILD');
    }
    const ms = Math.round(performance.now() - t0);
    const result: StepResult = { index: step.index, path: step.path, kind: step.kind, cached, ms };
    if (stage.name !== undefined) result.stage = stage.name;
    if (layer) result.layer = layer;
    this.results.push(result);
    this.emit({ type: 'step-done', stage: stage.name, index: step.index, cached, ms, ...(layer ? { layer } : {}) });
  }

  /** Config-only steps: the config changes, no layer; cached means the cache had seen this exact step on this parent. */
  private async runConfig(state: StageState, step: ConfigStep): Promise<boolean> {
    const def = applyConfigStep(state.config, step, stageVars(state));
    state.key = configStepKey(state.key, step.kind, def);
    const { created, cached } = await this.policy.createdFor(state.key);
    state.history.push({ created, created_by: describeStep(step), empty_layer: true });
    return cached;
  }

  private layerParams(): LayerParams {
    return { compression: this.compression, sourceDateEpoch: this.opts.sourceDateEpoch };
  }

  private async runCopy(state: StageState, step: CopyStep): Promise<{ cached: boolean; layer?: { digest: string; size: number } }> {
    const vars = stageVars(state);
    const src = step.src.map((s) => expand(s, vars));
    const dest = expand(step.dest, vars);
    const chown = step.chown === undefined ? undefined : expand(step.chown, vars);
    const chmod = step.chmod === undefined ? undefined : parseInt(expand(step.chmod, vars), 8);
    const workdir = state.config.WorkingDir || '/';
    let plan: CopyPlan | undefined;
    let content: string;
    if (step.from !== undefined) {
      const from = this.stages.get(step.from);
      if (!from) throw new BerthError('ERECIPE', `no stage named ${JSON.stringify(step.from)}`);
      content = copyContent.stage(from.key);
    } else {
      plan = await planCopy({ source: this.contextSource(), src, dest, workdir });
      for (const w of plan.warnings) this.emit({ type: 'warning', message: w });
      content = copyContent.context(await hashPlan(plan, 'context'));
    }
    const key = copyStepKey(state.key, { src, dest, workdir, chown, chmod, content }, this.layerParams());
    return this.fsStep(state, step, key, async (tree) => {
      if (step.from !== undefined) {
        const source = await this.stageTree(step.from);
        plan = await planCopy({ source: { root: source, kind: 'stage' }, src, dest, workdir });
        for (const w of plan.warnings) this.emit({ type: 'warning', message: w });
      }
      const owner = chown === undefined ? undefined : resolveOwner(tree, chown);
      await applyCopy({ root: tree, items: (plan as CopyPlan).items, keepOwner: step.from !== undefined, ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}) });
    });
  }

  private contextSource(): CopySource {
    const s: CopySource = { root: this.context, kind: 'context' };
    if (this.ignore && !this.ignore.empty) s.ignore = this.ignore;
    return s;
  }

  private async runRun(stage: RecipeStage, state: StageState, step: RunStep): Promise<{ cached: boolean; layer?: { digest: string; size: number } }> {
    const vars = stageVars(state);
    const argv = typeof step.command === 'string' ? ['/bin/sh', '-c', step.command] : step.command.map((a) => expand(a, vars));
    const configEnvKeys = new Set((state.config.Env ?? []).map((e) => e.slice(0, e.indexOf('='))));
    const env: string[] = [];
    for (const [k, v] of state.args) if (!configEnvKeys.has(k)) env.push(`${k}=${v}`);
    for (const [k, v] of Object.entries(step.env)) env.push(`${k}=${expand(v, vars)}`);
    const network = this.opts.network ?? 'none';
    const key = runStepKey(
      state.key,
      { argv, env, imageEnv: state.config.Env ?? [], user: state.config.User ?? '', workdir: state.config.WorkingDir ?? '', network },
      this.layerParams(),
    );
    return this.fsStep(state, step, key, async (tree) => {
      const imageConfig: ImageConfig = {
        architecture: state.platform.architecture,
        os: state.platform.os,
        config: state.config,
        rootfs: { type: 'layers', diff_ids: state.diffIds },
      };
      const res = await runInContainer({
        runtime: await this.runtime(),
        rootfs: tree,
        imageConfig,
        argv,
        env,
        network,
        onOutput: (stream, data) => this.emit({ type: 'output', stage: stage.name, index: step.index, stream, data }),
      });
      if (res.exitCode !== 0) {
        throw new BerthError('EBUILD_STEP', res.signal ? `killed by ${res.signal} (exit ${res.exitCode})` : `exited with ${res.exitCode}`, {
          details: { exitCode: res.exitCode, signal: res.signal },
        });
      }
    });
  }

  /**
   * A step that changes files: a cache hit adds the recorded layer; a miss
   * copies the current tree, lets `execute` change the copy, and diffs it
   * against the current tree into a new layer.
   */
  private async fsStep(
    state: StageState,
    step: RunStep | CopyStep,
    key: string,
    execute: (tree: string) => Promise<void>,
  ): Promise<{ cached: boolean; layer?: { digest: string; size: number } }> {
    const history: History = { created: this.policy.now(), created_by: describeStep(step) };
    const hit = await this.policy.layerHit(key);
    if (hit) {
      state.key = key;
      history.created = this.policy.createdOfHit(hit, history.created as string);
      await this.dropTree(state);
      if (hit.layer && hit.diffId) {
        state.layers.push(hit.layer);
        state.diffIds.push(hit.diffId);
      } else history.empty_layer = true;
      state.history.push(history);
      return { cached: true, ...(hit.layer ? { layer: { digest: hit.layer.digest, size: hit.layer.size } } : {}) };
    }
    const t = timer();
    const { createLayer } = await import('@berth/layers');
    const stack = await this.materialize(state);
    const base = await stack.readView();
    const work = await stack.begin();
    const ws = await this.getWs();
    t.mark(`prepare tree (${ws.mode})`);
    let layer: Descriptor | undefined;
    let diffId: string | undefined;
    try {
      await execute(work);
      t.mark('execute');
      const blob = ws.newDir('layer');
      const created = await createLayer({
        ...(base ? { base } : {}),
        target: work,
        output: blob,
        compression: this.compression,
        ...(this.opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: this.opts.sourceDateEpoch } : {}),
      });
      t.mark('create layer');
      if (!created.empty) {
        await this.opts.store.putBlob(createReadStream(blob), { digest: created.digest, size: created.size });
        layer = { mediaType: created.mediaType, digest: created.digest.toString(), size: created.size };
        diffId = created.diffId.toString();
      }
      await rm(blob, { force: true });
      t.mark('store layer');
    } catch (err) {
      await stack.abort();
      throw err;
    }
    await stack.commit();
    t.mark('commit');
    t.report(step.path);
    await this.policy.recordLayer({ key, created: history.created as string, layer, diffId });
    state.key = key;
    if (layer && diffId) {
      state.layers.push(layer);
      state.diffIds.push(diffId);
    } else history.empty_layer = true;
    state.history.push(history);
    return { cached: false, ...(layer ? { layer: { digest: layer.digest, size: layer.size } } : {}) };
  }

  private runtimeInstance: StepRuntime | undefined;
  private async runtime(): Promise<StepRuntime> {
    const r = this.opts.runtime;
    if (!r) throw new BerthError('EINVAL_ARGUMENT', 'run steps need a runtime (BuildOptions.runtime)');
    this.runtimeInstance ??= typeof r === 'function' ? await r() : r;
    return this.runtimeInstance;
  }

  private async getWs(): Promise<Workspace> {
    this.ws ??= await this.workspace();
    return this.ws;
  }

  private track(stack: TreeStack): TreeStack {
    this.stacks.push(stack);
    return stack;
  }

  /** Forget the stage's tree: it no longer matches its layers (a cache hit added one). */
  private async dropTree(state: StageState): Promise<void> {
    const s = state.stack;
    if (!s) return;
    delete state.stack;
    await s.dispose();
  }

  /** The tree for the stage's current layers: the one at hand, or one over the image snapshot (held with a shared lock). */
  private async materialize(state: StageState): Promise<TreeStack> {
    if (state.stack) return state.stack;
    const ws = await this.getWs();
    const { TreeStack } = await import('./workspace.js');
    if (state.layers.length === 0) {
      state.stack = this.track(new TreeStack(ws, undefined));
      return state.stack;
    }
    const image = syntheticImage(state);
    for (let attempt = 0; attempt < 3; attempt++) {
      const ensured = await this.opts.snapshots.ensure({ image });
      const lock = await this.opts.snapshots.lock(ensured.chainId, 'shared');
      if (!lock) continue;
      if (!(await this.opts.snapshots.has(ensured.chainId))) {
        lock.release();
        continue;
      }
      this.releases.push(() => lock.release());
      state.stack = this.track(new TreeStack(ws, ensured.path));
      return state.stack;
    }
    throw new BerthError('EROOTFS', 'snapshot of the build base kept disappearing (concurrent gc?)');
  }

  /** A read-only tree of a finished stage, for `copy.from`. */
  private async stageTree(name: string): Promise<string> {
    const state = this.stages.get(name);
    if (!state) throw new BerthError('ERECIPE', `no stage named ${JSON.stringify(name)}`);
    const view = await (await this.materialize(state)).readView();
    return view ?? (await (await this.getWs()).emptyDir());
  }

  // ------------------------------------------------------------------ result

  private async finish(state: StageState): Promise<BuildResult> {
    const { store } = this.opts;
    const c = state.config;
    if (this.recipe.entrypoint !== undefined) {
      c.Entrypoint = this.recipe.entrypoint;
      if (this.recipe.cmd === undefined) c.Cmd = null;
    }
    if (this.recipe.cmd !== undefined) c.Cmd = this.recipe.cmd;
    if (this.recipe.stopsignal !== undefined) c.StopSignal = this.recipe.stopsignal;
    const key = imageKey(state.key, { entrypoint: this.recipe.entrypoint, cmd: this.recipe.cmd, stopsignal: this.recipe.stopsignal });
    const config: ImageConfig = {
      created: (await this.policy.createdFor(key)).created,
      architecture: state.platform.architecture,
      os: state.platform.os,
      ...(state.platform.variant ? { variant: state.platform.variant } : {}),
      config: cleanConfig(c),
      rootfs: { type: 'layers', diff_ids: state.diffIds },
      history: state.history,
    };
    const configBytes = encodeJson(config);
    const configPut = await store.putBlob(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configPut.digest.toString(), size: configPut.size },
      layers: state.layers,
    };
    const manifestPut = await store.putBlob(encodeJson(manifest));
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: manifestPut.digest.toString(), size: manifestPut.size, platform: { ...state.platform } };
    for (const tag of this.opts.tags) {
      // Rewriting index.json (lock, fsync, rename) is the slowest part of a cached build: skip it when nothing changes.
      const current = await store.resolve(tag);
      if (current && current.digest === descriptor.digest && current.size === descriptor.size && current.mediaType === descriptor.mediaType) continue;
      await store.setTag(tag, descriptor);
    }
    this.emit({ type: 'done', digest: manifestPut.digest, tags: this.opts.tags, ms: Math.round(performance.now() - this.started) });
    return { digest: manifestPut.digest, descriptor, manifest, config, configDigest: configPut.digest, steps: this.results };
  }
}

/** Phase timings on stderr with BERTH_DEBUG_TIMING=1 (where a step's time goes). */
function timer(): { mark(name: string): void; report(what: string): void } {
  const on = process.env['BERTH_DEBUG_TIMING'] === '1';
  let last = performance.now();
  const marks: string[] = [];
  return {
    mark(name) {
      if (!on) return;
      const now = performance.now();
      marks.push(`${name} ${(now - last).toFixed(1)}ms`);
      last = now;
    },
    report(what) {
      if (on) process.stderr.write(`berth build timing: ${what}: ${marks.join(', ')}\n`);
    },
  };
}

function syntheticImage(state: StageState): { manifest: Manifest; config: ImageConfig } {
  const config: ImageConfig = { architecture: state.platform.architecture, os: state.platform.os, rootfs: { type: 'layers', diff_ids: state.diffIds } };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: Digest.of(encodeJson(config)).toString(), size: encodeJson(config).length },
    layers: state.layers,
  };
  return { manifest, config };
}

/** Base layers keep their bytes; Docker media types become their OCI equivalents so the manifest is pure OCI. */
function toOciLayer(l: Descriptor): Descriptor {
  const info = layerMediaInfo(l.mediaType);
  if (!info || l.mediaType.startsWith('application/vnd.oci.')) return { ...l };
  const mediaType = info.nondistributable ? ociLayerMediaType(info.compression).replace('.layer.v1', '.layer.nondistributable.v1') : ociLayerMediaType(info.compression);
  return { ...l, mediaType };
}

function pickConfig(c: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = {};
  for (const k of OCI_CONFIG_FIELDS) {
    const v = c[k];
    if (v !== undefined && v !== null) (out as Record<string, unknown>)[k] = structuredClone(v);
  }
  return out;
}

function cleanConfig(c: ContainerConfig): ContainerConfig {
  const out = pickConfig(c);
  if (c.Cmd === null && c.Entrypoint) delete out.Cmd;
  return out;
}

/**
 * A `Recipe` already parsed (by `parseRecipe` or `validateRecipe`), as opposed to a `RecipeInput`:
 * it has the `final` stage and a list of `stages`, which a recipe input never has (they would be
 * an unknown key and a map).
 */
function isParsedRecipe(r: BuildOptions['recipe']): r is Recipe {
  return typeof r === 'object' && r !== null && 'final' in r && typeof r.final === 'object' && r.final !== null && Array.isArray(r.stages);
}
