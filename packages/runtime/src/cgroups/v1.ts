import path from 'node:path';
import { BerthError } from '@berth/oci';
import { CgroupManagerBase, neededControllers, pidsMax, statsFrom } from './base.js';
import { backoff, cpuQuota, parseKeyValues, parseLimit, parsePids, sleep } from './io.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import type { CgroupManager, CgroupManagerOptions, CgroupResources, CgroupStats, LimitChange } from './types.js';

/** The v1 hierarchies a container joins (those mounted under the root). */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices'] as const;
type Controller = (typeof V1_CONTROLLERS)[number];

/** blkio.throttle.io_service_bytes: `8:0 Read N` / `8:0 Write N` per device (and a `Total`), summed. */
function blkioTotals(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const m of text.matchAll(/^\S+ (Read|Write) (\d+)$/gm)) {
    if (m[1] === 'Read') read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}

/**
 * cgroup v1 (and hybrid): one directory per controller hierarchy,
 * `<root>/<controller>/<parent>/<id>`: memory.limit_in_bytes (+
 * memory.memsw.limit_in_bytes when swap accounting is on),
 * cpu.cfs_period_us/cpu.cfs_quota_us, pids.max, the devices allow-list, and
 * the freezer for remove().
 */
export class CgroupV1Manager extends CgroupManagerBase implements CgroupManager {
  readonly version = 1 as const;
  private mounted: Controller[] | undefined;

  constructor(options: CgroupManagerOptions = {}) {
    super('cgroup v1', options);
  }

  private dir(controller: Controller): string {
    return path.join(this.root, controller, this.parent, this.bound());
  }

  /** Controllers mounted under the root (checked once). */
  private async controllers(): Promise<Controller[]> {
    if (!this.mounted) {
      const found: Controller[] = [];
      for (const c of V1_CONTROLLERS) if (await this.io.exists(path.join(this.root, c, 'cgroup.procs'))) found.push(c);
      this.mounted = found;
    }
    return this.mounted;
  }

