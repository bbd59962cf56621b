/**
 * Every example is built or run here: the two recipes (offline, from the
 * alpine and busybox layouts in ../shared/images) and the three programs
 * (list-files pulls from a real loopback registry).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, loadImages } from '@berth/builder';
import { Reference } from '@berth/oci';
import { Snapshots, removeTree } from '@berth/rootfs';
import { Runtime } from '@berth/runtime';
import { Store, storeDir } from '@berth/store';
import { seedImage, startRegistry, toolsMissing, type RunningRegistry } from '@berth/testing';
import { buildHello } from './programs/lib/build-image.js';
import { listImageFiles } from './programs/lib/list-files.js';
import { runAndCapture } from './programs/lib/run-command.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const images = path.resolve(here, '../../shared/images');
const haveImages = existsSync(path.join(images, 'alpine', 'index.json')) && existsSync(path.join(images, 'busybox', 'index.json'));
const isRoot = process.getuid?.() === 0;
const ok = haveImages && isRoot;
if (!ok) console.warn(`skipping examples tests: they need root and ${images}`);

let root: string;
let store: Store;
let snapshots: Snapshots;
let runtime: Runtime;
const stateDir = (): string => path.join(root, 'state');

beforeAll(async () => {
  if (!ok) return;
  root = await mkdtemp(path.join(tmpdir(), 'berth-examples-'));
  store = await Store.open({ root: storeDir(root) });
  snapshots = new Snapshots({ root: path.join(root, 'snapshots'), store });
  runtime = new Runtime({ stateDir: stateDir() });
  await loadImages({ store, input: path.join(images, 'alpine'), repository: 'docker.io/library/alpine' });
  await loadImages({ store, input: path.join(images, 'busybox'), repository: 'docker.io/library/busybox' });
});
afterAll(async () => {
  if (root) await removeTree(root).catch(() => rm(root, { recursive: true, force: true }));
});

interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npx vite-node examples/programs/<name>.ts -- ARGS` from the repository
 * root, as examples/README.md tells a reader to (as root, so without sudo):
 * the built packages (dist/), BERTH_ROOT and BERTH_STATE pointing into this
 * test's root, BERTH_CONFIG at an empty registry config.
 */
