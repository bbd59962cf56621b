import path from 'node:path';
import { BerthError } from '@berth/oci';
import { CgroupManagerBase, neededControllers, pidsMax, statsFrom } from './base.js';
import { backoff, cpuQuota, cpuWeight, parseKeyValues, parseLimit, parsePids, sleep } from './io.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import type { CgroupManager, CgroupManagerOptions, CgroupResources, CgroupStats, LimitChange } from './types.js';

/** io.stat: one line per device, `8:0 rbytes=N wbytes=N rios=…`; the bytes summed. */
function ioTotals(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const m of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === 'r') read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}

/** Controllers berth enables for containers, in the order written to cgroup.subtree_control. */
const CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

/**
 * cgroup v2 (unified hierarchy): `<root>/<parent>/<id>`, controllers enabled
 * down the path through each level's cgroup.subtree_control; memory.max,
 * memory.swap.max (swap only, so memory-swap minus memory), cpu.max
 * "quota period", pids.max, and docker's device allow-list as an eBPF
 * program attached to the cgroup (v2 has no devices controller).
 */
export class CgroupV2Manager extends CgroupManagerBase implements CgroupManager {
  readonly version = 2 as const;

  constructor(options: CgroupManagerOptions = {}) {
    super('cgroup v2', options);
  }

  paths(): Record<string, string> {
    return { unified: this.dir() };
  }

  private dir(): string {
    return path.join(this.root, this.parent, this.bound());
  }


  async create(id: string, resources: CgroupResources): Promise<void> {
    this.open(id);
    const dir = this.dir();
    let available: Set<string>;
    try {
      available = new Set((await this.io.readFile(path.join(this.root, 'cgroup.controllers'))).trim().split(/\s+/));
    } catch (err) {
      throw this.files.fail(`read ${path.join(this.root, 'cgroup.controllers')}`, err);
    }
    for (const controller of neededControllers(resources)) {
      if (!available.has(controller)) {
        throw new BerthError('ECGROUP', `cgroup v2 create ${id}: the ${controller} controller is not available in ${this.root}`);
      }
    }
    const enable = CONTROLLERS.filter((c) => available.has(c))
      .map((c) => `+${c}`)
      .join(' ');

    // Enable the controllers for each level's children, creating the levels: root → parent… → container.
    let level = this.root;
    for (const part of this.parent.split('/')) {
      if (enable) await this.files.write(path.join(level, 'cgroup.subtree_control'), enable);
      level = path.join(level, part);
      try {
        await this.io.mkdir(level);
      } catch (err) {
        throw this.files.fail(`create ${level}`, err);
      }
    }
    if (enable) await this.files.write(path.join(level, 'cgroup.subtree_control'), enable);
    if (await this.io.exists(dir)) throw new BerthError('ECGROUP', `cgroup v2 create ${id}: ${dir} already exists`);
    try {
      await this.io.mkdir(dir);
    } catch (err) {
      throw this.files.fail(`create ${dir}`, err);
    }

    await this.writeLimits(dir, resources);
    if (resources.devices === 'default') {
      try {
        this.io.attachDeviceFilter(dir, [...DEFAULT_DEVICE_RULES, ...(resources.extraDeviceRules ?? [])]);
      } catch (err) {
        throw this.files.fail(`restrict devices of ${dir}`, err);
      }
    }
  }

  /** memory.max, memory.swap.max (swap only: memory-swap minus memory), cpu.max, pids.max: those given. */
  private async writeLimits(dir: string, resources: LimitChange): Promise<void> {
    if (resources.memory !== undefined) await this.files.write(path.join(dir, 'memory.max'), String(resources.memory));
    if (resources.memorySwap !== undefined && (await this.io.exists(path.join(dir, 'memory.swap.max')))) {
      let memory = resources.memory;
      if (memory === undefined) memory = parseLimit((await this.files.read(path.join(dir, 'memory.max'))) ?? '') ?? 0;
      const swap = resources.memorySwap < 0 ? 'max' : String(Math.max(0, resources.memorySwap - memory));
      await this.files.write(path.join(dir, 'memory.swap.max'), swap);
    }
    if (resources.cpus !== undefined) {
      const [quota, period] = cpuQuota(resources.cpus);
      await this.files.write(path.join(dir, 'cpu.max'), `${quota} ${period}`);
    }
    if (resources.cpuShares !== undefined) await this.files.write(path.join(dir, 'cpu.weight'), String(cpuWeight(resources.cpuShares)));
    if (resources.pidsLimit !== undefined) await this.files.write(path.join(dir, 'pids.max'), pidsMax(resources.pidsLimit));
  }

