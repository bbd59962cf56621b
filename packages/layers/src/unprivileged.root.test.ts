// applyLayer as an unprivileged user: devices skipped and counted, fifos made,
// ownership not preserved. Runs the built package (dist/) in a child process
// with uid/gid 65534, so it needs root (to drop privileges) and a build.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildLayer } from '../../../fixtures/layers/index.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/index.js');
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-unpriv-'));
  chmodSync(dir, 0o755);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot || !existsSync(dist))('applyLayer without privileges (built dist/)', () => {
  it('skips devices, makes fifos, leaves ownership to the caller', async () => {
    const blob = await buildLayer([
      { path: 'dev/', type: 'dir' },
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 },
      { path: 'fifo', type: 'fifo', mode: 0o600 },
      { path: 'owned', content: 'x', uid: 1234, gid: 1234, mode: 0o4755 },
      // read-only directories still receive their entries: modes are applied last, deepest first
      { path: 'ro/', type: 'dir', mode: 0o555 },
      { path: 'ro/locked/', type: 'dir', mode: 0o000 },
      { path: 'ro/locked/f', content: 'inside' },
    ]);
    const blobPath = path.join(dir, 'layer.tar');
    writeFileSync(blobPath, blob);
    const root = path.join(dir, 'root');
    mkdirSync(root);
    chownSync(root, NOBODY, NOBODY);
    const script = path.join(dir, 'run.mjs');
    writeFileSync(
      script,
      `import { applyLayer } from ${JSON.stringify(dist)};\nimport { createReadStream } from 'node:fs';\n` +
        `const r = await applyLayer({ root: process.argv[2], source: createReadStream(process.argv[3]), mediaType: 'application/vnd.oci.image.layer.v1.tar' });\n` +
        `console.log(JSON.stringify({ entries: r.entries, skippedDevices: r.skippedDevices }));\n`,
    );
    const res = spawnSync(process.execPath, [script, root, blobPath], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(JSON.parse(res.stdout)).toEqual({ entries: 8, skippedDevices: 2 });
    expect(lstatSync(path.join(root, 'ro')).mode & 0o7777).toBe(0o555);
    expect(lstatSync(path.join(root, 'ro', 'locked')).mode & 0o7777).toBe(0o000);
    expect(lstatSync(path.join(root, 'ro', 'locked', 'f')).size).toBe(6); // root may look inside
    expect(readdirSync(path.join(root, 'dev'))).toEqual([]);
    expect(lstatSync(path.join(root, 'fifo')).isFIFO()).toBe(true);
    const owned = lstatSync(path.join(root, 'owned'));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([NOBODY, NOBODY, 0o4755]);
  });
});
