import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, describeError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { deleteContainer } from './delete.js';
import { byCreatedAt, describe, isAlive } from './state.js';
import { surveyStateRoot } from './survey.js';
import type { ContainerInfo, ContainerState } from './state.js';

export interface SweepOptions {
  /**
   * The directory of per-container rootfs copies (`$BERTH_ROOT/containers`). Copies in it
   * that no state of this state root names are removed, but only when the directory's
   * owner file (written by prepareContainer) names this state root: a directory shared
   * with another state root is never swept from here.
   */
  containersDir?: string;
  /**
   * Loads the rootfs remover for this sweep (instead of the runtime's `removeRootfs`), only
   * when there is something to remove: callers that list containers on every call avoid
   * loading @berth/rootfs for nothing.
   */
  rootfsRemover?: () => Promise<(dir: string) => void>;
}

export interface SweepResult {
  /** Containers removed: dead `--rm` containers, and containers whose creator died before they started. */
  removed: string[];
  /** Rootfs copies removed because no container named them. */
  orphanRootfs: string[];
  /** What could not be removed (one line each); the next sweep tries again. */
  errors: string[];
  /** The containers left, as list() shows them. */
  remaining: ContainerInfo[];
}

/**
 * The cleanup path for containers whose owner was killed (SIGKILL leaves no
 * chance to clean up): run by berth commands before they look at containers.
 * Cheap when there is nothing to do: one readdir of the state root and one
 * read of each state.json (what list() reads anyway).
 *
 * - A container whose monitor (checked by pid and start time) is gone is
 *   removed completely (cgroup, owned rootfs, state, name) when it was `--rm`
 *   (running when the monitor died, or stopped and being removed by it), or when
 *   it never started (its creator died while preparing it: nobody was
 *   ever told its id). A dead container without `--rm` stays, listed as
 *   "Exited (unknown)", for `rm` or `container prune`.
 * - Half-written (`.new-<pid>-…` of a dead pid) and half-deleted (`.gone-…`)
 *   state directories are deleted.
 * - With `containersDir`, rootfs copies that no state names are deleted.
 *
 * A live container (monitor alive) is never touched.
 */
export async function sweepContainers(ctx: RuntimeContext, opts: SweepOptions = {}): Promise<SweepResult> {
  const survey = surveyStateRoot(ctx, opts);
  const result: SweepResult = { removed: [], orphanRootfs: [], errors: [...survey.errors], remaining: survey.remaining };
  const fail = (doing: string, err: unknown): void => {
    result.errors.push(`${doing}: ${describeError(err)}`);
  };
  for (const dir of survey.leftovers) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      // Removed meanwhile by another sweep (node's rmSync fails when two delete one tree).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(`remove ${path.basename(dir)}`, err);
    }
  }
  for (const id of survey.stateless) {
    // Only a state directory from before states were written whole; nothing names its resources.
    try {
      ctx.store.remove(id);
    } catch (err) {
      fail(`remove state directory ${id.slice(0, 12)}`, err);
    }
  }
  const { dead, orphans } = survey;
  if (dead.length > 0 || orphans.length > 0) {
    const work: RuntimeContext = opts.rootfsRemover === undefined ? ctx : { ...ctx, removeRootfs: await opts.rootfsRemover() };
    for (const state of dead) {
      try {
        await deleteContainer(work, state.id);
        result.removed.push(state.id);
      } catch (err) {
        fail(`remove dead container ${state.id.slice(0, 12)}`, err);
        const left = ctx.store.read(state.id);
        if (left !== undefined) result.remaining.push(describe(left));
      }
    }
    for (const copy of orphans) {
      // A container prepared since the readdir above: its state exists before its copy does.
      if (fs.existsSync(ctx.store.dir(path.basename(copy)))) continue;
      try {
        work.removeRootfs(copy);
        result.orphanRootfs.push(copy);
      } catch (err) {
        fail(`remove rootfs copy ${copy}`, err);
      }
    }
  }
  result.remaining.sort(byCreatedAt);
  return result;
}

export interface PruneResult {
  /** Full ids of the removed containers. */
  removed: string[];
  /** Bytes (allocated blocks) their owned rootfs copies held. */
  reclaimedBytes: number;
  /** Containers that could not be removed (one line each). */
  errors: string[];
}

/**
 * `container prune`: removes every stopped container (exited, or dead: "Exited
 * (unknown)"), counting the space its owned rootfs copy held; with `until`, only those
 * created before it (docker's `--filter until=`). Created containers
 * whose creator is alive and running ones are left alone.
 */
export async function pruneContainers(ctx: RuntimeContext, opts: { until?: Date } = {}): Promise<PruneResult> {
  const out: PruneResult = { removed: [], reclaimedBytes: 0, errors: [] };
  for (const id of ctx.store.ids()) {
    let state: ContainerState | undefined;
    try {
      state = ctx.store.read(id);
    } catch (err) {
      out.errors.push(`read container ${id.slice(0, 12)}: ${describeError(err)}`);
      continue;
    }
    if (state === undefined || describe(state).status !== 'stopped' || isAlive(state.pid, state.pidStartTime)) continue;
    if (opts.until !== undefined && !(Date.parse(state.createdAt) < opts.until.getTime())) continue;
    const bytes = state.ownsRootfs ? treeBytes(state.rootfs) : 0;
    try {
      await deleteContainer(ctx, id);
      out.removed.push(id);
      out.reclaimedBytes += bytes;
    } catch (err) {
      out.errors.push(describeError(err));
    }
  }
  return out;
}

/** Allocated bytes of a tree (what `du` counts), each inode once; not crossing into other file systems. */
export function treeBytes(dir: string): number {
  let total = 0;
  const seen = new Set<string>();
  let dev: number | undefined;
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    dev ??= st.dev;
    if (st.dev !== dev) return;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    total += st.blocks * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = fs.readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(`${p}/${n}`);
  };
  walk(dir);
  return total;
}
