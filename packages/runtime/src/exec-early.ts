// @berth/runtime/exec-early: `berth exec`'s exec child spawned as soon as the container's pid is
// known, before the runtime's index (and its 140 KB chunk) is loaded; Runtime.exec({ early })
// drives it. See lifecycle/exec-early.ts.
export { startExecEarly } from './lifecycle/exec-early.js';
export type { EarlyExec, EarlyExecOptions } from './lifecycle/exec-early.js';
