import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from './context.js';

export interface ImageUse {
  /** Container ID. */
  id: string;
  /** Manifest digest of the image the container was made from. */
  digest: string;
}

/** Images used by containers (any state): roots for garbage collection. */
export async function usedImages(ctx: CommandContext): Promise<ImageUse[]> {
  const { Runtime } = await import('@berth/runtime');
  const runtime = new Runtime({ stateDir: ctx.loc.state });
  const out: ImageUse[] = [];
  for (const c of await runtime.list()) {
    if (c.image?.digest) out.push({ id: c.id, digest: c.image.digest });
  }
  return out;
}

/** The part of a Runtime the sweep uses (a Runtime from @berth/runtime). */
interface Sweeper {
  sweep(opts: import('@berth/runtime').SweepOptions): Promise<import('@berth/runtime').SweepResult>;
}

/**
 * What a killed berth left behind, removed before a command looks at containers
 * (the runtime's sweep: dead `--rm` and never-started containers, half-written
 * state, rootfs copies no container names; then build trees of dead builds, with
 * their mounts). Root only: nothing of it is reachable otherwise. Resolves with the
 * containers left (as list() shows them), or undefined when nothing was swept.
 */
export async function sweep(ctx: CommandContext, runtime: Sweeper): Promise<import('@berth/runtime').ContainerInfo[] | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const r = await runtime.sweep({
    containersDir: ctx.containersDir,
    // Rootfs copies go through @berth/rootfs (inode flags, btrfs subvolumes), loaded only when one is removed.
    rootfsRemover: async () => (await import('@berth/rootfs')).removeTreeSync,
  });
  const builds = join(ctx.loc.root, 'builds');
  // @berth/builder is loaded only when some build tree exists (a live or a dead build).
  if (readdirOrEmpty(builds).some((n) => n.startsWith('build-'))) {
    const { sweepBuildTrees } = await import('@berth/builder');
    await sweepBuildTrees(builds);
  }
  const errors = [...r.errors];
  // Networks of containers that no longer run (stopped, removed, or their berth killed): CNI DEL, then the namespace.
  await (await import('./network.js')).sweepNetworks(ctx, r.remaining).catch((err: unknown) => errors.push(`networks: ${String(err)}`));
  if (ctx.env['BERTH_DEBUG']) for (const e of errors) ctx.stderr.write(`debug: cleanup: ${e}\n`);
  return r.remaining;
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
