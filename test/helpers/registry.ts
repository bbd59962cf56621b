// Shared pieces of the real-registry integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { DockerConfigCredentials, loadRegistryConfig, RegistryClient, type RegistryClientOptions, type RegistryConfig } from '@berth/registry';
import { Store } from '@berth/store';
import { repoRoot, runChecked, sharedImagesDir, toolsMissing, type TempDir } from '@berth/testing';

export const ALPINE = {
  index: 'sha256:4fb1ae85431b2e9e7ac82264be8caf34c62375b29da4dac4e3aefbf736b54c19',
  amd64: 'sha256:7fe85d7198ffa674ca19e9e25a1e3c70d73662efb8ca458d74404d2b0463c7a5',
  arm64: 'sha256:cbcd153b8f4a78a0299b6ce935fb884c2339de99559f23064a48afb613a405d3',
  attestation: 'sha256:7573ed602e60da0ac7b2f58d94f0c889f845c6c25e7c239dac5aafb7d1f230cc',
  amd64Layer: 'sha256:d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c',
  arm64Layer: 'sha256:041fa34a81788242df9e78fa69b97ab45b8ec47ddbf88864755610414a7bf3de',
};

/** Why these tests cannot run here (missing Debian packages), or undefined; throws after the set-up (see @berth/testing toolsMissing). */
export const toolsSkip = toolsMissing(['docker-registry', 'skopeo', 'htpasswd', 'openssl']);

/**
 * For the tests that push and pull the real images: the ../shared/images directory, and why
 * they cannot run here (registry tools or the images missing) or undefined; warns when skipping.
 */
export function sharedImagesSkip(what: string): { images: string | undefined; skip: string | undefined } {
  const images = sharedImagesDir();
  const skip = toolsSkip ?? (images ? undefined : '../shared/images not found next to the repository');
  if (skip) console.warn(`skipping ${what}: ${skip}`);
  return { images, skip };
}

/** A new, empty directory for a store: `<tmp>/stores/<name>` (for a store opened by another process). */
export async function freshStoreRoot(tmp: TempDir, name: string): Promise<string> {
  const root = path.join(tmp.path, 'stores', name);
  await mkdir(root, { recursive: true });
  return root;
}

/** A new, empty store in `<tmp>/stores/<name>`. */
export async function freshStore(tmp: TempDir, name: string): Promise<Store> {
  return Store.open({ root: await freshStoreRoot(tmp, name) });
}

/** The multi-process tests run the BUILT packages; they need `npm run build` first. */
export function distMissing(): string | undefined {
  const need = ['oci', 'registry', 'store'].filter((p) => !existsSync(path.join(repoRoot(), 'packages', p, 'dist', 'index.js')));
  return need.length ? `packages ${need.join(', ')} are not built (run \`npm run build\` first; \`npm test\` does)` : undefined;
}

export const PULL_HELPER = path.join(repoRoot(), 'test', 'helpers', 'pull.mjs');

/** A berth config file (BERTH_CONFIG) with per-registry settings, loaded the way the CLI loads it. */
export async function berthConfig(dir: string, registries: Record<string, { mirrors?: string[]; insecure?: boolean }>): Promise<{ file: string; config: RegistryConfig }> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'config.yaml');
  const lines = ['# written by the berth integration tests', 'registries:'];
  for (const [host, cfg] of Object.entries(registries)) {
    lines.push(`  ${JSON.stringify(host)}:`);
    if (cfg.mirrors) lines.push('    mirrors:', ...cfg.mirrors.map((m) => `      - ${JSON.stringify(m)}`));
    if (cfg.insecure !== undefined) lines.push(`    insecure: ${cfg.insecure}`);
  }
  await writeFile(file, lines.join('\n') + '\n');
  const config = await loadRegistryConfig({ env: { BERTH_CONFIG: file, HOME: dir } });
  return { file, config };
}

/** A DOCKER_CONFIG directory whose config.json holds `auths` for these hosts. */
export async function dockerConfig(dir: string, auths: Record<string, { username: string; password: string }> = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const entries = Object.fromEntries(
    Object.entries(auths).map(([host, c]) => [host, { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') }]),
  );
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: entries }, null, 2), { mode: 0o600 });
  return dir;
}

/**
 * A client with quick retries and credentials from a DOCKER_CONFIG dir (an empty one means
 * anonymous), found through the DOCKER_CONFIG environment variable as docker finds it.
 */
export function client(opts: { config?: RegistryConfig; dockerConfigDir: string } & Omit<RegistryClientOptions, 'credentials' | 'config'>): RegistryClient {
  const { config, dockerConfigDir, ...rest } = opts;
  return new RegistryClient({
    config: config ?? { registries: {} },
    credentials: new DockerConfigCredentials({ env: { DOCKER_CONFIG: dockerConfigDir, HOME: '/nonexistent', PATH: '/nonexistent' } }),
    retry: { retries: 3, minDelayMs: 1, maxDelayMs: 50 },
    ...rest,
  });
}

/**
 * Every file under blobs/ hashes to its name, and nothing else (partials, temp files)
 * lives there. Returns the blob digests.
 */
export async function verifyStoreBlobs(storeRoot: string): Promise<string[]> {
  const dir = path.join(storeRoot, 'blobs', 'sha256');
  const names = existsSync(dir) ? await readdir(dir) : [];
  for (const name of names) {
    expect(name).toMatch(/^[a-f0-9]{64}$/);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path.join(dir, name))) hash.update(chunk as Buffer);
    expect(hash.digest('hex'), `blob ${name} is corrupt`).toBe(name);
  }
  return names.map((n) => `sha256:${n}`);
}

/** Why the umoci cross-checks cannot run here, or undefined. */
export const umociSkip = toolsMissing(['umoci']);

/** `skopeo inspect --raw oci:<store>:<ref>`: the manifest bytes as skopeo reads them. */
export async function skopeoInspectRaw(storeRoot: string, ref: string): Promise<Buffer> {
  const out = await runChecked('skopeo', ['--insecure-policy', 'inspect', '--raw', `oci:${storeRoot}:${ref}`], { doing: `skopeo inspect ${ref}` });
  return Buffer.from(out, 'utf8');
}

export interface PullProcess {
  child: ChildProcess;
  /** Resolves when the process exits: its status and parsed JSON lines. */
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null; lines: Array<Record<string, unknown>>; stderr: string }>;
}

/** Run test/helpers/pull.mjs (against the built packages) in a child process. */
export function pullProcess(opts: { store: string; ref: string; platform?: string; configFile?: string; dockerConfigDir: string; events?: boolean }): PullProcess {
  const args = [PULL_HELPER, '--store', opts.store, '--ref', opts.ref, '--docker-config', opts.dockerConfigDir];
  if (opts.platform) args.push('--platform', opts.platform);
  if (opts.configFile) args.push('--config', opts.configFile);
  if (opts.events) args.push('--events');
  const child = spawn(process.execPath, args, { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_CONFIG: opts.configFile ?? '/nonexistent' } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; lines: Array<Record<string, unknown>>; stderr: string }>((resolve) => {
    child.once('close', (status, signal) => {
      const lines = stdout
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ status, signal, lines, stderr });
    });
  });
  return { child, done };
}

/** Poll a condition (no timing assertions: this only bounds how long a broken test hangs). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
