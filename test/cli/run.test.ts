import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform } from '@berth/oci';
import { sharedImagesDir, toolsMissing } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
/** --init runs tini (the Debian package tini) as PID 1. */
const tiniSkip = toolsMissing(['tini']);
if (tiniSkip) console.warn(`skipping berth run --init: ${tiniSkip}`);

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('berth run, unpack and the container commands (as root)', () => {
  let box: MirrorSandbox;
  const run = (args: string[], input?: string) => berth(['run', '--rm', ...args], { env: box.env, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine', 'busybox'] });
  });

  afterAll(async () => {
    await berth(['rm', '-f', ...(await berth(['ps', '-aq'], { env: box.env })).stdout.split('\n').filter(Boolean)], { env: box.env }).catch(() => undefined);
    await box?.cleanup();
  });

  it('pulls a missing image, then runs its process as PID 1 in its own namespaces', async () => {
    const r = await run(['-q', 'alpine', 'sh', '-c', 'echo "$$ $(hostname) $(cat /etc/alpine-release)"; ps -o pid,comm | wc -l']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [first, count] = r.stdout.trim().split('\n');
    expect(first).toMatch(/^1 [a-f0-9]{12} 3\.20\.3$/);
    // header + sh + ps + wc: nothing of the host is visible
    expect(Number(count)).toBeLessThanOrEqual(4);
  });

  it('uses the image Cmd by default and passes stdin with -i', async () => {
    const r = await run(['-i', 'alpine'], 'echo from-stdin; exit 3\n');
    expect(r.stdout).toBe('from-stdin\n');
    expect(r.code).toBe(3);
  });

  it('applies -e, -w, -u, --hostname and --entrypoint', async () => {
    const r = await run(['-e', 'A=1', '-e', 'B', '-w', '/tmp/work', '-u', 'nobody', '--hostname', 'box', 'alpine', 'sh', '-c', 'echo "$A|${B-unset}|$(pwd)|$(id -un)|$(hostname)"']);
    expect(r.stdout).toBe('1|unset|/tmp/work|nobody|box\n');
    const e = await run(['--entrypoint', 'echo', 'busybox', 'hello']);
    expect(e.stdout).toBe('hello\n');
  });

  it('exits with docker codes: the process status, 126, 127, 125, 128+N', async () => {
    const seven = await run(['alpine', 'sh', '-c', 'exit 7']);
    expect(seven.code, seven.stderr).toBe(7);
    const notFound = await run(['alpine', 'nosuchcmd']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr.trim().split('\n')).toHaveLength(1);
    expect(notFound.stderr).toMatch(/^berth: .*nosuchcmd.*/);
    const notExec = await run(['alpine', '/etc/passwd']);
    expect(notExec.code).toBe(126);
    const bad = await run(['--memory', 'lots', 'alpine', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^berth: .*--memory.*\n$/);
    const missingImage = await run(['-q', 'nosuchimage', 'true']);
    expect(missingImage.code).toBe(125);
    // A bad flag is refused before the image is looked for or pulled (docker does the same).
    const badFlagMissingImage = await run(['--memory', 'lots', 'nosuchimage', 'true']);
    expect(badFlagMissingImage.code).toBe(125);
    expect(badFlagMissingImage.stderr).toMatch(/^berth: .*--memory[^\n]*\n$/);
  });

  it.skipIf(!!tiniSkip)('--init: tini is PID 1, so the shell (PID 2) dies of a SIGTERM it has no handler for (143)', async () => {
    // Without --init the shell would be PID 1, which ignores signals it has no handler for.
    expect((await run(['--init', 'alpine', 'sh', '-c', 'kill -TERM $$; sleep 1'])).code).toBe(143);
  });

  it("warns, as docker does, when the image is for another platform and none was asked for", async () => {
    const ref = `${box.registry.host}/library/alpine:latest`;
    // alpine has amd64 and arm64: take the one this host is not.
    const other = hostPlatform().architecture === 'arm64' ? { flag: 'linux/amd64', shown: 'linux/amd64' } : { flag: 'linux/arm64', shown: 'linux/arm64/v8' };
    expect((await berth(['pull', '-q', '--platform', other.flag, ref], { env: box.env })).code).toBe(0);
    const r = await run([ref, 'true']);
    // The process itself fails with "exec format error" (126) unless the host runs such binaries (binfmt).
    expect(r.stderr.split('\n')[0]).toBe(
      `WARNING: The requested image's platform (${other.shown}) does not match the detected host platform (${formatPlatform(hostPlatform())}) and no specific platform was requested`,
    );
    const asked = await run(['--platform', other.flag, ref, 'true']);
    expect(asked.stderr).not.toContain('WARNING');
  });

  it('leaves nothing behind with --rm, and the host is untouched', async () => {
    const r = await run(['alpine', 'sh', '-c', 'echo x > /written-in-container']);
    expect(r.code).toBe(0);
    expect(existsSync('/written-in-container')).toBe(false);
    const containers = path.join(box.env['BERTH_ROOT'] as string, 'containers');
    // `.berth-state` names the state root that owns the copies (what the sweep checks), not a copy.
    expect(existsSync(containers) ? readdirSync(containers).filter((e) => e !== '.berth-state') : []).toEqual([]);
    expect((await berth(['ps', '-aq'], { env: box.env })).stdout).toBe('');
  });

  it('runs detached: ps, logs, stop, rm', async () => {
    const d = await berth(['run', '-d', '--name', 'sleeper', 'alpine', 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done'], { env: box.env });
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const ps = await berth(['ps', '--format', 'json'], { env: box.env });
    const list = JSON.parse(ps.stdout) as Array<{ id: string; name: string; status: string }>;
    expect(list.find((c) => c.id === id)).toMatchObject({ name: 'sleeper', status: 'running' });
    const table = await berth(['ps'], { env: box.env });
    expect(table.stdout).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    expect(table.stdout).toMatch(/^[a-f0-9]{12}\s+alpine:latest\s+"sh -c .*\s+Up (Less than a second|\d+ seconds?)\s+sleeper$/m);
    for (let i = 0; i < 50 && !(await berth(['logs', 'sleeper'], { env: box.env })).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await berth(['rm', 'sleeper'], { env: box.env })).code).toBe(1);
    expect((await berth(['stop', 'sleeper'], { env: box.env })).stdout).toBe('sleeper\n');
    expect((await berth(['logs', 'sleeper'], { env: box.env })).stdout).toBe('started\nbye\n');
    expect((await berth(['ps', '-a'], { env: box.env })).stdout).toMatch(/Exited \(0\)/);
    expect((await berth(['rm', 'sleeper'], { env: box.env })).code).toBe(0);
    expect((await berth(['ps', '-aq'], { env: box.env })).stdout).toBe('');
  });

  it('unpack writes the rootfs into a directory', async () => {
    const dir = path.join(box.dir, 'unpacked');
    const r = await berth(['unpack', '-q', 'busybox', dir], { env: box.env });
    expect(r.code).toBe(0);
    expect(existsSync(path.join(dir, 'bin', 'busybox'))).toBe(true);
    const again = await berth(['unpack', 'busybox', dir], { env: box.env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not empty/);
    expect(await readFile(path.join(dir, 'etc', 'passwd'), 'utf8')).toMatch(/^root:/);
  });

  it('refuses to remove an image a container uses', async () => {
    const d = await berth(['run', '-d', 'busybox', 'sleep', '30'], { env: box.env });
    const id = d.stdout.trim();
    const rmi = await berth(['rmi', 'busybox'], { env: box.env });
    expect(rmi.code).toBe(1);
    expect(rmi.stderr).toMatch(/in use by container/);
    expect((await berth(['rm', '-f', id], { env: box.env })).code).toBe(0);
  });
});
