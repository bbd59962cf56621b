/**
 * Test by killing: SIGKILL the built CLI at random moments of `pull`, `build` and
 * `run --rm`, run the next command, and check that nothing leaked (mounts,
 * cgroups, processes, state directories, rootfs copies, build trees that no
 * listed container owns), that every blob in the store matches its digest, and
 * that skopeo still reads the store.
 *
 * The moments come from a seeded RNG: the seed is in the suite's name (and
 * BERTH_KILL_SEED=<seed> replays a run); BERTH_KILL_MOMENTS sets how many per
 * command (default 20). Each command is timed once unkilled first, and the
 * moments spread over that duration (plus 10%: a few land after it finished).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, type MirrorSandbox } from '../helpers/cli.js';
import { containerIdsSeen, corruptBlobs, leaks } from '../helpers/leaks.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
const hasSkopeo = await promisify(execFile)('skopeo', ['--version']).then(
  () => true,
  () => false,
);
const seed = Number(process.env['BERTH_KILL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const moments = Number(process.env['BERTH_KILL_MOMENTS'] ?? 20);
const REF = 'docker.io/library/alpine:latest';

/** mulberry32: a small seeded generator, so a failing sequence of moments can be replayed. */
function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the CLI and SIGKILLs it after `ms` (if it is still running); resolves when it is gone. */
function killAfter(args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--', berthBin, ...args], { env: { ...process.env, CI: '1', ...env }, stdio: 'ignore' });
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, ms);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ killed, code });
    });
  });
}

async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const r = await berth(args, { env });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return performance.now() - t0;
}

describe.skipIf(!images || !isRoot || !hasSkopeo)(`SIGKILL at ${moments} random moments (seed ${seed}; replay with BERTH_KILL_SEED=${seed})`, () => {
  let box: MirrorSandbox;
  let context: string;
  const random = rng(seed);

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    context = path.join(box.dir, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'hello.txt'), 'hello\n');
    await writeFile(
      path.join(context, 'berth.yaml'),
      ['from: alpine', 'steps:', '  - run: echo one > /one && mkdir -p /data', '  - copy: {src: [hello.txt], dest: /data/}', '  - run: cat /one /data/hello.txt > /both', ''].join('\n'),
    );
  });

  /** How many moments hit a running command (the rest came after it had finished): logged for the record. */
  const landed = new Map<string, { killed: number; of: number }>();
  const tally = (what: string, r: { killed: boolean }): void => {
    const t = landed.get(what) ?? { killed: 0, of: 0 };
    t.of++;
    if (r.killed) t.killed++;
    landed.set(what, t);
  };

  afterAll(async () => {
    for (const [what, t] of landed) console.log(`kill test (seed ${seed}): ${what}: ${t.killed} of ${t.of} kills hit the running command`);
    await box?.cleanup();
  });

  /** The checks after each kill: the next command (ps -a, which sweeps) leaves nothing unowned; the store is whole. */
  async function check(what: string, seen: string[]): Promise<void> {
    const ps = await berth(['ps', '-a', '--format', 'json'], { env: box.env });
    expect(ps.code, `${what}: ps: ${ps.stderr}`).toBe(0);
    const listed = (JSON.parse(ps.stdout) as Array<{ id: string }>).map((c) => c.id);
    expect(listed, `${what}: containers listed after the sweep`).toEqual([]);
    expect(leaks(box.env, { listed, seen, noBerthProcesses: true }), what).toEqual([]);
    expect(await corruptBlobs(path.join(box.env['BERTH_ROOT'] as string, 'store')), `${what}: blobs that do not match their digest`).toEqual([]);
  }

  async function skopeoInspect(what: string): Promise<void> {
    const { stdout } = await promisify(execFile)('skopeo', ['inspect', `oci:${path.join(box.env['BERTH_ROOT'] as string, 'store')}:${REF}`]);
    expect((JSON.parse(stdout) as { Digest?: string }).Digest, what).toMatch(/^sha256:[0-9a-f]{64}$/);
  }

  /** Moments spread over 110% of the command's unkilled duration. */
  function schedule(durationMs: number): number[] {
    return Array.from({ length: moments }, () => Math.round(random() * durationMs * 1.1));
  }

  it('pull: killed anywhere, the next pull completes and the store stays valid', async () => {
    await berth(['rmi', 'alpine'], { env: box.env });
    const duration = await timed(['pull', '-q', 'alpine'], box.env);
    for (const ms of schedule(duration)) {
      const what = `pull killed at ${ms} ms (seed ${seed})`;
      const rmi = await berth(['rmi', 'alpine'], { env: box.env });
      expect(rmi.code, `${what}: rmi: ${rmi.stderr}`).toBe(0);
      tally('pull', await killAfter(['pull', '-q', 'alpine'], box.env, ms));
      await check(what, containerIdsSeen(box.env));
      const again = await berth(['pull', '-q', 'alpine'], { env: box.env });
      expect(again.code, `${what}: pull again: ${again.stderr}`).toBe(0);
      expect(await corruptBlobs(path.join(box.env['BERTH_ROOT'] as string, 'store')), `${what}, pulled again: corrupt blobs`).toEqual([]);
      await skopeoInspect(what);
    }
  }, 600_000);

  it('build: killed anywhere, the next command removes step containers, overlay mounts and build trees', async () => {
    const duration = await timed(['build', '-q', '--no-cache', context], box.env);
    for (const ms of schedule(duration)) {
      const what = `build killed at ${ms} ms (seed ${seed})`;
      tally('build', await killAfter(['build', '-q', '--no-cache', context], box.env, ms));
      await check(what, containerIdsSeen(box.env));
      await skopeoInspect(what);
    }
    // And a build still works afterwards.
    await timed(['build', '-q', '--no-cache', context], box.env);
  }, 600_000);

  it('run --rm: killed anywhere, the next command removes the container, its rootfs copy and cgroups', async () => {
    const duration = await timed(['run', '--rm', 'alpine', 'sh', '-c', 'echo hi > /tmp/x; sleep 0.2'], box.env);
    for (const ms of schedule(duration)) {
      const what = `run --rm killed at ${ms} ms (seed ${seed})`;
      tally('run --rm', await killAfter(['run', '--rm', 'alpine', 'sh', '-c', 'echo hi > /tmp/x; sleep 0.2'], box.env, ms));
      await check(what, containerIdsSeen(box.env));
      await skopeoInspect(what);
    }
  }, 600_000);
});
