import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { detectCgroupVersion, nodeCgroupIo, parsePids } from './io.js';
import { createCgroupManager } from './manager.js';
import type { CgroupIo } from './types.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager } from './v2.js';
import { defaultCgroupProvider } from '../lifecycle/cgroup.js';
import { mainProcessOomKilled } from '../lifecycle/start.js';

/**
 * A fake cgroupfs in a temp dir: real files, plus what the kernel would do —
 * interface files appear on mkdir, cgroup.procs appends (and forgets dead
 * processes), cgroup.kill SIGKILLs the members, rmdir drops interface files and
 * refuses (EBUSY) while processes remain. Every write is recorded.
 */
class FakeCgroupFs implements CgroupIo {
  readonly writes: Array<[string, string]> = [];
  readonly deviceFilters: Array<[string, string[]]> = [];
  constructor(
    private readonly root: string,
    private readonly interfaceFiles: (dir: string) => Record<string, string>,
  ) {}

  private rel(p: string): string {
    return path.relative(this.root, p);
  }

  private alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return !/^\S+ \S+ Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x'));
    } catch {
      return false;
    }
  }

  async readFile(p: string): Promise<string> {
    const text = readFileSync(p, 'utf8');
    if (path.basename(p) !== 'cgroup.procs') return text;
    return parsePids(text)
      .filter((pid) => this.alive(pid))
      .map((pid) => `${pid}\n`)
      .join('');
  }

  async writeFile(p: string, data: string): Promise<void> {
    this.writes.push([this.rel(p), data]);
    const dir = path.dirname(p);
    if (!existsSync(dir)) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
    if (path.basename(p) === 'cgroup.procs') {
      writeFileSync(p, `${existsSync(p) ? readFileSync(p, 'utf8') : ''}${data}\n`);
      return;
    }
    writeFileSync(p, data);
    // v2: the kernel reports the freezer's state in cgroup.events once every process is frozen.
    if (path.basename(p) === 'cgroup.freeze') writeFileSync(path.join(dir, 'cgroup.events'), `populated 1\nfrozen ${data.trim()}\n`);
    if (path.basename(p) === 'cgroup.kill' && data === '1') {
      for (const pid of parsePids(readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'))) nodeCgroupIo.kill(pid, 'SIGKILL');
    }
  }

  async mkdir(p: string): Promise<void> {
    const missing: string[] = [];
    for (let d = p; !existsSync(d); d = path.dirname(d)) missing.unshift(d);
    for (const d of missing) {
      mkdirSync(d);
      for (const [name, content] of Object.entries(this.interfaceFiles(d))) writeFileSync(path.join(d, name), content);
    }
  }

  async rmdir(p: string): Promise<void> {
    const procs = path.join(p, 'cgroup.procs');
    if (existsSync(procs) && (await this.readFile(procs)).trim() !== '') {
      throw Object.assign(new Error(`EBUSY: resource busy or locked, rmdir '${p}'`), { code: 'EBUSY' });
    }
    for (const name of readdirSync(p)) if (statSync(path.join(p, name)).isFile()) unlinkSync(path.join(p, name));
    rmdirSync(p);
  }

  attachDeviceFilter(p: string, rules: readonly string[]): void {
    this.deviceFilters.push([this.rel(p), [...rules]]);
  }

  exists = nodeCgroupIo.exists;
  subdirs = nodeCgroupIo.subdirs;
  kill = nodeCgroupIo.kill;
}

let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-cgroupfs-'));
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function sleeper(): { child: ChildProcess; exited: Promise<NodeJS.Signals | null> } {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  children.push(child);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  return { child, exited };
}

const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

describe('detectCgroupVersion', () => {
  it('sees v2 where cgroup.controllers exists, v1 otherwise', () => {
    expect(detectCgroupVersion(dir)).toBe(1);
    writeFileSync(path.join(dir, 'cgroup.controllers'), 'cpu memory pids\n');
    expect(detectCgroupVersion(dir)).toBe(2);
    expect(createCgroupManager({ root: dir }).version).toBe(2);
  });

  it('matches this machine', () => {
    const version = detectCgroupVersion();
    expect(createCgroupManager().version).toBe(version);
    if (existsSync('/sys/fs/cgroup/memory/cgroup.procs')) expect(version).toBe(1);
    if (existsSync('/sys/fs/cgroup/unified/cgroup.procs')) expect(detectCgroupVersion('/sys/fs/cgroup/unified')).toBe(2);
  });
});

describe('cgroup v2 (fake tree)', () => {
  function v2Tree(opts: { kill?: boolean; controllers?: string } = {}) {
    writeFileSync(path.join(dir, 'cgroup.controllers'), opts.controllers ?? 'cpuset cpu io memory hugetlb pids rdma misc\n');
    writeFileSync(path.join(dir, 'cgroup.subtree_control'), '');
    writeFileSync(path.join(dir, 'cgroup.procs'), '');
    const io = new FakeCgroupFs(dir, () => ({
      'cgroup.controllers': 'cpu memory pids\n',
      'cgroup.subtree_control': '',
      'cgroup.procs': '',
      'cgroup.freeze': '0\n',
      ...(opts.kill === false ? {} : { 'cgroup.kill': '' }),
      'memory.max': 'max\n',
      'memory.swap.max': 'max\n',
      'memory.current': '0\n',
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
      'cpu.max': 'max 100000\n',
      'pids.max': 'max\n',
      'pids.current': '0\n',
    }));
    return io;
  }

  it('enables controllers down the path and writes the limits', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20, memorySwap: 128 * 2 ** 20, cpus: 1.5, pidsLimit: 50, devices: 'default' });
    expect(io.writes).toEqual([
      ['cgroup.subtree_control', '+cpu +memory +pids'],
      ['berth/cgroup.subtree_control', '+cpu +memory +pids'],
      [`berth/${ID}/memory.max`, '67108864'],
      [`berth/${ID}/memory.swap.max`, '67108864'],
      [`berth/${ID}/cpu.max`, '150000 100000'],
      [`berth/${ID}/pids.max`, '50'],
    ]);
    expect(io.deviceFilters).toEqual([[`berth/${ID}`, [...DEFAULT_DEVICE_RULES]]]);
    const cg = path.join(dir, 'berth', ID);
    expect(readFileSync(path.join(cg, 'cpu.max'), 'utf8')).toBe('150000 100000');
    expect(m.paths()).toEqual({ unified: cg });
    expect(m.id).toBe(ID);
  });

  it("an engine's extra device allows go into the filter after docker's list; cpu shares become cpu.weight", async () => {
    const io = v2Tree();
    await new CgroupV2Manager({ root: dir, io }).create(ID, { cpuShares: 1024, devices: 'default', extraDeviceRules: ['c 5:1 rwm'] });
    expect(io.writes).toEqual([
      ['cgroup.subtree_control', '+cpu +memory +pids'],
      ['berth/cgroup.subtree_control', '+cpu +memory +pids'],
      [`berth/${ID}/cpu.weight`, '39'],
    ]);
    expect(io.deviceFilters).toEqual([[`berth/${ID}`, [...DEFAULT_DEVICE_RULES, 'c 5:1 rwm']]]);
  });

  it('unlimited swap, nested parents, only the controllers the kernel has', async () => {
    const io = v2Tree({ controllers: 'memory io\n' });
    const m = new CgroupV2Manager({ root: dir, io, parent: 'system.slice/berth' });
    await m.create('c1', { memory: 6 * 2 ** 20, memorySwap: -1, devices: 'all' });
    expect(io.deviceFilters).toEqual([]);
    expect(io.writes).toEqual([
      ['cgroup.subtree_control', '+memory'],
      ['system.slice/cgroup.subtree_control', '+memory'],
      ['system.slice/berth/cgroup.subtree_control', '+memory'],
      ['system.slice/berth/c1/memory.max', '6291456'],
      ['system.slice/berth/c1/memory.swap.max', 'max'],
    ]);
    await expect(new CgroupV2Manager({ root: dir, io }).create('c2', { cpus: 1 })).rejects.toThrow(
      `cgroup v2 create c2: the cpu controller is not available in ${dir}`,
    );
  });

  it('adds processes, reads stats (OOM from memory.events)', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20, pidsLimit: 10 });
    await m.addProcess(4242);
    expect(io.writes.at(-1)).toEqual([`berth/${ID}/cgroup.procs`, '4242']);
    const cg = path.join(dir, 'berth', ID);
    writeFileSync(path.join(cg, 'memory.current'), '1048576\n');
    writeFileSync(path.join(cg, 'memory.peak'), '67108864\n');
    writeFileSync(path.join(cg, 'pids.current'), '3\n');
    expect(await m.stats()).toEqual({
      memory: { usage: 1048576, limit: 67108864, peak: 67108864 },
      oomKilled: false,
      oomKills: 0,
      pids: { current: 3, limit: 10 },
    });
    writeFileSync(path.join(cg, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
    expect(await m.stats()).toMatchObject({ oomKilled: true, oomKills: 1 });
    // stats' inputs: CPU time (usec → ns), I/O bytes summed over devices, the droppable page cache.
    writeFileSync(path.join(cg, 'cpu.stat'), 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n');
    writeFileSync(path.join(cg, 'io.stat'), '8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0 rios=1 wios=0\n');
    writeFileSync(path.join(cg, 'memory.stat'), 'anon 4096\nfile 8192\ninactive_file 4096\n');
    expect(await m.stats()).toMatchObject({ cpuNs: 2_500_000, io: { read: 4196, write: 512 }, memory: { usage: 1048576, inactiveFile: 4096 } });
  });

  it("the lifecycle's view: OOM kills counted from memory.events; the container OOM-killed only when PID 1 died of SIGKILL", async () => {
    const io = v2Tree();
    await new CgroupV2Manager({ root: dir, io }).create(ID, { memory: 32 * 2 ** 20 });
    const cg = await defaultCgroupProvider({ root: dir, version: 2, io }).open(ID);
    expect(await cg.oomKills()).toBe(0);
    writeFileSync(path.join(dir, 'berth', ID, 'memory.events'), 'low 0\nhigh 0\nmax 40\noom 2\noom_kill 2\n');
    expect(await cg.oomKills()).toBe(2);
    // `sh -c 'head -c 200m /dev/zero | tail; echo survived'`: tail was killed, sh exited 0.
    expect(mainProcessOomKilled(0, 2)).toBe(false);
    expect(mainProcessOomKilled(137, 2)).toBe(true);
    // A SIGKILL with no OOM kill counted is someone's kill, not the OOM killer's.
    expect(mainProcessOomKilled(137, 0)).toBe(false);
  });

  it('remove() kills the members with cgroup.kill, then removes the cgroup', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, {});
    const { child, exited } = sleeper();
    await m.addProcess(child.pid!);
    await m.remove();
    expect(await exited).toBe('SIGKILL');
    expect(io.writes).toContainEqual([`berth/${ID}/cgroup.kill`, '1']);
    expect(existsSync(path.join(dir, 'berth', ID))).toBe(false);
    expect(existsSync(path.join(dir, 'berth'))).toBe(true);
    await m.remove(); // idempotent
  });

  it('remove() without cgroup.kill: freeze, SIGKILL each process, thaw; child cgroups first', async () => {
    const io = v2Tree({ kill: false });
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, {});
    await io.mkdir(path.join(dir, 'berth', ID, 'nested'));
    const a = sleeper();
    const b = sleeper();
    await m.addProcess(a.child.pid!);
    await m.addProcess(b.child.pid!);
    const later = new CgroupV2Manager({ root: dir, io });
    later.open(ID); // e.g. `berth rm` after the runtime process died
    await later.remove();
    expect(await a.exited).toBe('SIGKILL');
    expect(await b.exited).toBe('SIGKILL');
    const writes = io.writes.filter(([p]) => p.startsWith(`berth/${ID}/`) && !p.endsWith('cgroup.procs'));
    expect(writes).toEqual([
      [`berth/${ID}/cgroup.freeze`, '1'],
      [`berth/${ID}/cgroup.freeze`, '0'],
    ]);
    expect(existsSync(path.join(dir, 'berth', ID))).toBe(false);
  });

  it('freeze()/thaw(): cgroup.freeze, then cgroup.events says frozen 1/0; pids() lists the members and those of child cgroups', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, {});
    const cg = path.join(dir, 'berth', ID);
    writeFileSync(path.join(cg, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    expect(await m.frozen()).toBe(false);
    await m.freeze();
    expect(await m.frozen()).toBe(true);
    await m.thaw();
    expect(await m.frozen()).toBe(false);
    expect(io.writes.filter(([p]) => p.endsWith('cgroup.freeze'))).toEqual([
      [`berth/${ID}/cgroup.freeze`, '1'],
      [`berth/${ID}/cgroup.freeze`, '0'],
    ]);
    const a = sleeper();
    const b = sleeper();
    await m.addProcess(a.child.pid!);
    await io.mkdir(path.join(cg, 'nested'));
    await io.writeFile(path.join(cg, 'nested', 'cgroup.procs'), String(b.child.pid));
    expect((await m.pids()).sort()).toEqual([a.child.pid, b.child.pid].sort());
    await m.remove();
    expect(await a.exited).toBe('SIGKILL');
  });

  it('freeze() where the kernel never reports frozen, or has no cgroup.freeze: an error naming it', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io, removeAttempts: 2 });
    await m.create(ID, {});
    const cg = path.join(dir, 'berth', ID);
    // A kernel that takes the write but never reports the cgroup frozen.
    const stuck = Object.assign(Object.create(io) as FakeCgroupFs, { writeFile: async (p: string, d: string) => writeFileSync(p, d) });
    writeFileSync(path.join(cg, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    const s = new CgroupV2Manager({ root: dir, io: stuck, removeAttempts: 2 });
    s.open(ID);
    await expect(s.freeze()).rejects.toThrow(`cgroup v2 freeze ${ID}: cgroup.events never said frozen 1`);
    unlinkSync(path.join(cg, 'cgroup.freeze'));
    await expect(m.freeze()).rejects.toThrow(`cgroup v2 freeze ${ID}: no cgroup.freeze in ${cg} (Linux 5.2 or later)`);
  });

  it('update() writes only the limits given, swap from the current memory.max; refuses a controller that is not enabled', async () => {
    const io = v2Tree();
    const m = new CgroupV2Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20 });
    const before = io.writes.length;
    await m.update({ pidsLimit: 20, cpus: 0.5 });
    await m.update({ memorySwap: 96 * 2 ** 20 });
    expect(io.writes.slice(before)).toEqual([
      [`berth/${ID}/cpu.max`, '50000 100000'],
      [`berth/${ID}/pids.max`, '20'],
      [`berth/${ID}/memory.swap.max`, String(32 * 2 ** 20)],
    ]);
    writeFileSync(path.join(dir, 'berth', ID, 'cgroup.controllers'), 'memory\n');
    await expect(m.update({ cpus: 1 })).rejects.toThrow(`cgroup v2 update ${ID}: the cpu controller is not enabled for ${path.join(dir, 'berth', ID)}`);
  });

  it('refuses an existing cgroup, bad ids and parents', async () => {
    const io = v2Tree();
    await new CgroupV2Manager({ root: dir, io }).create('dup', {});
    await expect(new CgroupV2Manager({ root: dir, io }).create('dup', {})).rejects.toThrow(/cgroup v2 create dup: .* already exists/);
    await expect(new CgroupV2Manager({ root: dir, io }).create('../escape', {})).rejects.toThrow('cgroup: invalid container id "../escape"');
    expect(() => new CgroupV2Manager({ root: dir, io, parent: '../x' })).toThrow('cgroup: invalid parent "../x"');
    expect(() => new CgroupV2Manager({ root: dir, io }).paths()).toThrow(/no container bound/);
    try {
      await new CgroupV2Manager({ root: dir, io }).create('dup', {});
    } catch (err) {
      expect(isBerthError(err, 'ECGROUP')).toBe(true);
    }
  });
});

