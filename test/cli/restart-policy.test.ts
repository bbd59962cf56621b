// Restart policies (`run -d --restart …`) through the built CLI, as a docker user sees them:
// ps's "Restarting (N) … ago" between runs and "Up …" while it runs, RestartCount, stop and kill
// ending the policy. Every wait polls (generous deadlines: the machine may be loaded); nothing
// asserts how long anything took.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { mirrorToolsSkip, pollUntil, useAlpineBox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

/** Polls `probe` every 200 ms until it returns a value (not undefined), or fails after `timeoutMs`. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> => pollUntil(what, probe, { timeoutMs, intervalMs: 200 });

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('restart policies (run -d --restart, as root)', () => {
  const { b } = useAlpineBox({ images: images as string, timeoutMs: 180_000 });
  /** ps's line for `name` with `format` (`-a` when `all`), or undefined when ps does not list it. */
  const psLine = async (name: string, format: string, all = false): Promise<string | undefined> => {
    const r = await b(['ps', ...(all ? ['-a'] : []), '--format', format]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    return r.stdout.split('\n').find((l) => l.startsWith(`${name} `));
  };
  const inspect = async (name: string, format: string): Promise<string> => {
    const r = await b(['container', 'inspect', '--format', format, name]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    return r.stdout.trim();
  };
  const restartCount = async (name: string): Promise<number> => Number(await inspect(name, '{{.RestartCount}}'));
  /** The container's monitor (the shim) has exited: nothing will restart it any more. */
  const monitorGone = async (name: string): Promise<boolean> => {
    const pid = Number(await inspect(name, '{{.monitorPid}}'));
    return pid > 0 && !existsSync(`/proc/${pid}`);
  };

  it('always restarts after exit 0, ps shows "Restarting (0) … ago" between runs, until berth stop, which ends it', async () => {
    // Each run appends to a file in the rootfs and prints the count and its address: the same rootfs and network every run.
    const script = 'echo x >> /runs; echo "run $(wc -l < /runs) $(ip -4 -o addr show eth0 | grep -o "inet [0-9./]*")"; exit 0';
    const r = await b(['run', '-d', '--restart', 'always', '--name', 'always0', 'alpine', 'sh', '-c', script]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const format = '{{.Names}} {{.State}} {{.Status}}';
    // Listed by plain ps at every look (running or restarting, never missing), until one look catches it between runs.
    const seen = await until('ps to show always0 restarting', async () => {
      const line = await psLine('always0', format);
      expect(line).toMatch(/^always0 (running Up (Less than a second|\d+ seconds?|About a minute|\d+ minutes)|restarting Restarting \(0\) (Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago)$/);
      return line?.startsWith('always0 restarting ') ? line : undefined;
    });
    expect(seen).toMatch(/^always0 restarting Restarting \(0\) (Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago$/);
    await until('two restarts', async () => ((await restartCount('always0')) >= 2 ? true : undefined));
    expect(await inspect('always0', '{{json .HostConfig.RestartPolicy}}')).toBe('{"Name":"always","MaximumRetryCount":0}');

    const stop = await b(['stop', 'always0']);
    expect([stop.code, stop.stdout, stop.stderr]).toEqual([0, 'always0\n', '']);
    expect(await psLine('always0', format)).toBeUndefined();
    expect(await psLine('always0', format, true)).toMatch(/^always0 exited Exited \(0\) (Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago$/);
    // The shim has stopped supervising: no more runs, whatever the backoff was.
    await until('the shim to exit', async () => ((await monitorGone('always0')) ? true : undefined), 60_000);
    const count = await restartCount('always0');
    expect(await psLine('always0', format, true)).toMatch(/^always0 exited /);

    const logs = (await b(['logs', 'always0'])).stdout.trimEnd().split('\n');
    // One line per run: RestartCount counts a restart when it is decided (as docker's), so a stop during the
    // backoff leaves one run fewer than restarts + 1.
    expect([count, count + 1]).toContain(logs.length);
    const address = /^run 1 (inet 10\.236\.\d+\.\d+\/24)$/.exec(logs[0] ?? '')?.[1];
    expect(address).toBeDefined();
    expect(logs).toEqual(logs.map((_, i) => `run ${i + 1} ${address}`));
  }, 300_000);

  it('on-failure:2 restarts a failing container twice, then it stays "Exited (3)"; inspect shows RestartCount and the policy', async () => {
    const r = await b(['run', '-d', '--restart', 'on-failure:2', '--name', 'fails', 'alpine', 'sh', '-c', 'echo failing; exit 3']);
    expect(r.code).toBe(0);
    await until('fails to give up', async () => ((await monitorGone('fails')) ? true : undefined));
    expect(await psLine('fails', '{{.Names}} {{.State}} {{.Status}} {{.RestartCount}}', true)).toMatch(/^fails exited Exited \(3\) (Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago 2$/);
    expect(await inspect('fails', '{{.RestartCount}} {{json .HostConfig.RestartPolicy}} {{.State.Status}} {{.State.ExitCode}}')).toBe(
      '2 {"Name":"on-failure","MaximumRetryCount":2} exited 3',
    );
    expect((await b(['logs', 'fails'])).stdout).toBe('failing\nfailing\nfailing\n');
    // A successful exit is not restarted by on-failure.
    const ok = await b(['run', '-d', '--restart', 'on-failure', '--name', 'succeeds', 'alpine', 'true']);
    expect(ok.code).toBe(0);
    await until('succeeds to end', async () => ((await monitorGone('succeeds')) ? true : undefined));
    expect(await psLine('succeeds', '{{.Names}} {{.Status}} {{.RestartCount}}', true)).toMatch(/^succeeds Exited \(0\) .* ago 0$/);
  }, 300_000);

  it('a process killed from outside is restarted (same network); berth kill ends the policy', async () => {
    const r = await b(['run', '-d', '--restart', 'unless-stopped', '--name', 'killed', 'alpine', 'sleep', '600']);
    expect(r.code).toBe(0);
    const pid = Number(await inspect('killed', '{{.State.Pid}}'));
    const ip = await inspect('killed', '{{.NetworkSettings.IPAddress}}');
    expect(pid).toBeGreaterThan(0);
    expect(ip).toMatch(/^10\.236\.\d+\.\d+$/);
    process.kill(pid, 'SIGKILL');
    await until('the restart', async () => {
      const [count, state, now] = (await inspect('killed', '{{.RestartCount}} {{.State.Status}} {{.State.Pid}}')).split(' ');
      return count === '1' && state === 'running' && Number(now) !== pid ? true : undefined;
    });
    expect(await inspect('killed', '{{.NetworkSettings.IPAddress}}')).toBe(ip);
    expect(await psLine('killed', '{{.Names}} {{.Status}} {{.RestartCount}}')).toMatch(/^killed Up (Less than a second|\d+ seconds?|About a minute|\d+ minutes) 1$/);

    const k = await b(['kill', 'killed']);
    expect([k.code, k.stdout]).toEqual([0, 'killed\n']);
    await until('killed to stop', async () => ((await monitorGone('killed')) ? true : undefined));
    expect(await psLine('killed', '{{.Names}} {{.Status}} {{.RestartCount}}', true)).toMatch(/^killed Exited \(137\) (Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago 1$/);
  }, 300_000);

  it('rm of a restarting container is refused; rm -f removes it and ends its shim', async () => {
    const r = await b(['run', '-d', '--restart', 'always', '--name', 'removed', 'alpine', 'false']);
    expect(r.code).toBe(0);
    const shim = Number(await inspect('removed', '{{.monitorPid}}'));
    await until('a restart', async () => ((await restartCount('removed')) >= 1 ? true : undefined));
    // Without -f it is refused (docker's words between runs; "running" if a run is on at that moment).
    const refused = await b(['rm', 'removed']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^berth: remove container [0-9a-f]{12}: (you cannot remove a restarting container|container is running): stop it first or force the removal\n$/);
    const rm = await b(['rm', '-f', 'removed']);
    expect([rm.code, rm.stdout, rm.stderr]).toEqual([0, 'removed\n', '']);
    expect(await psLine('removed', '{{.Names}}', true)).toBeUndefined();
    await until('the shim to exit', async () => (existsSync(`/proc/${shim}`) ? undefined : true), 60_000);
  }, 300_000);

  it('create --restart: kept once start hands the container to its shim; start -a refuses it in one line, leaving it created', async () => {
    const c = await b(['create', '--restart', 'on-failure:1', '--name', 'made', 'alpine', 'sh', '-c', 'echo failing; exit 3']);
    expect([c.code, c.stderr]).toEqual([0, '']);
    expect(await inspect('made', '{{json .HostConfig.RestartPolicy}} {{.State.Status}}')).toBe('{"Name":"on-failure","MaximumRetryCount":1} created');
    const attached = await b(['start', '-a', 'made']);
    expect([attached.code, attached.stdout, attached.stderr]).toEqual([
      125,
      '',
      'berth: start container made: --restart on-failure:1 is kept only for a container started detached (start without -a, then attach)\n',
    ]);
    expect(await inspect('made', '{{.State.Status}}')).toBe('created');
    const s = await b(['start', 'made']);
    expect([s.code, s.stdout, s.stderr]).toEqual([0, 'made\n', '']);
    await until('made to give up', async () => ((await monitorGone('made')) && (await inspect('made', '{{.State.Status}}')) === 'exited' ? true : undefined));
    expect(await inspect('made', '{{.RestartCount}} {{.State.ExitCode}}')).toBe('1 3');
    expect((await b(['logs', 'made'])).stdout).toBe('failing\nfailing\n');
  }, 300_000);

  it('refused as docker refuses them (exit 125): with --rm, unknown policies, a count on another policy; and without -d', async () => {
    const cases: Array<[string[], string]> = [
      [['-d', '--rm', '--restart', 'always'], 'berth: Conflicting options: --restart and --rm'],
      [['-d', '--restart', 'sometimes'], "berth: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
      [['-d', '--restart', 'always:3'], "berth: invalid restart policy: maximum retry count can only be used with 'on-failure'"],
      [['-d', '--restart', 'on-failure:-1'], 'berth: invalid restart policy: maximum retry count cannot be negative'],
      [['--restart', 'always'], "berth: --restart always needs -d: a detached container's shim restarts it (berth has no daemon)"],
    ];
    for (const [flags, message] of cases) {
      const r = await b(['run', ...flags, 'alpine', 'true']);
      expect([r.code, r.stdout, r.stderr]).toEqual([125, '', `${message}\n`]);
    }
    // --restart no goes with --rm, as in docker.
    const ok = await b(['run', '--rm', '--restart', 'no', 'alpine', 'true']);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
  }, 300_000);
});