async function runProgramAsReadmeSays(name: string, args: string[]): Promise<ProgramRun> {
  const script = `examples/programs/${name}.ts`;
  const readme = await readFile(path.join(here, 'README.md'), 'utf8');
  expect(readme).toContain(`npx vite-node ${script} -- `);
  const config = path.join(root, 'config.yaml');
  await writeFile(config, 'registries: {}\n');
  const env = { ...process.env, BERTH_ROOT: root, BERTH_STATE: stateDir(), BERTH_CONFIG: config };
  return new Promise((resolve) => {
    execFile('npx', ['vite-node', script, '--', ...args], { cwd: path.resolve(here, '..'), env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

async function buildExample(name: string, tag: string): Promise<Awaited<ReturnType<typeof build>>> {
  return build({
    store,
    snapshots,
    runtime,
    context: path.join(here, name),
    tags: [Reference.parse(tag)],
  });
}

describe.skipIf(!ok)('recipes', () => {
  it('static-site: busybox httpd serves the copied pages', async () => {
    const r = await buildExample('static-site', 'localhost/examples/static-site:1');
    expect(r.config.config?.User).toBe('www');
    expect(r.config.config?.Labels?.['org.opencontainers.image.version']).toBe('1.0');
    // Start httpd in the background inside the container and fetch over its loopback (network none).
    const got = await runAndCapture({
      image: 'localhost/examples/static-site:1',
      root,
      stateDir: stateDir(),
      entrypoint: '/bin/sh',
      command: ['-c', 'httpd -p 8080 -h /www && wget -qO- http://127.0.0.1:8080/ && wget -qO- http://127.0.0.1:8080/version.txt && id -un'],
    });
    expect(got.stderr).toBe('');
    expect(got.exitCode).toBe(0);
    expect(got.stdout).toContain('<h1>Served by busybox httpd</h1>');
    expect(got.stdout.trim().split('\n').slice(-2)).toEqual(['1.0', 'www']);
  });

  it('multi-stage: the artifact built on alpine runs in a scratch image holding only busybox and the app', async () => {
    const r = await buildExample('multi-stage', 'localhost/examples/multi-stage:1');
    expect(r.manifest.layers).toHaveLength(3);
    const tree = (await snapshots.ensure({ image: { manifest: r.manifest, config: r.config } })).path;
    expect((await readdir(tree)).sort()).toEqual(['app', 'bin']);
    expect((await readdir(path.join(tree, 'app'))).sort()).toEqual(['BUILDINFO', 'SHA256SUMS', 'hello.sh', 'words.gz']);
    const got = await runAndCapture({ image: 'localhost/examples/multi-stage:1', root, stateDir: stateDir(), command: [] });
    expect(got).toEqual({ exitCode: 0, stdout: 'hello from a slim image (built on alpine 3.20.3)\ndigest layer manifest snapshot \n', stderr: '' });
  });
});

describe.skipIf(!ok)('programs', () => {
  it('build-image builds programmatically, run-command runs the result and captures its output', async () => {
    const result = await buildHello({ tag: 'localhost/examples/hello:1', root, stateDir: stateDir(), greeting: 'howdy' });
    expect(result.steps.map((s) => s.kind)).toEqual(['copy', 'env', 'run']);
    const got = await runAndCapture({ image: 'localhost/examples/hello:1', root, stateDir: stateDir(), command: ['cat', '/greeting.txt'] });
    expect(got).toEqual({ exitCode: 0, stdout: 'howdy from 3.20.3\n', stderr: '' });
    const byCmd = await runAndCapture({ image: 'localhost/examples/hello:1', root, stateDir: stateDir(), command: ['hello'] });
    expect(byCmd.stdout).toBe('howdy from 3.20.3\n');
  });

  it('build-image and run-command run as examples/README.md says (npx vite-node FILE -- ARGS) and do their work', async () => {
    const built = await runProgramAsReadmeSays('build-image', ['localhost/examples/readme-hello:1']);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    const image = await store.getImage(Reference.parse('localhost/examples/readme-hello:1'));
    expect(built.stdout.trim().split('\n').at(-1)).toBe(`localhost/examples/readme-hello:1 ${image.descriptor.digest}`);
    expect(built.stdout).toContain('hello > /greeting.txt');

    const ran = await runProgramAsReadmeSays('run-command', ['localhost/examples/readme-hello:1', 'cat', '/greeting.txt']);
    expect(ran).toEqual({ code: 0, stdout: 'hello from 3.20.3\n', stderr: '' });
    const failed = await runProgramAsReadmeSays('run-command', ['localhost/examples/readme-hello:1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(failed).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const usage = await runProgramAsReadmeSays('run-command', ['localhost/examples/readme-hello:1']);
    expect(usage).toEqual({ code: 2, stdout: '', stderr: 'usage: run-command.ts IMAGE COMMAND [ARG...]\n' });
  });

  describe.skipIf(toolsMissing(['docker-registry', 'skopeo']) !== undefined)('with a registry', () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
      await seedImage({ registry, layout: path.join(images, 'alpine'), tag: '3.20.3', repository: 'library/alpine' });
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('list-files pulls an image and lists its files', async () => {
      const files = await listImageFiles({ reference: `${registry.host}/library/alpine:3.20.3`, root, config: { registries: {} } });
      const byPath = new Map(files.map((f) => [f.path, f]));
      expect(byPath.get('/bin/busybox')?.type).toBe('file');
      expect(byPath.get('/bin/sh')).toMatchObject({ type: 'symlink', target: '/bin/busybox' });
      expect(byPath.get('/etc')?.type).toBe('dir');
      expect(files.length).toBeGreaterThan(400);
    });

    it('list-files runs as examples/README.md says (npx vite-node FILE -- IMAGE) and prints the files', async () => {
      const got = await runProgramAsReadmeSays('list-files', [`${registry.host}/library/alpine:3.20.3`]);
      expect(got.stderr).toBe('');
      expect(got.code).toBe(0);
      const lines = got.stdout.split('\n');
      expect(lines).toContain('symlink 0777         0 /bin/sh -> /bin/busybox');
      expect(lines).toContain('dir     0755         0 /etc');
      expect(lines.length).toBeGreaterThan(400);
    });
  });
});
