#!/usr/bin/env node
// Development aid for the pull benchmark: start one loopback docker-registry seeded with
// alpine (../shared/images) and, with --large-mib N, the generated large image, print its
// host:port, and keep it running until SIGINT/SIGTERM (then stop it and remove its data).
//
//   npm run build && node bench/pull.serve.mjs [--large-mib 300]
//   node packages/cli/dist/bin.js pull -q <printed-host>/library/alpine:latest
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { 'large-mib': { type: 'string' } } });
const { startRegistry, seedImage, sharedImagesDir, makeTempDir } = await import('@berth/testing');

const tmp = await makeTempDir('berth-bench-serve-');
const registry = await startRegistry();
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await registry.stop();
  await tmp.cleanup();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  const shared = sharedImagesDir();
  if (shared) await seedImage({ registry, layout: path.join(shared, 'alpine'), repository: 'library/alpine', tag: 'latest' });
  if (args['large-mib']) {
    const tsc = spawnSync('npx', ['tsc', '-p', path.join(repo, 'fixtures/images/tsconfig.json')], { cwd: repo, stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('compiling fixtures/images failed');
    const { makeLargeImage } = await import(path.join(repo, 'fixtures/images/dist/index.js'));
    const layout = path.join(tmp.path, 'large-layout');
    await makeLargeImage({ layout, layers: 5, totalBytes: Number(args['large-mib']) * 1024 * 1024 });
    await seedImage({ registry, layout, repository: 'bench/large', tag: 'latest' });
    rmSync(layout, { recursive: true, force: true });
  }
  console.log(registry.host);
} catch (err) {
  console.error(err);
  await stop();
}
