import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { detectCgroupVersion } from './io.js';
import { createCgroupManager } from './manager.js';
import type { CgroupManager } from './types.js';

/*
 * cgroup v1 for real, as root, on a machine whose /sys/fs/cgroup has v1
 * hierarchies (this one: hybrid). Cgroups go under a parent of their own
 * (berth-test-<pid>) that afterAll removes.
 */
const ROOT = '/sys/fs/cgroup';
const usable = process.getuid?.() === 0 && detectCgroupVersion(ROOT) === 1 && existsSync(path.join(ROOT, 'memory/cgroup.procs'));
const PARENT = `berth-test-${process.pid}`;
const CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices'].filter((c) => existsSync(path.join(ROOT, c, 'cgroup.procs')));

const children: ChildProcess[] = [];
const managers: CgroupManager[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of managers.splice(0)) await m.remove();
});

afterAll(() => {
  if (!usable) return;
  for (const c of CONTROLLERS) {
    const dir = path.join(ROOT, c, PARENT);
    if (existsSync(dir)) rmdirSync(dir);
  }
});

function start(script: string): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> } {
  // The child waits for a line on stdin, so it can be moved into the cgroup before it does anything.
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr, stdout })),
  );
  return { child, exit };
}

function manager(): CgroupManager {
  const m = createCgroupManager({ root: ROOT, parent: PARENT });
  managers.push(m);
  return m;
}

const read = (...p: string[]): string => readFileSync(path.join(ROOT, ...p), 'utf8').trim();

describe.skipIf(!usable)('cgroup v1 for real (root)', () => {
  it('creates the cgroups with the limits, holds a process, reports stats, removes everything', async () => {
    const id = `limits-${process.pid}`;
    const m = manager();
    expect(m.version).toBe(1);
    await m.create(id, { memory: 64 * 2 ** 20, memorySwap: 128 * 2 ** 20, cpus: 0.5, pidsLimit: 50, devices: 'default' });
    expect(read('memory', PARENT, id, 'memory.limit_in_bytes')).toBe(String(64 * 2 ** 20));
    if (existsSync(path.join(ROOT, 'memory', PARENT, id, 'memory.memsw.limit_in_bytes'))) {
      expect(read('memory', PARENT, id, 'memory.memsw.limit_in_bytes')).toBe(String(128 * 2 ** 20));
    }
    expect(read('cpu', PARENT, id, 'cpu.cfs_quota_us')).toBe('50000');
    expect(read('cpu', PARENT, id, 'cpu.cfs_period_us')).toBe('100000');
    expect(read('pids', PARENT, id, 'pids.max')).toBe('50');
    const devices = read('devices', PARENT, id, 'devices.list').split('\n');
    expect(devices).toContain('c 1:3 rwm');
    expect(devices).toContain('c 136:* rwm');
    expect(devices).not.toContain('a *:* rwm');

    // After "ready" the shell has exec'd a new program inside the cgroup, so pages are charged to it.
    const { child, exit } = start(`exec sh -c 'echo ready; exec sleep 1000'`);
    await m.addProcess(child.pid!);
    const cgroupLine = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
    expect(cgroupLine).toMatch(new RegExp(`:memory:/${PARENT}/${id}\\n`));
    expect(cgroupLine).toMatch(new RegExp(`:pids:/${PARENT}/${id}\\n`));
    const ready = new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    child.stdin?.write('go\n');
    await ready;

    const stats = await m.stats();
    expect(stats.pids.current).toBe(1);
    expect(stats.pids.limit).toBe(50);
    expect(stats.memory.limit).toBe(64 * 2 ** 20);
    expect(stats.memory.usage).toBeGreaterThan(0);
    expect(stats.oomKilled).toBe(false);

    await m.remove();
    expect((await exit).signal).toBe('SIGKILL');
    for (const c of CONTROLLERS) expect(existsSync(path.join(ROOT, c, PARENT, id))).toBe(false);
    await m.remove(); // idempotent
  });

  // Without swap accounting (no memsw file) a machine with swap would page instead of OOM-killing.
  const canOom = existsSync(path.join(ROOT, 'memory/memory.memsw.limit_in_bytes')) || readFileSync('/proc/swaps', 'utf8').trim().split('\n').length <= 1;

  it.skipIf(!canOom)('reports an OOM kill when a process outgrows the memory limit', async () => {
    const id = `oom-${process.pid}`;
    const m = manager();
    await m.create(id, { memory: 16 * 2 ** 20, memorySwap: 16 * 2 ** 20 });
    // tail keeps the whole "line" of an endless stream of zeros in memory.
    const { child, exit } = start('exec tail /dev/zero');
    await m.addProcess(child.pid!);
    child.stdin?.write('go\n');
    const result = await exit;
    expect(result.signal).toBe('SIGKILL');
    const stats = await m.stats();
    expect(stats.oomKilled).toBe(true);
    expect(stats.oomKills).toBeGreaterThanOrEqual(1);
  });

  it('refuses devices outside the allow-list and enforces pids.max', async () => {
    const id = `dev-${process.pid}`;
    const m = manager();
    await m.create(id, { pidsLimit: 3, devices: 'default' });
    const { child, exit } = start(
      'head -c 1 /dev/zero >/dev/null && echo zero-ok; cat /dev/kmsg >/dev/null 2>&1 || echo kmsg-denied; ' +
        'for i in 1 2 3 4 5; do sleep 30 >/dev/null 2>&1 & done; echo all-forked',
    );
    await m.addProcess(child.pid!);
    child.stdin?.write('go\n');
    const result = await exit;
    expect(result.stdout).toContain('zero-ok');
    expect(result.stdout).toContain('kmsg-denied');
    // pids.max = 3: sh and two sleeps; the third fork fails (dash gives up, bash retries and reports it).
    expect(result.stderr).toMatch(/fork/i);
    expect(read('pids', PARENT, id, 'pids.events')).toMatch(/^max [1-9]/);
  });
});

describe.skipIf(usable)('cgroup v1 for real', () => {
  it.skip('needs root and cgroup v1 hierarchies under /sys/fs/cgroup', () => {});
});
