import { lstatSync, rmdirSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { ImageConfig } from '@berth/oci';
import type { Runtime } from '@berth/runtime';
import { resolveInRoot } from '../fsutil/root.js';

/** What a build needs from the runtime: `Runtime` from @berth/runtime. */
export type StepRuntime = Pick<Runtime, 'run'>;

export interface RunInContainerOptions {
  runtime: StepRuntime;
  rootfs: string;
  /** The image config so far: env, user, working directory come from it. */
  imageConfig: ImageConfig;
  argv: string[];
  /** Extra `KEY=value` on top of the image env (build args, the step's env). */
  env: string[];
  network: 'none' | 'host';
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void;
}

/**
 * Mount points the runtime creates in a rootfs when they are missing
 * (`/proc`, `/dev`, `/sys`, and the files it bind-mounts over in `/etc`).
 * They are artefacts of running, not of the step: removed again afterwards
 * (only when empty) so they do not end up in the layer.
 */
const MOUNT_POINTS = ['/proc', '/dev', '/sys', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];

/** Run one `run` step in a container over `rootfs`; resolves with its exit status (non-zero is not an error here). */
export async function runInContainer(opts: RunInContainerOptions): Promise<{ exitCode: number; signal?: string }> {
  const before = new Map<string, Stats | undefined>();
  const parents = new Map<string, Stats | undefined>();
  for (const p of MOUNT_POINTS) {
    const host = resolveInRoot(opts.rootfs, p);
    before.set(host, lstatOrUndefined(host));
    const parent = path.dirname(host);
    if (!parents.has(parent)) parents.set(parent, lstatOrUndefined(parent));
  }
  // Loaded on first use: a build without run steps never loads the runtime.
  const { buildSpec } = await import('@berth/runtime');
  const spec = buildSpec({
    imageConfig: opts.imageConfig,
    rootfs: opts.rootfs,
    overrides: { entrypoint: '', cmd: opts.argv, env: opts.env, network: opts.network },
  });
  try {
    return await opts.runtime.run({ rootfs: opts.rootfs, spec, stdio: 'pipe', remove: true, onOutput: opts.onOutput } as never);
  } finally {
    removeLeftovers(before, parents);
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function removeLeftovers(before: Map<string, Stats | undefined>, parents: Map<string, Stats | undefined>): void {
  let removed = false;
  for (const [host, st] of before) {
    if (st) continue;
    const now = lstatOrUndefined(host);
    if (!now) continue;
    try {
      if (now.isFile() && now.size === 0) unlinkSync(host);
      else if (now.isDirectory()) rmdirSync(host); // fails (kept) unless empty
      else continue;
      removed = true;
    } catch {
      // Not empty: the step put something there; keep it.
    }
  }
  if (!removed) return;
  for (const [parent, st] of parents) {
    if (st && lstatOrUndefined(parent)) {
      try {
        utimesSync(parent, st.atime, st.mtime);
      } catch {
        // best effort: only a directory time
      }
    }
  }
}
