/**
 * The namespace worker and the event loop: a process whose only pending work is
 * the worker (booting, spawning, or a child that runs) must stay alive. Each case
 * runs in a fresh Node process (a vitest worker always has other handles open),
 * with spawner.ts bundled by esbuild as the runtime's own bundles are.
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
  bundle = path.join(dir, 'spawner.mjs');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(here, 'spawner.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['koffi'],
    alias: { '@berth/oci': path.join(repoRoot, 'packages', 'oci', 'src', 'errors.ts') },
    logLevel: 'warning',
  });
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` (ESM, `Spawner` in scope) in a fresh node; a hang is killed after 60 s. */
function node(body: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `import { Spawner } from ${JSON.stringify(bundle)};\n${body}\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    // The bundle lives in a temp dir: koffi is found through NODE_PATH (the worker resolves it with require).
    env: { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules'), NODE_OPTIONS: '' },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('Spawner keeps the process alive while it has work', () => {
  it('awaiting warm() with nothing else pending: the worker becomes ready (the process does not exit early with 0)', () => {
    // The `berth run` bug: the CLI awaited warm() after its rootfs copy; with the booting worker
    // unref()'d, Node found an empty loop and exited 0, skipping the container and its cleanup.
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

  it('a spawned child keeps the process alive until its exit is reported; an idle ready worker does not', () => {
    // flags 0: no namespaces (no privileges needed); the child's exit status comes back through the worker.
    const r = node(`
      const s = new Spawner();
      const child = await s.spawn({ flags: 0, file: '/bin/sh', args: ['-c', 'sleep 0.3; exit 5'], env: {}, fds: [0, 1, 2] });
      const e = await child.exited;
      process.stdout.write(JSON.stringify(e) + ' active=' + s.active + '\\n');
      process.exitCode = e.code;`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{"code":5,"signal":null} active=0\n');
    // The process ended by itself (no timeout kill): an idle worker does not hold it.
    expect(r.signal).toBeNull();
    expect(r.status).toBe(5);
  });

  it('a process that only calls warm() and returns still exits once the worker is ready', () => {
    const r = node(`new Spawner().warm(); process.exitCode = 6;`);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(6);
  });
});
