// @berth/runtime/listing: the container list and the dead-container sweep for commands that only
// look (`berth ps`), without the rest of the runtime. The package's index brings the spawner,
// the stdio relay, cgroups and seccomp, and with them node's child_process, net, dgram, tty and
// perf_hooks: about 30 built-in modules and a 140 KB chunk that a listing never runs.
import { listContainers } from './lifecycle/list.js';
import { StateStore } from './lifecycle/state.js';
import type { ContainerInfo } from './lifecycle/state.js';
import type { SweepOptions, SweepResult } from './lifecycle/sweep.js';
import { surveyFoundWork, surveyStateRoot } from './lifecycle/survey.js';

export type { ContainerInfo } from './lifecycle/state.js';
export type { SweepOptions, SweepResult } from './lifecycle/sweep.js';

/** Every container of the state root, oldest first, with its live status (Runtime.list()). */
export function listContainersIn(stateDir: string): ContainerInfo[] {
  return listContainers({ store: new StateStore(stateDir) });
}

/**
 * Runtime.sweep() of this state root, loading the runtime only when there is something to
 * remove: the survey (reads only) finds the dead containers, leftovers and orphan copies the
 * sweep would remove, and when there are none its list is the result. Root only, as the sweep.
 */
export async function sweepStateRoot(stateDir: string, opts: SweepOptions = {}): Promise<SweepResult> {
  const survey = surveyStateRoot({ store: new StateStore(stateDir) }, opts);
  if (!surveyFoundWork(survey)) return { removed: [], orphanRootfs: [], errors: survey.errors, remaining: survey.remaining };
  const { Runtime } = await import('./runtime.js');
  return new Runtime({ stateDir }).sweep(opts);
}
