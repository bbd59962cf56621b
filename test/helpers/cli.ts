import { afterAll, beforeAll, expect } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedImage, startRegistry, toolsMissing, type RunningRegistry } from '@berth/testing';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const berthBin = path.join(repo, 'packages/cli/dist/bin.js');

/** Why a mirrorSandbox (a real registry seeded with skopeo) cannot run here, or undefined. */
export const mirrorToolsSkip = toolsMissing(['docker-registry', 'skopeo']);
if (mirrorToolsSkip) console.warn(`skipping the CLI tests against a registry mirror: ${mirrorToolsSkip}`);

export interface BerthResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would (`npm run build` first; the root `npm test` does). `--` stops node from reading berth's own flags (Node 20 takes --env-file anywhere in its arguments). */
export function berth(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<BerthResult> {
  if (!existsSync(berthBin)) throw new Error(`${berthBin} is missing: run "npm run build" first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--', berthBin, ...args], {
      env: { ...process.env, CI: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A throwaway BERTH_ROOT / BERTH_STATE / BERTH_CONFIG / DOCKER_CONFIG set. */
export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  writeConfig(yaml: string): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * N of a 10.236.N.0/24 that no route of the host uses now (other test files' sandboxes have their
 * bridges up at the same time; two bridges with one subnet would take each other's traffic).
 */
function freeTestSubnet(): number {
  const used = new Set<number>();
  try {
    for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const dest = line.split('\t')[1];
      if (!dest || dest.length !== 8) continue;
      // /proc/net/route is little-endian hex: 10.236.N.0 is "00" N "EC" "0A".
      if (dest.slice(4) === 'EC0A') used.add(parseInt(dest.slice(2, 4), 16));
    }
  } catch {
    // no /proc/net/route: any N
  }
  for (let i = 0; i < 64; i++) {
    const n = randomBytes(1)[0] ?? 0;
    if (!used.has(n)) return n;
  }
  throw new Error('no free 10.236.N.0/24 test subnet');
}

export async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
  // The default network of this root: its own bridge and a test subnet (10.236.N.0/24), so
  // sandboxes at once never share berth0 or a subnet, and nothing touches a real berth0.
  const n = freeTestSubnet();
  const bridge = `bt${randomBytes(4).toString('hex')}`;
  const env = {
    BERTH_ROOT: path.join(dir, 'root'),
    BERTH_STATE: path.join(dir, 'state'),
    BERTH_CONFIG: path.join(dir, 'config.yaml'),
    DOCKER_CONFIG: path.join(dir, 'docker'),
    BERTH_DEFAULT_BRIDGE: bridge,
    BERTH_DEFAULT_SUBNET: `10.236.${n}.0/24`,
  };
  return {
    dir,
    env,
    writeConfig: (yaml) => writeFile(env.BERTH_CONFIG, yaml),
    cleanup: async () => {
      await removeSandboxNetwork(env.BERTH_STATE, bridge);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What a sandbox's containers left of the network (normally nothing): resolvers, namespaces still mounted, the bridge and its rule. */
async function removeSandboxNetwork(state: string, bridge: string): Promise<void> {
  const { deleteLink, sweepResolvers } = await import('@berth/network');
  await sweepResolvers({ state, alive: () => false }).catch(() => undefined);
  const netns = path.join(state, 'netns');
  for (const f of await readdir(netns).catch(() => [] as string[])) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', path.join(netns, f)], () => resolve()));
  }
  // The bridge and the CVE-2020-8558 rule berth puts on it with the first published port.
  await deleteLink(bridge).catch(() => undefined);
}

/** A sandbox whose docker.io mirror is a loopback registry; cleanup() stops the registry too. */
export interface MirrorSandbox extends Sandbox {
  registry: RunningRegistry;
}

/**
 * A sandbox and a registry seeded with `names` from the shared OCI layouts in `images`
 * (each as library/<name>:latest), configured as docker.io's mirror.
 */
export async function mirrorSandbox(opts: { images: string; names: string[] }): Promise<MirrorSandbox> {
  const registry = await startRegistry();
  try {
    for (const name of opts.names) await seedImage({ registry, layout: path.join(opts.images, name), tag: 'latest', repository: `library/${name}` });
    const box = await sandbox();
    await box.writeConfig(`registries:\n  docker.io:\n    mirrors: ["${registry.url}"]\n`);
    return {
      ...box,
      registry,
      cleanup: async () => {
        await registry.stop();
        await box.cleanup();
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** A describe block's sandbox with alpine pulled through the mirror (useAlpineBox). */
export interface AlpineBox {
  /** The sandbox (made in beforeAll). */
  readonly box: MirrorSandbox;
  /** berth in the sandbox, with `input` on stdin. */
  b(args: string[], input?: string): Promise<BerthResult>;
  /** `ps -a`'s row of the container named `name`, split into its columns ([] when not listed). */
  psRow(name: string): Promise<string[]>;
}

/**
 * For a describe block: before its tests a mirror sandbox (see mirrorSandbox) with alpine
 * pulled, `prepare` run on it first; after them every container removed (rm -f) and the sandbox
 * cleaned up. Hooks get `timeoutMs` (vitest's default hook timeout when not given).
 */
export function useAlpineBox(opts: { images: string; prepare?: (box: MirrorSandbox) => void | Promise<void>; timeoutMs?: number }): AlpineBox {
  let box: MirrorSandbox | undefined;
  const current = (): MirrorSandbox => {
    if (!box) throw new Error('the alpine sandbox is used outside its describe block');
    return box;
  };
  const b = (args: string[], input?: string): Promise<BerthResult> => berth(args, { env: current().env, ...(input !== undefined ? { input } : {}) });
  beforeAll(async () => {
    box = await mirrorSandbox({ images: opts.images, names: ['alpine'] });
    await opts.prepare?.(box);
    const pulled = await b(['pull', '-q', 'alpine']);
    expect(pulled.code, pulled.stderr).toBe(0);
  }, opts.timeoutMs);
  afterAll(async () => {
    if (!box) return;
    const ids = (await b(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await b(['rm', '-f', ...ids]).catch(() => undefined);
    await box.cleanup();
  }, opts.timeoutMs);
  return {
    get box() {
      return current();
    },
    b,
    async psRow(name) {
      const r = await b(['ps', '-a']);
      expect(r.code, r.stderr).toBe(0);
      const line = r.stdout.split('\n').find((l) => l.endsWith(`   ${name}`));
      return line?.split(/ {3,}/) ?? [];
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns a value (not undefined); fails after `timeoutMs` naming `what`. */
export async function pollUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, opts: { timeoutMs: number; intervalMs: number }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
