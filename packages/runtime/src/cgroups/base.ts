import path from 'node:path';
import { BerthError } from '@berth/oci';
import { CgroupFiles, checkCgroupId, checkCgroupParent, nodeCgroupIo } from './io.js';
import type { CgroupIo, CgroupManagerOptions, CgroupResources, CgroupStats } from './types.js';

/**
 * What the v1 and v2 managers share: the checked options, the file operations
 * with the manager's error wording, and the container id the manager is bound
 * to (by create or open).
 */
export abstract class CgroupManagerBase {
  protected readonly root: string;
  protected readonly parent: string;
  protected readonly io: CgroupIo;
  /** How often remove() polls/retries (options.removeAttempts). */
  protected readonly attempts: number;
  protected readonly files: CgroupFiles;
  private boundId: string | undefined;

  /** `label` ("cgroup v1", "cgroup v2") starts every error message of the file operations. */
  constructor(label: string, options: CgroupManagerOptions) {
    this.root = path.resolve(options.root ?? '/sys/fs/cgroup');
    this.parent = checkCgroupParent(options.parent ?? 'berth');
    this.io = options.io ?? nodeCgroupIo;
    this.attempts = options.removeAttempts ?? 100;
    this.files = new CgroupFiles(this.io, label, this.attempts);
  }

  get id(): string | undefined {
    return this.boundId;
  }

  open(id: string): void {
    this.boundId = checkCgroupId(id);
  }

  /** The bound container id; before create or open, an ECGROUP error. */
  protected bound(): string {
    if (this.boundId === undefined) throw new BerthError('ECGROUP', 'cgroup: no container bound (call create or open first)');
    return this.boundId;
  }

  /**
   * Remove `dir` and the child cgroups a container may have made below it,
   * children first; `beforeRmdir` runs on each directory just before its rmdir.
   */
  protected async removeTree(dir: string, beforeRmdir?: (dir: string) => Promise<void>): Promise<void> {
    for (const child of await this.io.subdirs(dir)) await this.removeTree(path.join(dir, child), beforeRmdir);
    await beforeRmdir?.(dir);
    await this.files.rmdir(dir);
  }
}

/** The controllers `resources` needs (create fails when one is missing). */
export function neededControllers(resources: CgroupResources): Array<'memory' | 'cpu' | 'pids'> {
  const needed: Array<'memory' | 'cpu' | 'pids'> = [];
  if (resources.memory !== undefined || resources.memorySwap !== undefined) needed.push('memory');
  if (resources.cpus !== undefined || resources.cpuShares !== undefined) needed.push('cpu');
  if (resources.pidsLimit !== undefined) needed.push('pids');
  return needed;
}

/** pids.max's value: the limit, or "max" for a negative one (unlimited, `update --pids-limit -1`). */
export function pidsMax(limit: number): string {
  return limit < 0 ? 'max' : String(limit);
}

/** What stats() read, undefined where a file was absent or said "max". */
export interface StatsReadings {
  usage: number | undefined;
  pids: number | undefined;
  limit: number | undefined;
  peak: number | undefined;
  pidsLimit: number | undefined;
  oomKilled: boolean;
  oomKills: number;
  inactiveFile?: number | undefined;
  cpuNs?: number | undefined;
  io?: { read: number; write: number } | undefined;
}

/** CgroupStats from the readings: absent usage counts as 0; absent limits and peak are left out. */
export function statsFrom(r: StatsReadings): CgroupStats {
  const stats: CgroupStats = {
    memory: { usage: r.usage ?? 0 },
    oomKilled: r.oomKilled,
    oomKills: r.oomKills,
    pids: { current: r.pids ?? 0 },
  };
  if (r.limit !== undefined) stats.memory.limit = r.limit;
  if (r.peak !== undefined) stats.memory.peak = r.peak;
  if (r.pidsLimit !== undefined) stats.pids.limit = r.pidsLimit;
  if (r.inactiveFile !== undefined) stats.memory.inactiveFile = r.inactiveFile;
  if (r.cpuNs !== undefined) stats.cpuNs = r.cpuNs;
  if (r.io !== undefined) stats.io = r.io;
  return stats;
}
