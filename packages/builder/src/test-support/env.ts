import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Snapshots } from '@berth/rootfs';
import { Store } from '@berth/store';
import { Reference } from '@berth/oci';
import { loadImages } from '@berth/archive';
import type { BuildOptions } from '../build.js';
import type { BuildEvent } from '../events.js';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const sharedImages = path.resolve(repoRoot, '../shared/images');
export const haveSharedImages = existsSync(path.join(sharedImages, 'alpine', 'index.json')) && existsSync(path.join(sharedImages, 'busybox', 'index.json'));
export const isRoot = process.getuid?.() === 0;

export interface BuildEnv {
  dir: string;
  store: Store;
  snapshots: Snapshots;
  cacheDir: string;
  workDir: string;
  close(): Promise<void>;
}

/** A throwaway BERTH_ROOT with alpine:3.20.3/3.20/latest and busybox:1.38.0-musl/1.38/latest loaded from ../shared/images. */
export async function makeBuildEnv(opts: { images?: boolean } = {}): Promise<BuildEnv> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-build-'));
  const store = await Store.open({ root: path.join(dir, 'store') });
  const snapshots = new Snapshots({ root: path.join(dir, 'snapshots'), store });
  if (opts.images !== false && haveSharedImages) {
    await loadImages({ store, input: path.join(sharedImages, 'alpine'), repository: 'docker.io/library/alpine' });
    await loadImages({ store, input: path.join(sharedImages, 'busybox'), repository: 'docker.io/library/busybox' });
  }
  return {
    dir,
    store,
    snapshots,
    cacheDir: path.join(dir, 'buildcache'),
    workDir: path.join(dir, 'builds'),
    close: async () => {
      const { removeTree } = await import('@berth/rootfs');
      await removeTree(dir).catch(() => rm(dir, { recursive: true, force: true }));
    },
  };
}

/**
 * Build options over `env` that record every event in `events`: `context` and one tag,
 * a runtime when the recipe runs steps, and `extra` overriding anything.
 */
export function envBuildOptions(
  env: BuildEnv,
  o: { context: string; tag: string; recipe: string; runtime?: BuildOptions['runtime']; extra?: Partial<BuildOptions> },
): BuildOptions & { events: BuildEvent[] } {
  const events: BuildEvent[] = [];
  return {
    store: env.store,
    snapshots: env.snapshots,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    context: o.context,
    recipe: o.recipe,
    tags: [Reference.parse(o.tag)],
    cacheDir: env.cacheDir,
    workDir: env.workDir,
    onEvent: (e) => events.push(e),
    events,
    ...o.extra,
  };
}
