/**
 * The spawner and the event loop: a process whose only pending work is the
 * spawner's (getting ready, spawning, a child that runs) must stay alive, and
 * one with a child spawned `keepAlive: false` must not wait for it. And the pid
 * namespace: a child can be PID 1 of a new one, while this thread's own children
 * keep being born in the process's namespace. Each case runs in a fresh Node
 * process (a vitest worker always has other handles open), with spawner.ts
 * bundled by esbuild as the runtime's own bundles are.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..', '..');
const repoRoot = path.resolve(packageRoot, '..', '..');

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rt-spawner-'));
  bundle = path.join(dir, 'spawner.cjs');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(here, 'spawner.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // As the runtime's own CommonJS bundles (build-entrypoints.mjs): @berth/sys names koffi's module by import.meta.url.
    define: { 'import.meta.url': '__filename' },
    target: 'node20',
    external: ['koffi'],
    alias: {
      '@berth/oci': path.join(repoRoot, 'packages', 'oci', 'src', 'errors.ts'),
      '@berth/sys': path.join(repoRoot, 'packages', 'sys', 'src', 'index.ts'),
    },
    logLevel: 'warning',
  });
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` (CommonJS, `Spawner` in scope, in an async function) in a fresh node; a hang is killed after 60 s. */
function node(body: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `const { Spawner } = require(${JSON.stringify(bundle)});\n(async () => {\n${body}\n})();\n`;
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    // The bundle lives in a temp dir: koffi is found through NODE_PATH.
    env: { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules'), NODE_OPTIONS: '' },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('Spawner keeps the process alive while it has work', () => {
  it('awaiting warm() with nothing else pending: the worker becomes ready (the process does not exit early with 0)', () => {
    // The `berth run` bug: the CLI awaited warm() after its rootfs copy; with the (then) booting
    // namespace worker unref()'d, Node found an empty loop and exited 0, skipping the container
    // and its cleanup.
    const r = node(`
      const s = new Spawner();
      s.warm().then(
        () => { process.stdout.write('ready\\n'); process.exitCode = 3; },
        (err) => { process.stdout.write('failed: ' + err.message + '\\n'); process.exitCode = 4; },
      );`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ready\n');
    expect(r.status).toBe(3);
  });

  it('a spawned child keeps the process alive until its exit is reported', () => {
    // No new namespace (no privileges needed).
    const r = node(`
      const s = new Spawner();
      const child = await s.spawn({ newPidNamespace: false, file: '/bin/sh', args: ['-c', 'sleep 0.3; exit 5'], env: {}, fds: [0, 1, 2] });
      const e = await child.exited;
      process.stdout.write(JSON.stringify(e) + ' active=' + s.active + '\\n');
      process.exitCode = e.code;`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{"code":5,"signal":null} active=0\n');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(5);
  });

  it('a child spawned keepAlive: false does not hold the process', () => {
    // Without keepAlive: false this process would wait 30 s for the sleep (killed on the way out).
    const r = node(`
      const s = new Spawner();
      const child = await s.spawn({ newPidNamespace: false, file: '/bin/sleep', args: ['30'], env: {}, fds: ['ignore', 'ignore', 'ignore'] }, { keepAlive: false });
      process.on('exit', () => process.kill(child.pid, 'SIGKILL'));
      process.stdout.write('spawned ' + (child.pid > 0) + '\\n');
      process.exitCode = 8;`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('spawned true\n');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(8);
  });
});

describe.skipIf(process.getuid?.() !== 0)('Spawner and the pid namespace (root)', () => {
  it('makes the child PID 1 of a new pid namespace; this thread stays in its own', () => {
    const r = node(`
      const fs = require('node:fs');
      const before = fs.readlinkSync('/proc/thread-self/ns/pid_for_children');
      const s = new Spawner();
      const run = async (newPidNamespace) => {
        const out = require('node:path').join(require('node:os').tmpdir(), 'berth-spawner-' + process.pid + '-' + newPidNamespace);
        const fd = fs.openSync(out, 'w');
        const child = await s.spawn({ newPidNamespace, file: '/bin/sh', args: ['-c', 'echo $$'], env: {}, fds: ['ignore', fd, 'ignore'] });
        fs.closeSync(fd);
        const e = await child.exited;
        const text = fs.readFileSync(out, 'utf8').trim();
        fs.rmSync(out);
        return { pid: child.pid, inside: text, code: e.code };
      };
      const a = await run(true);
      const b = await run(false);
      const after = fs.readlinkSync('/proc/thread-self/ns/pid_for_children');
      process.stdout.write(JSON.stringify({ a, b, same: before === after, own: after === fs.readlinkSync('/proc/self/ns/pid') }) + '\\n');`);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { a: { pid: number; inside: string; code: number }; b: { pid: number; inside: string; code: number }; same: boolean; own: boolean };
    expect(out.a).toMatchObject({ inside: '1', code: 0 });
    expect(out.a.pid).toBeGreaterThan(1);
    expect(out.b).toMatchObject({ inside: String(out.b.pid), code: 0 });
    expect(out.same).toBe(true);
    expect(out.own).toBe(true);
  });
});
