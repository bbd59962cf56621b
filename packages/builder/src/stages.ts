import type { ContainerConfig, Descriptor, History, Platform } from '@berth/oci';
import type { Recipe, RecipeStage } from './recipe/parse.js';
import type { TreeStack } from './workspace.js';

/** Where a stage stands after its base and the steps so far: what the next step builds on. */
export interface StageState {
  name?: string;
  platform: Platform;
  layers: Descriptor[];
  diffIds: string[];
  config: ContainerConfig;
  history: History[];
  /** The cache key of everything so far. */
  key: string;
  /** The tree matching `layers`, when one is at hand (after cache hits it is made on demand). */
  stack?: TreeStack;
  args: Map<string, string>;
}

/** One entry of the build order: a stage, and whether the final stage needs it (a skipped one is not built). */
export interface PlannedStage {
  stage: RecipeStage;
  skip: boolean;
}

/**
 * The stages to build for the recipe's final stage, in the recipe's stage order (the parser put
 * them in dependency order and refused cycles), the final stage last. A named stage the final
 * stage does not need, directly or through other stages, is listed with `skip: true`.
 */
export function planStages(recipe: Recipe): PlannedStage[] {
  const needed = neededStages(recipe);
  return [...recipe.stages.map((stage) => ({ stage, skip: !needed.has(stage.name as string) })), { stage: recipe.final, skip: false }];
}

/** Names of the stages the final stage depends on, directly or through other stages (`from`, `copy.from`). */
export function neededStages(recipe: Recipe): Set<string> {
  const byName = new Map(recipe.stages.map((s) => [s.name as string, s]));
  const needed = new Set<string>();
  const visit = (stage: RecipeStage): void => {
    const refs = [stage.from, ...stage.steps.flatMap((st) => (st.kind === 'copy' && st.from !== undefined ? [st.from] : []))];
    for (const name of refs) {
      const dep = byName.get(name);
      if (dep && !needed.has(name)) {
        needed.add(name);
        visit(dep);
      }
    }
  };
  visit(recipe.final);
  return needed;
}

/**
 * The args each stage sees: the recipe's `args`, then the stage's, each replaced by a build arg
 * (`--build-arg`) of the same name. Remembers which build args some stage declared, so the
 * others can be reported as unused.
 */
export class StageArgs {
  private readonly used = new Set<string>();

  constructor(
    private readonly recipeArgs: Record<string, string>,
    private readonly overrides: Record<string, string> = {},
  ) {}

  forStage(stage: RecipeStage): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of [...Object.entries(this.recipeArgs), ...Object.entries(stage.args)]) {
      if (Object.hasOwn(this.overrides, k)) {
        out.set(k, this.overrides[k] as string);
        this.used.add(k);
      } else out.set(k, v);
    }
    return out;
  }

  /** Build args no stage built so far declares, in the order given. */
  unused(): string[] {
    return Object.keys(this.overrides).filter((name) => !this.used.has(name));
  }
}

/** What `$NAME` resolves to in a step: the stage's config env (base image and earlier `env` steps) over its args. */
export function stageVars(state: Pick<StageState, 'args' | 'config'>): Map<string, string> {
  const m = new Map(state.args);
  for (const e of state.config.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return m;
}
