import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { BerthError, type Descriptor, type History, type ImageConfig, type LayerCompression } from '@berth/oci';
import type { Store } from '@berth/store';
import { stageBase, type BaseOptions } from './base.js';
import { CachePolicy, configStepKey, copyContent, copyStepKey, runStepKey, type LayerParams } from './cachekeys.js';
import { hashPlan, planCopy, type CopyPlan, type CopySource } from './context/sources.js';
import type { BuildEvent } from './events.js';
import { applyCopy } from './fsutil/copy.js';
import { resolveOwner } from './fsutil/owner.js';
import { located } from './located.js';
import { expand } from './recipe/expand.js';
import type { CopyStep, RecipeStage, RecipeStep, RunStep } from './recipe/parse.js';
import { stageVars, type StageState } from './stages.js';
import { applyConfigStep, type ConfigStep } from './steps/config.js';
import { describeStep } from './steps/describe.js';
import { runInContainer, type StepRuntime } from './steps/run.js';
import type { BuildTrees } from './trees.js';

export interface StepResult {
  stage?: string;
  index: number;
  path: string;
  kind: RecipeStep['kind'];
  cached: boolean;
  ms: number;
  layer?: { digest: string; size: number };
}

type LayerRef = { digest: string; size: number };

export interface StageExecutorOptions extends BaseOptions {
  store: Store;
  policy: CachePolicy;
  trees: BuildTrees;
  /** The runtime for run steps, asked for on the first run step that executes. */
  runtime: () => Promise<StepRuntime>;
  /** Where context copies read from (the context directory, with its `.berthignore`). */
  contextSource: CopySource;
  compression: LayerCompression;
  network: 'none' | 'host';
}

/**
 * Runs stages, one at a time, step by step over the build's trees: each step is a cache hit (its
 * recorded layer is added) or executes. A config step changes the config; a `copy` or `run` step
 * runs over a writable tree (`copy` from the context or another stage's tree, `run` in a container
 * through the runtime) and its diff against the tree before becomes a layer. Finished stages are
 * kept for `from: <stage>` and `copy.from`.
 */
export class StageExecutor {
  /** The stages built so far, by name. */
  readonly built = new Map<string, StageState>();
  readonly results: StepResult[] = [];

  constructor(private readonly opts: StageExecutorOptions) {}

  private emit(e: BuildEvent): void {
    this.opts.emit(e);
  }

  private get layerParams(): LayerParams {
    return { compression: this.opts.compression, sourceDateEpoch: this.opts.policy.sourceDateEpoch };
  }

  /** Build one stage with these args (see `StageArgs`); a named stage is then kept for those after it. */
  async run(stage: RecipeStage, args: Map<string, string>): Promise<StageState> {
    let from: string;
    try {
      from = expand(stage.from, args);
    } catch (err) {
      throw located(stage.fromLocation, `${stage.pathPrefix}from`, err, 'ERECIPE');
    }
    const state = await stageBase(this.opts, { stage, from, args, built: this.built, trees: this.opts.trees });
    this.emit({ type: 'stage', stage: stage.name, from, steps: stage.steps.length });
    for (const step of stage.steps) await this.runStep(stage, state, step);
    if (stage.name !== undefined) this.built.set(stage.name, state);
    return state;
  }

  private async runStep(stage: RecipeStage, state: StageState, step: RecipeStep): Promise<void> {
    const t0 = performance.now();
    this.emit({ type: 'step', stage: stage.name, index: step.index, of: stage.steps.length, path: step.path, location: step.location, text: describeStep(step) });
    let cached: boolean;
    let layer: LayerRef | undefined;
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
    const { created, cached } = await this.opts.policy.createdFor(state.key);
    state.history.push({ created, created_by: describeStep(step), empty_layer: true });
    return cached;
  }

