import { rmdirSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { ImageConfig } from '@berth/oci';
import type { Runtime } from '@berth/runtime';
import { lstatOrUndefined, resolveInRoot } from '../fsutil/root.js';

/** What runs `run` steps: a `Runtime` from @berth/runtime. */
export type StepRuntime = Runtime;

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
  const { runCommand } = await import('@berth/runtime');
  const c = opts.imageConfig.config ?? {};
  try {
    const r = await runCommand({
      runtime: opts.runtime,
      rootfs: opts.rootfs,
      args: opts.argv,
      env: mergeEnv(c.Env ?? [], opts.env),
      cwd: c.WorkingDir || '/',
      ...(c.User ? { user: c.User } : {}),
      network: opts.network,
      onOutput: opts.onOutput,
      maxOutputBytes: 64 * 1024,
    });
    return r.signal !== undefined ? { exitCode: r.exitCode, signal: r.signal } : { exitCode: r.exitCode };
  } finally {
    removeLeftovers(before, parents);
  }
}

/** `base` with `extra` on top: a key set in both takes the later value, in the earlier position. */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const key = e.slice(0, e.indexOf('=') + 1);
    const i = key ? out.findIndex((x) => x.startsWith(key)) : -1;
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
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
