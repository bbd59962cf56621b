import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, describeError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { GONE_PREFIX, ROOTFS_OWNER_FILE, STAGING_PREFIX, byCreatedAt, describe, isAlive, isContainerId } from './state.js';
import type { ContainerInfo, ContainerState } from './state.js';
import type { SweepOptions } from './sweep.js';

/** What a sweep would do, found without changing anything (surveyStateRoot). */
export interface SweepSurvey {
  /** Half-deleted (`.gone-…`) and half-written (`.new-…`) state directories of dead processes, to delete. */
  leftovers: string[];
  /** Container directories without a state.json, to delete. */
  stateless: string[];
  /** States whose container the sweep removes (see abandoned()). */
  dead: ContainerState[];
  /** Rootfs copies no state names (with `containersDir`). */
  orphans: string[];
  /** The containers left, as list() shows them, oldest first. */
  remaining: ContainerInfo[];
  /** States that could not be read (one line each); they are left alone. */
  errors: string[];
}

/** Whether the sweep has anything to remove. */
export function surveyFoundWork(s: SweepSurvey): boolean {
  return s.leftovers.length > 0 || s.stateless.length > 0 || s.dead.length > 0 || s.orphans.length > 0;
}

/**
 * The read-only half of sweepContainers: one readdir of the state root, one read of each
 * state.json, the liveness of dead-looking owners, and (with `containersDir`) one readdir of
 * the rootfs copies. It needs only the state store, so `berth ps` runs it without the rest of
 * the runtime (listing.ts) and loads the sweep only when there is work.
 */
export function surveyStateRoot(ctx: Pick<RuntimeContext, 'store'>, opts: Pick<SweepOptions, 'containersDir'> = {}): SweepSurvey {
  const root = ctx.store.root;
  const survey: SweepSurvey = { leftovers: [], stateless: [], dead: [], orphans: [], remaining: [], errors: [] };
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw BerthError.wrap(`sweep containers in ${root}`, err, 'ERUNTIME');
    entries = [];
  }
  const named = new Set<string>();
  const staging = new Set<string>();
  for (const entry of entries) {
    if (entry.startsWith(GONE_PREFIX)) {
      // `.gone-<id>-<pid>`: its remover (StateStore.remove) may still be deleting it; two
      // recursive deletions of one tree make one of them fail (ENOENT from node's rmSync).
      const m = /^\.gone-[0-9a-f]{64}-(\d+)$/.exec(entry);
      if (m !== null && isAlive(Number(m[1]), undefined)) continue;
      survey.leftovers.push(path.join(root, entry));
      continue;
    }
    if (entry.startsWith(STAGING_PREFIX)) {
      const m = /^\.new-(\d+)-([0-9a-f]{64})$/.exec(entry);
      if (m !== null && isAlive(Number(m[1]), undefined)) {
        staging.add(m[2] as string);
        continue;
      }
      // No rootfs exists for a staging state yet (it is renamed into place before the copy).
      survey.leftovers.push(path.join(root, entry));
      continue;
    }
    if (!isContainerId(entry)) continue;
    let state: ContainerState | undefined;
    try {
      state = ctx.store.read(entry);
    } catch (err) {
      survey.errors.push(`read container ${entry.slice(0, 12)}: ${describeError(err)}`);
      named.add(entry);
      continue;
    }
    if (state === undefined) {
      survey.stateless.push(entry);
      continue;
    }
    named.add(entry);
    if (state.ownsRootfs) named.add(path.resolve(state.rootfs));
    if (abandoned(state)) survey.dead.push(state);
    else survey.remaining.push(describe(state));
  }
  if (opts.containersDir !== undefined) survey.orphans = orphanRootfsCopies(ctx, opts.containersDir, { named, staging });
  survey.remaining.sort(byCreatedAt);
  return survey;
}

/**
 * A container the sweep removes: its owner (monitor) is gone and will never finish with it,
 * its PID 1 is not running, and it was `--rm` (stopped or not: the owner may have been
 * killed while it removed the container) or never started.
 */
function abandoned(s: ContainerState): boolean {
  // `create` leaves a container with no monitor: it waits for `start`, owned by nobody.
  if (s.status === 'created' && s.monitorPid === undefined) return false;
  if (!(s.autoRemove || s.status === 'created')) return false;
  return !isAlive(s.monitorPid, s.monitorStartTime) && !isAlive(s.pid, s.pidStartTime);
}

/** `<containersDir>/<id>` copies that no container of this state root names (none unless the directory is this state root's). */
function orphanRootfsCopies(ctx: Pick<RuntimeContext, 'store'>, containersDir: string, seen: { named: Set<string>; staging: Set<string> }): string[] {
  const dir = path.resolve(containersDir);
  let owner: string;
  try {
    owner = fs.readFileSync(path.join(dir, ROOTFS_OWNER_FILE), 'utf8').trim();
  } catch {
    return [];
  }
  if (owner !== path.resolve(ctx.store.root)) return [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => isContainerId(n) && !seen.named.has(n) && !seen.staging.has(n) && !seen.named.has(path.join(dir, n))).map((n) => path.join(dir, n));
}
