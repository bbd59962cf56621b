import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, pollUntil, type MirrorSandbox } from '../helpers/cli.js';
import { cgroupDirs, containerIdsSeen, leaks } from '../helpers/leaks.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

/** The built CLI as a child this test can signal. */
function start(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--', berthBin, ...args], { env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, exited };
}

/** Polls until `check` returns a value (every 20 ms, up to 60 s). */
const until = <T>(what: string, check: () => T | undefined): Promise<T> => pollUntil(what, check, { timeoutMs: 60_000, intervalMs: 20 });

/** A container of the sandbox whose state says it runs. */
function runningContainer(env: NodeJS.ProcessEnv): string | undefined {
  for (const e of readdirSync(env['BERTH_STATE'] as string)) {
    try {
      const s = JSON.parse(readFileSync(path.join(env['BERTH_STATE'] as string, e, 'state.json'), 'utf8')) as { status: string };
      if (s.status === 'running') return e;
    } catch {
      // Not a container, or being written.
    }
  }
  return undefined;
}

describe.skipIf(!images || !isRoot)('nothing leaks when berth is killed (as root)', () => {
  let box: MirrorSandbox;
  const listed = async (): Promise<string[]> => {
    const r = await berth(['ps', '-a', '--format', 'json'], { env: box.env });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as Array<{ id: string }>).map((c) => c.id);
  };

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    const pulled = await berth(['pull', '-q', 'alpine'], { env: box.env });
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  afterAll(async () => {
    const ids = (await berth(['ps', '-aq'], { env: box.env })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await berth(['rm', '-f', ...ids], { env: box.env });
    await box?.cleanup();
  });

  it('checks the name before copying: a taken or invalid --name exits 125 with one line and leaves no rootfs copy', async () => {
    const first = await berth(['run', '-d', '--name', 'dup', 'alpine', 'sleep', '30'], { env: box.env });
    expect(first.code, first.stderr).toBe(0);
    const copies = (): string[] => readdirSync(path.join(box.env['BERTH_ROOT'] as string, 'containers')).filter((e) => !e.startsWith('.'));
    expect(copies()).toEqual([first.stdout.trim()]);
    const dup = await berth(['run', '-d', '--name', 'dup', 'alpine', 'true'], { env: box.env });
    expect(dup.code).toBe(125);
    expect(dup.stderr).toMatch(/^berth: create container: name "dup" is already in use by container [0-9a-f]{12}\n$/);
    const bad = await berth(['run', '--name', 'bad name!', 'alpine', 'true'], { env: box.env });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('berth: invalid container name "bad name!": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n');
    expect(copies()).toEqual([first.stdout.trim()]);
    expect((await berth(['rm', '-f', 'dup'], { env: box.env })).code).toBe(0);
    expect(leaks(box.env, { listed: await listed(), seen: [] })).toEqual([]);
  });

  it('run --rm killed with SIGKILL while its container runs: the next berth command removes container, rootfs copy and cgroups', async () => {
    const run = start(['run', '--rm', 'alpine', 'sleep', '30'], box.env);
    const id = await until('the container to run', () => runningContainer(box.env));
    expect(cgroupDirs(id).length).toBeGreaterThan(0);
    run.child.kill('SIGKILL');
    await run.exited;
    // What the kill left: the state (now dead), the copy and the cgroups.
    const seen = containerIdsSeen(box.env);
    expect(seen).toContain(id);
    expect(existsSync(path.join(box.env['BERTH_ROOT'] as string, 'containers', id))).toBe(true);
    const ids = await listed();
    expect(ids).not.toContain(id);
    expect(leaks(box.env, { listed: ids, seen })).toEqual([]);
    expect(cgroupDirs(id)).toEqual([]);
  });

  it('run --rm killed during the rootfs copy: the next berth command removes the partial copy and the state', async () => {
    const run = start(['run', '--rm', 'alpine', 'true'], box.env);
    // The state appears before the copy starts; kill as soon as it does.
    const id = await until('the container state', () => readdirSync(box.env['BERTH_STATE'] as string).find((e) => /^[0-9a-f]{64}$/.test(e)));
    run.child.kill('SIGKILL');
    await run.exited;
    const seen = containerIdsSeen(box.env);
    expect(seen).toContain(id);
    const ids = await listed();
    expect(leaks(box.env, { listed: ids, seen })).toEqual([]);
  });

  it('a killed run without --rm stays listed as Exited (unknown) until rm', async () => {
    const run = start(['run', '--name', 'kept', 'alpine', 'sleep', '30'], box.env);
    const id = await until('the container to run', () => runningContainer(box.env));
    run.child.kill('SIGKILL');
    await run.exited;
    const ps = await berth(['ps', '-a'], { env: box.env });
    expect(ps.stdout).toMatch(/Exited \(unknown\)\s+kept\n/);
    expect(existsSync(path.join(box.env['BERTH_ROOT'] as string, 'containers', id))).toBe(true);
    const seen = containerIdsSeen(box.env);
    expect((await berth(['rm', 'kept'], { env: box.env })).code).toBe(0);
    expect(leaks(box.env, { listed: await listed(), seen })).toEqual([]);
  });

  describe('build', () => {
    let context: string;
    beforeAll(async () => {
      context = path.join(box.dir, 'slow');
      await mkdir(context, { recursive: true });
      await writeFile(path.join(context, 'berth.yaml'), ['from: alpine', 'steps:', '  - run: echo one > /one', '  - run: sleep 30', ''].join('\n'));
    });

    it('Ctrl-C (SIGINT) during a step: one line, exit 130, step container and build tree gone at once', async () => {
      const b = start(['build', '--no-cache', context], box.env);
      const id = await until('the sleeping step', () => runningContainer(box.env));
      b.child.kill('SIGINT');
      const exit = await b.exited;
      expect(exit.code, b.stderr()).toBe(130);
      expect(b.stderr()).toMatch(/\nberth: build interrupted\n$/);
      // Nothing to sweep: the build cleaned up itself.
      expect(leaks(box.env, { listed: [], seen: [id] })).toEqual([]);
      expect(await listed()).toEqual([]);
    });

    it('SIGKILL during a step: the next berth command removes the step container, its cgroups, the overlay mounts and the build tree', async () => {
      const b = start(['build', '--no-cache', context], box.env);
      const id = await until('the sleeping step', () => runningContainer(box.env));
      b.child.kill('SIGKILL');
      await b.exited;
      const root = box.env['BERTH_ROOT'] as string;
      expect(readdirSync(path.join(root, 'builds')).length).toBeGreaterThan(0);
      const seen = containerIdsSeen(box.env);
      const ids = await listed();
      expect(ids).toEqual([]);
      expect(leaks(box.env, { listed: ids, seen: [...seen, id] })).toEqual([]);
    });
  });

  describe('prune', () => {
    it('container prune asks first (stdin), then removes stopped containers only, docker-style', async () => {
      const stopped = await berth(['run', '--name', 'done', 'alpine', 'true'], { env: box.env });
      expect(stopped.code, stopped.stderr).toBe(0);
      const live = await berth(['run', '-d', '--name', 'live', 'alpine', 'sleep', '30'], { env: box.env });
      expect(live.code, live.stderr).toBe(0);
      const doneId = (await berth(['container', 'inspect', 'done'], { env: box.env })).stdout.match(/"id": "([0-9a-f]{64})"/)?.[1];
      expect(doneId).toBeDefined();

      const no = await berth(['container', 'prune'], { env: box.env, input: 'n\n' });
      expect(no.code).toBe(0);
      expect(no.stdout).toBe('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] \n');
      expect((await berth(['ps', '-aq'], { env: box.env })).stdout.split('\n').filter(Boolean)).toHaveLength(2);

      const yes = await berth(['container', 'prune'], { env: box.env, input: 'y\n' });
      expect(yes.code, yes.stderr).toBe(0);
      expect(yes.stdout).toMatch(new RegExp(`\\[y/N\\] \\nDeleted Containers:\\n${doneId}\\n\\nTotal reclaimed space: \\d[\\d.]*[kMG]?B\\n$`));
      const left = await berth(['ps', '-a', '--format', 'json'], { env: box.env });
      expect((JSON.parse(left.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['live']);

      const again = await berth(['container', 'prune', '-f'], { env: box.env });
      expect(again.stdout).toBe('Total reclaimed space: 0B\n');
      expect((await berth(['rm', '-f', 'live'], { env: box.env })).code).toBe(0);
    });

    it('container prune --filter until=TIME keeps containers created after TIME; a bad filter is a usage error', async () => {
      expect((await berth(['run', '--name', 'recent', 'alpine', 'true'], { env: box.env })).code).toBe(0);
      const kept = await berth(['container', 'prune', '-f', '--filter', 'until=1h'], { env: box.env });
      expect(kept.stdout).toBe('Total reclaimed space: 0B\n');
      expect((await berth(['ps', '-aq'], { env: box.env })).stdout.split('\n').filter(Boolean)).toHaveLength(1);
      const bad = await berth(['container', 'prune', '-f', '--filter', 'label=x'], { env: box.env });
      expect(bad.code).toBe(2);
      expect(bad.stderr.split('\n')[0]).toBe('berth: invalid --filter "label=x": only until=TIME is supported');
      const gone = await berth(['container', 'prune', '-f', '--filter', `until=${Math.ceil(Date.now() / 1000) + 1}`], { env: box.env });
      expect(gone.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
      expect(await listed()).toEqual([]);
    });

    it('system prune -a -f removes stopped containers, images no container uses, build cache and dead build trees', async () => {
      const tagged = await berth(['tag', 'alpine', 'spare:1'], { env: box.env });
      expect(tagged.code, tagged.stderr).toBe(0);
      expect((await berth(['run', 'alpine', 'true'], { env: box.env })).code).toBe(0);
      const r = await berth(['system', 'prune', '-a', '-f'], { env: box.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Images:\nuntagged: alpine:latest\nuntagged: spare:1\n(deleted: sha256:[0-9a-f]{64}\n)+\n/);
      expect(r.stdout).toMatch(/Total reclaimed space: \d[\d.]*[kMG]?B\n$/);
      expect((await berth(['images', '-q'], { env: box.env })).stdout).toBe('');
      expect(await listed()).toEqual([]);
      const pulled = await berth(['pull', '-q', 'alpine'], { env: box.env });
      expect(pulled.code, pulled.stderr).toBe(0);
    });
  });
});
