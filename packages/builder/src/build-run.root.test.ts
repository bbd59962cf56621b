import { lstat, mkdir, readFile, readdir, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference, isBerthError } from '@berth/oci';
import { Runtime } from '@berth/runtime';
import { build, type BuildOptions } from './build.js';
import type { BuildEvent } from './events.js';
import { haveSharedImages, isRoot, envBuildOptions, makeBuildEnv, type BuildEnv } from './test-support/env.js';
import { REFERENCE_RECIPE } from './test-support/recipes.js';

const canRun = isRoot && haveSharedImages;
if (!canRun) console.warn('skipping build run-step tests: they need root (containers) and ../shared/images');

let env: BuildEnv;
let ctx: string;
let runtime: Runtime;

beforeAll(async () => {
  if (!canRun) return;
  env = await makeBuildEnv();
  runtime = new Runtime({ stateDir: path.join(env.dir, 'state') });
  ctx = path.join(env.dir, 'ctx');
  await mkdir(path.join(ctx, 'app'), { recursive: true });
  await writeFile(path.join(ctx, 'app', 'start.sh'), '#!/bin/sh\necho "starting on $1 $2"\n');
  await chmod(path.join(ctx, 'app', 'start.sh'), 0o755);
  await writeFile(path.join(ctx, 'config.yml'), 'port: 8080\n');
});
afterAll(async () => {
  await env?.close();
});

type Opts = BuildOptions & { events: BuildEvent[] };
function opts(recipe: string, extra: Partial<BuildOptions> = {}): Opts {
  return envBuildOptions(env, { context: ctx, tag: 'localhost/test/run:1', recipe, runtime, extra });
}

/** The built image's tree (its snapshot: layers applied by @berth/layers). */
async function treeOf(r: { manifest: import('@berth/oci').Manifest; config: import('@berth/oci').ImageConfig }): Promise<string> {
  return (await env.snapshots.ensure({ image: { manifest: r.manifest, config: r.config } })).path;
}

async function layerEntries(digest: string): Promise<string[]> {
  const ex = tar.extract();
  env.store.openBlob(digest).pipe(zlib.createGunzip()).pipe(ex);
  const names: string[] = [];
  for await (const e of ex) {
    names.push(e.header.name);
    e.resume();
  }
  return names;
}

