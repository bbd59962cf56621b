// build → run → push → skopeo inspect → umoci unpack, against a real registry
// (docker-registry) seeded with alpine from ../shared/images. The base image
// is not in the store at first: the build pulls it through `pull`.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildEvent, type BuildOptions } from '@berth/builder';
import { Reference } from '@berth/oci';
import { RegistryClient, pullImage, pushImage } from '@berth/registry';
import { Snapshots, createRootfs, removeTree } from '@berth/rootfs';
import { Runtime, buildSpec } from '@berth/runtime';
import { Store } from '@berth/store';
import { seedImage, sharedImagesDir, startRegistry, toolsMissing, type RunningRegistry } from '@berth/testing';

const run = promisify(execFile);
const images = sharedImagesDir();
const skip =
  process.getuid?.() !== 0
    ? 'needs root (containers)'
    : (toolsMissing(['docker-registry', 'skopeo', 'umoci']) ?? (images ? undefined : '../shared/images not found next to the repository'));
if (skip) console.warn(`skipping build round-trip tests: ${skip}`);

let dir: string;
let registry: RunningRegistry;
let store: Store;
let snapshots: Snapshots;
let runtime: Runtime;
let client: RegistryClient;
let ctx: string;

const RECIPE = `from: $REGISTRY/library/alpine:3.20.3
args:
  REGISTRY: localhost:5000
  MSG: roundtrip
steps:
  - run: rm /etc/motd /etc/issue && echo "$MSG" > /message && mkdir /data
  - copy: {src: hello.txt, dest: /data/}
  - label: {test: roundtrip}
cmd: ["cat", "/message", "/data/hello.txt"]
`;

function options(extra: Partial<BuildOptions> = {}): BuildOptions & { events: BuildEvent[]; pulls: string[] } {
  const events: BuildEvent[] = [];
  const pulls: string[] = [];
  return {
    store,
    snapshots,
    runtime,
    context: ctx,
    recipe: RECIPE,
    tags: [Reference.parse('localhost/roundtrip:1')],
    buildArgs: { REGISTRY: registry.host },
    cacheDir: path.join(dir, 'buildcache'),
    workDir: path.join(dir, 'builds'),
    pull: async (ref) => {
      pulls.push(ref.toString());
      await pullImage({ client, store, reference: ref });
      return store.getImage(ref);
    },
    onEvent: (e) => events.push(e),
    events,
    pulls,
    ...extra,
  };
}

describe.skipIf(!!skip)('build round trip through a registry', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-build-it-'));
    registry = await startRegistry();
    await seedImage({ registry, layout: path.join(images as string, 'alpine'), tag: '3.20.3', repository: 'library/alpine' });
    store = await Store.open({ root: path.join(dir, 'store') });
    snapshots = new Snapshots({ root: path.join(dir, 'snapshots'), store });
    runtime = new Runtime({ stateDir: path.join(dir, 'state') });
    client = new RegistryClient({ config: { registries: {} } });
    ctx = path.join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(path.join(ctx, 'hello.txt'), 'hello\n');
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await removeTree(dir).catch(() => rm(dir, { recursive: true, force: true }));
  });

  it('builds (pulling the missing base), runs, pushes, and skopeo and umoci see the same image', async () => {
    const o = options();
    const result = await build(o);
    expect(o.pulls).toEqual([`${registry.host}/library/alpine:3.20.3`]);
    expect(result.steps.map((s) => [s.kind, s.cached])).toEqual([
      ['run', false],
      ['copy', false],
      ['label', false],
    ]);

    // run it: the image's Cmd, in a container over a fresh copy
    const image = await store.getImage(Reference.parse('localhost/roundtrip:1'));
    const rootfs = path.join(dir, 'containers', 'c1', 'rootfs');
    await createRootfs({ snapshot: (await snapshots.ensure({ image })).path, dest: rootfs });
    const ran = await runtime.run({ rootfs, spec: buildSpec({ imageConfig: image.config, rootfs }), stdio: 'pipe', remove: true });
    expect([ran.exitCode, ran.stdout?.toString()]).toEqual([0, 'roundtrip\nhello\n']);
    // deletions hide the base files in berth's own view
    await expect(lstat(path.join(rootfs, 'etc/motd'))).rejects.toThrow(/ENOENT/);
    await removeTree(path.join(dir, 'containers'));

    // push, then look with skopeo
    const dest = Reference.parse(`${registry.host}/test/roundtrip:1`);
    const pushed = await pushImage({ client, store, source: Reference.parse('localhost/roundtrip:1'), destination: dest });
    expect(pushed.digest.toString()).toBe(result.digest.toString());
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${dest}`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Labels: Record<string, string>; Layers: string[]; Architecture: string };
    expect(inspected.Digest).toBe(result.digest.toString());
    expect(inspected.Labels).toEqual({ test: 'roundtrip' });
    expect(inspected.Layers).toEqual(result.manifest.layers.map((l) => l.digest));

    // umoci's view: unpacked from an OCI layout skopeo made from the registry
    const layout = path.join(dir, 'layout');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${dest}`, `oci:${layout}:rt`]);
    const bundle = path.join(dir, 'bundle');
    await run('umoci', ['unpack', '--image', `${layout}:rt`, bundle]);
    const rootfsU = path.join(bundle, 'rootfs');
    await expect(lstat(path.join(rootfsU, 'etc/motd'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(path.join(rootfsU, 'etc/issue'))).rejects.toThrow(/ENOENT/);
    expect(await readFile(path.join(rootfsU, 'message'), 'utf8')).toBe('roundtrip\n');
    expect(await readFile(path.join(rootfsU, 'data/hello.txt'), 'utf8')).toBe('hello\n');
    expect(existsSync(path.join(rootfsU, 'etc/alpine-release'))).toBe(true);
    const umociConfig = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
    expect(umociConfig.process.args).toEqual(['cat', '/message', '/data/hello.txt']);

    // and pulled back into a fresh store, it is the same manifest
    const other = await Store.open({ root: path.join(dir, 'other-store') });
    const pulled = await pullImage({ client, store: other, reference: dest });
    expect(pulled.descriptor.digest).toBe(result.digest.toString());
  });

  it('counts cache hits and misses: a rebuild runs nothing, a changed file re-runs from its copy step', async () => {
    const again = options();
    const r = await build(again);
    expect(again.pulls).toEqual([]);
    expect(r.steps.filter((s) => s.cached).length).toBe(3);
    expect(again.events.filter((e) => e.type === 'output')).toEqual([]);

    await writeFile(path.join(ctx, 'hello.txt'), 'hello again\n');
    const changed = options();
    const r2 = await build(changed);
    expect(r2.steps.map((s) => s.cached)).toEqual([true, false, false]);
    await writeFile(path.join(ctx, 'hello.txt'), 'hello\n');
  });

  it('gives the same digest for the same recipe built twice with SOURCE_DATE_EPOCH and no cache', async () => {
    const a = await build(options({ noCache: true, sourceDateEpoch: 1700000000, tags: [Reference.parse('localhost/repro:a')] }));
    const b = await build(options({ noCache: true, sourceDateEpoch: 1700000000, tags: [Reference.parse('localhost/repro:b')] }));
    expect(b.digest.toString()).toBe(a.digest.toString());
    const dest = Reference.parse(`${registry.host}/test/repro:1`);
    await pushImage({ client, store, source: Reference.parse('localhost/repro:b'), destination: dest });
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${dest}`]);
    expect(stdout.trim()).toBe(a.digest.toString());
  });
});
