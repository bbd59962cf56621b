/**
 * A harness for the spawner's tests: spawner.ts bundled by esbuild as the runtime's own
 * bundles are, and `node(body)`, which runs `body` in a fresh Node process (a vitest worker
 * always has other handles open) with `Spawner` in scope.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { bundleForTest } from './bundle.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const launchDir = path.resolve(here, '..', 'launch');
const repoRoot = path.resolve(here, '..', '..', '..', '..');

export interface NodeResult {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Bundles spawner.ts before the file's tests (removed after them); returns the runner. */
export function useSpawnerBundle(): (body: string) => NodeResult {
  let dir: string | undefined;
  let bundle = '';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rt-spawner-'));
    bundle = path.join(dir, 'spawner.cjs');
    await bundleForTest(path.join(launchDir, 'spawner.ts'), bundle);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  /** Runs `body` (CommonJS, `Spawner` in scope, in an async function) in a fresh node; a hang is killed after 60 s. */
  return (body: string): NodeResult => {
    const script = `const { Spawner } = require(${JSON.stringify(bundle)});\n(async () => {\n${body}\n})();\n`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      // The bundle lives in a temp dir: koffi is found through NODE_PATH.
      env: { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules'), NODE_OPTIONS: '' },
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };
}
