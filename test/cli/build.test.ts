import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('berth build, push, save, load (as root)', () => {
  let box: MirrorSandbox;
  let context: string;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    context = path.join(box.dir, 'ctx');
    await mkdir(path.join(context, 'site'), { recursive: true });
    await writeFile(path.join(context, 'site', 'index.html'), '<h1>hi</h1>\n');
    await writeFile(
      path.join(context, 'berth.yaml'),
      ['from: alpine', 'args: {VERSION: "1.0"}', 'steps:', '  - run: echo "$VERSION" > /version && rm /etc/motd', '  - copy: {src: [site/], dest: /srv/}', '  - workdir: /srv', 'cmd: ["cat", "/version"]', ''].join('\n'),
    );
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  it('builds, caches, and runs the result', async () => {
    const env = { ...box.env, SOURCE_DATE_EPOCH: '1700000000' };
    const first = await berth(['build', '-t', 'demo:1', '--build-arg', 'VERSION=2.5', context], { env });
    expect(first.code, first.stderr).toBe(0);
    const digest = first.stdout.trim();
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(first.stderr).toContain('RUN echo "$VERSION"');
    const second = await berth(['build', '-t', 'demo:1', '--build-arg', 'VERSION=2.5', context], { env });
    expect(second.stdout.trim()).toBe(digest);
    expect(second.stderr.match(/CACHED/g)?.length).toBe(3);
    const run = await berth(['run', '--rm', 'demo:1'], { env: box.env });
    expect(run.stdout).toBe('2.5\n');
    const check = await berth(['run', '--rm', 'demo:1', 'sh', '-c', 'pwd; cat site/index.html; test -e /etc/motd || echo motd-gone'], { env: box.env });
    expect(check.stdout).toBe('/srv\n<h1>hi</h1>\nmotd-gone\n');
  });

  it('reports a recipe error with file, line and column', async () => {
    await writeFile(path.join(context, 'bad.yaml'), 'from: alpine\nsteps:\n  - copy: {src: 7, dest: /x}\n');
    const r = await berth(['build', '-f', path.join(context, 'bad.yaml'), context], { env: box.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: steps\[0\]\.copy\.src/);
  });

  it('pushes to a registry that skopeo and umoci then read', async () => {
    const dest = `${box.registry.host}/demo/app:1`;
    const r = await berth(['push', 'demo:1', dest], { env: box.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^1: digest: sha256:[a-f0-9]{64} size: \\d+\\n${dest.replace(/[.]/g, '\\.')}@sha256:`));
    const info = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${dest}`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(info.Layers).toHaveLength(3);
    const layout = path.join(box.dir, 'layout');
    execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${dest}`, `oci:${layout}:app`]);
    const bundle = path.join(box.dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:app`, bundle]);
    expect(execFileSync('cat', [path.join(bundle, 'rootfs', 'version')], { encoding: 'utf8' })).toBe('2.5\n');
    expect(() => execFileSync('test', ['-e', path.join(bundle, 'rootfs', 'etc', 'motd')])).toThrow();
  });

  it('save and load round-trip, and skopeo reads the archive both ways', async () => {
    const archive = path.join(box.dir, 'demo.tar');
    expect((await berth(['save', '-o', archive, 'demo:1'], { env: box.env })).code).toBe(0);
    execFileSync('skopeo', ['inspect', `docker-archive:${archive}`]);
    execFileSync('skopeo', ['inspect', `oci-archive:${archive}:docker.io/library/demo:1`]);
    expect((await berth(['rmi', 'demo:1'], { env: box.env })).code).toBe(0);
    const loaded = await berth(['load', '-i', archive], { env: box.env });
    expect(loaded.stdout).toBe('Loaded image: demo:1\n');
    expect((await berth(['run', '--rm', 'demo:1'], { env: box.env })).stdout).toBe('2.5\n');
  });

  it('loads an OCI layout whose names are bare tags into a repository', async () => {
    const r = await berth(['load', '-i', path.join(images as string, 'busybox'), '--repository', 'example.com/tools/busybox', '--platform', 'linux/arm64'], { env: box.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toContain('Loaded image: example.com/tools/busybox:1.38');
    const list = JSON.parse((await berth(['images', '--format', 'json'], { env: box.env })).stdout) as Array<{ repository: string; tag: string; platform: string }>;
    expect(list.find((i) => i.repository === 'example.com/tools/busybox' && i.tag === 'latest')?.platform).toBe('linux/arm64/v8');
  });
});
