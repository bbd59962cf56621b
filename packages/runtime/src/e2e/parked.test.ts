/**
 * The init parked by Runtime.warm(): it becomes the next foreground container's
 * PID 1 (its fds 0-2 pipes of its own, stdin /dev/null unless interactive, and
 * whatever namespaces the spec asks for), whatever that container's stdio, and an
 * init whose runtime goes away before the go exits on its own.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../runtime.js';
import { newContainerId } from '../lifecycle/state.js';
import type { ContainerInfo } from '../lifecycle/state.js';
import { containerFixture, e2eUnavailable, packageRoot, specFor } from '../test-support/fixtures.js';
import type { ContainerFixture, UnpackedImage } from '../test-support/fixtures.js';

const unavailable = e2eUnavailable();
if (unavailable) console.warn(`skipping parked-init tests: ${unavailable}`);

const initScript = path.join(packageRoot, 'dist', 'init', 'main.cjs');

/** Children of this process running the init bundle (a parked init has not exec'd yet). */
function initChildren(): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(initScript)) out.push(Number(p));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

describe.skipIf(unavailable !== undefined)('the parked init (Runtime.warm)', () => {
  let fx: ContainerFixture;
  let alpine: UnpackedImage;
  let runtime: Runtime;

  beforeAll(() => {
    fx = containerFixture('alpine', 'parked');
    ({ image: alpine, runtime } = fx);
  });
  afterAll(async () => {
    for (const pid of initChildren()) process.kill(pid, 'SIGKILL');
    await fx?.cleanup();
  });

  const rootfs = (): string => fx.rootfs();

  it('becomes PID 1 of the next foreground (inherit) container, stdout/stderr pipes, stdin /dev/null, namespaces as the spec says', async () => {
    expect(initChildren()).toEqual([]);
    await runtime.warm();
    const [parked] = initChildren();
    expect(parked).toBeDefined();

    const root = rootfs();
    const id = newContainerId();
    // Output goes to a file in the rootfs: 'inherit' would mix it into the test runner's own.
    const script = 'o="$(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2)"; exec > /out; echo "$$ $(readlink /proc/self/fd/0) $o $(hostname)"; ls /sys/class/net';
    let started: ContainerInfo | undefined;
    const r = await runtime.run({
      id,
      rootfs: root,
      spec: specFor(alpine, root, { cmd: ['sh', '-c', script] }, id),
      stdio: 'inherit',
      forwardSignals: false,
      onStart: (c) => (started = c),
    });
    expect(r.exitCode).toBe(0);
    expect(started?.pid).toBe(parked);
    const [first, ...ifaces] = fs.readFileSync(path.join(root, 'out'), 'utf8').trim().split('\n');
    // Pipes from the runtime (relayed to the test runner's stdout and stderr), not the runner's own fds.
    expect(first).toMatch(new RegExp(`^1 /dev/null pipe:\\[\\d+\\] pipe:\\[\\d+\\] ${id.slice(0, 12)}$`));
    // --network none: a network namespace of its own, with only the loopback.
    expect(ifaces).toEqual(['lo']);
    expect(initChildren()).toEqual([]);
  });

  it('fits --network host too (only the pid namespace is fixed at spawn)', async () => {
    await runtime.warm();
    const [parked] = initChildren();
    const root = rootfs();
    let started: ContainerInfo | undefined;
    const r = await runtime.run({
      rootfs: root,
      spec: specFor(alpine, root, { cmd: ['sh', '-c', 'ls /sys/class/net > /out'], network: 'host' }),
      stdio: 'inherit',
      forwardSignals: false,
      onStart: (c) => (started = c),
    });
    expect(r.exitCode).toBe(0);
    expect(started?.pid).toBe(parked);
    const hostIfaces = fs.readdirSync('/sys/class/net').sort();
    expect(fs.readFileSync(path.join(root, 'out'), 'utf8').trim().split('\n').sort()).toEqual(hostIfaces);
  });

  it('serves a stdio pipe container too, interactive or not (its pipes are that container\'s)', async () => {
    await runtime.warm();
    const [parked] = initChildren();
    expect(parked).toBeDefined();
    const root = rootfs();
    let started: ContainerInfo | undefined;
    const r = await runtime.run({
      rootfs: root,
      spec: specFor(alpine, root, { cmd: ['sh', '-c', 'echo $$; echo err >&2; readlink /proc/self/fd/0'] }),
      stdio: 'pipe',
      remove: true,
      onStart: (c) => (started = c),
    });
    expect(started?.pid).toBe(parked);
    expect(r.stdout?.toString()).toBe('1\n/dev/null\n');
    expect(r.stderr?.toString()).toBe('err\n');

    await runtime.warm();
    const [again] = initChildren();
    const root2 = rootfs();
    const proc = await runtime.launch({ rootfs: root2, spec: specFor(alpine, root2, { cmd: ['sh', '-c', 'echo $$; cat'] }), stdio: 'pipe', interactive: true, remove: true });
    expect(proc.pid).toBe(again);
    const out: Buffer[] = [];
    proc.stdout?.on('data', (c: Buffer) => out.push(c));
    proc.stderr?.resume();
    proc.stdin?.end('typed\n');
    expect((await proc.wait()).exitCode).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('1\ntyped\n');
    expect(initChildren()).toEqual([]);
  });

  it('a second warm() while one is parked parks no other', async () => {
    await runtime.warm();
    await runtime.warm();
    expect(initChildren()).toHaveLength(1);
    const root = rootfs();
    const r = await runtime.run({ rootfs: root, spec: specFor(alpine, root, { cmd: ['true'] }), stdio: 'inherit', forwardSignals: false, remove: true });
    expect(r.exitCode).toBe(0);
    expect(initChildren()).toEqual([]);
  });

  it('an init whose runtime goes away before the go exits by itself (125), saying so on its report pipe', async () => {
    // Spawned by hand: fd 3 the report pipe, fd 4 the sync pipe, whose write end we close unused.
    const child = spawn(process.execPath, [initScript], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    const report: Buffer[] = [];
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => report.push(c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    (child.stdio[4] as NodeJS.WritableStream).end();
    expect(await exited).toBe(125);
    const msg = JSON.parse(Buffer.concat(report).toString().trim()) as { type: string; message: string; exitCode: number };
    expect(msg).toMatchObject({ type: 'error', exitCode: 125 });
    expect(msg.message).toMatch(/runtime went away/);
  });
});
