import * as fs from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { RuntimeContext } from './context.js';
import { runningWithCgroup } from './pause.js';

/** One sample of a running container's resource use (docker's `stats` inputs). */
export interface ContainerStats {
  id: string;
  name: string;
  /** When the sample was read (ms since the epoch). */
  readAt: number;
  /** CPU time of the container's processes, ns (undefined when the cgroup does not report it). */
  cpuNs?: number;
  /** The host's CPU time over all CPUs (/proc/stat), ns: CPU % is the two deltas' ratio × onlineCpus. */
  systemNs: number;
  onlineCpus: number;
  /** Memory in use without the page cache the kernel can drop (as docker's stats). */
  memoryUsage: number;
  /** The limit, or the host's memory when unlimited. */
  memoryLimit: number;
  /** Bytes received and sent on the container's interfaces other than lo. */
  net: { rx: number; tx: number };
  /** Block I/O bytes, when the cgroup reports them. */
  block?: { read: number; write: number };
  pids: number;
}

const CLOCK_TICK_NS = 1e9 / 100; // USER_HZ: 100 on every Linux ABI Node runs on

/** The host's total CPU time (the `cpu` line of /proc/stat, in clock ticks) in ns. */
function systemCpuNs(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, v) => sum + Number(v), 0);
  return ticks * CLOCK_TICK_NS;
}

/** /proc/<pid>/net/dev of PID 1 (its network namespace), lo left out. */
function netTotals(pid: number | undefined): { rx: number; tx: number } {
  const out = { rx: 0, tx: 0 };
  if (pid === undefined) return out;
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (rest === undefined || name?.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/);
    out.rx += Number(f[0] ?? 0);
    out.tx += Number(f[8] ?? 0);
  }
  return out;
}

/** `stats`: one sample of a running container, from its cgroup (v1 or v2) and its network namespace. */
export async function containerStats(ctx: RuntimeContext, id: string): Promise<ContainerStats> {
  const state = runningWithCgroup(ctx, id, 'read stats of');
  const s = await (await ctx.cgroups.open(id)).stats();
  const usage = Math.max(0, s.memory.usage - (s.memory.inactiveFile ?? 0));
  const host = totalmem();
  const out: ContainerStats = {
    id,
    name: state.name,
    readAt: Date.now(),
    systemNs: systemCpuNs(),
    onlineCpus: availableParallelism(),
    memoryUsage: usage,
    memoryLimit: s.memory.limit !== undefined && s.memory.limit < host ? s.memory.limit : host,
    net: netTotals(state.pid),
    pids: s.pids.current,
  };
  if (s.cpuNs !== undefined) out.cpuNs = s.cpuNs;
  if (s.io !== undefined) out.block = s.io;
  return out;
}
