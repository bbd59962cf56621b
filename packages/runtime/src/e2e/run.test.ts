/**
 * End to end, as root: real containers from the alpine image (unpacked with
 * skopeo + umoci from ../shared/images), run in-process through Runtime.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { Runtime } from '../runtime.js';
import { newContainerId } from '../lifecycle/state.js';
import type { RunOverrides } from '../spec/types.js';
import { containerFixture, e2eUnavailable, specFor } from '../test-support/fixtures.js';
import type { ContainerFixture, UnpackedImage } from '../test-support/fixtures.js';

const unavailable = e2eUnavailable();
if (unavailable) console.warn(`skipping runtime end-to-end tests: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('containers end to end (alpine)', () => {
  let fx: ContainerFixture;
  let dir: string;
  let alpine: UnpackedImage;
  let runtime: Runtime;
  let stateDir: string;

  beforeAll(() => {
    fx = containerFixture('alpine', 'e2e');
    ({ dir, image: alpine, runtime, stateDir } = fx);
  });
  // Anything a failed test left behind (state, cgroup), then the temp dir.
  afterAll(() => fx?.cleanup());

  const rootfs = (): string => fx.rootfs();

  async function sh(script: string, overrides: RunOverrides = {}, opts: { rootfs?: string; id?: string; remove?: boolean } = {}) {
    const id = opts.id ?? newContainerId();
    const root = opts.rootfs ?? rootfs();
    const spec = specFor(alpine, root, { ...overrides, cmd: ['sh', '-c', script] }, id);
    const r = await runtime.run({ id, rootfs: root, spec, stdio: 'pipe', remove: opts.remove ?? true });
    return { ...r, out: r.stdout?.toString() ?? '', err: r.stderr?.toString() ?? '' };
  }

  it('runs the command as PID 1 of its own pid namespace, with its own hostname, seeing only its processes', async () => {
    const id = newContainerId();
    const r = await sh('echo $$; hostname; ps -o pid,comm > /tmp/ps; cat /tmp/ps', {}, { id });
    expect(r.exitCode).toBe(0);
    const [pid, hostname, , ...ps] = r.out.trim().split('\n');
    expect(pid).toBe('1');
    expect(hostname).toBe(id.slice(0, 12));
    expect(ps.map((l) => l.trim().split(/\s+/))).toEqual([
      ['1', 'sh'],
      [expect.stringMatching(/^\d+$/), 'ps'],
    ]);
  });

  it('writes land in the container rootfs, never on the host', async () => {
    const root = rootfs();
    const marker = `berth-marker-${process.pid}-${Date.now()}`;
    const r = await sh(`echo inside > /${marker}; echo hosts >> /etc/motd; ls /`, {}, { rootfs: root });
    expect(r.exitCode).toBe(0);
    expect(fs.readFileSync(path.join(root, marker), 'utf8')).toBe('inside\n');
    expect(fs.existsSync(path.join('/', marker))).toBe(false);
    // The container saw the image's tree, not the host's.
    expect(r.out.split('\n')).toContain('etc');
    expect(r.out.split('\n')).not.toContain('work');
  });

  it('applies env, working directory (created when missing) and user', async () => {
    const r = await sh('echo "$FOO|$HOME|$(pwd)|$(id -u):$(id -g)|$(id -G)"', { env: ['FOO=bar baz'], workdir: '/srv/wd', user: 'nobody' });
    expect(r.err).toBe('');
    expect(r.out).toBe('bar baz|/|/srv/wd|65534:65534|65534\n');
  });

  it('returns the exit code of the process', async () => {
    expect((await sh('exit 0')).exitCode).toBe(0);
    expect((await sh('exit 7')).exitCode).toBe(7);
  });

  it('127 for a command that is not in PATH, 126 for one that cannot be executed, with a one-line message', async () => {
    for (const [cmd, code, message] of [
      ['nosuchcommand', 127, 'exec "nosuchcommand": executable file not found in $PATH'],
      ['/etc/passwd', 126, 'exec "/etc/passwd": permission denied'],
      ['/etc', 126, 'exec "/etc": permission denied'],
    ] as const) {
      const root = rootfs();
      const id = newContainerId();
      const spec = specFor(alpine, root, { cmd: [cmd] }, id);
      let err: unknown;
      try {
        await runtime.run({ id, rootfs: root, spec, stdio: 'pipe', remove: true });
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err)).toBe(true);
      expect((err as Error).message).toBe(message);
      expect((err as { details: Record<string, unknown> }).details['exitCode']).toBe(code);
      // --rm cleaned the failed container up.
      expect(fs.existsSync(path.join(stateDir, id))).toBe(false);
    }
  });

  it('125 when berth cannot set the container up (a bind source that does not exist)', async () => {
    const root = rootfs();
    const id = newContainerId();
    const spec = specFor(alpine, root, { cmd: ['true'], volumes: [`${dir}/no-such-dir:/data`] }, id);
    // `-v` creates a missing host directory, as docker does; a bind mount that does not ask for
    // that (a runtime-spec bundle's, or `--mount type=bind`) still fails the setup.
    for (const m of spec.mounts) if (m.source === `${dir}/no-such-dir`) delete m.createSource;
    let err: unknown;
    try {
      await runtime.run({ id, rootfs: root, spec, stdio: 'pipe' });
    } catch (e) {
      err = e;
    }
    expect((err as { details: Record<string, unknown> }).details['exitCode']).toBe(125);
    expect((err as Error).message).toBe(`stat ${dir}/no-such-dir: ENOENT`);
    const info = await runtime.inspect(id);
    expect(info).toMatchObject({ status: 'stopped', exitCode: 125, error: `stat ${dir}/no-such-dir: ENOENT` });
    await runtime.remove(id);
  });

  it('137 when killed with SIGKILL from outside, 143 when a shell traps SIGTERM', async () => {
    const root = rootfs();
    const spec = specFor(alpine, root, { cmd: ['sh', '-c', 'trap "exit 143" TERM; echo ready; while :; do sleep 0.05; done'] });
    const proc = await runtime.launch({ rootfs: root, spec, stdio: 'pipe', remove: true });
    await new Promise((r) => proc.stdout?.once('data', r));
    proc.kill('SIGTERM');
    expect((await proc.wait()).exitCode).toBe(143);

    const root2 = rootfs();
    const spec2 = specFor(alpine, root2, { cmd: ['sleep', '100'] });
    const proc2 = await runtime.launch({ rootfs: root2, spec: spec2, stdio: 'pipe', remove: true });
    // PID 1 ignores SIGTERM it has no handler for (as in docker); SIGKILL always works.
    await runtime.kill(proc2.id, 'SIGKILL');
    expect(await proc2.wait()).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('pipes stdin to the container with interactive', async () => {
    const root = rootfs();
    const spec = specFor(alpine, root, { cmd: ['sh', '-c', 'tr a-z A-Z; echo done'] });
    const proc = await runtime.launch({ rootfs: root, spec, stdio: 'pipe', interactive: true, remove: true });
    const chunks: Buffer[] = [];
    proc.stdout?.on('data', (c: Buffer) => chunks.push(c));
    proc.stdin?.end('hello stdin\n');
    expect((await proc.wait()).exitCode).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe('HELLO STDIN\ndone\n');
  });

  it('without interactive, stdin is /dev/null', async () => {
    const r = await sh('cat; readlink /proc/self/fd/0');
    expect(r.out).toBe('/dev/null\n');
  });

  it('leaves no fd above 2 open in the container process', async () => {
    const root = rootfs();
    const spec = specFor(alpine, root, { cmd: ['sleep', '30'] });
    const proc = await runtime.launch({ rootfs: root, spec, stdio: 'pipe', remove: true });
    try {
      const fds = fs.readdirSync(`/proc/${proc.pid}/fd`).sort();
      expect(fds).toEqual(['0', '1', '2']);
      expect(fs.readlinkSync(`/proc/${proc.pid}/fd/0`)).toBe('/dev/null');
      expect(fs.readlinkSync(`/proc/${proc.pid}/exe`)).toBe('/bin/busybox');
    } finally {
      proc.kill('SIGKILL');
      await proc.wait();
    }
  });

  it('hides the masked paths and makes /proc/sys, /sys and the cgroup fs read-only', async () => {
    const r = await sh(
      [
        'echo keys=$(wc -c < /proc/keys)',
        'echo acpi=$(ls -A /proc/acpi | wc -l)',
        'echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-ro',
        'touch /sys/kernel/x 2>/dev/null && echo sysfs-writable || echo sysfs-ro',
        'mkdir /sys/fs/cgroup/memory/x 2>/dev/null && echo cg-writable || echo cg-ro',
        'echo procs=$(cat /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null | wc -l)',
      ].join('; '),
    );
    expect(r.out).toMatch(/^keys=0\nacpi=0\nsys-ro\nsysfs-ro\ncg-ro\n/);
  });

  it('gives the container its own network namespace with only loopback, up', async () => {
    const r = await sh('ip -o link | cut -d: -f2 | tr -d " "; ip -o link show lo | grep -q "UP" && echo lo-up; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok');
    expect(r.out).toBe('lo\nlo-up\nping-ok\n');
  });

  it('remounts the root read-only with --read-only (the etc files and /dev stay writable)', async () => {
    const r = await sh('touch /x 2>/dev/null && echo rw || echo ro; echo 1 > /dev/shm/ok && echo shm-ok; cat /etc/hostname >/dev/null && echo etc-ok', {
      readOnly: true,
    });
    expect(r.out).toBe('ro\nshm-ok\netc-ok\n');
  });

  it('refuses an image whose /proc or /dev is a symlink', async () => {
    for (const d of ['proc', 'dev']) {
      const root = rootfs();
      fs.rmSync(path.join(root, d), { recursive: true });
      fs.symlinkSync('/etc', path.join(root, d));
      const spec = specFor(alpine, root, { cmd: ['true'] });
      await expect(runtime.run({ rootfs: root, spec, stdio: 'pipe', remove: true })).rejects.toThrow(`prepare rootfs: /${d} is a symlink (refused)`);
      // Nothing was mounted over the host's /etc.
      expect(fs.readdirSync('/etc').length).toBeGreaterThan(0);
    }
  });

  it('bind-mounts volumes (read-only when asked) resolved inside the root', async () => {
    const vol = path.join(dir, 'vol');
    fs.mkdirSync(vol, { recursive: true });
    fs.writeFileSync(path.join(vol, 'in.txt'), 'from host');
    const r = await sh('cat /data/in.txt; echo; touch /data/new 2>/dev/null && echo rw || echo ro; echo w > /rw/out.txt', {
      volumes: [`${vol}:/data:ro`, `${vol}:/rw`],
    });
    expect(r.out).toBe('from host\nro\n');
    expect(fs.readFileSync(path.join(vol, 'out.txt'), 'utf8')).toBe('w\n');
  });

  it('cannot reach the host runtime binary through /proc (CVE-2019-5736)', async () => {
    const node = fs.realpathSync(process.execPath);
    const before = createHash('sha256').update(fs.readFileSync(node)).digest('hex');
    const r = await sh(
      [
        'readlink /proc/1/exe',
        '(printf x >> /proc/1/exe) 2>/dev/null && echo exe-writable || echo exe-not-writable',
        'for f in /proc/[0-9]*/fd/*; do readlink "$f"; done 2>/dev/null | sort -u',
      ].join('; '),
    );
    const [exe, writable, ...targets] = r.out.trim().split('\n');
    // After execve the process image is the container's binary, not node.
    expect(exe).toBe('/bin/busybox');
    expect(writable).toBe('exe-not-writable');
    // No fd of any container process refers to a host file (node, berth's files, the state dir).
    for (const t of targets) expect(t).toMatch(/^(pipe:\[\d+\]|\/dev\/null|\/proc\/\d+\/fd|\/dev\/pts\/\d+)$/);
    expect(createHash('sha256').update(fs.readFileSync(node)).digest('hex')).toBe(before);
  });

  it('runs two containers in parallel from one process', async () => {
    const ids = [newContainerId(), newContainerId()];
    const results = await Promise.all(ids.map((id) => sh('sleep 0.3; echo $$ $(hostname)', {}, { id })));
    expect(results.map((r) => r.out)).toEqual(ids.map((id) => `1 ${id.slice(0, 12)}\n`));
  });

  it('remove cleans up the state directory, the name and the cgroup; ownsRootfs removes the rootfs too', async () => {
    const root = rootfs();
    const id = newContainerId();
    const spec = specFor(alpine, root, { cmd: ['true'] }, id);
    await runtime.run({ id, name: `cleanup-${process.pid}`, rootfs: root, spec, stdio: 'pipe', ownsRootfs: true });
    expect((await runtime.inspect(`cleanup-${process.pid}`)).status).toBe('stopped');
    const memcg = `/sys/fs/cgroup/memory/berth/${id}`;
    const hadCgroup = fs.existsSync(memcg);
    await runtime.remove(id);
    expect(fs.existsSync(path.join(stateDir, id))).toBe(false);
    expect(fs.existsSync(root)).toBe(false);
    if (hadCgroup) expect(fs.existsSync(memcg)).toBe(false);
    await expect(runtime.inspect(`cleanup-${process.pid}`)).rejects.toThrow(/no such container/);
  });

  it('refuses to remove a running container without force', async () => {
    const root = rootfs();
    const spec = specFor(alpine, root, { cmd: ['sleep', '100'] });
    const proc = await runtime.launch({ rootfs: root, spec, stdio: 'pipe' });
    await expect(runtime.remove(proc.id)).rejects.toThrow(/container is running/);
    await runtime.remove(proc.id, { force: true });
    expect((await proc.wait()).exitCode).toBe(137);
    expect(fs.existsSync(path.join(stateDir, proc.id))).toBe(false);
  });
});
