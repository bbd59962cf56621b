// @berth/runtime/exec: `berth exec` without the rest of the runtime. The package's index brings
// create, start, the shim, logs, attach, pause, stats and seccomp's compiler (a 140 KB chunk);
// an exec needs the container's state, its cgroup and the launcher. startExecEarly spawns the exec
// child as soon as the container's pid is known (lifecycle/exec-early.ts); execInRunningContainer
// drives it as Runtime.exec does (lifecycle/exec.ts's execAttached, the same code).
import { requireRoot, runtimeContext } from './lifecycle/context.js';
import { execAttached } from './lifecycle/exec.js';
import type { ExecRequest } from './lifecycle/exec.js';
import type { EarlyExec } from './lifecycle/exec-early.js';

export { startExecEarly } from './lifecycle/exec-early.js';
export type { EarlyExec, EarlyExecOptions } from './lifecycle/exec-early.js';
export type { ExecRequest } from './lifecycle/exec.js';

export interface ExecInRunningContainerOptions {
  /** The state root (RuntimeOptions.stateDir). */
  stateDir: string;
  /** The container's id, unique id prefix or name. */
  container: string;
  request: ExecRequest;
  /** startExecEarly's child for this request: driven when it fits, killed otherwise. */
  early?: EarlyExec | undefined;
}

/** `new Runtime({ stateDir }).exec(container, request, { early })`, loading only what an exec runs. */
export async function execInRunningContainer(o: ExecInRunningContainerOptions): Promise<{ exitCode: number; pid: number }> {
  try {
    requireRoot('exec in container');
  } catch (err) {
    o.early?.discard();
    throw err;
  }
  return execAttached(runtimeContext({ stateDir: o.stateDir }), o.container, o.request, o.early);
}
