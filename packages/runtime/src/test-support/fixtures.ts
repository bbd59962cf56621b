/**
 * Test fixtures for the runtime's end-to-end tests (not part of the build):
 * real root filesystems unpacked with skopeo + umoci from the shared OCI
 * layouts, the bundled entry points rebuilt when stale, temp state roots.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageConfig } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import { buildSpec } from '../spec/build.js';
import type { ContainerSpec, RunOverrides } from '../spec/types.js';
import { Runtime } from '../runtime.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const packageRoot = path.resolve(here, '..', '..');
export const repoRoot = path.resolve(packageRoot, '..', '..');
export const sharedImages = path.resolve(repoRoot, '../shared/images');

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * True when `name` is on PATH. A missing tool is a skip outside `npm test` and a failure
 * under it (see toolsMissing in @berth/testing, which says why: use it for the message).
 */
export function haveTool(name: string): boolean {
  return toolsMissing([name]) === undefined;
}

/** Why end-to-end tests cannot run here, or undefined when they can. */
export function e2eUnavailable(): string | undefined {
  if (!isRoot) return 'needs root (namespaces, mounts, cgroups)';
  if (!fs.existsSync(path.join(sharedImages, 'alpine', 'index.json'))) return `no shared images at ${sharedImages}`;
  return toolsMissing(['skopeo', 'umoci']);
}

/** Rebuilds dist/{init,shim,tools} bundles from the sources when any source is newer. */
export function ensureEntrypoints(): void {
  execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(path.join(packageRoot, 'build-entrypoints.mjs'))}); if (m.entrypointsStale()) await m.buildEntrypoints();`,
    ],
    { stdio: 'inherit' },
  );
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `berth-rt-${prefix}-`));
}

export interface UnpackedImage {
  rootfs: string;
  config: ImageConfig;
}

/**
 * Unpacks linux/<host arch> of ../shared/images/<name>:latest into `dir`
 * (skopeo selects the platform into a one-image layout, umoci unpacks it).
 */
export function unpackImage(name: 'alpine' | 'busybox', dir: string): UnpackedImage {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const layout = path.join(dir, `${name}-oci`);
  execFileSync('skopeo', ['copy', '--quiet', '--override-os', 'linux', '--override-arch', arch, `oci:${path.join(sharedImages, name)}:latest`, `oci:${layout}:latest`], {
    stdio: 'ignore',
  });
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${layout}:latest`], { encoding: 'utf8' })) as ImageConfig;
  const bundle = path.join(dir, `${name}-bundle`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: 'ignore' });
  fs.rmSync(layout, { recursive: true, force: true });
  return { rootfs: path.join(bundle, 'rootfs'), config };
}

/** A copy of a rootfs (cp -a keeps owners, modes, links, devices). */
export function copyRootfs(from: string, to: string): string {
  execFileSync('cp', ['-a', from, to]);
  return to;
}

export function specFor(image: UnpackedImage, rootfs: string, overrides: RunOverrides, id?: string): ContainerSpec {
  return buildSpec({ imageConfig: image.config, rootfs, overrides, ...(id === undefined ? {} : { containerId: id }), hostEnv: {} });
}

/** Waits until `check` returns a value (polling; for state written by another process). */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Removes every container `runtime` knows, forcibly: what a failed test left behind (state, cgroup, processes). */
export async function removeAllContainers(runtime: Pick<Runtime, 'list' | 'remove'> | undefined): Promise<void> {
  if (!runtime) return;
  for (const c of await runtime.list().catch(() => [])) await runtime.remove(c.id, { force: true }).catch(() => undefined);
}

/** What an end-to-end test file shares: a temp dir with an image unpacked in it, a Runtime keeping its state there. */
export interface ContainerFixture {
  dir: string;
  image: UnpackedImage;
  stateDir: string;
  runtime: Runtime;
  /** A fresh copy of the image's rootfs (containers write into their rootfs). */
  rootfs(): string;
  /** Removes every container left on record (state, cgroup, processes), then the temp dir. */
  cleanup(): Promise<void>;
}

/** Sets up a ContainerFixture (for beforeAll): entry points built, `name` unpacked into a new temp dir. */
export function containerFixture(name: 'alpine' | 'busybox', prefix: string): ContainerFixture {
  ensureEntrypoints();
  const dir = tempDir(prefix);
  let image: UnpackedImage;
  try {
    image = unpackImage(name, dir);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stateDir = path.join(dir, 'state');
  const runtime = new Runtime({ stateDir });
  let n = 0;
  return {
    dir,
    image,
    stateDir,
    runtime,
    rootfs: () => copyRootfs(image.rootfs, path.join(dir, `rootfs-${++n}`)),
    cleanup: async () => {
      await removeAllContainers(runtime);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
