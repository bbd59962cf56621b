/**
 * Signals and process ownership end to end, with the runtime in a separate
 * host process (the minimal runner, dist/tools/run.js): forwarding, --init
 * (tini as PID 1: forwarding and reaping), and a SIGKILLed runtime.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolsMissing } from '@berth/testing';
import { Runtime } from '../runtime.js';
import { isAlive } from '../lifecycle/state.js';
import { containerFixture, e2eUnavailable, packageRoot, until } from '../test-support/fixtures.js';
import type { ContainerFixture } from '../test-support/fixtures.js';
import { findInitBinary } from '../lifecycle/host.js';

const unavailable = e2eUnavailable();
if (unavailable) console.warn(`skipping signal tests: ${unavailable}`);
// --init runs BERTH_INIT_BINARY, else tini from the Debian package tini.
const initSkip = findInitBinary() === null ? (toolsMissing(['/usr/bin/tini-static']) ?? 'no init binary for --init (BERTH_INIT_BINARY, /usr/bin/tini-static, /usr/bin/tini)') : undefined;

describe.skipIf(unavailable !== undefined)('signals and ownership (runtime in its own process)', () => {
  let fx: ContainerFixture;
  let configFile: string;
  let stateDir: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    fx = containerFixture('alpine', 'sig');
    stateDir = fx.stateDir;
    configFile = path.join(fx.dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(fx.image.config));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Containers whose runner was killed are still on record (and have a cgroup): cleanup removes them.
    await fx?.cleanup();
  });

  /** Starts the runner; resolves once the container printed `ready`. */
  async function runner(args: string[], cmd: string[]): Promise<{ child: ChildProcess; out: () => string; exit: Promise<number | null> }> {
    const rootfs = fx.rootfs();
    const child = spawn(process.execPath, [path.join(packageRoot, 'dist/tools/run.js'), '--rootfs', rootfs, '--state', stateDir, '--image-config', configFile, ...args, '--', ...cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => out.includes('ready'), 30_000);
    return { child, out: () => out, exit };
  }

  it('forwards SIGTERM and SIGUSR1 sent to the runtime to PID 1 (a shell with traps)', async () => {
    const r = await runner(['--rm'], ['sh', '-c', 'trap "echo got-usr1" USR1; trap "exit 143" TERM; echo ready; while :; do sleep 0.05; done']);
    r.child.kill('SIGUSR1');
    await until(() => r.out().includes('got-usr1'));
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(143);
  });

  /** The container's state once the runner has recorded it running (the container may print first). */
  async function running(name: string) {
    const rt = new Runtime({ stateDir });
    return until(async () => {
      const i = await rt.inspect(name).catch(() => undefined);
      return i?.status === 'running' ? i : undefined;
    });
  }

  /** Zombie children of a host pid (state Z in /proc/<child>/stat, parent = pid). */
  function zombieChildren(pid: number): number {
    let count = 0;
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      } catch {
        continue;
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z' && Number(f[1]) === pid) count++;
    }
    return count;
  }

  function readComm(p: string): string | undefined {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  function parentOf(p: string): number | undefined {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return undefined;
    }
  }

  const orphanMaker = ['sh', '-c', 'sh -c "sleep 0.1 &"; echo ready; exec sleep 100'];

  it('without --init, PID 1 (here `sleep`) does not reap orphans: they stay zombies (docker semantics)', async () => {
    const name = `noinit-${process.pid}`;
    const r = await runner(['--rm', '--name', name], orphanMaker);
    const pid = (await running(name)).pid as number;
    expect(await until(() => zombieChildren(pid) > 0 || undefined, 5000)).toBe(true);
    r.child.kill('SIGKILL');
    await r.exit;
  });

  it.skipIf(initSkip !== undefined)('with --init, tini is PID 1: orphans are reaped and SIGTERM reaches a plain `sleep` (143)', async () => {
    const name = `init-${process.pid}`;
    const r = await runner(['--rm', '--init', '--name', name], orphanMaker);
    const pid = (await running(name)).pid as number;
    expect(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('init');
    // The orphan's `sleep 0.1` has long exited once tini reports it gone (reaped: not even a zombie).
    // tini's children named sleep: the orphan (until reaped) and the exec'd `sleep 100`.
    const sleeps = (): number => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readComm(p) === 'sleep' && parentOf(p) === pid).length;
    await until(() => sleeps() === 1 || undefined, 10_000);
    expect(zombieChildren(pid)).toBe(0);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(143);
  });

  it('a SIGKILLed runtime takes its container with it; the state reads stopped (unknown) and remove cleans up', async () => {
    const name = `orphan-${process.pid}`;
    const r = await runner(['--name', name], ['sh', '-c', 'echo ready; exec sleep 1000']);
    const runtime = new Runtime({ stateDir });
    const info = await running(name);
    const pid = info.pid as number;
    expect(isAlive(pid, info.pidStartTime)).toBe(true);
    r.child.kill('SIGKILL');
    await r.exit;
    // PR_SET_PDEATHSIG: PID 1 gets SIGKILL when the runtime's thread that spawned it dies.
    await until(() => !isAlive(pid, info.pidStartTime));
    const after = await runtime.inspect(name);
    expect(after).toMatchObject({ status: 'stopped', exitCode: null, statusText: 'Exited (unknown)' });
    const memcg = `/sys/fs/cgroup/memory/berth/${info.id}`;
    await runtime.remove(name);
    expect(fs.existsSync(path.join(stateDir, info.id))).toBe(false);
    expect(fs.existsSync(memcg)).toBe(false);
    expect((await runtime.list()).some((c) => c.id === info.id)).toBe(false);
  });
});