  private async runCopy(state: StageState, step: CopyStep): Promise<{ cached: boolean; layer?: LayerRef }> {
    const vars = stageVars(state);
    const src = step.src.map((s) => expand(s, vars));
    const dest = expand(step.dest, vars);
    const chown = step.chown === undefined ? undefined : expand(step.chown, vars);
    const chmod = step.chmod === undefined ? undefined : parseInt(expand(step.chmod, vars), 8);
    const workdir = state.config.WorkingDir || '/';
    let plan: CopyPlan | undefined;
    let content: string;
    if (step.from !== undefined) {
      const from = this.built.get(step.from);
      if (!from) throw new BerthError('ERECIPE', `no stage named ${JSON.stringify(step.from)}`);
      content = copyContent.stage(from.key);
    } else {
      plan = await planCopy({ source: this.opts.contextSource, src, dest, workdir });
      for (const w of plan.warnings) this.emit({ type: 'warning', message: w });
      content = copyContent.context(await hashPlan(plan, 'context'));
    }
    const key = copyStepKey(state.key, { src, dest, workdir, chown, chmod, content }, this.layerParams);
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

  private async runRun(stage: RecipeStage, state: StageState, step: RunStep): Promise<{ cached: boolean; layer?: LayerRef }> {
    const vars = stageVars(state);
    const argv = typeof step.command === 'string' ? ['/bin/sh', '-c', step.command] : step.command.map((a) => expand(a, vars));
    const configEnvKeys = new Set((state.config.Env ?? []).map((e) => e.slice(0, e.indexOf('='))));
    const env: string[] = [];
    for (const [k, v] of state.args) if (!configEnvKeys.has(k)) env.push(`${k}=${v}`);
    for (const [k, v] of Object.entries(step.env)) env.push(`${k}=${expand(v, vars)}`);
    const { network } = this.opts;
    const key = runStepKey(
      state.key,
      { argv, env, imageEnv: state.config.Env ?? [], user: state.config.User ?? '', workdir: state.config.WorkingDir ?? '', network },
      this.layerParams,
    );
    return this.fsStep(state, step, key, async (tree) => {
      const imageConfig: ImageConfig = {
        architecture: state.platform.architecture,
        os: state.platform.os,
        config: state.config,
        rootfs: { type: 'layers', diff_ids: state.diffIds },
      };
      const res = await runInContainer({
        runtime: await this.opts.runtime(),
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
   * A step that changes files: a cache hit adds the recorded layer; a miss gives `execute` a
   * writable tree over the current one and diffs it against the current tree into a new layer.
   */
  private async fsStep(state: StageState, step: RunStep | CopyStep, key: string, execute: (tree: string) => Promise<void>): Promise<{ cached: boolean; layer?: LayerRef }> {
    const { policy, trees, store } = this.opts;
    const history: History = { created: policy.now(), created_by: describeStep(step) };
    const hit = await policy.layerHit(key);
    if (hit) {
      state.key = key;
      history.created = policy.createdOfHit(hit, history.created as string);
      await trees.drop(state);
      if (hit.layer && hit.diffId) {
        state.layers.push(hit.layer);
        state.diffIds.push(hit.diffId);
      } else history.empty_layer = true;
      state.history.push(history);
      return { cached: true, ...(hit.layer ? { layer: { digest: hit.layer.digest, size: hit.layer.size } } : {}) };
    }
    const t = timer();
    const { createLayer } = await import('@berth/layers');
    const stack = await trees.materialize(state);
    const base = await stack.readView();
    const work = await stack.begin();
    const ws = await trees.workspace();
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
        compression: this.opts.compression,
        ...(policy.sourceDateEpoch !== undefined ? { sourceDateEpoch: policy.sourceDateEpoch } : {}),
      });
      t.mark('create layer');
      if (!created.empty) {
        await store.putBlob(createReadStream(blob), { digest: created.digest, size: created.size });
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
    await policy.recordLayer({ key, created: history.created as string, layer, diffId });
    state.key = key;
    if (layer && diffId) {
      state.layers.push(layer);
      state.diffIds.push(diffId);
    } else history.empty_layer = true;
    state.history.push(history);
    return { cached: false, ...(layer ? { layer: { digest: layer.digest, size: layer.size } } : {}) };
  }

  /** A read-only tree of a finished stage, for `copy.from`. */
  private async stageTree(name: string): Promise<string> {
    const state = this.built.get(name);
    if (!state) throw new BerthError('ERECIPE', `no stage named ${JSON.stringify(name)}`);
    return this.opts.trees.readView(state);
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
