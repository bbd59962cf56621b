import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

/** The image-side verbs as a docker user meets them (issue 13): pull, images, rmi, builder prune. */
describe.skipIf(!!mirrorToolsSkip || !images)('pull, images and rmi as docker shows them', () => {
  let box: MirrorSandbox;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  it('pull ends with docker\'s Digest: (the index) and Status: lines, then the reference', async () => {
    const r = await berth(['pull', 'alpine'], { env: box.env });
    expect(r.code, r.stderr).toBe(0);
    const [digest, status, ref, ...rest] = r.stdout.split('\n');
    const index = JSON.parse((await berth(['pull', '--format', 'json', 'alpine'], { env: box.env })).stdout).indexDigest as string;
    expect(digest).toBe(`Digest: ${index}`);
    expect(status).toBe('Status: Downloaded newer image for alpine:latest');
    expect(ref).toBe('docker.io/library/alpine:latest');
    expect(rest).toEqual(['']);
  });

  it('images shows docker\'s columns and, with --digests, the index digest pull printed; pulls by digest add no rows', async () => {
    const index = JSON.parse((await berth(['pull', '--format', 'json', 'alpine'], { env: box.env })).stdout).indexDigest as string;
    for (let i = 0; i < 2; i++) expect((await berth(['pull', '-q', `alpine@${index}`], { env: box.env })).code).toBe(0);
    const table = await berth(['images'], { env: box.env });
    expect(table.stderr).toBe('');
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    // One row: alpine:latest is the image alpine@<index> names, as docker lists it.
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(/^alpine\s+latest\s+[a-f0-9]{12}\s+\S.*\s+\d+(\.\d+)?[kMG]?B$/);
    const withDigests = await berth(['images', '--digests'], { env: box.env });
    const dl = withDigests.stdout.trimEnd().split('\n');
    expect(dl[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(dl[1]).toMatch(new RegExp(`^alpine\\s+latest\\s+${index}\\s+[a-f0-9]{12}\\s`));
    const q = await berth(['images', '-q'], { env: box.env });
    expect(q.stdout).toMatch(/^[a-f0-9]{12}\n$/);
  });

  it.skipIf(!isRoot)('rmi of one reference of an image a container uses untags it, as docker; its last reference is refused', async () => {
    const index = JSON.parse((await berth(['pull', '--format', 'json', 'alpine'], { env: box.env })).stdout).indexDigest as string;
    expect((await berth(['pull', '-q', `alpine@${index}`], { env: box.env })).code).toBe(0);
    expect((await berth(['tag', 'alpine', 'myalpine:v1'], { env: box.env })).code).toBe(0);
    const run = await berth(['run', '--name', 'user-of-alpine', 'myalpine:v1', 'true'], { env: box.env });
    expect(run.code, run.stderr).toBe(0);
    const untag = await berth(['rmi', 'myalpine:v1'], { env: box.env });
    expect(untag.stderr).toBe('');
    expect([untag.code, untag.stdout]).toEqual([0, 'Untagged: myalpine:v1\n']);
    const byDigest = await berth(['rmi', `alpine@${index}`], { env: box.env });
    expect([byDigest.code, byDigest.stdout, byDigest.stderr]).toEqual([0, `Untagged: alpine@${index}\n`, '']);
    const last = await berth(['rmi', 'alpine'], { env: box.env });
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(/^berth: remove alpine: image is in use by container [a-f0-9]{12} \(use -f to untag anyway\)\n$/);
    expect((await berth(['images', '-q'], { env: box.env })).stdout).not.toBe('');
    expect((await berth(['rm', 'user-of-alpine'], { env: box.env })).code).toBe(0);
  });

  it('rmi of a repository\'s last tag also removes its digest references, as docker', async () => {
    const index = JSON.parse((await berth(['pull', '--format', 'json', 'alpine'], { env: box.env })).stdout).indexDigest as string;
    expect((await berth(['pull', '-q', `alpine@${index}`], { env: box.env })).code).toBe(0);
    expect((await berth(['tag', 'alpine', 'other:1'], { env: box.env })).code).toBe(0);
    const r = await berth(['rmi', 'alpine'], { env: box.env });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, `Untagged: alpine:latest\nUntagged: alpine@${index}\n`, '']);
    expect((await berth(['rmi', 'other:1'], { env: box.env })).stdout).toMatch(/^Untagged: other:1\n(Deleted: sha256:[a-f0-9]{64}\n)+$/);
    expect((await berth(['pull', '-q', 'alpine'], { env: box.env })).code).toBe(0);
  });

  it.skipIf(!isRoot)('rmi keeps the layers the build cache names; builder prune drops the cache and then the layers', async () => {
    const context = path.join(box.dir, 'recipe');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'berth.yaml'), ['from: alpine', 'steps:', '  - run: echo one > /one', '  - run: echo two > /two', ''].join('\n'));
    const first = await berth(['build', '-t', 'cached:1', context], { env: box.env });
    expect(first.code, first.stderr).toBe(0);
    expect((await berth(['rmi', 'cached:1'], { env: box.env })).code).toBe(0);
    // docker keeps the build cache when an image goes: the same recipe builds from it.
    const again = await berth(['build', '-t', 'cached:1', context], { env: box.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED/g)?.length).toBe(2);
    expect(again.stdout).toBe(first.stdout);

    // Without -a, builder prune keeps the cache an image still uses.
    const keep = await berth(['builder', 'prune', '-f'], { env: box.env });
    expect([keep.code, keep.stdout]).toEqual([0, 'Total reclaimed space: 0B\n']);
    // Once no image uses them, they are dangling.
    expect((await berth(['rmi', 'cached:1'], { env: box.env })).code).toBe(0);
    const prune = await berth(['builder', 'prune', '-f'], { env: box.env });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^Deleted build cache objects:\n([a-f0-9]{64}\n){2}\nTotal reclaimed space: \d/);
    const cold = await berth(['build', '-t', 'cached:1', context], { env: box.env });
    expect(cold.code, cold.stderr).toBe(0);
    expect(cold.stderr).not.toContain('CACHED');
    const all = await berth(['builder', 'prune', '-a', '-f'], { env: box.env });
    expect(all.stdout).toMatch(/^Deleted build cache objects:\n/);
    // system prune -a drops the cache before it collects: nothing of the build is left for a later prune.
    expect((await berth(['build', '-t', 'cached:1', context], { env: box.env })).code).toBe(0);
    const sys = await berth(['system', 'prune', '-a', '-f'], { env: box.env });
    expect(sys.stdout).toMatch(/Deleted Images:\n(untagged: [^\n]+\n)*untagged: cached:1\n/);
    expect(sys.stdout).toMatch(/Deleted build cache objects:\n/);
    expect((await berth(['image', 'prune', '-f'], { env: box.env })).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await berth(['pull', '-q', 'alpine'], { env: box.env })).code).toBe(0);
  });

  it('history, version, info and system df through the built CLI', async () => {
    expect((await berth(['pull', '-q', 'alpine'], { env: box.env })).code).toBe(0);
    const h = await berth(['history', 'alpine'], { env: box.env });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/^IMAGE {3,}CREATED {3,}CREATED BY {3,}SIZE {3,}COMMENT\n[a-f0-9]{12} {3,}/);
    const v = await berth(['version'], { env: box.env });
    expect(v.stdout).toMatch(/^Client: berth\n Version: +\S+\n Node version: +v\d/);
    const info = await berth(['info'], { env: box.env });
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^ Images: +1$/m);
    expect(info.stdout).toContain(`Registry Mirrors:\n  docker.io: http://${box.registry.host}`);
    const df = await berth(['system', 'df'], { env: box.env });
    expect(df.code, df.stderr).toBe(0);
    // One image, no container uses it: all of it reclaimable.
    expect(df.stdout).toMatch(/^Images {3,}1 {3,}0 {3,}(\d+(\.\d+)?MB) {3,}\1 \(100%\)$/m);
    expect(df.stdout).toMatch(/^Containers {3,}\d+ {3,}0 {3,}/m);
    const dv = await berth(['system', 'df', '-v'], { env: box.env });
    expect(dv.stdout).toMatch(/^Images space usage:\n\nREPOSITORY {3,}TAG {3,}IMAGE ID {3,}SIZE {3,}SHARED SIZE {3,}UNIQUE SIZE {3,}CONTAINERS\nalpine {3,}latest /);
  });

  it('login without a terminal or a password fails as docker; image prune -a removes every image without a container', async () => {
    const login = await berth(['login', '-u', 'me', box.registry.host], { env: box.env });
    expect([login.code, login.stdout, login.stderr]).toEqual([1, '', `berth: login ${box.registry.host}: Cannot perform an interactive login from a non TTY device\n`]);
    expect((await berth(['pull', '-q', 'alpine'], { env: box.env })).code).toBe(0);
    const keep = await berth(['image', 'prune', '-f'], { env: box.env });
    expect(keep.stdout).not.toContain('untagged');
    const all = await berth(['image', 'prune', '-a', '-f'], { env: box.env });
    expect(all.stderr).toBe('');
    expect(all.stdout).toMatch(/^Deleted Images:\nuntagged: alpine:latest\n(deleted: sha256:[a-f0-9]{64}\n)+\nTotal reclaimed space: \d/);
    expect((await berth(['images', '-q'], { env: box.env })).stdout).toBe('');
  });

  it.skipIf(!isRoot)('inspect --format takes docker\'s Go templates for images and containers', async () => {
    expect((await berth(['pull', '-q', 'alpine'], { env: box.env })).code).toBe(0);
    const img = await berth(['inspect', '--format', '{{.Id}} {{.Config.os}}/{{.Config.architecture}} {{json .Config.config.Cmd}}', 'alpine'], { env: box.env });
    expect([img.code, img.stderr]).toEqual([0, '']);
    expect(img.stdout).toMatch(/^sha256:[a-f0-9]{64} linux\/amd64 \["\/bin\/sh"\]\n$/);
    const run = await berth(['run', '--name', 'templated', 'alpine', 'sh', '-c', 'exit 3'], { env: box.env });
    expect(run.code).toBe(3);
    const c = await berth(['container', 'inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{join .Config.Cmd " "}}{{range .Config.Cmd}}|{{upper .}}{{end}}', 'templated'], { env: box.env });
    expect([c.code, c.stderr]).toEqual([0, '']);
    expect(c.stdout).toBe('/templated exited 3 sh -c exit 3|SH|-C|EXIT 3\n');
    expect((await berth(['rm', 'templated'], { env: box.env })).code).toBe(0);
  });
});