describe.skipIf(!canRun).each(['overlay', 'copy'] as const)('build with run steps (%s trees)', (treeMode) => {
  it('builds the reference recipe; a rebuild runs nothing; a changed file re-runs from its copy step', async () => {
    const o1 = opts(REFERENCE_RECIPE, { treeMode, buildArgs: { VERSION: `2.0-${treeMode}` } });
    const r1 = await build(o1);
    const tree = await treeOf(r1);
    expect(await readFile(path.join(tree, 'version'), 'utf8')).toBe(`2.0-${treeMode}\n`);
    const start = await stat(path.join(tree, 'srv/app/start.sh'));
    expect([start.uid, start.gid, start.mode & 0o777]).toEqual([1000, 1000, 0o644]);
    expect(await readFile(path.join(tree, 'srv/config.yml'), 'utf8')).toBe('port: 8080\n');
    // no runtime artefacts (mount points, bind targets) in the layers
    const runLayer = await layerEntries(r1.manifest.layers[1]?.digest as string);
    expect(runLayer.sort()).toEqual(['version']);
    expect(r1.config.config?.Cmd).toEqual(['--port', '8080']);
    expect(r1.config.config?.Entrypoint).toEqual(['/srv/app/start.sh']);
    expect(r1.steps.filter((s) => s.cached)).toEqual([]);

    const o2 = opts(REFERENCE_RECIPE, { treeMode, buildArgs: { VERSION: `2.0-${treeMode}` } });
    const r2 = await build(o2);
    expect(r2.steps.every((s) => s.cached)).toBe(true);
    expect(o2.events.some((e) => e.type === 'output')).toBe(false);
    expect(r2.manifest.layers.map((l) => l.digest)).toEqual(r1.manifest.layers.map((l) => l.digest));

    await writeFile(path.join(ctx, 'config.yml'), `port: 9090 # ${treeMode}\n`);
    const r3 = await build(opts(REFERENCE_RECIPE, { treeMode, buildArgs: { VERSION: `2.0-${treeMode}` } }));
    expect(r3.steps.map((s) => s.cached)).toEqual([true, false, false, false, false, false, false]);
    expect(r3.manifest.layers[1]?.digest).toBe(r1.manifest.layers[1]?.digest);
    expect(r3.manifest.layers[2]?.digest).not.toBe(r1.manifest.layers[2]?.digest);
    await writeFile(path.join(ctx, 'config.yml'), 'port: 8080\n');
  });

  it('deletions hide base files (whiteouts) and a replaced directory becomes opaque', async () => {
    const recipe = `from: alpine:3.20
steps:
  - run: rm /etc/motd && rm -rf /etc/apk && mkdir /etc/apk && echo new > /etc/apk/only
`;
    const r = await build(opts(recipe, { treeMode, noCache: true }));
    const entries = await layerEntries(r.manifest.layers.at(-1)?.digest as string);
    expect(entries).toContain('etc/.wh.motd');
    expect(entries).toContain('etc/apk/.wh..wh..opq');
    const tree = await treeOf(r);
    await expect(lstat(path.join(tree, 'etc/motd'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(path.join(tree, 'etc/apk'))).toEqual(['only']);
  });

  it('runs steps with the recipe env, args, user, workdir and no network; argv lists need no shell', async () => {
    const recipe = `from: alpine:3.20
args: {A: from-arg}
steps:
  - env: {B: from-env}
  - run: adduser -D -u 1234 tester && mkdir /work && chown tester /work
  - user: tester
  - workdir: /work
  - run: echo "$A $B $C $(id -u) $(pwd) $(ls /sys/class/net | tr '\\n' ' ')" > /work/facts
    env: {C: from-step}
  - run: ["/bin/touch", "/work/$A"]
`;
    const o = opts(recipe, { treeMode, noCache: true });
    const r = await build(o);
    const tree = await treeOf(r);
    expect(await readFile(path.join(tree, 'work/facts'), 'utf8')).toBe('from-arg from-env from-step 1234 /work lo \n');
    expect((await stat(path.join(tree, 'work/from-arg'))).uid).toBe(1234);
    // args are not part of the image's environment
    expect(r.config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'B=from-env']);
  });

  it('gives run steps the host network only when asked', async () => {
    const recipe = 'from: alpine:3.20\nsteps:\n  - run: ls /sys/class/net | sort | tr "\\n" " " > /nets\n';
    const none = await treeOf(await build(opts(recipe, { treeMode, noCache: true })));
    expect(await readFile(path.join(none, 'nets'), 'utf8')).toBe('lo ');
    // Other tests (networking) may add and remove links on the host meanwhile: the step must see
    // every link the host had both before and after it, and more than lo.
    const before = await readdir('/sys/class/net');
    const host = await treeOf(await build(opts(recipe, { treeMode, noCache: true, network: 'host' })));
    const after = new Set(await readdir('/sys/class/net'));
    const hostNets = (await readFile(path.join(host, 'nets'), 'utf8')).trim().split(' ');
    const stable = before.filter((n) => after.has(n)).sort();
    expect(stable.length).toBeGreaterThan(1);
    expect(hostNets.filter((n) => stable.includes(n)).sort()).toEqual(stable);
  });

  it('stops at a failing step with its location and exit code, streaming its output', async () => {
    const o = opts('from: alpine:3.20\nsteps:\n  - run: echo "going down" >&2; exit 3\n  - run: echo never\n', { treeMode, noCache: true });
    const err = await build(o).catch((e: unknown) => e);
    expect(isBerthError(err, 'EBUILD_STEP')).toBe(true);
    expect((err as Error).message).toBe('berth.yaml:3:10: steps[0].run: exited with 3');
    expect((err as { details: { exitCode: number } }).details.exitCode).toBe(3);
    const out = o.events.filter((e) => e.type === 'output').map((e) => (e as { data: Buffer }).data.toString()).join('');
    expect(out).toBe('going down\n');
    expect(o.events.some((e) => e.type === 'step' && e.index === 1)).toBe(false);
    const missing = await build(opts('from: alpine:3.20\nsteps:\n  - run: [nosuchcommand]\n', { treeMode, noCache: true })).catch((e: unknown) => e);
    expect((missing as Error).message).toBe('berth.yaml:3:10: steps[0].run: exited with 127');
    // a failed build leaves no build directory and no mount behind
    expect((await readdir(env.workDir)).filter((n) => n.startsWith('build-'))).toEqual([]);
    expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(env.workDir)).toBe(false);
  });

  it('is reproducible: same recipe twice without cache and with SOURCE_DATE_EPOCH gives the same digest', async () => {
    const recipe = `from: alpine:3.20
steps:
  - run: mkdir -p /out && echo reproducible > /out/file && ln -s file /out/link && rm /etc/issue
  - copy: {src: config.yml, dest: /out/}
cmd: ["cat", "/out/file"]
`;
    const a = await build(opts(recipe, { treeMode, noCache: true, sourceDateEpoch: 1600000000 }));
    const b = await build(opts(recipe, { treeMode, noCache: true, sourceDateEpoch: 1600000000 }));
    expect(b.digest.toString()).toBe(a.digest.toString());
    expect(a.config.created).toBe('2020-09-13T12:26:40.000Z');
    expect(a.config.history?.slice(-2).map((h) => h.created)).toEqual(['2020-09-13T12:26:40.000Z', '2020-09-13T12:26:40.000Z']);
    const c = await build(opts(recipe, { treeMode, noCache: true, sourceDateEpoch: 1600000000, compression: 'zstd' }));
    expect(c.manifest.layers.at(-1)?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(c.config.rootfs.diff_ids).toEqual(a.config.rootfs.diff_ids);
  });
});
