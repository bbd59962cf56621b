/**
 * Run a command in a container and capture its output: the image's snapshot
 * (layers applied once) → a fresh per-container copy → a container with the
 * image's config and the given command → exit code and output → cleanup.
 * Needs root.
 *
 *   The program that runs it: examples/programs/run-command.ts
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Reference } from '@berth/oci';
import { Snapshots, createRootfs, removeTree } from '@berth/rootfs';
import { Runtime, buildSpec } from '@berth/runtime';
import { Store, defaultRoot, storeDir } from '@berth/store';

export interface CaptureOptions {
  image: string;
  /** Replaces the image's Cmd (the Entrypoint, if any, stays unless `entrypoint` is given). */
  command: string[];
  /** Replaces the image's Entrypoint (docker's --entrypoint; '' clears it). */
  entrypoint?: string;
  root?: string;
  stateDir?: string;
}

export interface Captured {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runAndCapture(opts: CaptureOptions): Promise<Captured> {
  const root = opts.root ?? defaultRoot();
  const store = await Store.open({ root: storeDir(root) });
  const snapshots = new Snapshots({ root: path.join(root, 'snapshots'), store });
  const image = await store.getImage(Reference.parse(opts.image));
  const snapshot = await snapshots.ensure({ image });
  const containers = path.join(root, 'containers');
  await mkdir(containers, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(containers, 'example-'));
  const rootfs = path.join(dir, 'rootfs');
  try {
    await createRootfs({ snapshot: snapshot.path, dest: rootfs });
    const spec = buildSpec({
      imageConfig: image.config,
      rootfs,
      overrides: { cmd: opts.command, ...(opts.entrypoint !== undefined ? { entrypoint: opts.entrypoint } : {}) },
    });
    const runtime = new Runtime(opts.stateDir ? { stateDir: opts.stateDir } : {});
    const r = await runtime.run({ rootfs, spec, stdio: 'pipe', remove: true });
    return { exitCode: r.exitCode, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  } finally {
    await removeTree(dir);
  }
}

