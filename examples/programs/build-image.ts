/**
 * Build an image programmatically: a context directory made on the fly, a
 * recipe written in code, `build()` from @berth/build, the result tagged in
 * the store. Needs root (run steps execute in containers) and alpine:3.20 in
 * the store (`berth pull alpine:3.20` or `berth load`).
 *
 *   npm run build && sudo npx vite-node examples/programs/build-image.ts -- localhost/hello:1
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildEvent, type BuildResult } from '@berth/build';
import { Reference } from '@berth/oci';
import { Snapshots } from '@berth/rootfs';
import { Runtime } from '@berth/runtime';
import { Store, defaultRoot, storeDir } from '@berth/store';

export interface BuildHelloOptions {
  tag: string;
  /** BERTH_ROOT (store, snapshots, build cache); default defaultRoot(). */
  root?: string;
  /** Runtime state directory; default the runtime's (BERTH_STATE or /run/berth). */
  stateDir?: string;
  greeting?: string;
  onEvent?: (e: BuildEvent) => void;
}

export async function buildHello(opts: BuildHelloOptions): Promise<BuildResult> {
  const root = opts.root ?? defaultRoot();
  const store = await Store.open({ root: storeDir(root) });
  const snapshots = new Snapshots({ root: path.join(root, 'snapshots'), store });
  const runtime = new Runtime(opts.stateDir ? { stateDir: opts.stateDir } : {});

  const context = await mkdtemp(path.join(tmpdir(), 'berth-example-'));
  try {
    await writeFile(path.join(context, 'hello.sh'), '#!/bin/sh\necho "$GREETING from $(cat /etc/alpine-release)"\n', { mode: 0o755 });
    // The recipe is plain YAML text; parseRecipe() would give the same object.
    const recipe = [
      'from: alpine:3.20',
      'args: {GREETING: hello}',
      'steps:',
      '  - copy: {src: hello.sh, dest: /usr/local/bin/hello, chmod: "0755"}',
      '  - env: {GREETING: $GREETING}',
      '  - run: hello > /greeting.txt',
      'cmd: ["hello"]',
      '',
    ].join('\n');
    return await build({
      store,
      snapshots,
      runtime,
      context,
      recipe,
      tags: [Reference.parse(opts.tag)],
      buildArgs: opts.greeting ? { GREETING: opts.greeting } : {},
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

async function cli(): Promise<void> {
  const tag = process.argv.slice(2).find((a) => a !== '--') ?? 'localhost/hello:latest';
  const result = await buildHello({
    tag,
    onEvent: (e) => {
      if (e.type === 'step') process.stdout.write(`${e.text}\n`);
      if (e.type === 'step-done') process.stdout.write(`  ${e.cached ? 'CACHED' : `${e.ms} ms`}\n`);
      if (e.type === 'output') process.stdout.write(e.data);
    },
  });
  process.stdout.write(`${tag} ${result.digest}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli().catch((err: unknown) => {
    process.stderr.write(`build-image: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
