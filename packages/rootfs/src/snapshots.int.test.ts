// Snapshots across processes: the children run the built packages (dist/), so this is an
// integration test (npm run build first; it skips, saying so, without them).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower, putImage as putImageIn, upper } from './test-support/images.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

let base: string;
let store: Store;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'berth-rootfs-snap-'));
  store = await Store.open({ root: join(base, 'store') });
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('Snapshots in several processes', () => {
  it('two processes ensuring the same image: one builds, the other waits and reuses', async (ctx) => {
    const dists = ['rootfs', 'store'].map((p) => join(repoRoot, 'packages', p, 'dist', 'index.js'));
    if (!dists.every((d) => existsSync(d))) return ctx.skip('needs the built packages (npm run build) to run child processes');
    const image = await putImageIn(store, [lower, upper, [{ path: 'big', content: Buffer.alloc(8 << 20, 9) }]]);
    const root = join(base, 's4');
    const script = join(base, 'ensure-child.mjs');
    writeFileSync(
      script,
      `import { Snapshots } from ${JSON.stringify(dists[0])};
import { Store } from ${JSON.stringify(dists[1])};
const store = await Store.open({ root: process.argv[2] });
const snaps = new Snapshots({ root: process.argv[3], store });
const image = await store.getImage(process.argv[4]);
let layers = 0;
const r = await snaps.ensure({ image, onProgress: () => layers++ });
process.stdout.write(JSON.stringify({ created: r.created, path: r.path, layers }));
`,
    );
    const run = (): Promise<{ created: boolean; path: string; layers: number }> =>
      new Promise((done, fail) => {
        const child = spawn(process.execPath, [script, store.root, root, image.descriptor.digest], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('close', (code) => (code === 0 ? done(JSON.parse(out)) : fail(new Error(`child exited ${code}: ${err}`))));
      });
    const results = await Promise.all([run(), run(), run()]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.reduce((n, r) => n + r.layers, 0)).toBe(3);
    expect(new Set(results.map((r) => r.path)).size).toBe(1);
  });
});