  paths(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of this.mounted ?? V1_CONTROLLERS) out[c] = this.dir(c);
    return out;
  }


  async create(id: string, resources: CgroupResources): Promise<void> {
    this.open(id);
    const have = await this.controllers();
    for (const c of neededControllers(resources)) {
      if (!have.includes(c)) throw new BerthError('ECGROUP', `cgroup v1 create ${id}: the ${c} hierarchy is not mounted under ${this.root}`);
    }
    for (const c of have) {
      const dir = this.dir(c);
      if (await this.io.exists(dir)) throw new BerthError('ECGROUP', `cgroup v1 create ${id}: ${dir} already exists`);
    }
    for (const c of have) {
      try {
        await this.io.mkdir(this.dir(c));
      } catch (err) {
        throw this.files.fail(`create ${this.dir(c)}`, err);
      }
    }

    await this.writeLimits(resources);
    if (have.includes('devices') && resources.devices !== undefined) {
      const dir = this.dir('devices');
      if (resources.devices === 'all') {
        await this.files.write(path.join(dir, 'devices.allow'), 'a');
      } else {
        await this.files.write(path.join(dir, 'devices.deny'), 'a');
        for (const rule of [...DEFAULT_DEVICE_RULES, ...(resources.extraDeviceRules ?? [])]) await this.files.write(path.join(dir, 'devices.allow'), rule);
      }
    }
  }

  /** memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_period_us + cfs_quota_us, pids.max: those given. */
  private async writeLimits(resources: LimitChange, opts: { growing?: boolean } = {}): Promise<void> {
    const memoryFile = path.join(this.dir('memory'), 'memory.limit_in_bytes');
    const memsw = path.join(this.dir('memory'), 'memory.memsw.limit_in_bytes');
    // The kernel keeps memory ≤ memory+swap: raising both, memsw goes first; lowering, memory does.
    const swapFirst = opts.growing === true && resources.memorySwap !== undefined;
    const writeSwap = async (): Promise<void> => {
      // Without swap accounting (swapaccount=0) the file is absent: like docker, the swap limit is then not applied.
      if (resources.memorySwap !== undefined && (await this.io.exists(memsw))) {
        await this.files.write(memsw, String(resources.memorySwap < 0 ? -1 : resources.memorySwap));
      }
    };
    if (swapFirst) await writeSwap();
    if (resources.memory !== undefined) await this.files.write(memoryFile, String(resources.memory));
    if (!swapFirst) await writeSwap();
    if (resources.cpus !== undefined) {
      const [quota, period] = cpuQuota(resources.cpus);
      await this.files.write(path.join(this.dir('cpu'), 'cpu.cfs_period_us'), String(period));
      await this.files.write(path.join(this.dir('cpu'), 'cpu.cfs_quota_us'), String(quota));
    }
    if (resources.cpuShares !== undefined) await this.files.write(path.join(this.dir('cpu'), 'cpu.shares'), String(resources.cpuShares));
    if (resources.pidsLimit !== undefined) await this.files.write(path.join(this.dir('pids'), 'pids.max'), pidsMax(resources.pidsLimit));
  }

  async update(resources: LimitChange): Promise<void> {
    const have = await this.controllers();
    for (const c of neededControllers(resources)) {
      if (!have.includes(c) || !(await this.io.exists(this.dir(c)))) {
        throw new BerthError('ECGROUP', `cgroup v1 update ${this.bound()}: no ${c} cgroup at ${this.dir(c)}`);
      }
    }
    let growing = false;
    if (resources.memory !== undefined) {
      const now = parseLimit((await this.files.read(path.join(this.dir('memory'), 'memory.limit_in_bytes'))) ?? '');
      growing = now === undefined || resources.memory > now;
    }
    await this.writeLimits(resources, { growing });
  }

  private async freezerState(): Promise<string> {
    const have = await this.controllers();
    if (!have.includes('freezer') || !(await this.io.exists(this.dir('freezer')))) {
      throw new BerthError('EUNSUPPORTED', `cgroup v1 freezer ${this.bound()}: the freezer hierarchy is not mounted under ${this.root}`);
    }
    return path.join(this.dir('freezer'), 'freezer.state');
  }

  /** freezer.state FROZEN, then wait while the kernel says FREEZING. */
  async freeze(): Promise<void> {
    const file = await this.freezerState();
    await this.files.write(file, 'FROZEN');
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      if (((await this.files.read(file)) ?? '').trim() === 'FROZEN') return;
      await sleep(backoff(attempt));
    }
    throw new BerthError('ECGROUP', `cgroup v1 freeze ${this.bound()}: the freezer never reached FROZEN`);
  }

  async thaw(): Promise<void> {
    await this.files.write(await this.freezerState(), 'THAWED');
  }

  async frozen(): Promise<boolean> {
    return ((await this.files.read(await this.freezerState())) ?? '').trim() !== 'THAWED';
  }

  async pids(): Promise<number[]> {
    const have = await this.controllers();
    const dirs: string[] = [];
    for (const c of have) if (await this.io.exists(this.dir(c))) dirs.push(this.dir(c));
    const below = async (dir: string): Promise<string[]> => {
      const out = [dir];
      for (const child of await this.io.subdirs(dir)) out.push(...(await below(path.join(dir, child))));
      return out;
    };
    const all: string[] = [];
    for (const d of dirs) all.push(...(await below(d)));
    return (await this.pidsIn(all)).sort((a, b) => a - b);
  }

  async addProcess(pid: number): Promise<void> {
    for (const c of await this.controllers()) await this.files.write(path.join(this.dir(c), 'cgroup.procs'), String(pid));
  }

  async stats(): Promise<CgroupStats> {
    const have = await this.controllers();
    const num = async (c: Controller, file: string): Promise<number | undefined> => {
      if (!have.includes(c)) return undefined;
      const text = await this.files.read(path.join(this.dir(c), file));
      return text === undefined ? undefined : parseLimit(text);
    };
    // memory.oom_control: "oom_kill_disable 0 / under_oom 0 / oom_kill N" (oom_kill since Linux 4.13).
    const oom = have.includes('memory') ? parseKeyValues((await this.files.read(path.join(this.dir('memory'), 'memory.oom_control'))) ?? '') : {};
    let oomKills = oom['oom_kill'] ?? 0;
    let oomKilled = oomKills > 0;
    if (oom['oom_kill'] === undefined) {
      // Older kernels: no kill counter; hitting the limit while under OOM is the best evidence.
      const failcnt = (await num('memory', 'memory.failcnt')) ?? 0;
      oomKilled = (oom['under_oom'] ?? 0) > 0 || (failcnt > 0 && (oom['oom_kill_disable'] ?? 0) === 0 && (await this.hitLimit()));
      oomKills = 0;
    }
    const memoryStat = have.includes('memory') ? await this.files.read(path.join(this.dir('memory'), 'memory.stat')) : undefined;
    // blkio is not one of the hierarchies berth makes a cgroup in; read it where one exists (created by hand or by a newer berth).
    const blkio = path.join(this.root, 'blkio', this.parent, this.bound(), 'blkio.throttle.io_service_bytes');
    const io = (await this.io.exists(blkio)) ? blkioTotals((await this.files.read(blkio)) ?? '') : undefined;
    return statsFrom({
      inactiveFile: memoryStat === undefined ? undefined : parseKeyValues(memoryStat)['total_inactive_file'],
      cpuNs: await num('cpuacct', 'cpuacct.usage'),
      io,
      usage: await num('memory', 'memory.usage_in_bytes'),
      pids: await num('pids', 'pids.current'),
      limit: await num('memory', 'memory.limit_in_bytes'),
      peak: await num('memory', 'memory.max_usage_in_bytes'),
      pidsLimit: await num('pids', 'pids.max'),
      oomKilled,
      oomKills,
    });
  }

  private async hitLimit(): Promise<boolean> {
    const dir = this.dir('memory');
    const limit = parseLimit((await this.files.read(path.join(dir, 'memory.limit_in_bytes'))) ?? '');
    const peak = parseLimit((await this.files.read(path.join(dir, 'memory.max_usage_in_bytes'))) ?? '');
    return limit !== undefined && peak !== undefined && peak >= limit;
  }

  async remove(): Promise<void> {
    const present: Controller[] = [];
    for (const c of await this.controllers()) if (await this.io.exists(this.dir(c))) present.push(c);
    if (present.length === 0) return;
    const dirs = present.map((c) => this.dir(c));
    await this.killAll(dirs, present.includes('freezer') ? path.join(this.dir('freezer'), 'freezer.state') : undefined);
    for (const dir of dirs) await this.removeTree(dir);
  }

  private async pidsIn(dirs: readonly string[]): Promise<number[]> {
    const all = new Set<number>();
    for (const dir of dirs) for (const pid of parsePids((await this.files.read(path.join(dir, 'cgroup.procs'))) ?? '')) all.add(pid);
    return [...all];
  }

  /** Freeze (so nothing forks meanwhile), SIGKILL every process, thaw, wait until every hierarchy is empty. */
  private async killAll(dirs: readonly string[], freezerState: string | undefined): Promise<void> {
    if ((await this.pidsIn(dirs)).length === 0) return;
    if (freezerState) {
      await this.files.write(freezerState, 'FROZEN');
      for (let attempt = 0; attempt < this.attempts; attempt++) {
        if (((await this.files.read(freezerState)) ?? '').trim() !== 'FREEZING') break;
        await sleep(backoff(attempt));
      }
    }
    for (const pid of await this.pidsIn(dirs)) this.io.kill(pid, 'SIGKILL');
    if (freezerState) await this.files.write(freezerState, 'THAWED');
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const left = await this.pidsIn(dirs);
      if (left.length === 0) return;
      for (const pid of left) this.io.kill(pid, 'SIGKILL');
      await sleep(backoff(attempt));
    }
    throw new BerthError('ECGROUP', `cgroup v1 remove ${this.id ?? ''}: processes still running after SIGKILL`);
  }
}