describe('cgroup v1 (fake tree)', () => {
  function v1Tree(opts: { oomKillField?: boolean } = {}) {
    const controllers = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices'];
    for (const c of controllers) {
      mkdirSync(path.join(dir, c));
      writeFileSync(path.join(dir, c, 'cgroup.procs'), '');
    }
    const files: Record<string, Record<string, string>> = {
      memory: {
        'memory.limit_in_bytes': '9223372036854771712\n',
        'memory.memsw.limit_in_bytes': '9223372036854771712\n',
        'memory.usage_in_bytes': '0\n',
        'memory.max_usage_in_bytes': '0\n',
        'memory.failcnt': '0\n',
        'memory.oom_control': `oom_kill_disable 0\nunder_oom 0\n${opts.oomKillField === false ? '' : 'oom_kill 0\n'}`,
      },
      cpu: { 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n' },
      cpuacct: {},
      pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
      freezer: { 'freezer.state': 'THAWED\n' },
      devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' },
    };
    return new FakeCgroupFs(dir, (d) => {
      const controller = path.relative(dir, d).split(path.sep)[0] ?? '';
      return { 'cgroup.procs': '', ...(files[controller] ?? {}) };
    });
  }

  it('creates one cgroup per hierarchy and writes the limits and the device allow-list', async () => {
    const io = v1Tree();
    const m = new CgroupV1Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20, memorySwap: 128 * 2 ** 20, cpus: 0.5, pidsLimit: 50, devices: 'default' });
    for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices']) expect(existsSync(path.join(dir, c, 'berth', ID))).toBe(true);
    expect(io.writes).toEqual([
      [`memory/berth/${ID}/memory.limit_in_bytes`, '67108864'],
      [`memory/berth/${ID}/memory.memsw.limit_in_bytes`, '134217728'],
      [`cpu/berth/${ID}/cpu.cfs_period_us`, '100000'],
      [`cpu/berth/${ID}/cpu.cfs_quota_us`, '50000'],
      [`pids/berth/${ID}/pids.max`, '50'],
      [`devices/berth/${ID}/devices.deny`, 'a'],
      ...DEFAULT_DEVICE_RULES.map((r): [string, string] => [`devices/berth/${ID}/devices.allow`, r]),
    ]);
    expect(Object.keys(m.paths())).toEqual(['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices']);
  });

  it("writes cpu.shares and an engine's extra device allows after docker's list", async () => {
    const io = v1Tree();
    await new CgroupV1Manager({ root: dir, io }).create(ID, { cpuShares: 512, devices: 'default', extraDeviceRules: ['c 5:1 rwm'] });
    expect(io.writes).toEqual([
      [`cpu/berth/${ID}/cpu.shares`, '512'],
      [`devices/berth/${ID}/devices.deny`, 'a'],
      ...[...DEFAULT_DEVICE_RULES, 'c 5:1 rwm'].map((r): [string, string] => [`devices/berth/${ID}/devices.allow`, r]),
    ]);
  });

  it('privileged: every device allowed; unlimited swap', async () => {
    const io = v1Tree();
    await new CgroupV1Manager({ root: dir, io }).create(ID, { memory: 2 ** 30, memorySwap: -1, devices: 'all' });
    expect(io.writes).toEqual([
      [`memory/berth/${ID}/memory.limit_in_bytes`, '1073741824'],
      [`memory/berth/${ID}/memory.memsw.limit_in_bytes`, '-1'],
      [`devices/berth/${ID}/devices.allow`, 'a'],
    ]);
  });

  it('adds a process to every hierarchy; stats and OOM (oom_kill counter, or failcnt at the limit on old kernels)', async () => {
    const io = v1Tree();
    const m = new CgroupV1Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20 });
    await m.addProcess(77);
    expect(io.writes.filter(([p]) => p.endsWith('cgroup.procs')).map(([p]) => p.split('/')[0])).toEqual(['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices']);
    const mem = path.join(dir, 'memory/berth', ID);
    writeFileSync(path.join(mem, 'memory.usage_in_bytes'), '2048\n');
    expect(await m.stats()).toEqual({ memory: { usage: 2048, limit: 67108864, peak: 0 }, oomKilled: false, oomKills: 0, pids: { current: 0 } });
    writeFileSync(path.join(mem, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(await m.stats()).toMatchObject({ oomKilled: true, oomKills: 2 });
  });

  it('OOM without the oom_kill counter', async () => {
    const io = v1Tree({ oomKillField: false });
    const m = new CgroupV1Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20 });
    expect((await m.stats()).oomKilled).toBe(false);
    const mem = path.join(dir, 'memory/berth', ID);
    writeFileSync(path.join(mem, 'memory.failcnt'), '3\n');
    writeFileSync(path.join(mem, 'memory.max_usage_in_bytes'), `${64 * 2 ** 20}\n`);
    expect(await m.stats()).toMatchObject({ oomKilled: true, oomKills: 0 });
    // The lifecycle counts that as one kill: it happened, the kernel did not say how many.
    expect(await (await defaultCgroupProvider({ root: dir, version: 1, io }).open(ID)).oomKills()).toBe(1);
  });

  it('remove(): freeze, SIGKILL, thaw, rmdir every hierarchy', async () => {
    const io = v1Tree();
    const m = new CgroupV1Manager({ root: dir, io });
    await m.create(ID, { pidsLimit: 5 });
    const { child, exited } = sleeper();
    await m.addProcess(child.pid!);
    await m.remove();
    expect(await exited).toBe('SIGKILL');
    expect(io.writes.filter(([p]) => p.endsWith('freezer.state'))).toEqual([
      [`freezer/berth/${ID}/freezer.state`, 'FROZEN'],
      [`freezer/berth/${ID}/freezer.state`, 'THAWED'],
    ]);
    for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices']) {
      expect(existsSync(path.join(dir, c, 'berth', ID))).toBe(false);
      expect(existsSync(path.join(dir, c, 'berth'))).toBe(true);
    }
    await m.remove();
  });

  it('freeze()/thaw() through freezer.state; update() raises memory+swap before memory, lowers memory first; pids() of every hierarchy', async () => {
    const io = v1Tree();
    const m = new CgroupV1Manager({ root: dir, io });
    await m.create(ID, { memory: 64 * 2 ** 20, memorySwap: 128 * 2 ** 20 });
    const before = io.writes.length;
    await m.freeze();
    expect(await m.frozen()).toBe(true);
    await m.thaw();
    expect(await m.frozen()).toBe(false);
    await m.update({ memory: 256 * 2 ** 20, memorySwap: 512 * 2 ** 20 });
    await m.update({ memory: 32 * 2 ** 20, memorySwap: 64 * 2 ** 20, pidsLimit: 7 });
    expect(io.writes.slice(before)).toEqual([
      [`freezer/berth/${ID}/freezer.state`, 'FROZEN'],
      [`freezer/berth/${ID}/freezer.state`, 'THAWED'],
      [`memory/berth/${ID}/memory.memsw.limit_in_bytes`, String(512 * 2 ** 20)],
      [`memory/berth/${ID}/memory.limit_in_bytes`, String(256 * 2 ** 20)],
      [`memory/berth/${ID}/memory.limit_in_bytes`, String(32 * 2 ** 20)],
      [`memory/berth/${ID}/memory.memsw.limit_in_bytes`, String(64 * 2 ** 20)],
      [`pids/berth/${ID}/pids.max`, '7'],
    ]);
    const a = sleeper();
    await m.addProcess(a.child.pid!);
    expect(await m.pids()).toEqual([a.child.pid]);
    await m.remove();
    expect(await a.exited).toBe('SIGKILL');
    rmSync(path.join(dir, 'freezer'), { recursive: true });
    const noFreezer = new CgroupV1Manager({ root: dir, io });
    noFreezer.open(ID);
    await expect(noFreezer.freeze()).rejects.toThrow(`cgroup v1 freezer ${ID}: the freezer hierarchy is not mounted under ${dir}`);
  });

  it('needs the hierarchy of each requested limit', async () => {
    mkdirSync(path.join(dir, 'memory'));
    writeFileSync(path.join(dir, 'memory', 'cgroup.procs'), '');
    const io = new FakeCgroupFs(dir, () => ({ 'cgroup.procs': '' }));
    await expect(new CgroupV1Manager({ root: dir, io }).create(ID, { pidsLimit: 5 })).rejects.toThrow(
      `cgroup v1 create ${ID}: the pids hierarchy is not mounted under ${dir}`,
    );
  });
});