  async update(resources: LimitChange): Promise<void> {
    const dir = this.dir();
    if (!(await this.io.exists(dir))) throw new BerthError('ECGROUP', `cgroup v2 update ${this.bound()}: ${dir} does not exist`);
    let enabled: Set<string>;
    try {
      enabled = new Set((await this.io.readFile(path.join(dir, 'cgroup.controllers'))).trim().split(/\s+/));
    } catch (err) {
      throw this.files.fail(`read ${path.join(dir, 'cgroup.controllers')}`, err);
    }
    for (const controller of neededControllers(resources)) {
      if (!enabled.has(controller)) throw new BerthError('ECGROUP', `cgroup v2 update ${this.bound()}: the ${controller} controller is not enabled for ${dir}`);
    }
    await this.writeLimits(dir, resources);
  }

  async freeze(): Promise<void> {
    await this.setFrozen(true);
  }

  async thaw(): Promise<void> {
    await this.setFrozen(false);
  }

  /** cgroup.events says "frozen 1" once every process is frozen (the write itself does not wait). */
  async frozen(): Promise<boolean> {
    const events = parseKeyValues((await this.files.read(path.join(this.dir(), 'cgroup.events'))) ?? '');
    return events['frozen'] === 1;
  }

  private async setFrozen(frozen: boolean): Promise<void> {
    const dir = this.dir();
    const file = path.join(dir, 'cgroup.freeze');
    if (!(await this.io.exists(file))) {
      throw new BerthError('EUNSUPPORTED', `cgroup v2 ${frozen ? 'freeze' : 'thaw'} ${this.bound()}: no cgroup.freeze in ${dir} (Linux 5.2 or later)`);
    }
    await this.files.write(file, frozen ? '1' : '0');
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      if ((await this.frozen()) === frozen) return;
      await sleep(backoff(attempt));
    }
    throw new BerthError('ECGROUP', `cgroup v2 ${frozen ? 'freeze' : 'thaw'} ${this.bound()}: cgroup.events never said frozen ${frozen ? 1 : 0}`);
  }

  async pids(): Promise<number[]> {
    return this.pidsBelow(this.dir());
  }

  private async pidsBelow(dir: string): Promise<number[]> {
    const own = parsePids((await this.files.read(path.join(dir, 'cgroup.procs'))) ?? '');
    for (const child of await this.io.subdirs(dir)) own.push(...(await this.pidsBelow(path.join(dir, child))));
    return own;
  }

  async addProcess(pid: number): Promise<void> {
    await this.files.write(path.join(this.dir(), 'cgroup.procs'), String(pid));
  }

  async stats(): Promise<CgroupStats> {
    const dir = this.dir();
    const num = async (file: string): Promise<number | undefined> => {
      const text = await this.files.read(path.join(dir, file));
      return text === undefined ? undefined : parseLimit(text);
    };
    const events = parseKeyValues((await this.files.read(path.join(dir, 'memory.events'))) ?? '');
    const oomKills = events['oom_kill'] ?? 0;
    const memoryStat = await this.files.read(path.join(dir, 'memory.stat'));
    const cpuStat = await this.files.read(path.join(dir, 'cpu.stat'));
    const ioStat = await this.files.read(path.join(dir, 'io.stat'));
    const usec = cpuStat === undefined ? undefined : parseKeyValues(cpuStat)['usage_usec'];
    return statsFrom({
      inactiveFile: memoryStat === undefined ? undefined : parseKeyValues(memoryStat)['inactive_file'],
      cpuNs: usec === undefined ? undefined : usec * 1000,
      io: ioStat === undefined ? undefined : ioTotals(ioStat),
      usage: await num('memory.current'),
      pids: await num('pids.current'),
      limit: await num('memory.max'),
      peak: await num('memory.peak'),
      pidsLimit: await num('pids.max'),
      oomKilled: oomKills > 0,
      oomKills,
    });
  }

  async remove(): Promise<void> {
    const dir = this.dir();
    if (!(await this.io.exists(dir))) return;
    // Children first (a container may have made sub-cgroups), each emptied of processes before its rmdir.
    await this.removeTree(dir, (d) => this.killAll(d));
  }

  /** cgroup.kill where the kernel has it (5.14+), else freeze, SIGKILL each process, thaw; then wait until empty. */
  private async killAll(dir: string): Promise<void> {
    const procsFile = path.join(dir, 'cgroup.procs');
    const procs = async (): Promise<number[]> => parsePids((await this.files.read(procsFile)) ?? '');
    if ((await procs()).length === 0) return;
    if (await this.io.exists(path.join(dir, 'cgroup.kill'))) {
      await this.files.write(path.join(dir, 'cgroup.kill'), '1');
    } else {
      const freeze = path.join(dir, 'cgroup.freeze');
      const canFreeze = await this.io.exists(freeze);
      if (canFreeze) await this.files.write(freeze, '1');
      for (const pid of await procs()) this.io.kill(pid, 'SIGKILL');
      if (canFreeze) await this.files.write(freeze, '0');
    }
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const left = await procs();
      if (left.length === 0) return;
      // Processes forked between the read and the kill (no cgroup.kill): kill again.
      for (const pid of left) this.io.kill(pid, 'SIGKILL');
      await sleep(backoff(attempt));
    }
    throw new BerthError('ECGROUP', `cgroup v2 remove ${dir}: processes still running after SIGKILL`);
  }
}
