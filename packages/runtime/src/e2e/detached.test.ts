/**
 * Detached containers end to end: start() hands the container to a shim
 * process; list, logs (with follow), stop, kill, remove, --rm, a killed shim,
 * and runCommand (the build engineer's entry point) on the busybox image.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { runCommand } from '../command.js';
import type { LogEntry } from '../lifecycle/logs.js';
import { isAlive, newContainerId } from '../lifecycle/state.js';
import { Runtime } from '../runtime.js';
import { containerFixture, e2eUnavailable, specFor, until } from '../test-support/fixtures.js';
import type { ContainerFixture, UnpackedImage } from '../test-support/fixtures.js';

const unavailable = e2eUnavailable();
if (unavailable) console.warn(`skipping detached tests: ${unavailable}`);

async function collect(stream: Readable): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of stream) out.push(e as LogEntry);
  return out;
}

describe.skipIf(unavailable !== undefined)('detached containers and runCommand', () => {
  let fx: ContainerFixture;
  let busybox: UnpackedImage;
  let runtime: Runtime;
  let stateDir: string;

  beforeAll(() => {
    fx = containerFixture('busybox', 'detached');
    ({ image: busybox, runtime, stateDir } = fx);
  });
  afterAll(() => fx?.cleanup());

  const rootfs = (): string => fx.rootfs();

  it('start() returns once the container runs; a shim owns it; logs, stop and remove work from any Runtime', async () => {
    const root = rootfs();
    const id = newContainerId();
    const script = 'echo out; echo err >&2; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done';
    const spec = specFor(busybox, root, { cmd: ['sh', '-c', script] }, id);
    const info = await runtime.start({ id, name: `det-${process.pid}`, rootfs: root, spec, stdio: 'detached' });
    expect(info).toMatchObject({ id, status: 'running', detached: true, statusText: 'Up' });
    expect(info.monitorPid).not.toBe(process.pid);
    expect(isAlive(info.pid, info.pidStartTime)).toBe(true);

    // Another Runtime (another berth process, in effect) sees and manages it.
    const other = new Runtime({ stateDir });
    expect((await other.list()).map((c) => [c.name, c.status])).toContainEqual([`det-${process.pid}`, 'running']);
    const early = await until(async () => {
      const e = await collect(other.logs(`det-${process.pid}`));
      return e.length >= 2 ? e : undefined;
    });
    expect(early.map((e) => [e.stream, e.log]).sort()).toEqual([
      ['stderr', 'err\n'],
      ['stdout', 'out\n'],
    ]);
    expect(Number.isNaN(Date.parse(early[0]?.time ?? ''))).toBe(false);

    const following = collect(other.logs(id, { follow: true }));
    const stopped = await other.stop(id, { timeoutSec: 10 });
    expect(stopped).toMatchObject({ status: 'stopped', exitCode: 0 });
    // follow ends by itself once the container has stopped, with everything it wrote.
    expect((await following).map((e) => e.log)).toContain('bye\n');
    await other.remove(`det-${process.pid}`);
    expect(fs.existsSync(path.join(stateDir, id))).toBe(false);
  });

  it('stop escalates to SIGKILL when PID 1 ignores the stop signal', async () => {
    const root = rootfs();
    const spec = specFor(busybox, root, { cmd: ['sleep', '100'] });
    const info = await runtime.start({ rootfs: root, spec, stdio: 'detached' });
    const stopped = await runtime.stop(info.id, { timeoutSec: 0.2 });
    expect(stopped).toMatchObject({ status: 'stopped', exitCode: 137, signal: 'SIGKILL' });
    await runtime.remove(info.id);
  });

  it('--rm removes a detached container once it exits', async () => {
    const root = rootfs();
    const spec = specFor(busybox, root, { cmd: ['true'] });
    const info = await runtime.start({ rootfs: root, spec, stdio: 'detached', remove: true });
    await until(() => !fs.existsSync(path.join(stateDir, info.id)) || undefined);
    await expect(runtime.inspect(info.id)).rejects.toThrow(/no such container/);
  });

  it('a start failure is reported to the caller (127) and recorded', async () => {
    const root = rootfs();
    const spec = specFor(busybox, root, { cmd: ['nosuch'] });
    let err: unknown;
    try {
      await runtime.start({ name: `fail-${process.pid}`, rootfs: root, spec, stdio: 'detached' });
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toBe('exec "nosuch": executable file not found in $PATH');
    expect((err as { details: Record<string, unknown> }).details['exitCode']).toBe(127);
    expect(await runtime.inspect(`fail-${process.pid}`)).toMatchObject({ status: 'stopped', exitCode: 127 });
    await runtime.remove(`fail-${process.pid}`);
  });

  it('if the shim dies, so does the container, and the state reads stopped (unknown)', async () => {
    const root = rootfs();
    const spec = specFor(busybox, root, { cmd: ['sleep', '100'] });
    const info = await runtime.start({ rootfs: root, spec, stdio: 'detached' });
    process.kill(info.monitorPid as number, 'SIGKILL');
    await until(() => !isAlive(info.pid, info.pidStartTime) || undefined);
    expect(await runtime.inspect(info.id)).toMatchObject({ status: 'stopped', exitCode: null });
    await runtime.remove(info.id);
  });

  it('runCommand runs a build step: env, cwd, user, input, output captured, changes kept in the rootfs', async () => {
    const root = rootfs();
    const seen: string[] = [];
    const r = await runCommand({
      rootfs: root,
      args: ['sh', '-c', 'cat > /srv/in.txt; echo "$GREETING from $(pwd) as $(id -u)"; echo warn >&2; exit 3'],
      env: ['GREETING=hello'],
      cwd: '/srv',
      user: '0:0',
      input: 'piped input',
      stateDir,
      onOutput: (stream, chunk) => seen.push(`${stream}:${chunk.toString()}`),
    });
    expect(r).toMatchObject({ exitCode: 3, oomKilled: false });
    expect(r.stdout.toString()).toBe('hello from /srv as 0\n');
    expect(r.stderr.toString()).toBe('warn\n');
    expect(seen).toContain('stderr:warn\n');
    expect(fs.readFileSync(path.join(root, 'srv/in.txt'), 'utf8')).toBe('piped input');
    // The throwaway container is gone; the rootfs stays.
    expect((await runtime.list()).filter((c) => c.rootfs === root)).toEqual([]);
    expect(fs.existsSync(root)).toBe(true);
  });

  it('runCommand reports a missing command as exit 127 with the reason on stderr', async () => {
    const r = await runCommand({ rootfs: rootfs(), args: ['nosuch'], stateDir });
    expect(r.exitCode).toBe(127);
    expect(r.stderr.toString()).toBe('berth: exec "nosuch": executable file not found in $PATH\n');
  });
});
