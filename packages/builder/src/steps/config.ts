import path from 'node:path';
import { BerthError, type ContainerConfig } from '@berth/oci';
import { expand } from '../recipe/expand.js';
import type { CopyStep, RecipeStep, RunStep } from '../recipe/parse.js';

export type ConfigStep = Exclude<RecipeStep, RunStep | CopyStep>;

/**
 * Apply a config-only step (`env`, `workdir`, `user`, `label`, `expose`, `volume`) to `config`, with
 * `$NAME` substituted from `vars` (an `env` step's values are added to `vars` for what follows in
 * the same step). Returns what the step set, for its cache key.
 */
export function applyConfigStep(config: ContainerConfig, step: ConfigStep, vars: Map<string, string>): unknown {
  const c = config;
  switch (step.kind) {
    case 'env': {
      const env = [...(c.Env ?? [])];
      const set: string[] = [];
      for (const [k, v] of Object.entries(step.env)) {
        const value = expand(v, vars);
        const i = env.findIndex((e) => e.startsWith(`${k}=`));
        if (i >= 0) env[i] = `${k}=${value}`;
        else env.push(`${k}=${value}`);
        set.push(`${k}=${value}`);
        vars.set(k, value);
      }
      c.Env = env;
      return { env: set };
    }
    case 'workdir': {
      const w = expand(step.workdir, vars);
      c.WorkingDir = path.posix.resolve(c.WorkingDir || '/', w);
      return { workdir: c.WorkingDir };
    }
    case 'user':
      c.User = expand(step.user, vars);
      return { user: c.User };
    case 'label': {
      const labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of Object.entries(step.labels)) labels[expand(k, vars)] = expand(v, vars);
      c.Labels = labels;
      return { labels: step.labels, resolved: labels };
    }
    case 'expose': {
      const ports = { ...(c.ExposedPorts ?? {}) };
      for (const p of step.ports) ports[expand(p, vars)] = {};
      c.ExposedPorts = ports;
      return { expose: Object.keys(ports) };
    }
    case 'volume': {
      const vols = { ...(c.Volumes ?? {}) };
      for (const v of step.volumes) {
        const p = expand(v, vars);
        if (!p.startsWith('/')) throw new BerthError('ERECIPE', `volume ${JSON.stringify(p)} must be an absolute path`);
        vols[path.posix.normalize(p)] = {};
      }
      c.Volumes = vols;
      return { volume: Object.keys(vols) };
    }
  }
}
