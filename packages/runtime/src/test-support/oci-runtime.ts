/**
 * berth-runtime's end-to-end tests' shared pieces (not part of the build): the CLI driven as an
 * engine drives it, bundles made from alpine (umoci's config.json edited per test), the
 * subreaper that plays conmon, and a private podman store.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { e2eUnavailable, ensureEntrypoints, haveTool, packageRoot, sharedImages, tempDir, unpackImage, until } from './fixtures.js';

export const BERTH_RUNTIME = path.join(packageRoot, 'bin', 'berth-runtime.js');

/** Why berth-runtime's end-to-end tests cannot run here (root, images, skopeo, umoci, gcc), or undefined. */
export function ociRuntimeUnavailable(): string | undefined {
  const e2e = e2eUnavailable();
  if (e2e !== undefined) return e2e;
  if (!haveTool('gcc')) return 'gcc is not installed (apt-get install gcc libc6-dev)';
  return undefined;
}

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `berth-runtime --root ROOT ARGS…`, stdin `input` (default empty); `stdio` for more fds. */
export function berthRuntime(root: string, args: string[], opts: { input?: string; stdio?: Array<'pipe' | number> } = {}): Result {
  const r = spawnSync(process.execPath, [BERTH_RUNTIME, '--root', root, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: 60_000,
    ...(opts.stdio === undefined ? {} : { stdio: opts.stdio }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `delete --force` of every container left in these state roots (a failed test's), for an afterAll. */
export function deleteAllContainers(roots: readonly string[]): void {
  for (const root of roots) {
    let ids: string[] = [];
    try {
      ids = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const id of ids) spawnSync(process.execPath, [BERTH_RUNTIME, '--root', root, 'delete', '--force', id], { stdio: 'ignore' });
  }
}

/** berthRuntime's stdout; a non-zero exit throws with its stderr. */
export function berthRuntimeOk(root: string, args: string[]): string {
  const r = berthRuntime(root, args);
  if (r.status !== 0) throw new Error(`berth-runtime ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export type Config = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- runtime-spec JSON edited freely by tests

/** Alpine unpacked once (skopeo + umoci) in `dir`, the subreaper built there; bundles are copies of it. */
export class OciTestBed {
  readonly rootfs: string;
  readonly baseConfig: Config;
  readonly subreaper: string;
  private n = 0;

  constructor(readonly dir: string) {
    this.rootfs = unpackImage('alpine', dir).rootfs;
    this.baseConfig = JSON.parse(fs.readFileSync(path.join(path.dirname(this.rootfs), 'config.json'), 'utf8')) as Config;
    this.subreaper = path.join(dir, 'subreaper');
    execFileSync('gcc', ['-O2', '-o', this.subreaper, path.join(packageRoot, 'src', 'oci', 'testdata', 'subreaper.c')]);
  }

  /** A unique path under the test bed's directory. */
  next(prefix: string): string {
    return path.join(this.dir, `${prefix}-${++this.n}`);
  }

  /** A bundle: a fresh copy of alpine's rootfs and umoci's config.json (terminal off), edited by `edit`. */
  bundle(edit: (c: Config) => void): string {
    const b = this.next('bundle');
    fs.mkdirSync(b);
    execFileSync('cp', ['-a', this.rootfs, path.join(b, 'rootfs')]);
    const c = structuredClone(this.baseConfig);
    c['process'].terminal = false;
    edit(c);
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(c));
    return b;
  }

  /**
   * `berth-runtime create` (with more `flags`) under the subreaper (conmon's part): resolves once
   * create has exited (the subreaper's first line); `reaped()` is every "PID STATUS" line so far.
   */
  async createUnderSubreaper(root: string, b: string, id: string, flags: string[] = []): Promise<{ reaped: () => string; stderr: () => string }> {
    const r = spawn(this.subreaper, [process.execPath, BERTH_RUNTIME, '--root', root, 'create', '--bundle', b, ...flags, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    r.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    r.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    await until(() => out.includes('\n'));
    return { reaped: () => out, stderr: () => err };
  }
}

/**
 * podman's global flags for a private store (vfs) and run root under `dir`, alpine copied in with
 * skopeo, berth-runtime as the runtime: nothing touches the host's podman state.
 */
export function privatePodman(dir: string): string[] {
  const store = path.join(dir, 'root');
  const runroot = path.join(dir, 'runroot');
  execFileSync('skopeo', ['copy', '--quiet', `oci:${path.join(sharedImages, 'alpine')}:latest`, `containers-storage:[vfs@${store}+${runroot}]docker.io/library/alpine:latest`]);
  return ['--root', store, '--runroot', runroot, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', BERTH_RUNTIME];
}

/**
 * For a describe block: a private podman (privatePodman) in a temp dir made before its tests;
 * its containers and the dir removed after them. `args` are podman's global flags.
 */
export function usePrivatePodman(name: string): { readonly args: string[] } {
  let dir = '';
  let args: string[] = [];
  beforeAll(() => {
    ensureEntrypoints();
    dir = tempDir(name);
    args = privatePodman(dir);
  }, 120_000);
  afterAll(() => {
    if (dir === '') return;
    spawnSync('podman', [...args, 'rm', '-af'], { stdio: 'ignore' });
    // vfs layers may carry immutable bits from images; a plain rm is enough for alpine.
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get args() {
      return args;
    },
  };
}

/** The host's RLIMIT_NOFILE/NPROC hard limits are below podman's defaults (runc fails the same way without these). */
export const PODMAN_ULIMITS: readonly string[] = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
