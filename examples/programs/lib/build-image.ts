/**
 * Build an image programmatically: a context directory made on the fly, a
 * recipe written in code, `build()` from @berth/builder, the result tagged in
 * the store. Needs root (run steps execute in containers) and alpine:3.20 in
 * the store (`berth pull alpine:3.20` or `berth load`).
 *
 *   The program that runs it: examples/programs/build-image.ts
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, type BuildEvent, type BuildResult, type RecipeInput } from '@berth/builder';
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
    // The recipe written in code: the keys and values of berth.yaml, type-checked as RecipeInput
    // and validated by build() like recipe text (YAML text works here too).
    const recipe: RecipeInput = {
      from: 'alpine:3.20',
      args: { GREETING: 'hello' },
      steps: [
        { copy: { src: 'hello.sh', dest: '/usr/local/bin/hello', chmod: '0755' } },
        { env: { GREETING: '$GREETING' } },
        { run: 'hello > /greeting.txt' },
      ],
      cmd: ['hello'],
    };
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

