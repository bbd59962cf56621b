#!/usr/bin/env node
// One `berth build` in its own process, from the built packages (what the CLI
// does), for bench/build.mjs:
//   node bench/build.berth.mjs ROOT CONTEXT TAG [--no-cache] [--state DIR] [--load LAYOUT REPO]...
import path from 'node:path';
import { build, loadImages } from '@berth/builder';
import { Reference } from '@berth/oci';
import { Snapshots } from '@berth/rootfs';
import { Store, storeDir } from '@berth/store';

const [root, context, tag, ...rest] = process.argv.slice(2);
if (!root || !context || !tag) {
  console.error('usage: build.berth.mjs ROOT CONTEXT TAG [--no-cache] [--state DIR] [--load LAYOUT REPO]...');
  process.exit(2);
}
const noCache = rest.includes('--no-cache');
const stateIdx = rest.indexOf('--state');
const stateDir = stateIdx >= 0 ? rest[stateIdx + 1] : path.join(root, 'state');
const store = await Store.open({ root: storeDir(root) });
for (let i = rest.indexOf('--load'); i >= 0; i = rest.indexOf('--load', i + 1)) {
  await loadImages({ store, input: rest[i + 1], repository: rest[i + 2] });
}
if (tag === '-') process.exit(0);
const result = await build({
  store,
  snapshots: new Snapshots({ root: path.join(root, 'snapshots'), store }),
  // made on the first run step that executes: a cached build never loads the runtime
  runtime: async () => new (await import('@berth/runtime')).Runtime({ stateDir }),
  context,
  tags: [Reference.parse(tag)],
  noCache,
  onEvent: (e) => {
    if (process.env.BENCH_VERBOSE && e.type === 'step-done') console.error(`step ${e.index}: ${e.cached ? 'CACHED' : `${e.ms} ms`}`);
  },
});
console.log(result.digest.toString());
