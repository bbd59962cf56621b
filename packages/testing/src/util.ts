import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '@berth/oci';

/** The monorepo root: this file is packages/testing/{src,dist}/util.{ts,js}. */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/**
 * The read-only real upstream images (`alpine/`, `busybox/` OCI layouts), which live
 * next to the repository (`<repo>/../shared/images`), or undefined when absent.
 */
export function sharedImagesDir(): string | undefined {
  const dir = path.resolve(repoRoot(), '../shared/images');
  return existsSync(path.join(dir, 'alpine', 'index.json')) ? dir : undefined;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new BerthError('ERUNTIME', 'find a free port: no port assigned'))));
    });
  });
}

export interface TempDir {
  readonly path: string;
  /** Remove the directory and everything under it (idempotent). */
  cleanup(): Promise<void>;
}

/** A fresh directory under os.tmpdir(); call cleanup() when done. */
export async function makeTempDir(prefix = 'berth-test-'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return {
    path: dir,
    cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/** Absolute path of an executable on `searchPath` (default PATH), or undefined. */
export function findBinary(name: string, searchPath: string | undefined = process.env.PATH): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of (searchPath ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

// Children that must not outlive the test process (registries). Killed on exit even
// when a test forgot stop() or the worker is torn down.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

export function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

/**
 * Run a command to completion (asynchronously: in-process servers such as the token
 * service or the fault proxy keep answering meanwhile); throws a one-line BerthError
 * with the last line of stderr on failure. Output is capped at 16 MiB.
 */
export function runChecked(
  cmd: string,
  args: readonly string[],
  opts: { doing: string; input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    killOnExit(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    const cap = 16 * 1024 * 1024;
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes <= cap) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 4096) err.push(b);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(BerthError.wrap(opts.doing, e));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve(stdout);
      reject(
        new BerthError('ERUNTIME', `${opts.doing}: ${cmd} exited with ${code ?? signal}: ${lastLine(stderr || stdout)}`, {
          details: { stderr, stdout },
        }),
      );
    });
    // A command that exits without reading its input makes the write fail with EPIPE; its exit
    // status (above) is the answer, not an unhandled error of the test run.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export function lastLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '(no output)';
}

/** True for 127.0.0.0/8, ::1 and localhost: the harness only ever talks to loopback. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
