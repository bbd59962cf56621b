import { mkdir, readFile, writeFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference, type BerthError } from '@berth/oci';
import { build, type BuildOptions } from './build.js';
import type { BuildEvent } from './events.js';
import type { RecipeInput } from './recipe/schema.js';
import { haveSharedImages, envBuildOptions, makeBuildEnv, type BuildEnv } from './test-support/env.js';

let env: BuildEnv;
let ctx: string;

beforeAll(async () => {
  env = await makeBuildEnv();
  ctx = path.join(env.dir, 'ctx');
  await mkdir(path.join(ctx, 'site'), { recursive: true });
  await writeFile(path.join(ctx, 'site', 'index.html'), '<h1>hi</h1>\n');
  await writeFile(path.join(ctx, 'notes.log'), 'ignored');
  await writeFile(path.join(ctx, '.berthignore'), '*.log\n');
});
afterAll(async () => {
  await env?.close();
});

function opts(recipe: string, extra: Partial<BuildOptions> = {}): BuildOptions & { events: BuildEvent[] } {
  return envBuildOptions(env, { context: ctx, tag: 'localhost/test/copy:1', recipe, runtime: { run: () => Promise.reject(new Error('no run steps here')) } as never, extra });
}

describe.skipIf(!haveSharedImages)('build without run steps', () => {
  it('copies files and sets config; a second build is fully cached and gives the same digest with SOURCE_DATE_EPOCH', async () => {
    const recipe = `from: alpine:3.20
args: {TITLE: demo}
steps:
  - copy: {src: site/, dest: /srv/, chmod: "0640"}
  - env: {PORT: "8080", GREETING: "hello $TITLE"}
  - workdir: /srv/site
  - user: "1000"
  - label: {org.opencontainers.image.title: $TITLE}
  - expose: [8080, "53/udp"]
  - volume: /data
entrypoint: ["/bin/httpd", "-f"]
stopsignal: SIGQUIT
`;
    const o1 = opts(recipe, { sourceDateEpoch: 1700000000 });
    const r1 = await build(o1);
    const c = r1.config.config ?? {};
    expect(c.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'PORT=8080', 'GREETING=hello demo']);
    expect(c.WorkingDir).toBe('/srv/site');
    expect(c.User).toBe('1000');
    expect(c.Labels).toEqual({ 'org.opencontainers.image.title': 'demo' });
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.Entrypoint).toEqual(['/bin/httpd', '-f']);
    expect(c.Cmd).toBeUndefined(); // the base's Cmd is reset by a new entrypoint
    expect(c.StopSignal).toBe('SIGQUIT');
    expect(r1.config.created).toBe('2023-11-14T22:13:20.000Z');
    expect(r1.manifest.layers).toHaveLength(2);
    expect(r1.config.history?.slice(-7).map((h) => h.empty_layer ?? false)).toEqual([false, true, true, true, true, true, true]);
    expect(r1.config.history?.at(-7)?.created_by).toBe('COPY --chmod=0640 site/ /srv/');
    expect(r1.steps.map((s) => s.cached)).toEqual([false, false, false, false, false, false, false]);

    const img = await env.store.getImage(Reference.parse('localhost/test/copy:1'));
    expect(img.descriptor.digest).toBe(r1.digest.toString());

    const o2 = opts(recipe, { sourceDateEpoch: 1700000000 });
    const r2 = await build(o2);
    expect(r2.digest.toString()).toBe(r1.digest.toString());
    expect(r2.steps.every((s) => s.cached)).toBe(true);

    // without SOURCE_DATE_EPOCH a rebuild with nothing changed is the same image too (times come from the cache)
    const n1 = await build(opts(recipe));
    const n2 = await build(opts(recipe));
    expect(n2.steps.every((s) => s.cached)).toBe(true);
    expect(n2.digest.toString()).toBe(n1.digest.toString());
    expect(n1.digest.toString()).not.toBe(r1.digest.toString());

    // no cache: executed again, still the same digest (reproducible)
    const r3 = await build(opts(recipe, { sourceDateEpoch: 1700000000, noCache: true }));
    expect(r3.steps.some((s) => s.cached)).toBe(false);
    expect(r3.digest.toString()).toBe(r1.digest.toString());

    // change a file: the copy step misses, the layer differs
    await writeFile(path.join(ctx, 'site', 'index.html'), '<h1>changed</h1>\n');
    const r4 = await build(opts(recipe, { sourceDateEpoch: 1700000000 }));
    expect(r4.steps[0]?.cached).toBe(false);
    expect(r4.digest.toString()).not.toBe(r1.digest.toString());
    await writeFile(path.join(ctx, 'site', 'index.html'), '<h1>hi</h1>\n');
  });

  it('reports errors at the step: missing sources, ignored files, bad substitutions', async () => {
    await expect(build(opts('from: alpine:3.20\nsteps:\n  - copy: {src: nope.txt, dest: /x}\n'))).rejects.toThrow(
      'berth.yaml:3:11: steps[0].copy: "nope.txt": no such file or directory in the build context',
    );
    await expect(build(opts('from: alpine:3.20\nsteps:\n  - copy: {src: notes.log, dest: /x}\n'))).rejects.toThrow('excluded by .berthignore');
    await expect(build(opts('from: alpine:3.20\nsteps:\n  - env: {A: $NOPE}\n'))).rejects.toThrow(/^berth\.yaml:3:10: steps\[0\]\.env: \$NOPE is not defined/);
    await expect(build(opts('from: nosuch:1\n'))).rejects.toThrow('berth.yaml:1:7: from: docker.io/library/nosuch:1: not in the store (pull it first)');
  });

  it('a recipe object (RecipeInput) builds the image its YAML builds; a bad one fails like the YAML, less the position', async () => {
    const text = `from: alpine:3.20
args: {TITLE: demo}
steps:
  - copy: {src: site/, dest: /srv/, chmod: "0640"}
  - env: {GREETING: "hello $TITLE"}
  - expose: [8080]
entrypoint: ["/bin/httpd", "-f"]
`;
    const recipe: RecipeInput = {
      from: 'alpine:3.20',
      args: { TITLE: 'demo' },
      steps: [{ copy: { src: 'site/', dest: '/srv/', chmod: '0640' } }, { env: { GREETING: 'hello $TITLE' } }, { expose: [8080] }],
      entrypoint: ['/bin/httpd', '-f'],
    };
    const fromText = await build(opts(text, { sourceDateEpoch: 1700000000 }));
    const fromObject = await build(opts('', { recipe, noCache: true, sourceDateEpoch: 1700000000, tags: [Reference.parse('localhost/test/copy:object')] }));
    expect(fromObject.steps.some((s) => s.cached)).toBe(false);
    expect(fromObject.digest.toString()).toBe(fromText.digest.toString());
    const withEvents = opts('', { recipe });
    await build(withEvents);
    expect(withEvents.events.find((e) => e.type === 'step')).toMatchObject({ path: 'steps[0].copy', location: { file: 'recipe' } });

    // What plain JavaScript may pass: schema errors, and errors of a step, read like the YAML's.
    const cases: Array<[string, unknown]> = [
      ['from: alpine:3.20\nsteps:\n  - copy: {dest: /x, src: 3}\n', { from: 'alpine:3.20', steps: [{ copy: { dest: '/x', src: 3 } }] }],
      ['from: alpine:3.20\nsteps:\n  - copy: {src: nope.txt, dest: /x}\n', { from: 'alpine:3.20', steps: [{ copy: { src: 'nope.txt', dest: '/x' } }] }],
      ['from: alpine:3.20\nsteps:\n  - env: {A: $NOPE}\n', { from: 'alpine:3.20', steps: [{ env: { A: '$NOPE' } }] }],
      ['from: nosuch:1\n', { from: 'nosuch:1' }],
      ['from: alpine:3.20\nstages: [a]\n', { from: 'alpine:3.20', stages: ['a'] }],
    ];
    for (const [yaml, object] of cases) {
      const textError = await build(opts(yaml)).then(() => undefined, (e: unknown) => e as BerthError);
      const objectError = await build(opts('', { recipe: object as RecipeInput })).then(() => undefined, (e: unknown) => e as BerthError);
      expect(textError?.message, yaml).toMatch(/^berth\.yaml:\d+:\d+: /);
      expect(objectError?.code, yaml).toBe(textError?.code);
      expect(objectError?.message, yaml).toBe(textError?.message.replace(/^berth\.yaml:\d+:\d+: /, 'recipe: '));
    }
  });

  it('builds from scratch and multi-stage: only the final stage reaches the image', async () => {
    await writeFile(path.join(ctx, 'artifact.txt'), 'built\n');
    await symlink('artifact.txt', path.join(ctx, 'artifact.link')).catch(() => undefined);
    const recipe = `from: scratch
stages:
  builder:
    from: busybox:1.38
    steps:
      - copy: {src: [artifact.txt, artifact.link], dest: /out/}
steps:
  - copy: {from: builder, src: /out/artifact.txt, dest: /artifact.txt}
  - copy: {from: builder, src: /bin/busybox, dest: /bin/busybox}
cmd: ["/bin/busybox", "cat", "/artifact.txt"]
`;
    const o = opts(recipe, { tags: [Reference.parse('localhost/test/scratch:1')] });
    const r = await build(o);
    expect(r.manifest.layers).toHaveLength(2);
    expect(r.config.rootfs.diff_ids).toHaveLength(2);
    const ensured = await env.snapshots.ensure({ image: { manifest: r.manifest, config: r.config } });
    expect(await readFile(path.join(ensured.path, 'artifact.txt'), 'utf8')).toBe('built\n');
    const stages = o.events.filter((e) => e.type === 'stage').map((e) => (e as { stage?: string }).stage);
    expect(stages).toEqual(['builder', undefined]);
  });
});
