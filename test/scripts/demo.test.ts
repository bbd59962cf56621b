// scripts/demo.sh, the README's first command, run as a newcomer would (non-interactive),
// with its mirror forced (BERTH_DEMO_LOCAL=1: no traffic beyond loopback) and every
// path it writes in a temp dir: it must pick a free port, and leave nothing behind
// whether it succeeds or fails.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, sharedImagesDir, toolsMissing } from '@berth/testing';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root (the demo runs a container)'
  : !sharedImagesDir()
    ? '../shared/images not found next to the repository'
    : !existsSync(path.join(repoRoot(), 'packages/cli/dist/bin.js'))
      ? 'the CLI is not built (`npm run build`; `npm test` does it)'
      : toolsMissing(['docker-registry', 'skopeo', 'curl']);
if (skip) console.warn(`skipping the demo tests: ${skip}`);

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Processes whose command line mentions `dir` (a registry the demo left running would). */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe.skipIf(!!skip)('scripts/demo.sh', () => {
  let base: string;
  let n = 0;

  beforeAll(() => {
    base = mkdtempSync(path.join(tmpdir(), 'berth-demo-test-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** Runs the demo with its temp files in a fresh TMPDIR; `fakes` are scripts put first on PATH. */
  async function demo(fakes: Record<string, string> = {}): Promise<DemoRun & { tmp: string }> {
    const dir = path.join(base, `run-${++n}`);
    const tmp = path.join(dir, 'tmp');
    const bin = path.join(dir, 'bin');
    mkdirSync(tmp, { recursive: true });
    mkdirSync(bin);
    for (const [name, script] of Object.entries(fakes)) {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${script}\n`);
      chmodSync(path.join(bin, name), 0o755);
    }
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      TMPDIR: tmp,
      BERTH_DEMO_LOCAL: '1',
      BERTH_DEMO_NO_BUILD: '1', // built already; a rebuild would rewrite dist/ under concurrent tests
      BERTH_ROOT: path.join(dir, 'root'),
      BERTH_STATE: path.join(dir, 'state'),
      DOCKER_CONFIG: path.join(dir, 'docker'),
    };
    const result = await new Promise<DemoRun>((resolve, reject) => {
      const child = spawn('bash', [path.join(repoRoot(), 'scripts/demo.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    return { ...result, tmp };
  }

  it('serves alpine from a mirror on a free port while 5599 is taken, runs it, and leaves nothing behind', async () => {
    // Something else holds the port the demo used to insist on, answering 404 to everything.
    const squatter: Server = createServer((_req, res) => res.writeHead(404).end());
    const held = await new Promise<boolean>((resolve) => {
      squatter.once('error', () => resolve(false)); // taken by someone else already: just as good
      squatter.listen(5599, '127.0.0.1', () => resolve(true));
    });
    try {
      const r = await demo();
      expect(r.stderr + r.stdout).toMatch(/serving docker\.io\/library\/alpine from a local mirror on 127\.0\.0\.1:\d+/);
      expect(r.stdout).not.toMatch(/127\.0\.0\.1:5599\b/);
      expect(r.stdout).toMatch(/^hello from [0-9a-f]{12}, PID 1, alpine 3\.20\.3$/m);
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(r.tmp)).toEqual([]);
      expect(processesUsing(r.tmp)).toEqual([]);
    } finally {
      if (held) await new Promise((resolve) => squatter.close(resolve));
    }
  }, 300_000);

  it('a failure after the registry started (the seeding fails) stops the registry and removes its temp dir', async () => {
    const r = await demo({ skopeo: 'echo "skopeo: simulated failure" >&2; exit 1' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^demo: could not seed the local registry on 127\.0\.0\.1:\d+ with .*\/alpine$/);
    expect(readdirSync(r.tmp)).toEqual([]);
    expect(processesUsing(r.tmp)).toEqual([]);
  }, 300_000);

  it('a registry that cannot start: one line naming its last log line, and nothing left', async () => {
    const r = await demo({ 'docker-registry': 'echo "listen tcp 127.0.0.1: bind: simulated failure" >&2; exit 1' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe('demo: the local registry did not start: listen tcp 127.0.0.1: bind: simulated failure');
    expect(readdirSync(r.tmp)).toEqual([]);
  }, 300_000);
});
