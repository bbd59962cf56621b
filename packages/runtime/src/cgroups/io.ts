import { accessSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { attachDeviceFilter } from './devices.js';
import type { CgroupIo } from './types.js';

/** statfs f_type of a cgroup2 mount (CGROUP2_SUPER_MAGIC). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * 2 when `root` is a cgroup2 mount (statfs magic) or looks like one (has
 * cgroup.controllers: also true of a fake tree in tests), else 1 (v1 or
 * hybrid: per-controller hierarchies under root).
 */
export function detectCgroupVersion(root = '/sys/fs/cgroup'): 1 | 2 {
  try {
    if (statfsSync(root).type === CGROUP2_SUPER_MAGIC) return 2;
  } catch {
    // fall through to the file check
  }
  return existsSync(path.join(root, 'cgroup.controllers')) ? 2 : 1;
}

/**
 * The real cgroup file operations (node:fs). Synchronous calls behind the async
 * interface: cgroupfs operations are in-memory and take microseconds, while a
 * round trip through libuv's thread pool costs an event-loop turn each (a
 * container's create and remove make dozens of them, on every `berth run`).
 */
export const nodeCgroupIo: CgroupIo = {
  readFile: async (p) => readFileSync(p, 'utf8'),
  // One write(2) of the whole value, as cgroup files want; no O_CREAT surprises on cgroupfs
  // (the files exist), while a fake tree in a temp dir gets the file created.
  writeFile: async (p, data) => writeFileSync(p, data),
  mkdir: async (p) => {
    mkdirSync(p, { recursive: true });
  },
  rmdir: async (p) => rmdirSync(p),
  exists: async (p) => {
    try {
      accessSync(p);
      return true;
    } catch {
      return false;
    }
  },
  subdirs: async (p) => readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name),
  kill: (pid, signal) => {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  },
  attachDeviceFilter,
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A container id usable as a cgroup directory name. */
export function checkCgroupId(id: string): string {
  if (!NAME.test(id)) throw new BerthError('EINVAL_ARGUMENT', `cgroup: invalid container id "${id}"`);
  return id;
}

/** A relative parent path like "berth" or "system.slice/berth": no "..", no absolute paths. */
export function checkCgroupParent(parent: string): string {
  const parts = parent.split('/').filter((p) => p !== '');
  if (parts.length === 0 || !parts.every((p) => NAME.test(p))) {
    throw new BerthError('EINVAL_ARGUMENT', `cgroup: invalid parent "${parent}"`);
  }
  return parts.join('/');
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Delays for attempt n: 1, 2, 4 … capped at 100 ms. */
export function backoff(attempt: number): number {
  return Math.min(100, 2 ** Math.min(attempt, 7));
}

/** Parse a cgroup.procs / tasks file. */
export function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Parse "key value" lines (memory.events, memory.oom_control, memory.stat). */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** A number, or undefined for "max" / v1's "unlimited" (a value near 2^63). */
export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max' || t === '' || t === '-1') return undefined;
  const n = Number(t);
  if (!Number.isFinite(n) || n >= 2 ** 62) return undefined;
  return n;
}

/** cpus → [quota, period] in microseconds (period 100 ms, as docker). */
export function cpuQuota(cpus: number): [number, number] {
  const period = 100_000;
  return [Math.max(1000, Math.round(cpus * period)), period];
}

/** v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), runc's conversion. */
export function cpuWeight(shares: number): number {
  if (shares === 0) return 100;
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262144) - 2) * 9999) / 262142);
}

/**
 * The file operations a cgroup manager makes, with its error wording: every
 * failure becomes ECGROUP naming the manager and what it was doing
 * ("cgroup v2 write 10 to /sys/fs/cgroup/berth/x/pids.max: …").
 */
export class CgroupFiles {
  constructor(
    private readonly io: CgroupIo,
    /** "cgroup v1" or "cgroup v2": the start of every error message. */
    private readonly label: string,
    /** How often rmdir is tried while the kernel says EBUSY. */
    private readonly attempts: number,
  ) {}

  fail(doing: string, err: unknown): BerthError {
    return BerthError.wrap(`${this.label} ${doing}`, err, 'ECGROUP');
  }

  async write(file: string, value: string): Promise<void> {
    try {
      await this.io.writeFile(file, value);
    } catch (err) {
      throw this.fail(`write ${value} to ${file}`, err);
    }
  }

  /** The file's text, or undefined when it does not exist (a controller file this kernel lacks). */
  async read(file: string): Promise<string | undefined> {
    try {
      return await this.io.readFile(file);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw this.fail(`read ${file}`, err);
    }
  }

  /** rmdir, retried with backoff while EBUSY (exiting processes still leaving); a directory already gone is fine. */
  async rmdir(dir: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.io.rmdir(dir);
        return;
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || attempt + 1 >= this.attempts) throw this.fail(`remove ${dir}`, err);
        await sleep(backoff(attempt));
      }
    }
  }
}
