// Rough edges a docker user hit (issue 13), each through the built CLI against the loopback registry.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, repo, type BerthResult, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
/** The committed entry point npm links as `berth`: run through its `#!` line, as a shell runs it. */
const installedBin = path.join(repo, 'packages/cli/bin/berth.js');
// Without swap accounting, swap would let the allocation page out instead of being OOM-killed.
const noSwap = readFileSync('/proc/swaps', 'utf8').trim().split('\n').length <= 1;
const canOom = noSwap || existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');

/** `berth ARGS` as a user's shell runs it: the executable file itself, not `node FILE`. */
function berthExecutable(args: string[], env: NodeJS.ProcessEnv): Promise<BerthResult> {
  return new Promise((resolve) => {
    const child = execFile(installedBin, args, { env: { ...process.env, CI: '1', ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 128;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('docker parity: what a docker user sees (as root)', () => {
  let box: MirrorSandbox;
  const run = (args: string[], input?: string) => berth(['run', ...args], { env: box.env, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  it('--env-file /nonexistent: one berth line and 125, before anything is pulled (not node exiting 9)', async () => {
    const r = await berthExecutable(['run', '--rm', '--env-file', '/nonexistent', 'alpine', 'true'], box.env);
    expect(r.stderr).toBe("berth: read --env-file /nonexistent: ENOENT: no such file or directory, open '/nonexistent'\n");
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
  });

  it("run '' says the reference is empty, exit 125", async () => {
    const r = await run(['']);
    expect(r.stderr).toBe('berth: invalid reference "": the reference is empty\n');
    expect(r.code).toBe(125);
  });

  it('unknown run options and a missing image exit 125, as docker run does; other commands keep 2', async () => {
    for (const args of [['--publsh', '80:80', 'alpine', 'true'], ['--nett=host', 'alpine', 'true'], []]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr, args.join(' ')).toMatch(/^berth: (unknown option '(--publsh|--nett=host)'(\n\(Did you mean [^)]*\?\))?|missing required argument 'image')\n\(run "berth --help" for usage\)\n$/);
    }
    expect((await berth(['pull', '-p', 'alpine'], { env: box.env })).code).toBe(2);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit status: .*125 when berth\s+failed, bad or unknown options included/s);
  });

  it('-it with stdin that is not a terminal: "the input device is not a TTY", 125, nothing run', async () => {
    const r = await run(['-it', '--rm', 'alpine', 'sh'], 'echo piped\n');
    expect(r.stderr).toBe('berth: the input device is not a TTY\n');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(125);
    // -i alone with a pipe is fine, as with docker.
    const piped = await run(['-i', '--rm', 'alpine', 'sh'], 'echo piped\n');
    expect(piped.stdout).toBe('piped\n');
    expect(piped.code).toBe(0);
  });

  it('-v with a missing host directory creates it, as docker does', async () => {
    const host = path.join(box.dir, 'missing/host/dir');
    const r = await run(['--rm', '-v', `${host}:/x`, 'alpine', 'sh', '-c', 'echo made > /x/file && echo ok']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok\n');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(host, 'file'), 'utf8')).toBe('made\n');
  });

  it.skipIf(!canOom)('-m: a pipeline child killed for memory is not the container killed; the main process killed is', async () => {
    const survived = await run(['--rm', '-m', '32m', '--memory-swap', '32m', 'alpine', 'sh', '-c', 'head -c 200m /dev/zero | (echo 1000 >/proc/self/oom_score_adj && exec tail) >/dev/null; echo survived']);
    expect(survived.stdout).toBe('survived\n');
    expect(survived.code).toBe(0);
    expect(survived.stderr).not.toMatch(/was killed/);
    // tail (oom_score_adj 1000: the kernel's first choice, so a busy machine's second OOM pass cannot pick the
    // shell) is the one killed; "Killed" is the shell's own line for each pipeline member the kernel killed.
    expect(survived.stderr).toMatch(/^(Killed\n)*berth: container [0-9a-f]{12}: out of memory \(--memory 32m\): the kernel killed \d+ process(es)?, not the main one\n$/);
    const killed = await run(['--rm', '-m', '32m', '--memory-swap', '32m', 'alpine', 'sh', '-c', 'exec tail /dev/zero']);
    expect(killed.code).toBe(137);
    expect(killed.stderr).toMatch(/^berth: container [0-9a-f]{12} was killed: out of memory \(--memory 32m\)\n$/);
  });

  it('recipe uids and ports out of range are refused at build time with file:line:col', async () => {
    const context = path.join(box.dir, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'user.yaml'), 'from: alpine\nsteps:\n  - user: "99999999999999999999"\n');
    const user = await berth(['build', '-f', path.join(context, 'user.yaml'), context], { env: box.env });
    expect(user.stderr).toMatch(/user\.yaml:3:11: steps\[0\]\.user: a uid or gid must be from 0 to 2147483647\n$/);
    expect(user.code).toBe(1);
    await writeFile(path.join(context, 'expose.yaml'), 'from: alpine\nsteps:\n  - expose: [99999999999999999999]\n');
    const expose = await berth(['build', '-f', path.join(context, 'expose.yaml'), context], { env: box.env });
    expect(expose.stderr).toMatch(/expose\.yaml:3:14: steps\[0\]\.expose\[0\]: a port must be from 1 to 65535\n$/);
    expect(expose.code).toBe(1);
  });
});
