import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CgroupV2Manager } from './v2.js';

/*
 * cgroup v2 for real, as root, on whatever cgroup2 mount the machine has: the
 * unified hierarchy itself, or (hybrid, like this machine) the controller-less
 * /sys/fs/cgroup/unified, which still runs eBPF device programs. Cgroups go
 * under berth-test-<pid>, removed in afterAll.
 */
function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre?.split(' ')[4];
  }
  return undefined;
}

const ROOT = cgroup2Mount();
const usable = process.getuid?.() === 0 && ROOT !== undefined;
const PARENT = `berth-test-${process.pid}`;
const controllers = ROOT ? readFileSync(path.join(ROOT, 'cgroup.controllers'), 'utf8').trim().split(/\s+/) : [];

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
let scratch: string | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const f of cleanups.splice(0)) await f();
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (ROOT && existsSync(path.join(ROOT, PARENT))) rmdirSync(path.join(ROOT, PARENT));
});

describe.skipIf(!usable)('cgroup v2 for real (root)', () => {
  it('restricts devices with an eBPF program: mknod works, opening what is not allowed does not', async (ctx) => {
    const id = `dev-${process.pid}`;
    const m = new CgroupV2Manager({ root: ROOT, parent: PARENT });
    cleanups.push(() => m.remove());
    const resources: Parameters<CgroupV2Manager['create']>[1] = { devices: 'default' };
    if (controllers.includes('pids')) resources.pidsLimit = 20;
    try {
      await m.create(id, resources);
    } catch (err) {
      // Inside a container whose cgroup namespace root holds processes, controllers cannot be enabled below it.
      if (/cgroup\.subtree_control: EBUSY/.test((err as Error).message)) ctx.skip();
      throw err;
    }

    scratch = mkdtempSync(path.join(tmpdir(), 'berth-dev-'));
    const node = path.join(scratch, 'kmsg');
    const child = spawn(
      'sh',
      ['-c', `read go; head -c 1 /dev/zero >/dev/null && echo zero-ok; cat /dev/kmsg >/dev/null 2>&1 || echo kmsg-denied; mknod ${node} c 1 11 && echo mknod-ok; head -c 1 ${node} >/dev/null 2>&1 || echo node-denied`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise((resolve) => child.on('close', resolve));
    await m.addProcess(child.pid!);
    expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(`0::/${PARENT}/${id}\n`);
    child.stdin?.write('go\n');
    await closed;
    expect(out.split('\n').filter(Boolean)).toEqual(['zero-ok', 'kmsg-denied', 'mknod-ok', 'node-denied']);
    if (controllers.includes('pids')) expect((await m.stats()).pids.limit).toBe(20);
  });

  it('kills what is left and removes the cgroup', async (ctx) => {
    const id = `rm-${process.pid}`;
    const m = new CgroupV2Manager({ root: ROOT, parent: PARENT });
    try {
      await m.create(id, {});
    } catch (err) {
      if (/cgroup\.subtree_control: EBUSY/.test((err as Error).message)) ctx.skip();
      throw err;
    }
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    children.push(child);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    await m.addProcess(child.pid!);
    await m.remove();
    expect(await exited).toBe('SIGKILL');
    expect(existsSync(path.join(ROOT!, PARENT, id))).toBe(false);
  });
});

describe.skipIf(usable)('cgroup v2 for real', () => {
  it.skip('needs root and a cgroup2 mount', () => {});
});
