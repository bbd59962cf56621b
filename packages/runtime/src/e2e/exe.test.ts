/**
 * The runtime's binary against a hostile image (CVE-2019-5736), end to end as root: the
 * container's command is /proc/self/exe, so the init's execve runs the init's own
 * executable (node) with the image's ELF interpreter, a hostile program
 * (exe-hostile.c, built here with gcc). It keeps a handle on that executable and, once
 * every process running the runtime's binary has exited (no ETXTBSY left to stop it),
 * opens it read-write. The runtime runs from a copy of node in a temp dir (the test
 * runner's own node would stay busy), through dist/tools/run.js.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerFixture, e2eUnavailable, haveTool, packageRoot, until } from '../test-support/fixtures.js';
import type { ContainerFixture } from '../test-support/fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function why(): string | undefined {
  const e2e = e2eUnavailable();
  if (e2e !== undefined) return e2e;
  if (process.arch !== 'x64') return 'the hostile interpreter is x86_64 code';
  if (!haveTool('gcc')) return 'gcc is not installed (apt-get install gcc libc6-dev)';
  return undefined;
}
const unavailable = why();
if (unavailable) console.warn(`skipping the runtime-binary (CVE-2019-5736) test: ${unavailable}`);

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** `key value` lines of a report the hostile program wrote. */
function report(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out[line.slice(0, sp)] = line.slice(sp + 1);
  }
  return out;
}

/** A syscall result as the program printed it (-errno or an fd) as an errno name or 'opened'. */
function errnoName(result: string | undefined): string {
  const n = Number(result);
  if (!Number.isInteger(n)) return `unreported (${result})`;
  if (n >= 0) return 'opened';
  return Object.entries(os.constants.errno).find(([, v]) => v === -n)?.[0] ?? `errno ${-n}`;
}

const REFUSED = ['EROFS', 'EACCES', 'EPERM'];

/**
 * 'refused' when opening `<key>` read-write failed with EROFS/EACCES/EPERM, or (the memfd
 * fallback, where overlayfs is missing) the file is a sealed memfd, no host file, that is
 * busy or refused the write; else what happened.
 */
function verdict(r: Record<string, string>, key: 'exe' | 'fd'): string {
  const open = errnoName(r[key]);
  if (REFUSED.includes(open)) return 'refused';
  const memfd = (r[`${key}-link`] ?? '').startsWith('/memfd:');
  if (memfd && (open === 'ETXTBSY' || (open === 'opened' && errnoName(r[`${key}-write`]) === 'EPERM'))) return 'refused';
  return `open ${open}, write ${r[`${key}-write`] ?? 'not tried'}, file ${r[`${key}-link`]}`;
}

/** Pids of the processes whose executable is `file`. */
function runningFrom(file: string): number[] {
  const pids: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/exe`) === file) pids.push(Number(p));
    } catch {
      // Gone, or a kernel thread.
    }
  }
  return pids;
}

describe.skipIf(unavailable !== undefined)('the runtime binary against a hostile image (CVE-2019-5736)', () => {
  let fx: ContainerFixture;
  let hostile: string;

  beforeAll(() => {
    fx = containerFixture('alpine', 'exe');
    hostile = path.join(fx.dir, 'hostile');
    execFileSync('gcc', ['-static-pie', '-nostdlib', '-ffreestanding', '-fno-stack-protector', '-O2', '-o', hostile, path.join(here, 'exe-hostile.c')]);
  });
  afterAll(() => fx?.cleanup());

  it('gives a container that runs /proc/self/exe no writable fd to the binary, even once the runtime has exited', async () => {
    const rootfs = fx.rootfs();
    fs.mkdirSync(path.join(rootfs, 'lib64'), { recursive: true });
    fs.copyFileSync(hostile, path.join(rootfs, 'lib64', 'ld-linux-x86-64.so.2'));
    fs.chmodSync(path.join(rootfs, 'lib64', 'ld-linux-x86-64.so.2'), 0o755);
    const out = path.join(fx.dir, 'out');
    fs.mkdirSync(out);
    const node = path.join(fx.dir, 'node');
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o755);
    const before = sha256(node);

    const runner = spawn(
      node,
      [path.join(packageRoot, 'dist', 'tools', 'run.js'), '--rootfs', rootfs, '--state', fx.stateDir, '-v', `${out}:/out`, '--', '/proc/self/exe'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    runner.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const runnerExit = new Promise<void>((resolve) => runner.once('exit', () => resolve()));
    let runnerGone = false;
    void runnerExit.then(() => (runnerGone = true));
    try {
      await until(() => fs.existsSync(path.join(out, 'ready')) || (runnerGone && `the runner exited: ${stderr}`), 30_000);
      expect(fs.existsSync(path.join(out, 'ready')), stderr).toBe(true);
    } finally {
      // Every berth process goes: only the container (which cleared its parent-death signal) is left.
      runner.kill('SIGKILL');
      await runnerExit;
    }
    expect(runningFrom(node)).toEqual([]);
    fs.writeFileSync(path.join(out, 'go'), '');
    await until(() => fs.existsSync(path.join(out, 'result')), 30_000);

    const stage1 = report(path.join(out, 'stage1'));
    const stage2 = report(path.join(out, 'result'));
    // The handle was real: the init's executable, opened O_PATH.
    expect(errnoName(stage1['opath'])).toBe('opened');
    // The attack proper: with nothing running the binary any more, ETXTBSY no longer stops a write.
    expect(verdict(stage2, 'fd'), JSON.stringify(stage2)).toBe('refused');
    expect(sha256(node)).toBe(before);
    // While node ran: a host file refused for being read-only, not merely for being busy (ETXTBSY).
    expect(verdict(stage1, 'exe'), JSON.stringify(stage1)).toBe('refused');
  });
});
